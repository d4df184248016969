"""Bad and unusual files: narrow safetensors dtypes, file modes of atomic writes, IDX headers
whose size overflows int64, damaged or empty mnist.npz archives, and data_dir mistakes."""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import re
import stat
import struct
import zipfile

import numpy as np
import pytest

from shared import datasets, networks, report, weights
from shared.datasets import DataError
from shared.weights import WeightsError

XOR = networks.load("xor")


# ---------------------------------------------------------------- safetensors dtypes

def write_safetensors(path, tensors):
    """Write a safetensors file by hand (8-byte header length, JSON header, data), so that
    any dtype can be stored: ``tensors`` maps name -> (dtype, shape, raw little-endian bytes)."""
    header, offset = {}, 0
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": list(shape),
                        "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(len(text).to_bytes(8, "little") + text
                     + b"".join(raw for _, _, raw in tensors.values()))
    return path


# bfloat16 bit patterns and their values from the format (sign, 8 exponent bits with bias
# 127, 7 fraction bits), worked out by hand.
BF16 = {
    0x3F80: 1.0,
    0xC000: -2.0,
    0x3FC0: 1.5,
    0x3E80: 0.25,
    0x4049: 3.140625,                   # 2 * (1 + 73/128)
    0x0001: 2.0**-133,                  # the smallest subnormal: 2**-126 * 2**-7
    0x7F7F: (2 - 2.0**-7) * 2.0**127,   # the largest finite value
    0x8000: -0.0,
}


# float16 bit patterns and their values from the format (sign, 5 exponent bits with bias 15,
# 10 fraction bits), worked out by hand: torch's half-precision exports.
F16 = {0x3C00: 1.0, 0xC000: -2.0, 0x3800: 0.5, 0x3E00: 1.5, 0x7BFF: 65504.0,
       0x0001: 2.0**-24, 0x8000: -0.0, 0x4248: 3.140625}


@pytest.mark.parametrize("dtype, table", [("BF16", BF16), ("F16", F16)])
def test_16_bit_weights_load_exactly(tmp_path, dtype, table):
    bits, values = list(table), list(table.values())
    tensors, expected, i = {}, {}, 0
    for name, shape in XOR.parameter_shapes().items():
        n = int(np.prod(shape))
        chosen = [(i + k) % len(bits) for k in range(n)]
        i += n
        tensors[name] = (dtype, shape, struct.pack(f"<{n}H", *(bits[c] for c in chosen)))
        expected[name] = np.array([values[c] for c in chosen]).reshape(shape)
    params = weights.load(write_safetensors(tmp_path / "w16.safetensors", tensors), XOR)
    for name, want in expected.items():
        assert params[name].dtype == np.float64
        np.testing.assert_array_equal(params[name], want)
        assert np.array_equal(np.signbit(params[name]), np.signbit(want)), name


@pytest.mark.parametrize("dtype", ["F8_E4M3", "F8_E5M2"])
def test_float8_weights_are_refused_by_file_name_and_dtype(tmp_path, dtype):
    tensors = {name: ("F64", array.shape, array.astype("<f8").tobytes())
               for name, array in weights.initial(XOR).items()}
    tensors["dense1.weight"] = (dtype, (2, 4), bytes(8))  # one byte per value
    path = write_safetensors(tmp_path / "f8.safetensors", tensors)
    with pytest.raises(WeightsError) as error:
        weights.load(path, XOR)
    message = str(error.value)
    assert str(path) in message and dtype in message and "dense1.weight" in message
    assert "expected a float array" in message


# ---------------------------------------------------------------- file modes

@pytest.fixture
def umask():
    """Set the process umask for one test; the previous one is restored afterwards."""
    previous = os.umask(0o022)
    try:
        yield os.umask
    finally:
        os.umask(previous)


MNIST_GZ = [stem + ".gz" for stem in datasets.MNIST_FILES.values()]
TARGET = MNIST_GZ[0]  # every writer below writes directory / TARGET (download_mnist all four)


def _save_weights(directory, monkeypatch):
    weights.save(directory / TARGET, weights.initial(XOR))
    return [directory / TARGET]


def _atomic_write_bytes(directory, monkeypatch):
    weights.atomic_write_bytes(directory / TARGET, b"new")
    return [directory / TARGET]


def _report_write_text(directory, monkeypatch):
    report.write_text(directory / TARGET, "new")
    return [directory / TARGET]


def _download_mnist(directory, monkeypatch):
    """download_mnist from a fake server that answers b'<name> data' for every file."""
    def urlopen(url, timeout):
        return io.BytesIO(f"{url.rsplit('/', 1)[1]} data".encode())

    monkeypatch.setattr(datasets.urllib.request, "urlopen", urlopen)
    digests = {name: hashlib.sha256(f"{name} data".encode()).hexdigest() for name in MNIST_GZ}
    return list(datasets.download_mnist(directory, "https://example.org/mnist", digests).values())


WRITERS = {"weights.save": _save_weights, "atomic_write_bytes": _atomic_write_bytes,
           "report.write_text": _report_write_text, "download_mnist": _download_mnist}


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize("mask", [0o022, 0o027, 0o002])
@pytest.mark.parametrize("writer", WRITERS)
def test_new_files_get_the_mode_that_the_umask_gives(tmp_path, umask, monkeypatch, writer, mask):
    umask(mask)
    written = WRITERS[writer](tmp_path / "out", monkeypatch)
    assert len(written) == (4 if writer == "download_mnist" else 1)
    for path in written:  # what open() would have made: 0o666 less the umask
        assert _mode(path) == 0o666 & ~mask, (path, oct(_mode(path)))


@pytest.mark.parametrize("writer", WRITERS)
def test_replaced_files_keep_their_mode(tmp_path, umask, monkeypatch, writer):
    umask(0o077)  # so that the kept mode cannot come from the umask
    directory = tmp_path / "out"
    directory.mkdir()
    for name in MNIST_GZ:
        (directory / name).write_bytes(b"old")
        os.chmod(directory / name, 0o604)
    written = WRITERS[writer](directory, monkeypatch)
    for path in written:
        assert path.read_bytes() != b"old"
        assert _mode(path) == 0o604, (path, oct(_mode(path)))


@pytest.mark.parametrize("writer", WRITERS)
def test_a_read_only_file_is_not_replaced(tmp_path, monkeypatch, writer):
    """open() refuses to write a file without write permission; the rename replaced it all the
    same, so a weight file made read-only to keep it was overwritten (found by a review). Root
    may write anything, so os.access is made to read the mode bits as for another user."""
    real = os.access
    monkeypatch.setattr(os, "access", lambda path, mode: real(path, mode) and (
        not mode & os.W_OK or bool(os.stat(path).st_mode & stat.S_IWUSR)))
    directory = tmp_path / "out"
    directory.mkdir()
    for name in MNIST_GZ:
        (directory / name).write_bytes(b"old")
        os.chmod(directory / name, 0o444)
    with pytest.raises(PermissionError, match=rf"the file is read-only .*{TARGET}"):
        WRITERS[writer](directory, monkeypatch)
    assert sorted(p.name for p in directory.iterdir()) == sorted(MNIST_GZ)  # no temporary files
    assert all((directory / name).read_bytes() == b"old" for name in MNIST_GZ)


def test_a_read_only_file_stops_a_set_before_any_is_replaced(tmp_path, monkeypatch):
    real = os.access
    monkeypatch.setattr(os, "access", lambda path, mode: real(path, mode) and (
        not mode & os.W_OK or bool(os.stat(path).st_mode & stat.S_IWUSR)))
    for name in "ab":
        (tmp_path / name).write_bytes(b"old")
    os.chmod(tmp_path / "b", 0o444)
    with pytest.raises(PermissionError, match=r"read-only"):
        weights.atomic_write_files(tmp_path, {"a": b"new", "b": b"new"})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b"]
    assert [(tmp_path / n).read_bytes() for n in "ab"] == [b"old", b"old"]


@pytest.mark.parametrize("writer", WRITERS)
def test_a_symbolic_link_is_written_through_and_kept(tmp_path, monkeypatch, writer):
    """As open() writes: the rename replaced the link itself with a new file, and left the
    file it pointed to old (found by a review)."""
    (tmp_path / "store").mkdir()
    (tmp_path / "out").mkdir()
    for name in MNIST_GZ:
        (tmp_path / "store" / name).write_bytes(b"old")
        (tmp_path / "out" / name).symlink_to(os.path.join("..", "store", name))
    written = WRITERS[writer](tmp_path / "out", monkeypatch)
    for path in written:
        assert path.is_symlink(), path
        assert (tmp_path / "store" / path.name).read_bytes() != b"old"
    assert sorted(p.name for p in (tmp_path / "store").iterdir()) == sorted(MNIST_GZ)


def test_a_set_of_files_is_written_through_symbolic_links(tmp_path):
    (tmp_path / "store").mkdir()
    (tmp_path / "store" / "a").write_bytes(b"old a")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "a").symlink_to(tmp_path / "store" / "a")
    weights.atomic_write_files(tmp_path / "out", {"a": b"new a", "b": b"new b"})
    assert (tmp_path / "out" / "a").is_symlink()
    assert (tmp_path / "store" / "a").read_bytes() == b"new a"
    assert (tmp_path / "out" / "b").read_bytes() == b"new b"


def test_a_weight_file_path_that_cannot_be_a_file_is_named(tmp_path):
    """save() to a folder named a temporary file ('.x.<hex>.tmp' -> 'x': Is a directory), and
    save() under a file said 'File exists'."""
    (tmp_path / "folder").mkdir()
    (tmp_path / "afile").write_text("kept")
    with pytest.raises(IsADirectoryError, match=r"expected a file path, got a directory: "
                                                 r"'.*folder'"):
        weights.save(tmp_path / "folder", weights.initial(XOR))
    with pytest.raises(NotADirectoryError, match=r"cannot write .*afile/w.safetensors: .*afile is "
                                                  r"a file, not a directory"):
        weights.save(tmp_path / "afile" / "w.safetensors", weights.initial(XOR))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "folder"]
    assert list((tmp_path / "folder").iterdir()) == [] and (tmp_path / "afile").read_text() == "kept"


def test_a_set_of_files_is_written_whole_or_not_at_all(tmp_path, monkeypatch):
    """compare.py's reports: a failure while writing one left the others replaced."""
    (tmp_path / "a").write_bytes(b"old a")
    (tmp_path / "b").write_bytes(b"old b")
    real = os.fsync
    calls = []

    def full_disk_on_the_second(fd):
        calls.append(fd)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        real(fd)

    monkeypatch.setattr(os, "fsync", full_disk_on_the_second)
    with pytest.raises(OSError, match="No space left"):
        weights.atomic_write_files(tmp_path, {"a": b"new a", "b": b"new b", "c": b"new c"})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b"]  # no temporary files
    assert (tmp_path / "a").read_bytes() == b"old a" and (tmp_path / "b").read_bytes() == b"old b"
    monkeypatch.setattr(os, "fsync", real)
    weights.atomic_write_files(tmp_path, {"a": b"new a", "b": b"new b", "c": b"new c"})
    assert [(tmp_path / n).read_bytes() for n in "abc"] == [b"new a", b"new b", b"new c"]


def test_a_failed_rename_in_a_set_leaves_no_temporary_files(tmp_path, monkeypatch):
    """The renames run in order after every file is on disk; one that fails leaves the files
    before it new and the rest old, and left the temporary files of the rest behind."""
    real, calls = os.replace, []

    def fail_on_the_second(source, target):
        calls.append(target)
        if len(calls) == 2:
            raise OSError(5, "Input/output error")
        real(source, target)

    for name in "abc":
        (tmp_path / name).write_bytes(b"old")
    monkeypatch.setattr(os, "replace", fail_on_the_second)
    with pytest.raises(OSError, match="Input/output error"):
        weights.atomic_write_files(tmp_path, {name: b"new" for name in "abc"})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b", "c"]
    assert [(tmp_path / n).read_bytes() for n in "abc"] == [b"new", b"old", b"old"]


# ---------------------------------------------------------------- IDX sizes

def test_a_gzip_bomb_is_counted_not_held(tmp_path):
    """gzip.decompress held the whole stream before the header was checked: 64 MiB of zeros
    behind a header that declares one byte (65 KB compressed) took 64 MiB of memory. The data
    is now read in 1 MiB chunks and only the declared size is kept."""
    import tracemalloc
    path = tmp_path / "bomb.idx.gz"
    path.write_bytes(gzip.compress(bytes([0, 0, 0x08, 1]) + struct.pack(">I", 1)
                                   + bytes(64 * 2**20)))
    tracemalloc.start()
    try:
        with pytest.raises(DataError, match=rf"bomb\.idx\.gz: oversize data: expected 1 bytes "
                                            rf"after the header for shape \(1,\) of uint8, got "
                                            rf"{64 * 2**20}"):
            datasets.read_idx(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * 2**20, f"{peak:,} bytes at the peak"


def test_an_idx_file_larger_than_the_bound_is_named(tmp_path, monkeypatch):
    """A header and data that agree but exceed MAX_IDX_BYTES (2 GiB) are refused by size."""
    monkeypatch.setattr(datasets, "MAX_IDX_BYTES", 100)
    path = tmp_path / "big.idx"
    path.write_bytes(bytes([0, 0, 0x08, 2]) + struct.pack(">2I", 10, 11) + bytes(110))
    with pytest.raises(DataError, match=r"big\.idx: 110 bytes of data \(shape \(10, 11\) of "
                                        r"uint8\); expected at most 100"):
        datasets.read_idx(path)
    path.write_bytes(bytes([0, 0, 0x08, 2]) + struct.pack(">2I", 10, 10) + bytes(100))
    assert datasets.read_idx(path).shape == (10, 10)  # the bound itself is admitted


@pytest.mark.parametrize("dims, size", [
    ((2**22, 2**21, 2**21), 2**64),               # int64 wrapped this to 0
    ((2**32 - 1, 2**32 - 1), 2**64 - 2**33 + 1),  # and this to -8589934591
])
def test_idx_size_beyond_int64_is_reported_exactly(tmp_path, dims, size):
    path = tmp_path / "huge.idx"
    path.write_bytes(bytes([0, 0, 0x08, len(dims)]) + struct.pack(f">{len(dims)}I", *dims))
    with pytest.raises(DataError, match=rf"huge\.idx: truncated data: expected {size} bytes "
                                        rf"after the header for shape .* of uint8, got 0"):
        datasets.read_idx(path)


# ---------------------------------------------------------------- mnist.npz

def digits(n, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), np.arange(n) % 10


def npz_arrays(n_train=6, n_test=4):
    x_train, y_train = digits(n_train, 1)
    x_test, y_test = digits(n_test, 2)
    return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}


def npz_bytes(arrays=None, compressed=False):
    buffer = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buffer, **(arrays or npz_arrays()))
    return buffer.getvalue()


def zip_of(members):
    """An .npz-like zip with the given raw bytes as its members."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, raw in members.items():
            archive.writestr(name, raw)
    return buffer.getvalue()


def npy_bytes(array):
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def flip_inside_member(raw, member):
    """Flip one byte in the middle of ``member``'s stored data (after its local header)."""
    info = zipfile.ZipFile(io.BytesIO(raw)).getinfo(member)
    name_len, extra_len = struct.unpack("<HH", raw[info.header_offset + 26:info.header_offset + 30])
    start = info.header_offset + 30 + name_len + extra_len
    damaged = bytearray(raw)
    damaged[start + info.compress_size // 2] ^= 0xFF
    return bytes(damaged)


def _load_npz(tmp_path, raw):
    (tmp_path / "mnist.npz").write_bytes(raw)
    with pytest.raises(DataError) as error:
        datasets.mnist(tmp_path)
    message = str(error.value)
    assert str(tmp_path / "mnist.npz") in message
    return message


@pytest.mark.parametrize("case", ["cut in half", "empty"])
def test_truncated_npz_is_named(tmp_path, case):
    good = npz_bytes()
    message = _load_npz(tmp_path, good[:len(good) // 2] if case == "cut in half" else b"")
    assert "not an .npz archive, or a truncated or corrupt one" in message
    assert "pickle" not in message


@pytest.mark.parametrize("compressed", [False, True])
def test_npz_with_a_damaged_member_is_named(tmp_path, compressed):
    raw = flip_inside_member(npz_bytes(compressed=compressed), "x_train.npy")
    message = _load_npz(tmp_path, raw)
    assert "member x_train is truncated or corrupt" in message
    assert "pickle" not in message


@pytest.mark.parametrize("x_train", [
    npy_bytes(digits(6)[0])[:300],   # cut short after its header
    b"not a .npy file at all",       # np.load would hand this back as bytes
], ids=["cut short", "not npy"])
def test_npz_member_that_is_not_a_whole_array_is_not_blamed_on_pickle(tmp_path, x_train):
    members = {f"{key}.npy": npy_bytes(array) for key, array in npz_arrays().items()}
    members["x_train.npy"] = x_train
    message = _load_npz(tmp_path, zip_of(members))
    assert "member x_train is truncated or corrupt" in message
    assert "pickle" not in message and "object array" not in message


def npy_declaring(shape, descr="|u1", payload=bytes(100)):
    """A .npy file whose header declares ``shape`` of ``descr``, followed by ``payload``."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": descr, "fortran_order": False,
                                                  "shape": shape})
    return header.getvalue() + payload


@pytest.mark.parametrize("x_train, expected", [
    (npy_declaring((10**13, 28, 28)),
     r"member x_train is truncated or corrupt: its header declares shape \(10000000000000, 28"),
    (npy_bytes(np.array([1, None], dtype=object)),
     r"key 'x_train' holds an object array, which would need pickle; refused"),
], ids=["huge shape", "object array"])
def test_npz_member_without_the_npy_suffix_is_checked_like_any_other(tmp_path, x_train, expected):
    """np.load reads a member named "x_train" as the key x_train too; the size and object checks
    looked at "x_train.npy" only, so a declared 7.8 PB ended in a MemoryError traceback and an
    object array was called corrupt (found by a review)."""
    members = {f"{key}.npy": npy_bytes(array) for key, array in npz_arrays().items()}
    del members["x_train.npy"]
    members["x_train"] = x_train
    assert re.search(expected, _load_npz(tmp_path, zip_of(members)))


@pytest.mark.parametrize("content", [
    b"x_train,y_train\n1,2\n",   # text
    gzip.compress(npz_bytes()),  # an .npz gzipped once more
    b"",
], ids=["text", "gzip of npz", "empty"])
def test_file_that_is_no_zip_is_not_an_npz_archive(tmp_path, content):
    message = _load_npz(tmp_path, content)
    assert "not an .npz archive" in message
    assert "pickle" not in message


# ---------------------------------------------------------------- no images

@pytest.mark.parametrize("split", ["train", "test"])
def test_npz_without_images_is_refused(tmp_path, split):
    arrays = npz_arrays()
    arrays[f"x_{split}"] = np.zeros((0, 28, 28), np.uint8)
    arrays[f"y_{split}"] = np.zeros(0, np.int64)
    message = _load_npz(tmp_path, npz_bytes(arrays))
    assert f"x_{split}/y_{split}: no images" in message


def idx_bytes(array):
    code = 0x08 << 8 | array.ndim
    return code.to_bytes(4, "big") + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def write_idx_dir(directory, arrays):
    for key, stem in datasets.MNIST_FILES.items():
        (directory / stem).write_bytes(idx_bytes(arrays[key].astype(np.uint8)))


@pytest.mark.parametrize("split", ["train", "test"])
def test_idx_dir_without_images_is_refused(tmp_path, split):
    arrays = npz_arrays()
    arrays[f"x_{split}"] = np.zeros((0, 28, 28), np.uint8)
    arrays[f"y_{split}"] = np.zeros(0, np.uint8)
    write_idx_dir(tmp_path, arrays)
    stem = datasets.MNIST_FILES[f"x_{split}"]
    with pytest.raises(DataError, match="no images") as error:
        datasets.mnist(tmp_path)
    assert str(tmp_path / stem) in str(error.value)


# ---------------------------------------------------------------- data_dir

@pytest.fixture
def cwd_with_data(tmp_path, monkeypatch):
    """The current directory holds good MNIST IDX files, which an empty data_dir would find."""
    write_idx_dir(tmp_path, npz_arrays())
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(datasets.MNIST_ENV, raising=False)


@pytest.mark.parametrize("loader", [
    lambda: datasets.mnist(data_dir=""),
    lambda: datasets.load("mnist", data_dir=""),
    lambda: datasets.fashion_mnist(""),
    lambda: datasets.fashion_mnist_available(""),
], ids=["mnist", "load", "fashion_mnist", "fashion_mnist_available"])
def test_empty_data_dir_is_refused_not_taken_for_the_current_directory(cwd_with_data, loader):
    with pytest.raises(DataError, match="data_dir is empty"):
        loader()


def test_data_dir_may_name_the_npz_file_itself(tmp_path):
    arrays = npz_arrays()
    (tmp_path / "digits.npz").write_bytes(npz_bytes(arrays))
    data = datasets.mnist(tmp_path / "digits.npz")
    np.testing.assert_array_equal(data.X_train, arrays["x_train"].reshape(6, 784) / 255.0)
    np.testing.assert_array_equal(data.y_val, arrays["y_test"])


def test_data_dir_that_is_another_file_says_so(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("not data")
    with pytest.raises(DataError) as error:
        datasets.mnist(path)
    message = str(error.value)
    assert str(path) in message and "got a file" in message
    assert "expected a folder holding mnist.npz or the four IDX files" in message
    assert "does not exist" not in message


def test_download_mnist_into_a_file_is_named(tmp_path, monkeypatch):
    """A file as dest_dir was a bare FileExistsError from mkdir (found by a review)."""
    (tmp_path / "afile").write_text("kept")
    for dest in (tmp_path / "afile", tmp_path / "afile" / "sub"):
        with pytest.raises(datasets.DataError, match=r"dest_dir: expected a directory"):
            _download_mnist(dest, monkeypatch)
    assert (tmp_path / "afile").read_text() == "kept"


def test_a_npy_npz_or_pickle_given_as_weights_is_named_as_such(tmp_path):
    """A .npy file was 'truncated or corrupt?: header too large' (found by a review)."""
    np.save(tmp_path / "w.npy", np.zeros(3))
    np.savez(tmp_path / "w.npz", a=np.zeros(3))
    (tmp_path / "w.pkl").write_bytes(b"\x80\x04K\x01.")  # pickle.dumps(1): never loaded
    for name, kind in (("w.npy", "a NumPy .npy file"), ("w.npz", "a zip archive"),
                       ("w.pkl", "a pickle, which is never loaded")):
        with pytest.raises(weights.WeightsError, match=rf"not a readable safetensors file "
                                                        rf"\(it is {kind}"):
            weights.load(tmp_path / name, XOR)
