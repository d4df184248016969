"""Initial parameters by canonical name, and safetensors files that hold them.

Canonical layout (Keras and nnfs): ``denseK.weight`` is (n_inputs, n_neurons) and
``denseK.bias`` is (n_neurons,). Every array is float64; implementations cast.
"""
from __future__ import annotations

import contextlib
import errno
import math
import os
from collections.abc import Mapping
import secrets
import stat
from pathlib import Path

import numpy as np

from shared.checks import check_dtype, exceeds
from shared.spec import INITIALIZERS, Spec


class WeightsError(ValueError):
    """A parameter set or weight file that does not fit the spec."""


def initial(spec: Spec, seed: int = 0, scheme: str | None = None) -> dict[str, np.ndarray]:
    """Fresh parameters for ``spec``: nnfs 0.01*randn, Glorot uniform or He normal; biases zero."""
    _check_spec(spec)
    scheme = scheme or spec.init
    if scheme not in INITIALIZERS:
        raise WeightsError(f"init scheme: expected one of {INITIALIZERS}, got {scheme!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise WeightsError(f"seed: expected an integer >= 0, got {seed!r}")
    rng = np.random.default_rng(seed)
    params = {}
    for name, shape in spec.parameter_shapes().items():
        if name.endswith(".bias"):
            params[name] = np.zeros(shape, dtype=np.float64)  # (nnfs.init(): float32 zeros)
        elif scheme == "nnfs":
            params[name] = 0.01 * rng.standard_normal(shape)
        elif scheme == "glorot_uniform":
            limit = np.sqrt(6.0 / (shape[0] + shape[1]))
            params[name] = rng.uniform(-limit, limit, shape)
        else:  # he_normal
            params[name] = rng.standard_normal(shape) * np.sqrt(2.0 / shape[0])
    return params


def check(spec: Spec, params: dict[str, np.ndarray], *, source: str = "parameters",
          dtype=np.float64) -> dict:
    """Return ``params`` as float64 arrays if every name and shape matches ``spec`` and every value
    is finite in ``dtype`` (the model's); else raise."""
    _check_spec(spec)
    dtype = check_dtype(dtype)
    if not isinstance(params, Mapping):
        raise WeightsError(f"{source}: expected a dict of parameter name -> array, got "
                           f"{type(params).__name__}")
    expected = spec.parameter_shapes()
    missing = sorted(set(expected) - set(params))
    extra = sorted(set(params) - set(expected), key=repr)  # names of any type
    if missing or extra:
        raise WeightsError(f"{source} do not fit network {spec.name!r}: "
                           f"missing {missing}, unexpected {extra}; expected exactly {sorted(expected)}")
    checked = {}
    for name, shape in expected.items():
        if isinstance(params[name], np.ma.MaskedArray) and np.ma.is_masked(params[name]):
            raise WeightsError(f"{source}: {name} is a masked array with masked entries; "
                               f"expected plain numbers")
        array = _as_array(params[name], f"{source}: {name}")
        if array.shape != shape:
            raise WeightsError(f"{source}: {name} has shape {array.shape}, expected {shape} "
                               f"for network {spec.name!r}")
        if not np.issubdtype(array.dtype, np.floating):
            raise WeightsError(f"{source}: {name} has dtype {array.dtype}, expected a float array")
        if not np.all(np.isfinite(array)):
            raise WeightsError(f"{source}: {name} holds NaN or inf")
        if exceeds(array, dtype):
            raise WeightsError(f"{source}: {name} holds values beyond the {np.dtype(dtype).name} "
                               f"range that the model computes in")
        checked[name] = array.astype(np.float64)
    return checked


def _check_spec(spec) -> None:
    if not isinstance(spec, Spec):
        raise WeightsError(f"spec: expected a shared.spec.Spec (shared.networks.load, "
                           f"shared.spec.from_dict), got {type(spec).__name__}")


def _as_array(value, source: str) -> np.ndarray:
    try:
        array = np.asarray(value)
    except ValueError as error:  # ragged nested lists
        raise WeightsError(f"{source} is not a rectangular array ({error})") from None
    except (TypeError, RuntimeError) as error:  # a tensor that requires grad, say
        raise WeightsError(f"{source}: a {type(value).__name__} that does not convert to a "
                           f"NumPy array ({error})") from None
    if array.dtype.kind in "OUSV":
        raise WeightsError(f"{source}: expected numbers, got {type(value).__name__} "
                           f"{value!r:.40} (dtype {array.dtype})")
    return array


def _file_path(path, source: str = "weight file path") -> Path:
    if not isinstance(path, (str, os.PathLike)) or path == "":
        raise WeightsError(f"{source}: expected a file path (str or os.PathLike), got {path!r}")
    if os.fspath(path).endswith(("/", os.sep)):  # Path() would drop the slash
        raise WeightsError(f"{source}: expected a file path, got a directory path {path!r}")
    return Path(path)


def save(path: str | Path, params: dict[str, np.ndarray]) -> None:
    """Write ``params`` to a safetensors file atomically (temporary file, then rename)."""
    from safetensors.numpy import save as to_bytes

    path = _file_path(path)
    if not isinstance(params, Mapping) or not params:
        got = "an empty mapping" if isinstance(params, Mapping) else type(params).__name__
        raise WeightsError(f"params: expected a non-empty mapping of names to arrays, got {got}")
    arrays = {}
    for name, array in params.items():
        if not isinstance(name, str) or not name or name == "__metadata__":
            raise WeightsError(f"params: expected non-empty str names other than "
                               f"'__metadata__' (the file header's), got {name!r}")
        array = _as_array(array, f"params[{name!r}]")
        # what load reads back: float16, float32 or float64 values, finite
        if array.dtype.kind != "f" or array.dtype.itemsize > 8:
            raise WeightsError(f"params[{name!r}]: expected a float16, float32 or float64 array, "
                               f"got dtype {array.dtype}")
        if not np.all(np.isfinite(array)):
            raise WeightsError(f"params[{name!r}]: holds NaN or inf, which load refuses")
        arrays[name] = np.ascontiguousarray(array)
    atomic_write_bytes(path, to_bytes(arrays))


# safetensors dtype -> NumPy (the format is little-endian); others are refused by name
_NUMPY_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4",
                 "I16": "<i2", "I8": "i1", "U64": "<u8", "U32": "<u4", "U16": "<u2", "U8": "u1",
                 "BOOL": "?"}


def _to_numpy(name: str, view: dict, source: str) -> np.ndarray:
    if view["dtype"] == "BF16":  # bfloat16 is the top half of a float32, so widening is exact
        wide = np.frombuffer(view["data"], "<u2").astype("<u4") << 16
        return wide.view("<f4").reshape(view["shape"])
    if view["dtype"] not in _NUMPY_DTYPES:
        raise WeightsError(f"{source}: {name} has dtype {view['dtype']}, which is not read here; "
                           f"expected a float array (F64, F32, F16 or BF16)")
    return np.frombuffer(view["data"], _NUMPY_DTYPES[view["dtype"]]).reshape(view["shape"])


# the start of files that people pass for weights by mistake
_OTHER_FORMATS = ((b"\x93NUMPY", "a NumPy .npy file"), (b"PK\x03\x04", "a zip archive (.npz?)"),
                  (b"\x80", "a pickle, which is never loaded"))


HEADER_LIMIT = 100_000_000  # safetensors refuses a longer header


def load(path: str | Path, spec: Spec, dtype=np.float64) -> dict[str, np.ndarray]:
    """Read a safetensors file and check every name and shape against ``spec``, and every value
    against the range of ``dtype``, the model's."""
    from safetensors import SafetensorError, deserialize

    _check_spec(spec)
    dtype = check_dtype(dtype)
    path = _file_path(path)
    source = f"weight file {path}"
    if path.is_dir():
        raise WeightsError(f"{source}: a directory; expected a safetensors file")
    if path.exists() and not path.is_file():  # a pipe would block, a device never end
        raise WeightsError(f"{source}: not a regular file (a pipe or device?); expected a "
                           f"safetensors file")
    # the most the spec's tensors can take (8 bytes an element) and the format's largest header
    limit = 8 + HEADER_LIMIT + 8 * sum(math.prod(s) for s in spec.parameter_shapes().values())
    try:
        with path.open("rb") as file:
            data = file.read(limit + 1)
    except FileNotFoundError:
        raise WeightsError(f"{source}: no such file") from None
    except OSError as error:
        raise WeightsError(f"{source}: cannot read ({error.strerror or error})") from None
    if len(data) > limit:  # refused before the rest is read
        raise WeightsError(f"{source}: over {limit:,} bytes, more than the weights of network "
                           f"{spec.name!r} take in any dtype; expected its safetensors file")
    try:
        views = deserialize(data)
    except (SafetensorError, ValueError) as error:
        kind = next((kind for magic, kind in _OTHER_FORMATS if data.startswith(magic)), None)
        raise WeightsError(f"{source}: not a readable safetensors file " + (
            f"(it is {kind}; write weights with model.save)" if kind else
            f"(truncated or corrupt?): {error}")) from None
    params = {name: _to_numpy(name, view, source) for name, view in views}
    return check(spec, params, source=source, dtype=dtype)


@contextlib.contextmanager
def atomic_writer(path: str | Path, suffix: str = ".tmp"):
    """Yield a binary file that replaces ``path`` when the block ends without an exception
    (flushed, fsynced, renamed into place); after an exception it is deleted, ``path`` untouched."""
    path = _writable_path(path)
    with _staged(path, suffix) as (handle, tmp):
        yield handle
    _replace(tmp, path)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a crash leaves either the old file or the new one."""
    with atomic_writer(path) as handle:
        handle.write(data)


def atomic_write_files(directory: str | Path, files: Mapping[str, bytes]) -> None:
    """Write every file into ``directory``, or none: each is written to a temporary file and
    synced, and only once all of them are on disk are they renamed into place, in order. After a
    failed write (a full disk) the directory holds what it held before, not a mix of old and
    new; only a rename that fails (rare: the folder is already there) leaves the files before
    it new."""
    directory, staged = Path(directory), []
    try:
        with contextlib.ExitStack() as stack:
            for name, data in files.items():
                path = _writable_path(directory / name)
                handle, tmp = stack.enter_context(_staged(path, ".tmp"))
                handle.write(data)
                staged.append((tmp, path))
    except BaseException:  # the files synced before the one that failed are staged still
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        raise
    # Renamed in order (a rename into a folder does not fail for want of space), so that the
    # last file, written last, tells that all before it are new.
    for done, (tmp, path) in enumerate(staged):
        try:
            os.replace(tmp, path)
        except BaseException:
            for left, _ in staged[done:]:
                left.unlink(missing_ok=True)
            raise


@contextlib.contextmanager
def _staged(path: Path, suffix: str):
    """(handle, temporary path) beside ``path``: flushed and fsynced when the block ends, with
    ``path``'s mode if it exists; deleted after an exception. Not renamed."""
    try:
        previous_mode = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        previous_mode = None
    if previous_mode is not None and not os.access(path, os.W_OK):  # renaming would replace it
        raise PermissionError(errno.EACCES, "Permission denied: the file is read-only (open() "
                              "would not write it either); make it writable to replace it",
                              str(path))
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}{suffix}")
    # Not mkstemp, which makes every file 0600: created like open() creates a file, 0666 less
    # the umask, applied by the kernel (reading the umask means setting it, racing other threads).
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle, tmp
            if previous_mode is not None:  # a replaced file keeps its mode
                os.fchmod(handle.fileno(), previous_mode)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _replace(tmp: Path, path: Path) -> None:
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _writable_path(path: str | Path) -> Path:
    """``path`` with its folder created; an OSError that names ``path`` where it cannot be a file.
    A symbolic link gives its target, which is replaced as open() would write it (renaming onto
    the link replaced the link itself and left the target as it was)."""
    path = Path(path)
    if path.is_symlink():
        path = Path(os.path.realpath(path))
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, "expected a file path, got a directory", str(path))
    for parent in reversed(path.parents):
        if parent.exists() and not parent.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, f"cannot write {path}: {parent} is a file, "
                                     f"not a directory", str(parent))
    path.parent.mkdir(parents=True, exist_ok=True)
    return path
