"""impl_pure against the NumPy reference: no NumPy inside, same numbers, same training.

Every golden value comes from impl_numpy, an independent implementation of the same
formulas (vectorised NumPy rather than lists of floats). The two sum in different
orders (NumPy pairwise and BLAS, impl_pure left to right), so single evaluations agree
to rounding (atol 1e-12, rtol 1e-10) and trajectories drift apart as training amplifies
rounding; where a trajectory is compared, the bound is set by a one-ulp noise floor of
the reference itself.
"""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from shared import datasets, networks, weights
from shared import implementations as impls
from shared.checks import InputError
from shared.spec import from_dict

ROOT = Path(__file__).resolve().parents[1]
# impl_pure sums as impl_numpy does except for BLAS's weight-gradient sums: measured at most
# 2.5e-16 apart on every built-in network, 4.4e-16 over the 60-step trajectories.
ATOL, RTOL = 1e-14, 1e-12


def pair(spec, seed=0, params=None):
    """The same network built by impl_numpy and impl_pure from the same parameters."""
    params = weights.initial(spec, seed=seed) if params is None else params
    return impls.build("numpy", spec, params), impls.build("pure", spec, params)


def data(spec, n=None):
    d = datasets.load(spec.dataset.name, **spec.dataset.options)
    return (d.X_train, d.y_train) if n is None else (d.X_train[:n], d.y_train[:n])


def assert_close(mine, theirs, what):
    np.testing.assert_allclose(mine, theirs, atol=ATOL, rtol=RTOL,
                               err_msg=f"{what}: impl_pure (actual) vs impl_numpy (desired)")


def assert_same_answers(spec, X, y, masks=None, params=None):
    """forward, loss and every gradient by canonical name agree with the reference."""
    ref, pure = pair(spec, params=params)
    assert_close(pure.forward(X), ref.forward(X), "forward")
    if masks:
        assert_close(pure.forward(X, training=True, dropout_masks=masks),
                     ref.forward(X, training=True, dropout_masks=masks), "forward with masks")
    assert_close(pure.loss(X, y, masks), ref.loss(X, y, masks), "loss")
    g_ref, g_pure = ref.gradients(X, y, masks), pure.gradients(X, y, masks)
    assert set(g_pure) == set(g_ref) == set(spec.parameter_shapes())
    for name in g_ref:
        assert g_pure[name].shape == g_ref[name].shape, name
        assert_close(g_pure[name], g_ref[name], f"gradient {name}")
    assert np.abs(np.concatenate([g.ravel() for g in g_ref.values()])).max() > 0  # not vacuous


def spec_of(layers, loss="mse", inputs=2, metric="regression", **extra):
    return from_dict({"name": "t", "inputs": inputs, "loss": loss, "metric": metric,
                      "layers": layers, **extra})


def dense(units, **kw):
    return {"type": "dense", "units": units, **kw}


# --- No NumPy inside ---------------------------------------------------------------------------

def test_impl_pure_runs_without_numpy():
    script = textwrap.dedent("""
        import sys
        import impl_pure
        from shared import networks
        spec = networks.load("spiral")
        params = {"dense1.weight": [[0.01 * (i - j) for j in range(64)] for i in range(2)],
                  "dense1.bias": [0.0] * 64,
                  "dense2.weight": [[0.02 * ((i + j) % 5 - 2) for j in range(3)]
                                    for i in range(64)],
                  "dense2.bias": [0.0] * 3}
        model = impl_pure.build(spec, params)
        X, y = [[0.1, 0.2], [-0.3, 0.4], [0.5, -0.6]], [0, 1, 2]
        first = model.step(X, y)
        second = model.step(X, y)
        assert second < first, (first, second)
        assert "numpy" not in sys.modules, "impl_pure imported numpy"
        print("ok")
    """)
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_no_numpy_in_the_source():
    for path in (ROOT / "impl_pure").glob("*.py"):
        assert "numpy" not in path.read_text().replace("impl_numpy", ""), path.name


# --- linalg: every element summed in order, on every path ---------------------------------------

@pytest.mark.parametrize("transpose", ["transpose_by_zip", "transpose_by_index"])
@pytest.mark.parametrize("inner, outer", [(1, 5), (2, 64), (3, 64), (64, 3), (8, 200)])
def test_linalg_sums_each_element_in_order(inner, outer, transpose, monkeypatch):
    """affine and matmul_transposed equal the plain left-to-right loop over k bit for bit on
    each of their paths (unrolled for inner <= 3, dot products, linear combinations),
    with CPython's transpose and with PyPy's."""
    import random

    from impl_pure import linalg
    monkeypatch.setattr(linalg, "transpose", getattr(linalg, transpose))
    rng = random.Random(inner * 1000 + outer)
    a = [[rng.gauss(0, 1) for _ in range(inner)] for _ in range(7)]
    b = [[rng.gauss(0, 1) for _ in range(outer)] for _ in range(inner)]
    c = [rng.gauss(0, 1) for _ in range(outer)]

    def in_order(row, j):
        total = row[0] * b[0][j]
        for k in range(1, inner):
            total += row[k] * b[k][j]
        return total

    expected = [[in_order(row, j) for j in range(outer)] for row in a]
    b_transposed = [list(column) for column in zip(*b)]
    assert linalg.matmul_transposed(a, b_transposed) == expected
    assert linalg.affine(a, b, c) == [[e + c_j for e, c_j in zip(row, c)] for row in expected]


def test_sums_add_left_to_right_on_every_interpreter():
    """From CPython 3.12 the builtin sum() of floats is compensated (Neumaier): 1e16 + 1 - 1e16
    gives 1.0 there, not 0.0, and impl_pure's weights moved in the last bits against 3.11's
    (measured on spiral, 5 steps). impl_pure adds through linalg.sum_in_order instead."""
    import sys

    from impl_pure import linalg
    for add in (linalg.sum_in_order, linalg.add_in_order):
        assert add([1e16, 1.0, -1e16]) == 0.0
        assert add([0.5, 0.25], 1.0) == 1.75 and add([]) == 0
    assert linalg.dot([1e16, 1.0, -1e16], [1.0, 1.0, 1.0]) == 0.0
    compensated = sys.implementation.name == "cpython" and sys.version_info >= (3, 12)
    assert linalg.sum_in_order is (linalg.add_in_order if compensated else sum)


# Specs as dicts, not TOML: PyPy 7.3 (Debian's pypy3, which CI installs) is Python 3.9, which has
# no tomllib. Sine (MSE, two hidden layers) and spiral (softmax + cross-entropy: pairwise sums).
PURE_STEPS_SCRIPT = textwrap.dedent("""
    import random
    import impl_pure
    from shared.spec import from_dict
    adam = {"type": "adam", "learning_rate": 0.005, "decay": 1e-3}
    sine = {"name": "sine", "inputs": 1, "loss": "mse", "optimizer": adam, "layers": [
        {"type": "dense", "units": 64}, {"type": "relu"}, {"type": "dense", "units": 64},
        {"type": "relu"}, {"type": "dense", "units": 1}, {"type": "linear"}]}
    spiral = {"name": "spiral", "inputs": 2, "loss": "categorical_crossentropy",
              "optimizer": adam, "layers": [{"type": "dense", "units": 64}, {"type": "relu"},
                                            {"type": "dense", "units": 3}, {"type": "softmax"}]}
    rng = random.Random(0)
    for spec, inputs in ((from_dict(sine), 1), (from_dict(spiral), 2)):
        params = {name: [[rng.gauss(0, 0.1) for _ in range(shape[1])] for _ in range(shape[0])]
                  if len(shape) == 2 else [rng.gauss(0, 0.1) for _ in range(shape[0])]
                  for name, shape in spec.parameter_shapes().items()}
        model = impl_pure.build(spec, params)
        X = [[rng.uniform(-1, 1) for _ in range(inputs)] for _ in range(40)]
        y = [[x[0] * 0.5] for x in X] if inputs == 1 else [i % 3 for i in range(40)]
        print(repr([model.step(X, y) for _ in range(5)]), repr(model.parameters()))
""")


def test_every_python_found_gives_the_same_bits():
    """impl_pure on other interpreters, where found: CPython 3.12+ (whose sum() compensates) and
    PyPy (CI installs Debian's pypy3). The same losses and parameters, bit for bit, as this
    interpreter after 5 steps on sine and on spiral."""
    import shutil

    from conftest import in_ci
    candidates = [shutil.which(name) for name in ("python3.12", "python3.13", "pypy3")]
    candidates += [str(path) for path in Path("/root/.pyenv/versions").glob("3.1[2-9]*/bin/python")]
    others = []
    for exe in dict.fromkeys(c for c in candidates if c):
        probe = subprocess.run([exe, "-c", "import sys; sys.exit(sys.version_info < (3, 9))"],
                               capture_output=True)
        if probe.returncode == 0:  # shared.spec runs on 3.9+ (PyPy 7.3 is 3.9)
            others.append(exe)
    if in_ci() and shutil.which("pypy3") not in others:
        pytest.fail("CI installs pypy3 (make test, as root); it was not found")
    if not others:
        pytest.skip("no other Python 3.9+ interpreter found")
    mine = subprocess.run([sys.executable, "-c", PURE_STEPS_SCRIPT], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, check=True).stdout
    assert mine.count("\n") == 2
    for exe in others:
        theirs = subprocess.run([exe, "-c", PURE_STEPS_SCRIPT], cwd=ROOT, capture_output=True,
                                text=True, timeout=120)
        assert theirs.returncode == 0, (exe, theirs.stderr)
        assert theirs.stdout == mine, exe


def test_both_transposes_give_the_columns_and_each_interpreter_gets_its_own():
    import sys

    from impl_pure import linalg
    for rows in ([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], [[1.0], [2.0]], [[7.0, 8.0]], []):
        columns = [[row[j] for row in rows] for j in range(len(rows[0]) if rows else 0)]
        assert [list(c) for c in linalg.transpose_by_zip(rows)] == columns
        assert linalg.transpose_by_index(rows) == columns
    expected = "transpose_by_index" if sys.implementation.name == "pypy" else "transpose_by_zip"
    assert linalg.transpose is getattr(linalg, expected)



@pytest.mark.parametrize("n", [*range(0, 40), 127, 128, 129, 136, 255, 256, 300, 1000, 4099])
def test_pairwise_sum_adds_as_numpy_sum(n):
    """pairwise_sum equals np.sum (NumPy's C pairwise summation, the independent oracle) bit for
    bit, on values spread over 20 orders of magnitude, on values that cancel, and on -0.0s
    (np.sum gives +0.0); a left-to-right sum differs from np.sum for most n >= 3 here."""
    from impl_pure.linalg import pairwise_sum
    rng = np.random.default_rng(n)
    spread = rng.standard_normal(n) * np.exp(rng.standard_normal(n) * 5)
    for values in (spread, spread - spread.mean() if n else spread, -np.zeros(n)):
        got, want = pairwise_sum(values.tolist()), float(np.sum(values))
        assert got == want and np.signbit(got) == np.signbit(want), (n, got, want)
    assert pairwise_sum(iter(spread.tolist())) == float(np.sum(spread))  # any iterable



def test_sigmoid_is_impl_numpys_to_the_bit_where_exp_overflows():
    """Below x = -709.78 exp(-x) overflows: NumPy's 1 / (1 + inf) is 0, and impl_pure returned
    e^x (4.5e-309 at -710) instead. Now both give 1 / (1 + exp(-x)) everywhere, bit for bit."""
    from impl_numpy.activations import Sigmoid as NumpySigmoid
    from impl_pure.activations import Sigmoid as PureSigmoid
    x = np.concatenate([np.linspace(-760, -700, 601), np.linspace(-40, 40, 81), [709.0, 800.0]])
    expected = NumpySigmoid().forward(x[None, :])[0]
    got = np.array(PureSigmoid().forward([x.tolist()])[0])
    assert expected[x < -709.79].max() == 0.0 and expected[x > -709.7].min() > 0
    np.testing.assert_array_equal(got, expected)

@pytest.mark.parametrize("name", ["xor", "and", "or", "spiral", "sine"])
def test_builtin_losses_are_bit_identical(name):
    """impl_pure's loss is impl_numpy's to the last bit on the built-in networks (four weight
    seeds): np.mean and np.sum add pairwise, and so does impl_pure (linalg.pairwise_sum).
    Before that, spiral and sine differed in the last bits at every seed."""
    spec = networks.load(name)
    X, y = data(spec)
    for seed in range(4):
        numpy_model, pure_model = pair(spec, seed)
        assert pure_model.loss(X, y) == numpy_model.loss(X, y), seed


def test_mnist_loss_is_within_an_ulp_or_two_not_bit_identical():
    """MNIST is the exception: BLAS sums its 784-input products in another order than
    impl_pure's in-order sums, so the outputs differ in the last bits, and the loss (~2.3, an
    ulp 4.4e-16) is 1 ulp off at some seeds (measured: seeds 0, 3 and 7 of 8 at 8 rows)."""
    spec = networks.load("mnist")
    X, y = data(spec, 8)
    gaps = []
    for seed in (0, 1, 3):
        numpy_model, pure_model = pair(spec, seed)
        a, b = numpy_model.loss(X, y), pure_model.loss(X, y)
        gaps.append(abs(a - b) / np.spacing(a))
    assert max(gaps) <= 2 and any(gaps), gaps  # within 2 ulps, and not always equal


def test_penalties_and_clip_norm_are_bit_identical():
    """The L1/L2 penalty (np.sum over each array) and clip_norm's norm (np.sum over the flat
    gradient buffer) are summed as NumPy sums them: equal bits from equal arrays."""
    from impl_numpy import optimizers as numpy_optimizers
    from impl_pure import optimizers as pure_optimizers
    spec, params, X, y = l1l2_case("nnfs")
    numpy_model, pure_model = pair(spec, params=params)
    assert pure_model.model.regularization_loss() == numpy_model.regularization_loss() > 0
    rng = np.random.default_rng(0)
    for size in (387, 5000):
        grads = rng.standard_normal(size) * np.exp(rng.standard_normal(size) * 3)
        rows = [grads[i:i + 64].tolist() for i in range(0, size, 64)]
        norm = float(np.sqrt(np.sum(grads * grads)))
        for variant in ("nnfs", "torch"):
            flat, cut = grads.copy(), [row[:] for row in rows]
            numpy_optimizers.clip_gradients(flat, clip_norm=norm / 3, variant=variant)
            pure_optimizers.clip_gradients(cut, clip_norm=norm / 3, variant=variant)
            assert [g for row in cut for g in row] == flat.tolist(), (size, variant)

# --- Forward, loss and gradients on the built-in networks --------------------------------------

@pytest.mark.parametrize("name, n", [("xor", None), ("and", None), ("or", None),
                                     ("spiral", 60), ("sine", 40)])
def test_builtin_networks_agree(name, n):
    spec = networks.load(name)
    X, y = data(spec, n)
    if name in ("and", "or"):  # nnfs init puts every gate output at 0: move off the kink
        params = weights.initial(spec, seed=3)
        params["dense1.bias"] = np.array([0.005])
        assert_same_answers(spec, X, y, params=params)
    else:
        assert_same_answers(spec, X, y)


def test_mnist_shaped_network_with_injected_dropout_masks():
    spec = networks.load("mnist")
    rng = np.random.default_rng(7)
    X = rng.random((8, 784))
    y = rng.integers(0, 10, 8)
    masks = {"dropout1": (rng.random((8, 256)) >= 0.2).astype(float),
             "dropout2": (rng.random((8, 128)) >= 0.2).astype(float)}
    assert_same_answers(spec, X, y, masks)
    ref, pure = pair(spec)
    # the masks matter: without them (dropout off) the loss differs
    assert abs(pure.loss(X, y) - pure.loss(X, y, masks)) > 1e-6
    assert_close(pure.loss(X, y), ref.loss(X, y), "loss without masks")


ACTIVATION_CASES = {
    "leaky_relu": ([dense(6), {"type": "leaky_relu", "alpha": 0.1}, dense(2), {"type": "linear"}],
                   "mse"),
    "tanh": ([dense(6), {"type": "tanh"}, dense(2), {"type": "tanh"}], "mae"),
    "sigmoid_bce": ([dense(6), {"type": "relu"}, dense(2), {"type": "sigmoid"}],
                    "binary_crossentropy"),
    "softmax_mse_jacobian": ([dense(6), {"type": "sigmoid"}, dense(3), {"type": "softmax"}],
                             "mse"),
    "step": ([dense(3), {"type": "step"}], "mae"),
}


@pytest.mark.parametrize("case", sorted(ACTIVATION_CASES))
@pytest.mark.parametrize("variant", ["nnfs", "torch"])
def test_every_activation_and_loss_agrees(case, variant):
    layers, loss = ACTIVATION_CASES[case]
    spec = spec_of(layers, loss, variant=variant)
    rng = np.random.default_rng(1)
    X = rng.normal(size=(10, 2))
    y = rng.random((10, spec.outputs))
    if loss != "binary_crossentropy":
        y = 3 * y - 1
    params = weights.initial(spec, seed=2, scheme="glorot_uniform")
    for name in params:
        if name.endswith(".bias"):
            params[name] = rng.normal(scale=0.1, size=params[name].shape)
    assert_same_answers(spec, X, y, params=params)


@pytest.mark.parametrize("labels", ["sparse", "one_hot"])
@pytest.mark.parametrize("variant", ["nnfs", "keras"])
def test_cross_entropy_fused_and_one_hot(labels, variant):
    spec = networks.load("spiral").replace(variant=variant)
    X, y = data(spec, 30)
    if labels == "one_hot":
        y = np.eye(3)[y]
    assert_same_answers(spec, X, y)


@pytest.mark.parametrize("variant", ["nnfs", "torch"])
@pytest.mark.parametrize("loss", ["categorical_crossentropy", "binary_crossentropy"])
def test_saturated_outputs_hit_the_clip(loss, variant):
    """Huge logits push p past 1 - 1e-7 and below 1e-7, where nnfs clips and torch does not."""
    output = "softmax" if loss == "categorical_crossentropy" else "sigmoid"
    spec = spec_of([dense(4), {"type": "relu"}, dense(3), {"type": output}], loss,
                   metric="categorical" if output == "softmax" else "binary", variant=variant)
    params = weights.initial(spec, seed=6, scheme="glorot_uniform")
    params["dense2.weight"] *= 60.0
    X, _ = data(networks.load("spiral"), 30)
    X = 10 * X
    ref = impls.build("numpy", spec, params)
    logits_scale = np.abs(ref.forward(X) - 0.5).max()
    assert logits_scale > 0.5 - 1e-7  # some outputs are saturated
    if output == "softmax":
        y = np.argmax(ref.forward(X), axis=1)
        y[::3] = (y[::3] + 1) % 3  # a third confidently wrong
    else:
        y = (ref.forward(X) > 0.5).astype(float)
        y[::3] = 1 - y[::3]
    assert_same_answers(spec, X, y, params=params)


@pytest.mark.parametrize("loss, variant", [("binary_crossentropy", "torch"),
                                            ("binary_crossentropy", "nnfs"), ("mae", "nnfs")])
def test_a_nan_prediction_gives_nan_as_in_numpy(loss, variant):
    """NaN reaches a loss from finite data when the network overflows (inf - inf). impl_pure's
    log took NaN for 0 (-inf, then clamped: a BCE of 50.35 where NumPy gives NaN) and its sign
    of NaN was 0 (an MAE gradient of 0 where NumPy's is NaN)."""
    from impl_numpy import losses as numpy_losses
    from impl_pure import losses as pure_losses

    name = {"binary_crossentropy": "BinaryCrossentropy", "mae": "MeanAbsoluteError"}[loss]
    y_pred, y_true = [[float("nan"), 0.25]], [[1.0, 0.0]]
    reference = getattr(numpy_losses, name)(variant)
    pure = getattr(pure_losses, name)(variant)
    with np.errstate(invalid="ignore"):
        value = reference.forward(np.array(y_pred), np.array(y_true))
        gradient = reference.backward(np.array(y_pred), np.array(y_true))
    assert np.isnan(value) and np.isnan(pure.forward(y_pred, y_true))
    assert np.array_equal(pure.backward(y_pred, y_true), gradient, equal_nan=True)


L1L2_LAYERS = [dense(8, weight_l1=1e-3, weight_l2=2e-3, bias_l1=3e-3, bias_l2=4e-3),
               {"type": "relu"}, dense(3, weight_l1=5e-4, bias_l2=1e-3), {"type": "softmax"}]


def l1l2_case(variant):
    spec = spec_of(L1L2_LAYERS, "categorical_crossentropy", metric="categorical", variant=variant)
    params = weights.initial(spec, seed=4)
    params["dense1.weight"][0, :3] = 0.0  # biases are zero too: the L1 sign at 0 matters
    return spec, params, *data(networks.load("spiral"), 30)


@pytest.mark.parametrize("variant", ["nnfs", "torch", "keras"])
def test_l1_l2_penalties_agree(variant):
    spec, params, X, y = l1l2_case(variant)
    assert_same_answers(spec, X, y, params=params)


def test_l1_sign_at_zero_nnfs_vs_torch():
    """nnfs's L1 gradient is +lam at w == 0, torch's and Keras's is 0 (impl_numpy's l1_sign)."""
    grads = {}
    for variant in ("nnfs", "torch"):
        spec, params, X, y = l1l2_case(variant)
        grads[variant] = impls.build("pure", spec, params).gradients(X, y)
    bias_gap = grads["nnfs"]["dense1.bias"] - grads["torch"]["dense1.bias"]
    np.testing.assert_allclose(bias_gap, 3e-3, rtol=1e-9)
    weight_gap = grads["nnfs"]["dense1.weight"] - grads["torch"]["dense1.weight"]
    np.testing.assert_allclose(weight_gap[0, :3], 1e-3, rtol=1e-9)
    assert np.all(weight_gap[0, 3:] == 0) and np.all(weight_gap[1] == 0)



@pytest.mark.parametrize("variant", ["nnfs", "torch", "keras"])
def test_l1_sign_is_the_references_at_zero_and_nan(variant):
    """impl_pure's d|w|/dw equals impl_numpy's at -0.0, 0.0, NaN and +-inf (the oracle):
    its sign of NaN was 0.0 where np.sign gives NaN (a NaN weight's L1 gradient vanished)."""
    from impl_numpy.layers import l1_sign as numpy_l1_sign
    from impl_pure.layers import l1_sign

    param = [-0.0, 0.0, float("nan"), float("inf"), -float("inf"), 2.5, -1e-300]
    expected = numpy_l1_sign(np.array(param), variant)
    assert np.array_equal(l1_sign(param, variant), expected, equal_nan=True)

# --- Optimizers: trajectories against the reference --------------------------------------------

OPTIMIZER_CASES = {
    "sgd": {"type": "sgd", "learning_rate": 0.5},
    "sgd_decay": {"type": "sgd", "learning_rate": 0.5, "decay": 0.01},
    "momentum": {"type": "sgd", "learning_rate": 0.3, "momentum": 0.9, "decay": 0.01},
    "nesterov": {"type": "sgd", "learning_rate": 0.3, "momentum": 0.9, "nesterov": True,
                 "decay": 0.01},
    "adagrad": {"type": "adagrad", "learning_rate": 0.2, "decay": 1e-3},
    "rmsprop": {"type": "rmsprop", "learning_rate": 0.01, "rho": 0.95, "decay": 1e-3},
    "adam": {"type": "adam", "learning_rate": 0.02, "decay": 1e-3},
    "adam_clip_value": {"type": "adam", "learning_rate": 0.02, "clip_value": 0.05},
    "sgd_clip_norm": {"type": "sgd", "learning_rate": 0.5, "momentum": 0.5, "clip_norm": 0.1},
}
TINY = [dense(5), {"type": "tanh"}, dense(3), {"type": "softmax"}]
STEPS = 60


def trajectory_distance(spec, params, X, y, steps=STEPS):
    """Largest parameter and loss difference impl_pure vs impl_numpy over ``steps`` updates."""
    ref, pure = pair(spec, params=params)
    worst = 0.0
    for _ in range(steps):
        l_ref, l_pure = ref.step(X, y), pure.step(X, y)
        assert abs(l_ref - l_pure) <= ATOL + RTOL * abs(l_ref)
        p_ref, p_pure = ref.parameters(), pure.parameters()
        worst = max(worst, max(np.abs(p_ref[k] - p_pure[k]).max() for k in p_ref))
    moved = max(np.abs(ref.parameters()[k] - params[k]).max() for k in params)
    return worst, moved


@pytest.mark.parametrize("case", sorted(OPTIMIZER_CASES))
@pytest.mark.parametrize("variant", ["nnfs", "torch", "keras"])
def test_optimizer_trajectories_match_the_reference(case, variant):
    spec = spec_of(TINY, "categorical_crossentropy", metric="categorical", variant=variant,
                   optimizer=OPTIMIZER_CASES[case])
    X, y = data(networks.load("spiral"), 24)
    params = weights.initial(spec, seed=5, scheme="glorot_uniform")
    worst, moved = trajectory_distance(spec, params, X, y)
    assert moved > 1e-2, "the optimizer barely moved: the comparison would be vacuous"
    assert worst <= 1e-14, f"{case}/{variant}: max |pure - numpy| = {worst:.3g} over {STEPS} steps"


def test_variants_really_differ():
    """The variants are different formulas: a mix-up would fail the test above, not pass it."""
    X, y = data(networks.load("spiral"), 24)
    finals = {}
    for variant in ("nnfs", "keras"):
        spec = spec_of(TINY, "categorical_crossentropy", metric="categorical", variant=variant,
                       optimizer=OPTIMIZER_CASES["adagrad"])
        model = impls.build("pure", spec, weights.initial(spec, seed=5, scheme="glorot_uniform"))
        for _ in range(10):
            model.step(X, y)
        finals[variant] = model.parameters()["dense2.weight"]
    assert np.abs(finals["nnfs"] - finals["keras"]).max() > 1e-3


# --- Training to the spec targets ---------------------------------------------------------------

@pytest.mark.parametrize("name", ["xor", "and", "or"])
def test_gates_train_to_four_of_four(name):
    spec = networks.load(name)
    X, y = data(spec)
    model = impls.build("pure", spec, weights.initial(spec, seed=spec.training.seed))
    model.fit(X, y, eval_every=spec.training.epochs)
    assert np.array_equal(model.predict(X) > 0.5, y > 0.5), model.predict(X)


def test_spiral_reaches_the_reference_accuracy():
    """300 of the spec's 10,000 epochs (the rest would take minutes in pure Python): the
    accuracy equals impl_numpy's after the same 300 epochs, and the parameters stay within
    the reference's own one-ulp noise floor (times 10)."""
    spec = networks.load("spiral")
    X, y = data(spec)
    params = weights.initial(spec, seed=0)
    ref, pure = pair(spec, params=params)
    h_ref = ref.fit(X, y, epochs=300, eval_every=300)
    h_pure = pure.fit(X, y, epochs=300, eval_every=300)
    assert h_pure["accuracy"][-1] == h_ref["accuracy"][-1]
    assert h_ref["accuracy"][-1] > 0.6  # it learned (chance is 1/3)
    nudged = {k: np.nextafter(v, np.inf) for k, v in params.items()}
    floor_model = impls.build("numpy", spec, nudged)
    floor_model.fit(X, y, epochs=300, eval_every=300)
    floor = max(np.abs(floor_model.parameters()[k] - ref.parameters()[k]).max() for k in params)
    distance = max(np.abs(pure.parameters()[k] - ref.parameters()[k]).max() for k in params)
    assert distance <= 10 * max(floor, 1e-13), (distance, floor)


@pytest.mark.slow
def test_spiral_reaches_the_090_target():
    """The spiral target (>= 0.90 training accuracy) with the spec's Adam settings after 700
    epochs, where impl_numpy first holds it (measured: 0.90 after 500 epochs, 0.923 after 700).
    After a few hundred epochs the two runs part chaotically (impl_pure: 0.917 at 700), so the
    accuracy is compared with the target, not with impl_numpy's."""
    spec = networks.load("spiral")
    X, y = data(spec)
    model = impls.build("pure", spec, weights.initial(spec, seed=spec.training.seed))
    history = model.fit(X, y, epochs=700, eval_every=700)
    assert history["accuracy"][-1] >= 0.90


# --- Determinism, dtype and the harness plumbing ------------------------------------------------

def test_two_identical_runs_are_bitwise_equal():
    spec = networks.load("mnist").replace(training={"batch_size": 4})
    rng = np.random.default_rng(3)
    X, y = rng.random((8, 784)), rng.integers(0, 10, 8)
    params = weights.initial(spec, seed=1)
    runs = []
    for _ in range(2):
        model = impls.build("pure", spec, params)
        history = model.fit(X, y, epochs=2)
        own_masks = model.forward(X[:2], training=True)  # masks drawn by impl_pure's own RNG
        assert not np.array_equal(own_masks, model.predict(X[:2]))  # dropout was on
        runs.append((model.parameters(), history["loss"], own_masks))
    (p1, l1, m1), (p2, l2, m2) = runs
    assert l1 == l2
    for name in p1:
        assert p1[name].tobytes() == p2[name].tobytes(), name
        assert not np.array_equal(p1[name], params[name]), name  # training moved it
    assert m1.tobytes() == m2.tobytes()


def test_float32_is_refused_clearly():
    spec = networks.load("xor")
    with pytest.raises(ValueError, match="float64"):
        impls.build("pure", spec, weights.initial(spec), dtype="float32")


def test_parameters_save_load_and_bad_input(tmp_path):
    spec = networks.load("spiral")
    X, y = data(spec, 30)
    model = impls.build("pure", spec, weights.initial(spec, seed=0))
    model.step(X, y)
    trained = model.parameters()
    trained["dense1.bias"][0] += 1.0  # a copy: the model is unchanged
    assert model.parameters()["dense1.bias"][0] != trained["dense1.bias"][0]
    model.save(tmp_path / "w.safetensors")
    other = impls.build("pure", spec, weights.initial(spec, seed=1))
    other.load(tmp_path / "w.safetensors")
    for name, value in model.parameters().items():
        assert other.parameters()[name].tobytes() == value.tobytes()
    other.set_parameters(weights.initial(spec, seed=1))
    assert not np.array_equal(other.parameters()["dense1.weight"],
                              model.parameters()["dense1.weight"])
    with pytest.raises(InputError, match="X: expected shape"):
        model.forward(np.zeros((3, 5)))
    with pytest.raises(InputError, match="labels must lie"):
        model.loss(X, np.full(30, 7))
    ev = model.evaluate(X, y)
    assert abs(ev["loss"] - model.loss(X, y)) < 1e-15 and 0 <= ev["accuracy"] <= 1
