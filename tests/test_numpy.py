"""The NumPy reference against independent computations: central finite differences for every
layer, activation, loss, regularizer and built-in network; every optimizer variant against the
scalar formulas of tests/numpy_oracles.py; the nnfs book's printed figures; training targets.

Finite-difference metric (shared.metrics): relative error = ||g_analytic - g_numeric||_2 /
(||g_analytic||_2 + ||g_numeric||_2) per parameter tensor, central differences with h = 1e-6
in float64, bound 1e-6.
"""
import dataclasses
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import impl_numpy
from conftest import require
from impl_numpy import activations, losses, optimizers
from numpy_oracles import (ScalarOptimizer, numeric_gradients, numeric_input_gradient,
                           relative_error)
from shared import datasets, networks, weights
from shared.spec import from_dict
from shared.training import accuracy, epoch_masks

ROOT = Path(__file__).resolve().parent.parent
FD_BOUND = 1e-6
HIDDEN = ("relu", "leaky_relu", "sigmoid", "tanh", "linear")
# Output activation -> the losses that accept it (shared.spec.LOSS_OUTPUTS); step is separate:
# its backward is straight-through by design (the perceptron rule), not its derivative.
PAIRS = [(act, loss) for loss in ("mse", "mae") for act in HIDDEN + ("softmax",)] + [
    ("softmax", "categorical_crossentropy"), ("sigmoid", "binary_crossentropy")]


def tiny_spec(hidden, output, loss, *, dropout=0.0, l1=0.0, l2=0.0, outputs=3, variant="nnfs"):
    reg = {"weight_l1": l1, "weight_l2": l2, "bias_l1": l1, "bias_l2": l2}
    layer_list = [{"type": "dense", "units": 5, **reg}, {"type": hidden}]
    if dropout:
        layer_list.append({"type": "dropout", "rate": dropout})
    layer_list += [{"type": "dense", "units": outputs, **reg}, {"type": output}]
    return from_dict({"name": f"{hidden}-{output}-{loss}", "inputs": 4, "loss": loss,
                      "variant": variant, "layers": layer_list,
                      "metric": "categorical" if loss == "categorical_crossentropy" else "binary"})


def random_params(spec, seed, scale=0.7):
    """Normal weights and non-zero biases: away from L1's kink at 0 and ReLU's at 0."""
    rng = np.random.default_rng(seed)
    return {name: scale * rng.standard_normal(shape)
            for name, shape in spec.parameter_shapes().items()}


def targets(spec, n, rng):
    if spec.loss == "categorical_crossentropy":
        return rng.integers(0, spec.outputs, n)
    if spec.loss == "binary_crossentropy":
        return rng.integers(0, 2, (n, spec.outputs)).astype(float)
    return rng.normal(size=(n, spec.outputs))


def assert_gradients_match(model, X, y, masks=None, coords=None):
    analytic = model.gradients(X, y, dropout_masks=masks)
    numeric = numeric_gradients(model, X, y, masks, coords)
    for name, value in analytic.items():
        picked = value.ravel() if coords is None else value.ravel()[coords[name]]
        error = relative_error(picked, numeric[name])
        assert error <= FD_BOUND, f"{name}: relative error {error:.2e} (mine {picked[:4]} vs " \
                                  f"finite differences {numeric[name][:4]})"
        assert np.linalg.norm(picked) > 0, f"{name}: an all-zero gradient checks nothing"


# --- the fast forms keep the textbook formulas' bits ---------------------------------------------
# impl_numpy writes a few formulas in faster but equivalent forms (see the comments there); the
# oracles here are the plain textbook expressions and loops, compared bit for bit.

def _bits(array):
    return np.ascontiguousarray(array).view(np.uint8)


def _awkward_values(rng, shape, dtype):
    x = (rng.standard_normal(shape) * 10.0 ** rng.integers(-3, 4)).astype(dtype)
    x.flat[::7] = -0.0
    x.flat[::11] = 0.0
    x.flat[::13] = np.nan
    x.flat[::17] = np.inf
    x.flat[::19] = -np.inf
    return x


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_is_max_0_x_and_its_gradient_passes_where_not_x_le_0(dtype):
    rng = np.random.default_rng(0)
    for shape in [(1, 1), (300, 64), (7, 3), (64, 256)]:
        x = _awkward_values(rng, shape, dtype)
        d = rng.standard_normal(shape).astype(dtype)
        relu = activations.ReLU()
        with np.errstate(invalid="ignore"):
            assert np.array_equal(_bits(relu.forward(x)), _bits(np.maximum(0, x)))  # -0.0 kept
            assert np.array_equal(_bits(relu.backward(d)), _bits(d * ~(x <= 0)))  # NaN passes


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_is_exp_x_minus_max_over_the_sum_in_class_order(dtype):
    rng = np.random.default_rng(1)
    for shape in [(1, 2), (300, 3), (64, 10), (5, 40)]:
        x = (rng.standard_normal(shape) * 10.0 ** rng.integers(-2, 5)).astype(dtype)
        exps = np.exp(x - np.max(x, axis=1, keepdims=True))
        total = exps[:, 0].copy()
        for column in exps.T[1:]:  # class after class, as impl_pure's sum()
            total = total + column
        expected = exps / total[:, None]
        assert np.array_equal(_bits(activations.Softmax().forward(x)), _bits(expected))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bias_gradient_is_nnfs_sum_over_the_samples(dtype):
    # nnfs's np.sum(dvalues, axis=0): row after row for two or more columns, pairwise for one.
    rng = np.random.default_rng(2)
    for trial in range(60):
        n, width = int(rng.integers(1, 500)), int(rng.choice([1, 2, 3, 10, 64, 256]))
        spec = from_dict({"inputs": 2, "loss": "mse", "layers": [
            {"type": "dense", "units": width}, {"type": "linear"}]})
        model = impl_numpy.build(spec, weights.initial(spec, seed=trial), dtype=dtype.__name__)
        X = rng.standard_normal((n, 2))
        y = rng.standard_normal((n, width)) * 10.0 ** rng.integers(-5, 5)
        dvalues = model.loss_function.backward(model.forward(X), y.astype(dtype))
        expected = np.sum(dvalues, axis=0)
        if width > 1:  # the order it adds in, spelled out
            in_order = dvalues[0].copy()
            for row in dvalues[1:]:
                in_order = in_order + row
            assert np.array_equal(_bits(in_order), _bits(expected))
        got = model.gradients(X, y)["dense1.bias"]
        assert np.array_equal(_bits(got), _bits(expected)), (n, width, got - expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_crossentropy_gradient_is_nnfs_copy_minus_1_at_the_labels(dtype):
    # nnfs Activation_Softmax_Loss_CategoricalCrossentropy.backward, spelled out: a copy of the
    # probabilities, 1 subtracted at each sample's label, divided by the number of samples.
    rng = np.random.default_rng(3)
    for n, classes in [(1, 2), (300, 3), (64, 10), (7, 40)]:
        probabilities = activations.Softmax().forward(rng.standard_normal((n, classes)).astype(dtype))
        labels = rng.integers(0, classes, n)
        expected = probabilities.copy()
        for i, label in enumerate(labels):
            expected[i, label] -= 1
        expected = expected / n
        loss = losses.SoftmaxCategoricalCrossentropy()
        for y in (labels, np.eye(classes)[labels]):  # sparse and one-hot labels
            got = loss.backward(probabilities, y)
            assert got.dtype == dtype and np.array_equal(_bits(got), _bits(expected))


# --- finite differences: single layers ---------------------------------------------------------

@pytest.mark.parametrize("cls", [activations.ReLU, activations.LeakyReLU, activations.Sigmoid,
                                 activations.Tanh, activations.Softmax, activations.Linear])
def test_activation_backward_matches_finite_differences(cls):
    rng = np.random.default_rng(1)
    x, r = rng.normal(size=(6, 4)), rng.normal(size=(6, 4))
    layer = cls()
    layer.forward(x)
    analytic = layer.backward(r).copy()
    numeric = numeric_input_gradient(lambda z: float(np.sum(cls().forward(z) * r)), x)
    assert relative_error(analytic, numeric) <= FD_BOUND


def test_leaky_relu_slope_and_softmax_jacobian_by_hand():
    leaky = activations.LeakyReLU(alpha=0.2)
    assert np.array_equal(leaky.forward(np.array([[-2.0, 3.0]])), [[-0.4, 3.0]])
    assert np.array_equal(leaky.backward(np.array([[1.0, 1.0]])), [[0.2, 1.0]])
    softmax = activations.Softmax()
    y = softmax.forward(np.array([[0.0, math.log(3.0)]]))  # probabilities 1/4, 3/4
    assert np.allclose(y, [[0.25, 0.75]], rtol=1e-15)
    # J = diag(y) - y y^T = [[3/16, -3/16], [-3/16, 3/16]]; J @ [1, 0] = [3/16, -3/16]
    assert np.allclose(softmax.backward(np.array([[1.0, 0.0]])), [[3 / 16, -3 / 16]], rtol=1e-15)


@pytest.mark.parametrize("loss_class, labels", [
    (losses.CategoricalCrossentropy, "sparse"), (losses.CategoricalCrossentropy, "onehot"),
    (losses.BinaryCrossentropy, "binary"), (losses.MeanSquaredError, "real"),
    (losses.MeanAbsoluteError, "real")])
def test_loss_backward_matches_finite_differences(loss_class, labels):
    rng = np.random.default_rng(2)
    if labels in ("sparse", "onehot"):
        y_pred = activations.Softmax().forward(rng.normal(size=(5, 3)))
        y = rng.integers(0, 3, 5)
        y = np.eye(3)[y] if labels == "onehot" else y
    else:
        y_pred = rng.uniform(0.1, 0.9, (5, 3))
        y = (rng.integers(0, 2, (5, 3)).astype(float) if labels == "binary"
             else rng.normal(size=(5, 3)))
    loss = loss_class()
    analytic = loss.backward(y_pred, y)
    numeric = numeric_input_gradient(lambda p: float(loss_class().forward(p, y)), y_pred)
    assert relative_error(analytic, numeric) <= FD_BOUND


@pytest.mark.parametrize("labels", ["sparse", "onehot"])
def test_fused_softmax_crossentropy_equals_the_chain_and_finite_differences(labels):
    rng = np.random.default_rng(3)
    logits, y = rng.normal(size=(6, 4)), rng.integers(0, 4, 6)
    y = np.eye(4)[y] if labels == "onehot" else y
    softmax = activations.Softmax()
    probs = softmax.forward(logits)
    fused = losses.SoftmaxCategoricalCrossentropy().backward(probs, y)
    chain = softmax.backward(losses.CategoricalCrossentropy().backward(probs, y))
    assert np.allclose(fused, chain, rtol=1e-12, atol=1e-15)
    def loss_of_logits(z):
        return float(losses.CategoricalCrossentropy().forward(activations.Softmax().forward(z), y))

    numeric = numeric_input_gradient(loss_of_logits, logits)
    assert relative_error(fused, numeric) <= FD_BOUND


def test_crossentropy_clips_like_nnfs():
    # nnfs Loss_CategoricalCrossentropy clips to [1e-7, 1 - 1e-7]:
    # a zero probability costs -log(1e-7).
    assert losses.CategoricalCrossentropy().forward(np.array([[0.0, 1.0]]), np.array([0])) == \
        pytest.approx(-math.log(1e-7), rel=1e-15)
    assert losses.CategoricalCrossentropy().forward(np.array([[1.0, 0.0]]), np.array([0])) == \
        pytest.approx(-math.log(1 - 1e-7), rel=1e-12)
    assert losses.BinaryCrossentropy().forward(np.array([[1.0]]), np.array([[0.0]])) == \
        pytest.approx(-math.log(1e-7), rel=1e-9)


# --- finite differences: whole networks ---------------------------------------------------------

@pytest.mark.parametrize("extras", ["plain", "l1-l2-dropout"])
@pytest.mark.parametrize("hidden", HIDDEN)
@pytest.mark.parametrize("output, loss", PAIRS, ids=[f"{a}-{b}" for a, b in PAIRS])
def test_every_activation_and_loss_on_a_tiny_net(hidden, output, loss, extras):
    options = {"dropout": 0.4, "l1": 0.01, "l2": 0.03} if extras != "plain" else {}
    spec = tiny_spec(hidden, output, loss, **options)
    rng = np.random.default_rng(len(hidden) * 7 + len(output) * 3 + len(loss))
    model = impl_numpy.build(spec, random_params(spec, seed=4))
    X = rng.normal(size=(7, 4))
    masks = epoch_masks(spec, seed=5, epoch=0, batch_sizes=[7])[0] or None
    assert_gradients_match(model, X, targets(spec, 7, rng), masks)


@pytest.mark.parametrize("output, loss", [("softmax", "categorical_crossentropy"),
                                          ("sigmoid", "binary_crossentropy"), ("linear", "mse"),
                                          ("tanh", "mae")])
@pytest.mark.parametrize("variant", ["nnfs", "torch"])
def test_l1_l2_and_dropout_masks(output, loss, variant):
    spec = tiny_spec("relu", output, loss, dropout=0.3, l1=0.01, l2=0.02, variant=variant)
    rng = np.random.default_rng(5)
    model = impl_numpy.build(spec, random_params(spec, seed=6))
    X = rng.normal(size=(8, 4))
    masks = epoch_masks(spec, seed=1, epoch=0, batch_sizes=[8])[0]
    assert 0 < masks["dropout1"].mean() < 1
    y = targets(spec, 8, rng)
    assert_gradients_match(model, X, y, masks)
    # The regularization is really in the loss: the same net without it gives a smaller loss.
    plain = impl_numpy.build(tiny_spec("relu", output, loss, dropout=0.3, variant=variant),
                             model.parameters())
    assert model.loss(X, y, masks) > plain.loss(X, y, masks) + 0.01


def with_regularization(spec, l1=1e-3, l2=2e-3):
    changed = tuple(dataclasses.replace(layer, weight_l1=l1, weight_l2=l2, bias_l1=l1, bias_l2=l2)
                    if layer.type == "dense" else layer for layer in spec.layers)
    return spec.replace(layers=changed)


@pytest.mark.parametrize("name", ["xor", "spiral", "sine", "mnist"])
@pytest.mark.parametrize("regularized", [False, True])
def test_every_builtin_network(name, regularized):
    spec = networks.load(name)
    spec = with_regularization(spec) if regularized else spec
    rng = np.random.default_rng(7)
    params = {k: v + 0.05 * rng.standard_normal(v.shape)  # non-zero biases: L1 is smooth there
              for k, v in weights.initial(spec, seed=1, scheme="he_normal").items()}
    model = impl_numpy.build(spec, params)
    n = 6
    X = (rng.uniform(0, 1, (n, spec.inputs)) if name == "mnist"
         else rng.normal(size=(n, spec.inputs)))
    y = targets(spec, n, rng)
    if spec.metric == "binary":
        y = rng.integers(0, 2, (n, 1)).astype(float)
    masks = epoch_masks(spec, seed=2, epoch=0, batch_sizes=[n])[0] or None
    # Large tensors: 40 random entries of each (8 for MNIST's 235,146 parameters).
    picks = 8 if name == "mnist" else 40
    coords = {k: rng.choice(v.size, min(v.size, picks), replace=False) for k, v in params.items()}
    assert_gradients_match(model, X, y, masks, coords)


def test_perceptron_rule_for_and_or():
    # AND/OR: step output, MAE, SGD, batch 1: w += lr * (y - y_hat) * x, b += lr * (y - y_hat).
    for name in ("and", "or"):
        spec = networks.load(name)
        params = {"dense1.weight": np.array([[0.3], [-0.2]]), "dense1.bias": np.array([0.05])}
        model = impl_numpy.build(spec, params)
        lr = spec.optimizer.learning_rate
        w, b = params["dense1.weight"].copy(), params["dense1.bias"].copy()
        samples = [([1.0, 1.0], 1.0), ([0.0, 1.0], 0.0), ([1.0, 0.0], 0.0), ([0.0, 0.0], 1.0)]
        for x, target in samples:
            x = np.array([x])
            y_hat = float((x @ w + b).item() > 0)
            w += lr * (target - y_hat) * x.T
            b += lr * (target - y_hat)
            model.step(x, np.array([[target]]))
            assert np.allclose(model.parameters()["dense1.weight"], w, rtol=0, atol=1e-15)
            assert np.allclose(model.parameters()["dense1.bias"], b, rtol=0, atol=1e-15)
        assert not np.allclose(w, params["dense1.weight"])  # the rule did fire


def test_l1_sign_at_zero_nnfs_vs_frameworks():
    # nnfs's dL1/dw is +lambda at w == 0; torch and Keras take sign(0) = 0.
    grads = {}
    for variant in ("nnfs", "torch", "keras"):
        spec = tiny_spec("tanh", "linear", "mse", l1=0.5, variant=variant)
        params = random_params(spec, 8)
        params["dense2.bias"] = np.zeros(3)
        X, y = np.ones((2, 4)), np.zeros((2, 3))
        grads[variant] = impl_numpy.build(spec, params).gradients(X, y)["dense2.bias"]
    assert np.allclose(grads["nnfs"] - grads["torch"], 0.5, rtol=0, atol=1e-15)
    assert np.array_equal(grads["torch"], grads["keras"])


# --- dropout ------------------------------------------------------------------------------------

def test_dropout_scaling_and_inference():
    spec = from_dict({"inputs": 3, "loss": "mse", "layers": [
        {"type": "dense", "units": 6}, {"type": "dropout", "rate": 0.25},
        {"type": "dense", "units": 2}, {"type": "linear"}]})
    params = random_params(spec, 9)
    model = impl_numpy.build(spec, params)
    rng = np.random.default_rng(10)
    X, mask = rng.normal(size=(4, 3)), (rng.random((4, 6)) > 0.25).astype(float)
    hidden = X @ params["dense1.weight"] + params["dense1.bias"]
    expected = (hidden * mask / 0.75) @ params["dense2.weight"] + params["dense2.bias"]
    out = model.forward(X, training=True, dropout_masks={"dropout1": mask})
    assert np.allclose(out, expected, rtol=1e-14, atol=1e-15)
    plain = hidden @ params["dense2.weight"] + params["dense2.bias"]
    assert np.allclose(model.forward(X), plain, rtol=1e-14, atol=1e-15)
    assert np.allclose(model.forward(X, training=False, dropout_masks={"dropout1": mask}), plain,
                       rtol=1e-14, atol=1e-15)
    # Without injected masks a training pass draws its own with keep probability 1 - rate,
    # and inverted scaling keeps the expected output equal to the inference output.
    big = rng.normal(size=(4000, 3))
    draws = model.forward(big, training=True)
    layer = model.layers[1]
    assert abs(np.mean(layer.scaled_mask == 0) - 0.25) < 0.01
    assert set(np.unique(layer.scaled_mask)) == {0.0, 1 / 0.75}
    assert abs(np.mean(draws) - np.mean(model.forward(big))) < 0.05 * np.std(draws)


# --- optimizers against the scalar oracle --------------------------------------------------------

OPT_CASES = {
    "sgd": {"type": "sgd", "learning_rate": 0.5},
    "sgd-decay": {"type": "sgd", "learning_rate": 0.5, "decay": 0.1},
    "momentum": {"type": "sgd", "learning_rate": 0.3, "momentum": 0.9},
    "momentum-decay": {"type": "sgd", "learning_rate": 0.3, "momentum": 0.9, "decay": 0.2},
    "nesterov-decay": {"type": "sgd", "learning_rate": 0.3, "momentum": 0.8, "nesterov": True,
                       "decay": 0.1},
    "adagrad-decay": {"type": "adagrad", "learning_rate": 0.2, "decay": 0.05,
                      "initial_accumulator": 0.3},
    "rmsprop-decay": {"type": "rmsprop", "learning_rate": 0.02, "rho": 0.8, "decay": 0.05,
                      "epsilon": 1e-4},
    "adam": {"type": "adam", "learning_rate": 0.05},
    "adam-decay": {"type": "adam", "learning_rate": 0.05, "decay": 0.1, "beta_1": 0.8,
                   "beta_2": 0.95, "epsilon": 1e-3},
    "clip-value": {"type": "sgd", "learning_rate": 0.5, "momentum": 0.5, "clip_value": 0.02},
    "clip-norm": {"type": "adam", "learning_rate": 0.05, "clip_norm": 0.05},
    "clip-norm-sgd": {"type": "sgd", "learning_rate": 0.5, "clip_norm": 0.05},
    "clip-both": {"type": "rmsprop", "learning_rate": 0.01, "clip_value": 0.03, "clip_norm": 0.04},
}
OPT_SPEC = {"name": "opt", "inputs": 3, "loss": "mse",
            "layers": [{"type": "dense", "units": 4, "weight_l2": 1e-3}, {"type": "tanh"},
                       {"type": "dense", "units": 2}, {"type": "linear"}]}


def opt_spec(case, variant):
    return from_dict({**OPT_SPEC, "optimizer": OPT_CASES[case], "variant": variant})


def opt_data():
    rng = np.random.default_rng(11)
    return rng.normal(size=(8, 3)), rng.normal(size=(8, 2))


def run_model(spec, steps):
    X, y = opt_data()
    model = impl_numpy.build(spec, random_params(spec, 12, scale=0.5))
    trajectory = []
    for _ in range(steps):
        model.step(X, y)
        trajectory.append(model.parameters())
    return trajectory


@pytest.mark.parametrize("variant", ["nnfs", "torch", "keras"])
@pytest.mark.parametrize("case", list(OPT_CASES))
def test_optimizer_matches_scalar_formulas(case, variant):
    spec = opt_spec(case, variant)
    X, y = opt_data()
    trajectory = run_model(spec, steps=6)
    # The oracle moves its own copy; impl_numpy only supplies gradients at the oracle's point.
    probe = impl_numpy.build(spec, random_params(spec, 12, scale=0.5))
    oracle, params = ScalarOptimizer(spec.optimizer, variant), probe.parameters()
    for step, got in enumerate(trajectory, 1):
        probe.set_parameters(params)
        params = oracle.step(params, probe.gradients(X, y))
        for name in params:
            assert np.allclose(got[name], params[name], rtol=1e-12, atol=1e-14), \
                f"{case}/{variant} step {step} {name}: mine {got[name].ravel()[:3]} vs " \
                f"formula {params[name].ravel()[:3]}"
    if "clip" in case:
        assert oracle.clipped, "the clipping thresholds never bit; the case checks nothing"


def final_distance(case, a, b, steps=20):
    pa = run_model(opt_spec(case, a), steps)[-1]
    pb = run_model(opt_spec(case, b), steps)[-1]
    return max(float(np.max(np.abs(pa[k] - pb[k]))) for k in pa)


@pytest.mark.parametrize("case, a, b, differ", [
    # torch's momentum buffer equals nnfs's only at a constant learning rate.
    ("momentum", "nnfs", "torch", False), ("momentum-decay", "nnfs", "torch", True),
    ("nesterov-decay", "nnfs", "torch", True),
    ("momentum-decay", "nnfs", "keras", False),  # Keras SGD has the nnfs form
    # Adagrad: Keras starts the accumulator at initial_accumulator and puts eps inside the root.
    ("adagrad-decay", "nnfs", "torch", False), ("adagrad-decay", "nnfs", "keras", True),
    ("rmsprop-decay", "nnfs", "torch", False), ("rmsprop-decay", "nnfs", "keras", True),
    ("adam-decay", "nnfs", "torch", False), ("adam-decay", "nnfs", "keras", True),
    # torch's clip_grad_norm_ divides by norm + 1e-6: a relative change of about 1e-6 / norm.
    ("clip-norm-sgd", "nnfs", "keras", False), ("clip-norm-sgd", "nnfs", "torch", True),
])
def test_variants_differ_where_guide_says(case, a, b, differ):
    distance = final_distance(case, a, b)
    if differ:
        assert distance > (1e-8 if case == "clip-norm-sgd" else 1e-4), \
            f"{case}: {a} and {b} should differ, distance {distance:.1e}"
    else:
        assert distance < 1e-13, f"{case}: {a} and {b} should agree, distance {distance:.1e}"


@pytest.mark.parametrize("block_bytes, n_blocks", [(128 * 1024, 3), (0, 1)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("variant", ["nnfs", "keras"])
def test_adam_in_blocks_gives_the_whole_buffer_formula_bits(variant, dtype, block_bytes,
                                                            n_blocks, monkeypatch):
    # impl_numpy runs Adam block by block (optimizers.BLOCK_BYTES per array; 0, the whole
    # buffer at once, on AMD), both set here whatever this host's default. The golden values
    # are the book's whole-array expressions (nnfs Optimizer_Adam; Keras's form for "keras"),
    # written out here, on a buffer of 2.5 blocks of 128 KB, over steps with a decayed rate.
    monkeypatch.setattr(optimizers, "BLOCK_BYTES", block_bytes)
    size = 128 * 1024 // np.dtype(dtype).itemsize * 5 // 2
    rng = np.random.default_rng(21)
    w = rng.normal(size=size).astype(dtype)
    params = w.copy()
    adam = optimizers.Adam(0.01, decay=0.1, variant=variant, dtype=dtype)
    assert len(list(optimizers.blocks(params))) == n_blocks
    m, v = np.zeros_like(w), np.zeros_like(w)
    b1, b2, eps, k = 0.9, 0.999, 1e-7, np.dtype(dtype).type
    for t in range(1, 5):
        g = rng.normal(size=size).astype(dtype)
        adam.pre_update_params()
        adam.update_params(params, g)
        adam.post_update_params()
        if variant == "keras":
            lr = k(0.01) / (1 + k(0.1) * k(t - 1))
            alpha = lr * np.sqrt(1 - k(b2) ** k(t)) / (1 - k(b1) ** k(t))
            m = m + (g - m) * (1 - b1)
            v = v + (g * g - v) * (1 - b2)
            w = w - m * alpha / (np.sqrt(v) + eps)
        else:
            lr = 0.01 * (1.0 / (1.0 + 0.1 * (t - 1)))
            m = b1 * m + (1 - b1) * g
            v = b2 * v + (1 - b2) * g ** 2
            m_hat, v_hat = m / (1 - b1 ** t), v / (1 - b2 ** t)
            w += -lr * m_hat / (np.sqrt(v_hat) + eps)
        assert params.dtype == w.dtype
        assert np.array_equal(params, w), \
            f"step {t}: {np.sum(params != w)} of {size} parameters differ from the formula's"

# --- float32 ------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["spiral", "mnist"])
def test_float32_agrees_with_float64(name):
    spec = networks.load(name)
    if name == "spiral":
        data = datasets.load(spec.dataset.name, **spec.dataset.options)
        X, y = data.X_train[:128], data.y_train[:128]
    else:  # MNIST-shaped: pixels in [0, 1], a batch of 128 (the float32 tolerances' case)
        rng = np.random.default_rng(13)
        X, y = rng.uniform(0, 1, (128, 784)), rng.integers(0, 10, 128)
    params = weights.initial(spec, seed=0, scheme="he_normal")
    m64, m32 = (impl_numpy.build(spec, params, dtype=d) for d in ("float64", "float32"))
    out64, out32 = m64.forward(X), m32.forward(X)
    assert out32.dtype == np.float32 and out64.dtype == np.float64
    # float32 tolerances (metrics.TOLERANCES): forward/loss atol 1e-6, rtol 1e-5; gradients
    # 1e-4 x max|g|.
    assert np.allclose(out32, out64, rtol=1e-5, atol=1e-6)
    assert m32.loss(X, y) == pytest.approx(m64.loss(X, y), rel=1e-5, abs=1e-6)
    g64, g32 = m64.gradients(X, y), m32.gradients(X, y)
    for k in g64:
        assert g32[k].dtype == np.float32
        assert np.max(np.abs(g32[k] - g64[k])) <= 1e-4 * np.max(np.abs(g64[k])) + 1e-7, k
    assert np.abs(out32 - out64).max() > 0  # float32 really computed in float32
    for _ in range(3):
        m32.step(X, y)
        m64.step(X, y)
    p32, p64 = m32.parameters(), m64.parameters()
    assert all(p32[k].dtype == np.float32 for k in p32)
    assert all(np.allclose(p32[k], p64[k], atol=1e-5) for k in p64)


# --- the nnfs book's printed figures -----------------------------------------------------------

BOOK_SCRIPT = r"""
import json, sys
import numpy as np
import nnfs
from nnfs.datasets import spiral_data
nnfs.init()  # patches NumPy globally (float32 randn/zeros, float32 dot), so only in this subprocess
X, y = spiral_data(samples=100, classes=3)
W1, b1 = 0.01 * np.random.randn(2, 3), np.zeros((1, 3))
W2, b2 = 0.01 * np.random.randn(3, 3), np.zeros((1, 3))
# The book's own code (Ch. 4-9), inline, as an independent check of the gradients.
z1 = np.dot(X, W1) + b1; a1 = np.maximum(0, z1)
z2 = np.dot(a1, W2) + b2
e = np.exp(z2 - np.max(z2, axis=1, keepdims=True)); probs = e / np.sum(e, axis=1, keepdims=True)
dz2 = probs.copy(); dz2[range(len(y)), y] -= 1; dz2 = dz2 / len(y)
dW2 = np.dot(a1.T, dz2); db2 = np.sum(dz2, axis=0)
da1 = np.dot(dz2, W2.T); da1[z1 <= 0] = 0
dW1 = np.dot(X.T, da1); db1 = np.sum(da1, axis=0)
import impl_numpy
from shared.spec import from_dict
spec = from_dict({"inputs": 2, "loss": "categorical_crossentropy", "layers": [
    {"type": "dense", "units": 3}, {"type": "relu"}, {"type": "dense", "units": 3},
    {"type": "softmax"}]})
model = impl_numpy.build(spec, {"dense1.weight": W1, "dense1.bias": b1[0],
                                "dense2.weight": W2, "dense2.bias": b2[0]}, dtype="float32")
out = model.forward(X)
g = model.gradients(X, y)
json.dump({"dtype": str(out.dtype), "first5": out[:5].tolist(), "loss": model.loss(X, y),
           "accuracy": float(np.mean(np.argmax(out, axis=1) == y)),
           "grads": {k: v.tolist() for k, v in g.items()},
           "book_grads": {"dense1.weight": dW1.tolist(), "dense1.bias": db1.tolist(),
                          "dense2.weight": dW2.tolist(), "dense2.bias": db2.tolist()}},
          sys.stdout)
"""


def test_nnfs_book_figures_in_a_subprocess():
    run = subprocess.run([sys.executable, "-c", BOOK_SCRIPT], cwd=ROOT, capture_output=True,
                         text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["dtype"] == "float32"
    # nnfs book, Ch. 5 (and again Ch. 9), the untrained 2-3-3 spiral net after nnfs.init():
    # the first five softmax rows, "loss: 1.0986104", "acc: 0.34" (printed float32 digits).
    book_rows = [[0.33333334, 0.33333334, 0.33333334],
                 [0.3333332, 0.3333332, 0.33333364],
                 [0.3333329, 0.33333293, 0.3333342],
                 [0.3333326, 0.33333263, 0.33333477],
                 [0.33333233, 0.3333324, 0.33333528]]
    assert np.allclose(result["first5"], book_rows, rtol=0, atol=6e-8)  # two float32 ulps
    assert f"{result['loss']:.7f}" == "1.0986104"
    assert result["accuracy"] == 0.34
    # The loss is log(3) to 6 digits: the net is nearly uniform, as the book explains.
    assert abs(result["loss"] - math.log(3)) < 1e-5
    for name, book in result["book_grads"].items():
        mine, book = np.array(result["grads"][name]), np.array(book)
        assert np.allclose(mine, book, rtol=1e-4, atol=1e-9), name
        assert np.max(np.abs(book)) > 1e-6


AFTER_INIT_SCRIPT = r"""
import hashlib, sys
import numpy as np
if sys.argv[1] == "patched":
    import nnfs
    nnfs.init()  # as a reader of the book starts a script
from shared import implementations, networks, weights
spec = networks.load("spiral")
rng = np.random.default_rng(0)  # the same data in both processes (spiral_data draws with randn)
X, y = rng.normal(size=(300, 2)), rng.integers(0, 3, 300)
params = weights.initial(spec)
print(*(value.dtype for value in params.values()))
model = implementations.build("numpy", spec, params)
out = [model.forward(X), np.float64(model.loss(X, y)), *model.gradients(X, y).values()]
model.fit(X, y, epochs=5)
for a in [*out, *model.parameters().values()]:
    a = np.ascontiguousarray(a)
    print(a.dtype, hashlib.sha256(a.tobytes()).hexdigest())
"""


def test_a_users_nnfs_init_leaves_the_float64_reference_bit_for_bit():
    """nnfs.init() makes NumPy's zeros, eye and randn float32 and its dot float32, process-wide;
    impl_numpy's float64 forward, loss, gradients and five epochs of fit are still the bits of
    a clean process (weights.initial's zero biases were float32 under the patch)."""
    digests = []
    for mode in ("clean", "patched"):
        run = subprocess.run([sys.executable, "-c", AFTER_INIT_SCRIPT, mode], cwd=ROOT,
                             capture_output=True, text=True, timeout=120,
                             env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert run.returncode == 0, run.stderr
        digests.append(run.stdout.splitlines())
    assert len(digests[0]) == 1 + 2 + 4 + 4
    assert all(line.startswith("float64") for line in digests[0])
    assert digests[0][0] == " ".join(["float64"] * 4)  # weights.initial's arrays
    assert digests[0] == digests[1]


# --- training targets ---------------------------------------------------------------------------

def train(name, **fit_options):
    spec = networks.load(name)
    data = datasets.load(spec.dataset.name, **spec.dataset.options)
    model = impl_numpy.build(spec, weights.initial(spec, seed=spec.training.seed))
    history = model.fit(data.X_train, data.y_train, eval_every=spec.training.epochs,
                        **fit_options)
    return spec, data, model, history


def test_xor_all_four():
    spec, data, model, history = train("xor")
    assert np.array_equal(model.predict(data.X_train) > 0.5, data.y_train > 0.5)
    assert history["accuracy"][-1] == 1.0 and history["loss"][-1] < 0.01


@pytest.mark.parametrize("name", ["and", "or"])
def test_and_or_by_the_perceptron_rule(name):
    spec, data, model, history = train(name)
    expected = {"and": [0, 0, 0, 1], "or": [0, 1, 1, 1]}[name]
    assert model.predict(data.X_train).ravel().tolist() == expected
    assert data.y_train.ravel().tolist() == expected


def test_spiral_reaches_0_9_with_the_nnfs_adam_settings():
    # nnfs Ch. 10 (Adam lr 0.05, decay 5e-7, 10,000 epochs); measured here: 0.967 training accuracy.
    spec, data, model, history = train("spiral")
    assert spec.training.epochs <= 10_000
    assert history["epoch"] == [spec.training.epochs]
    assert accuracy("categorical", model.predict(data.X_train), data.y_train) >= 0.90


@pytest.mark.slow
def test_sine_regression_fits_with_the_spec_settings():
    # The spec's settings (1-64-64-1, Glorot uniform, Adam lr 0.005, decay 1e-3, 10,000
    # full-batch epochs). The book's 0.01*randn init stalls at accuracy 0.571, which is why the
    # spec uses Glorot (nnfs Ch. 17 raises its init to 0.1*randn instead).
    # nnfs's regression accuracy (|error| < std(y) / 250) is too strict to assert at one epoch:
    # late in the run Adam's loss spikes now and then, and a change in the last bit moves the
    # spikes. Measured here with the spec seed: accuracy 0.900 / 0.938 / 0.961 after 1,000 /
    # 2,000 / 10,000 epochs. With its initial weights moved by a few ulps (7 runs): 0.85-0.963
    # at epoch 10,000, down to 0.314 in spikes at epoch 9,000, at least 0.96 at its best
    # checkpoint, and a final MSE of 1.7e-6 to 3.8e-6 (1.1e-5 in that spike). Seeds 1-5 end
    # at MSE 3e-6 to 3e-5 (the bound below holds for them too; the accuracy bound does not).
    spec = networks.load("sine")
    assert spec.init == "glorot_uniform" and spec.training.epochs == 10_000
    data = datasets.load(spec.dataset.name, **spec.dataset.options)
    model = impl_numpy.build(spec, weights.initial(spec, seed=spec.training.seed))
    history = model.fit(data.X_train, data.y_train, eval_every=1000)
    mse = float(np.mean((model.predict(data.X_train) - data.y_train) ** 2))
    assert mse <= 1e-4, f"MSE {mse:.2e}: the net has not fitted sin(2 pi x) (variance 0.5)"
    assert max(history["accuracy"]) >= 0.90, history["accuracy"]


@pytest.mark.slow
def test_mnist_offline_digits_reach_0_9_test_accuracy():
    # Spec settings (784-256-128-10, dropout 0.2, Adam 1e-3, batch 64) for 3 of its 10 epochs;
    # measured test accuracy 0.880 / 0.923 / 0.929 after epochs 1 / 2 / 3 (2026-12-01).
    spec = networks.load("mnist")
    data = datasets.load("mnist")
    model = impl_numpy.build(spec, weights.initial(spec, seed=spec.training.seed))
    X_train, X_test = data.X_train, data.X_val  # 4,000 / 1,000 digits, scaled to [0, 1]
    assert len(X_train) == 4000 and X_train.max() == 1.0
    history = model.fit(X_train, data.y_train, epochs=3, validation_data=(X_test, data.y_val))
    assert history["val_accuracy"][-1] >= 0.90
    assert model.evaluate(X_test, data.y_val)["accuracy"] == history["val_accuracy"][-1]


@pytest.mark.parametrize("implementation", ["numpy", "pure", "torch", "tf"])
def test_returned_arrays_are_not_changed_by_later_calls(implementation):
    # The reference keeps buffers and flat parameter views for speed; whatever a model hands
    # out (outputs, gradients, parameters) must be the caller's own copy, not a view that
    # later training overwrites.
    from shared import implementations

    require(implementation)
    spec = networks.load("spiral")
    data = datasets.load(spec.dataset.name, **spec.dataset.options)
    X, y = data.X_train[:40], data.y_train[:40]
    model = implementations.build(implementation, spec, weights.initial(spec, seed=0))
    handed_out = (model.forward(X), model.gradients(X, y), model.parameters())
    kept = (handed_out[0].copy(), {k: v.copy() for k, v in handed_out[1].items()},
            {k: v.copy() for k, v in handed_out[2].items()})
    model.fit(X, y, epochs=3, eval_every=3)
    model.forward(X[:7])
    model.gradients(X[:9], y[:9])
    assert np.array_equal(handed_out[0], kept[0])
    for given, copy in zip(handed_out[1:], kept[1:]):
        assert all(np.array_equal(given[name], copy[name]) for name in copy)
    assert not np.array_equal(model.parameters()["dense1.weight"], kept[2]["dense1.weight"])
