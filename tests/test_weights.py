"""Initial parameters and safetensors files: each scheme's statistics checked against its
textbook definition, save/load round trips, and named errors for every kind of bad file."""
import math
import os

import numpy as np
import pytest

import impl_numpy
from shared import networks, weights
from shared.spec import from_dict
from shared.weights import WeightsError

WIDE = from_dict({"name": "wide", "inputs": 400, "loss": "mse", "init": "he_normal",
                  "layers": [{"type": "dense", "units": 300}, {"type": "relu"},
                             {"type": "dense", "units": 50}, {"type": "linear"}]})


@pytest.mark.parametrize("name", networks.BUILTINS)
@pytest.mark.parametrize("scheme", ["nnfs", "glorot_uniform", "he_normal"])
def test_names_shapes_dtypes_and_zero_biases(name, scheme):
    spec = networks.load(name)
    params = weights.initial(spec, seed=3, scheme=scheme)
    assert list(params) == list(spec.parameter_shapes())
    n_dense = len(spec.dense_layers)
    assert list(params) == [f"dense{k}.{kind}" for k in range(1, n_dense + 1)
                            for kind in ("weight", "bias")]
    n_in = spec.inputs
    for k, layer in enumerate(spec.dense_layers, 1):
        assert params[f"dense{k}.weight"].shape == (n_in, layer.units)
        assert params[f"dense{k}.bias"].shape == (layer.units,)
        n_in = layer.units
    for key, value in params.items():
        assert value.dtype == np.float64
        if key.endswith(".bias"):
            assert not value.any()
        else:
            assert np.all(np.isfinite(value)) and np.count_nonzero(value) == value.size


def _sample_std(a):
    return float(np.sqrt(np.mean(a * a)))  # the population mean is 0 in every scheme


def test_nnfs_scheme_is_0_01_standard_normal():
    params = weights.initial(WIDE, seed=0, scheme="nnfs")
    w = np.concatenate([params["dense1.weight"].ravel(), params["dense2.weight"].ravel()])
    # 135,000 draws: the std estimate has relative sd 1/sqrt(2N) = 0.2%, the mean sd 0.01/sqrt(N).
    assert abs(_sample_std(w) - 0.01) < 0.01 * 0.01
    assert abs(w.mean()) < 5 * 0.01 / math.sqrt(w.size)
    # Normal tails: 4.5 % beyond 2 sd, 0.27 % beyond 3 sd.
    assert abs(np.mean(np.abs(w) > 0.02) - 0.0455) < 0.003
    assert abs(np.mean(np.abs(w) > 0.03) - 0.0027) < 0.0008


def test_glorot_uniform_bounds_sqrt_6_over_fan_in_plus_fan_out():
    params = weights.initial(WIDE, seed=1, scheme="glorot_uniform")
    for name, (n_in, n_out) in (("dense1.weight", (400, 300)), ("dense2.weight", (300, 50))):
        w, limit = params[name], math.sqrt(6 / (n_in + n_out))
        assert np.max(np.abs(w)) <= limit
        assert np.max(w) > 0.99 * limit and np.min(w) < -0.99 * limit  # the full interval is used
        # Uniform on [-l, l]: std l/sqrt(3), and each tenth of the interval holds a tenth.
        assert abs(_sample_std(w) / (limit / math.sqrt(3)) - 1) < 0.02
        counts, _ = np.histogram(w, bins=10, range=(-limit, limit))
        assert np.all(np.abs(counts / w.size - 0.1) < 0.01)


def test_he_normal_std_sqrt_2_over_fan_in():
    params = weights.initial(WIDE, seed=2, scheme="he_normal")
    for name, n_in in (("dense1.weight", 400), ("dense2.weight", 300)):
        w, std = params[name], math.sqrt(2 / n_in)
        assert abs(_sample_std(w) / std - 1) < 0.02
        assert np.max(np.abs(w)) > 3.5 * std  # untruncated normal: 1.2e5 draws reach past 3.5 sd
        assert abs(np.mean(np.abs(w) > 2 * std) - 0.0455) < 0.005


def test_one_stream_runs_through_the_layers():
    """initial(spec, seed) draws every layer's weights from one default_rng(seed) in layer order
    (a stream restarted per layer would give correlated layers), drawn here by hand."""
    spec = networks.load("spiral")
    rng = np.random.default_rng(7)
    expected = [0.01 * rng.standard_normal((2, 64)), 0.01 * rng.standard_normal((64, 3))]
    params = weights.initial(spec, seed=7)
    assert np.array_equal(params["dense1.weight"], expected[0])
    assert np.array_equal(params["dense2.weight"], expected[1])
    with pytest.raises(WeightsError, match="seed: expected an integer >= 0, got -1"):
        weights.initial(spec, seed=-1)


def test_seed_and_scheme_select_the_draw():
    spec = networks.load("spiral")
    a, b = weights.initial(spec, seed=5), weights.initial(spec, seed=5)
    c = weights.initial(spec, seed=6)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["dense1.weight"], c["dense1.weight"])
    # The scheme argument wins over spec.init; without one spec.init is used.
    assert spec.init == "nnfs"
    he = weights.initial(spec, seed=5, scheme="he_normal")
    assert abs(_sample_std(he["dense1.weight"]) - 0.01) > 0.1
    mnist = networks.load("mnist")
    limit = math.sqrt(6 / (784 + 256))
    assert np.max(np.abs(weights.initial(mnist)["dense1.weight"])) <= limit  # glorot_uniform
    with pytest.raises(WeightsError, match="init scheme: expected one of .*got 'xavier'"):
        weights.initial(spec, scheme="xavier")


def test_save_load_round_trip_is_bitwise(tmp_path):
    spec = networks.load("mnist")
    params = weights.initial(spec, seed=9)
    path = tmp_path / "sub" / "mnist.safetensors"  # the parent folder is created
    weights.save(path, params)
    loaded = weights.load(path, spec)
    assert list(loaded) == list(spec.parameter_shapes())
    for name, value in params.items():
        assert loaded[name].dtype == np.float64
        assert np.array_equal(loaded[name], value)
    # Readable by the safetensors library itself, under the canonical names.
    from safetensors.numpy import load_file
    raw = load_file(str(path))
    assert set(raw) == set(params) and raw["dense2.weight"].shape == (256, 128)


def test_float32_file_is_read_as_float64(tmp_path):
    spec = networks.load("xor")
    params = {k: v.astype(np.float32) for k, v in weights.initial(spec, seed=1).items()}
    weights.save(tmp_path / "w.safetensors", params)
    loaded = weights.load(tmp_path / "w.safetensors", spec)
    assert loaded["dense1.weight"].dtype == np.float64
    assert np.array_equal(loaded["dense1.weight"], params["dense1.weight"].astype(np.float64))


def test_model_save_load_round_trip(tmp_path):
    spec = networks.load("spiral")
    model = impl_numpy.build(spec, weights.initial(spec, seed=0))
    X = np.random.default_rng(0).normal(size=(10, 2))
    model.step(X, np.arange(10) % 3)
    model.save(tmp_path / "m.safetensors")
    other = impl_numpy.build(spec, weights.initial(spec, seed=1))
    assert not np.array_equal(other.forward(X), model.forward(X))
    other.load(tmp_path / "m.safetensors")
    assert np.array_equal(other.forward(X), model.forward(X))
    for name, value in model.parameters().items():
        assert np.array_equal(other.parameters()[name], value)


@pytest.mark.parametrize("impl", ["numpy", "torch", "tf"])
def test_a_float32_model_saves_float64_files(tmp_path, impl):
    """save writes float64, as its docstring says, whatever the model's dtype (a review's
    mutant wrote F32 from impl_numpy unnoticed); the file's own header is the oracle."""
    import json
    import struct

    from conftest import require
    from shared import implementations

    require(impl)
    spec = networks.load("spiral")
    model = implementations.build(impl, spec, weights.initial(spec, seed=0), "float32")
    path = tmp_path / "m.safetensors"
    model.save(path)
    raw = path.read_bytes()
    (size,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + size])
    assert {entry["dtype"] for key, entry in header.items() if key != "__metadata__"} == {"F64"}
    for name, value in weights.load(path, spec).items():
        assert np.array_equal(value, model.parameters()[name].astype(np.float64)), name


def _saved(tmp_path, params):
    path = tmp_path / "w.safetensors"
    weights.save(path, params)
    return path


@pytest.mark.parametrize("impl", ["numpy", "torch", "tf"])
def test_a_file_beyond_the_float32_range_is_named_when_a_float32_model_loads_it(tmp_path, impl):
    """The file passed as float64, and set_parameters then said 'parameters: ...' without it."""
    from conftest import require
    from shared import implementations

    require(impl)
    spec = networks.load("xor")
    params = weights.initial(spec)
    params["dense1.weight"][0, 0] = 1e300
    path = _saved(tmp_path, params)
    model = implementations.build(impl, spec, weights.initial(spec), "float32")
    before = model.parameters()
    with pytest.raises(WeightsError, match=rf"weight file {path}: dense1.weight holds values "
                                           r"beyond the float32 range"):
        model.load(path)
    assert all(np.array_equal(before[k], v) for k, v in model.parameters().items())


def test_missing_name_is_named(tmp_path):
    spec = networks.load("sine")
    params = weights.initial(spec)
    del params["dense2.bias"]
    with pytest.raises(WeightsError, match=r"missing \['dense2.bias'\], unexpected \[\]"):
        weights.load(_saved(tmp_path, params), spec)
    with pytest.raises(WeightsError, match=r"missing \['dense2.bias'\]"):
        weights.check(spec, params)


def test_extra_name_is_named(tmp_path):
    spec = networks.load("xor")
    params = dict(weights.initial(spec), **{"dense3.weight": np.zeros((1, 1))})
    with pytest.raises(WeightsError, match=r"missing \[\], unexpected \['dense3.weight'\]"):
        weights.load(_saved(tmp_path, params), spec)


def test_wrong_spec_names_both_sides(tmp_path):
    path = _saved(tmp_path, weights.initial(networks.load("sine")))
    with pytest.raises(WeightsError,
                       match=r"network 'xor'.*unexpected \['dense3.bias', 'dense3.weight'\]"):
        weights.load(path, networks.load("xor"))


def test_misshaped_array_is_named(tmp_path):
    spec = networks.load("spiral")
    params = weights.initial(spec)
    params["dense1.weight"] = params["dense1.weight"].T.copy()  # torch layout (out, in)
    with pytest.raises(WeightsError,
                       match=r"dense1.weight has shape \(64, 2\), expected \(2, 64\)"):
        weights.load(_saved(tmp_path, params), spec)
    params = weights.initial(spec)
    params["dense2.bias"] = params["dense2.bias"][None, :]  # nnfs's (1, n) bias
    with pytest.raises(WeightsError, match=r"dense2.bias has shape \(1, 3\), expected \(3,\)"):
        weights.check(spec, params)


def test_non_float_and_non_finite_arrays_are_refused():
    spec = networks.load("xor")
    params = weights.initial(spec)
    with pytest.raises(WeightsError, match="dense1.bias has dtype int64"):
        weights.check(spec, dict(params, **{"dense1.bias": np.zeros(4, dtype=np.int64)}))
    bad = params["dense2.weight"].copy()
    bad[0, 0] = np.nan
    with pytest.raises(WeightsError, match="dense2.weight holds NaN or inf"):
        weights.check(spec, dict(params, **{"dense2.weight": bad}))


def test_truncated_corrupt_empty_and_missing_files(tmp_path):
    spec = networks.load("spiral")
    path = _saved(tmp_path, weights.initial(spec))
    data = path.read_bytes()
    cases = {
        "truncated.safetensors": data[: len(data) // 2],
        "header_only.safetensors": data[:20],
        "empty.safetensors": b"",
        "garbage.safetensors": bytes(np.random.default_rng(0).integers(0, 256, 500, np.uint8)),
        "bad_header.safetensors": (8).to_bytes(8, "little") + b"{not json",
    }
    for name, content in cases.items():
        bad = tmp_path / name
        bad.write_bytes(content)
        with pytest.raises(WeightsError, match=f"weight file .*{name}: not a readable safetensors"):
            weights.load(bad, spec)
    with pytest.raises(WeightsError, match="nowhere.safetensors: no such file"):
        weights.load(tmp_path / "nowhere.safetensors", spec)


def test_atomic_write_leaves_no_temporary_files(tmp_path):
    spec = networks.load("xor")
    path = tmp_path / "w.safetensors"
    for seed in range(3):  # overwrite in place
        weights.save(path, weights.initial(spec, seed=seed))
    assert sorted(os.listdir(tmp_path)) == ["w.safetensors"]
    assert np.array_equal(weights.load(path, spec)["dense1.weight"],
                          weights.initial(spec, seed=2)["dense1.weight"])


def test_atomic_write_failure_keeps_the_old_file(tmp_path, monkeypatch):
    spec = networks.load("xor")
    path = tmp_path / "w.safetensors"
    weights.save(path, weights.initial(spec, seed=0))
    before = path.read_bytes()

    def crash(src, dst):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="simulated"):
        weights.save(path, weights.initial(spec, seed=1))
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["w.safetensors"]  # the temporary file is removed


def test_a_file_too_large_for_the_spec_or_not_regular_is_refused_unread(tmp_path, monkeypatch):
    """load read a whole file before looking at it: a multi-gigabyte file given by mistake was
    read into memory, and a named pipe blocked. The bound is the spec's tensors at 8 bytes an
    element plus safetensors' largest header (100,000,000 bytes, its MAX_HEADER_SIZE)."""
    spec = networks.load("xor")  # 2-4-1: 17 parameters, at most 8 + 1e8 + 136 bytes
    monkeypatch.setattr(weights, "HEADER_LIMIT", 1000)  # so that the file can stay small
    big = tmp_path / "big.safetensors"
    big.write_bytes(b"\0" * (8 + 1000 + 8 * 17 + 1))
    reads = []
    real_open = type(big).open
    monkeypatch.setattr(type(big), "open",
                        lambda self, *a, **k: reads.append(self) or real_open(self, *a, **k))
    with pytest.raises(WeightsError, match=r"big.safetensors: over 1,144 bytes, more than the "
                                           r"weights of network 'xor' take in any dtype"):
        weights.load(big, spec)
    path = _saved(tmp_path, weights.initial(spec))
    assert len(path.read_bytes()) <= 1144 and weights.load(path, spec)  # the bound admits it
    if hasattr(os, "mkfifo"):
        fifo = tmp_path / "pipe.safetensors"
        os.mkfifo(fifo)
        reads.clear()
        with pytest.raises(WeightsError, match="pipe.safetensors: not a regular file"):
            weights.load(fifo, spec)
        assert reads == []  # refused before it was opened (opening it blocks)
