"""impl_tf's own checks: float64 end to end, exact optimizers bit for bit, the epoch tf.function, the environment.

Golden values come from impl_numpy (the reference), which shares no code with impl_tf.
The cross-implementation harness (every pair, every network) lives in test_harness_parity.py and
test_harness_trajectory.py.
"""
import dataclasses
import functools
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import importorskip, in_ci  # noqa: E402

importorskip("impl_tf")  # first: it sets TensorFlow's environment (oneDNN off) before TF loads

import impl_numpy  # noqa: E402
import impl_tf  # noqa: E402
import tensorflow as tf  # noqa: E402
from impl_numpy import model as numpy_model  # noqa: E402
from impl_numpy import optimizers as numpy_optimizers  # noqa: E402
from impl_tf import model as tf_model  # noqa: E402
from impl_tf import optimizers as tf_optimizers  # noqa: E402
from shared import datasets, networks, weights  # noqa: E402
from shared.implementations import reference_spec  # noqa: E402
from shared.spec import Layer, Optimizer, from_dict  # noqa: E402
from shared.training import TrainingMixin, epoch_masks  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def spiral():
    data = datasets.load("spiral", samples=100, classes=3)
    return networks.load("spiral"), data.X_train, data.y_train


def _max_diff(a, b):
    return max(float(np.max(np.abs(a[k] - b[k]))) for k in b)


def test_import_sets_environment_and_threads_without_torch():
    code = ("import sys, os, impl_tf, tensorflow as tf; "
            "t = tf.config.threading; "
            "print(t.get_intra_op_parallelism_threads(), t.get_inter_op_parallelism_threads(), "
            "'torch' in sys.modules, os.environ['TF_ENABLE_ONEDNN_OPTS'], "
            "tf.config.optimizer.get_experimental_options().get('constant_folding'))")
    env = {**os.environ, "ROSETTA_TF_THREADS": "2", "PYTHONPATH": str(ROOT)}
    env.pop("TF_ENABLE_ONEDNN_OPTS", None)
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["2", "2", "False", "0", "False"]


def test_tensorflow_imported_first_leaves_onednn_on_and_says_so():
    """TensorFlow reads TF_ENABLE_ONEDNN_OPTS at its import: after it, impl_tf set the variable
    to 0 all the same, so the environment (and compare.py's report of it) claimed oneDNN off
    for a run that used it (a review: other float32 weights). Now it warns and sets nothing."""
    code = ("import os, warnings, tensorflow, impl_tf; "
            "print(os.environ.get('TF_ENABLE_ONEDNN_OPTS'))")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONWARNINGS": "always"}
    env.pop("TF_ENABLE_ONEDNN_OPTS", None)
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["None"]
    assert "TF_ENABLE_ONEDNN_OPTS=0 not applied: TensorFlow was imported before impl_tf" in \
        out.stderr


def test_native_float64_adam_tracks_numpy_keras_variant(spiral):
    # Keras's own Adam, InverseTimeDecay and (patched) L2 regularizer in float64: any
    # hyperparameter rounded through float32 would show up as >= 1e-9 here.
    spec, X, y = spiral
    layers = list(spec.layers)
    layers[0] = dataclasses.replace(layers[0], weight_l2=1e-3, bias_l1=1e-4)
    spec = spec.replace(layers=tuple(layers), optimizer={"decay": 1e-2, "beta_2": 0.99})
    params = weights.initial(spec, seed=0)
    model = impl_tf.build(spec, params, mode="native")
    reference = impl_numpy.build(reference_spec(spec, "tf", "native"), params)
    for _ in range(20):
        assert model.step(X, y) == pytest.approx(reference.step(X, y), abs=1e-14, rel=1e-14)
    got = model.parameters()
    assert all(value.dtype == np.float64 for value in got.values())
    assert _max_diff(got, reference.parameters()) < 1e-12


OPTIMIZERS = [
    {"type": "sgd", "learning_rate": 0.5},
    {"type": "sgd", "learning_rate": 0.5, "momentum": 0.9, "decay": 1e-2},
    {"type": "sgd", "learning_rate": 0.5, "momentum": 0.9, "nesterov": True},
    {"type": "adagrad", "learning_rate": 0.5, "decay": 1e-3},
    {"type": "rmsprop", "learning_rate": 0.02, "decay": 1e-4},
    {"type": "adam", "learning_rate": 0.05, "decay": 5e-7},
]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("variant", ["nnfs", "torch", "keras"])
def test_exact_optimizers_are_bit_equal_to_numpy_on_equal_gradients(spiral, variant, dtype):
    shapes = [(5, 3), (3,)]
    for o in OPTIMIZERS:
        spec = spiral[0].replace(variant=variant, optimizer=Optimizer(**o))
        rng = np.random.default_rng(1)
        start = [rng.standard_normal(shape).astype(dtype) for shape in shapes]
        flat = np.concatenate([w.ravel() for w in start])
        reference = numpy_model.make_optimizer(spec, dtype)
        with tf_model.floatx(dtype):
            optimizer = tf_model.make_optimizer(spec, "exact")
        variables = [tf.Variable(w) for w in start]
        optimizer.build(variables)
        apply = tf.function(lambda grads: optimizer.apply(grads, variables))
        for t in range(12):
            grads = [(rng.standard_normal(s) * (0.1 if t % 2 else 2)).astype(dtype) for s in shapes]
            reference.pre_update_params()
            reference.update_params(flat, np.concatenate([g.ravel() for g in grads]))
            reference.post_update_params()
            apply([tf.constant(g) for g in grads])
        got = np.concatenate([v.numpy().ravel() for v in variables])
        assert np.array_equal(got, flat), (variant, o, np.max(np.abs(got - flat)))


@pytest.mark.parametrize("variant", ["nnfs", "torch"])
def test_exact_clipping_matches_numpy(variant):
    rng = np.random.default_rng(2)
    grads = [rng.standard_normal((4, 3)), rng.standard_normal(3)]
    flat = np.concatenate([g.ravel() for g in grads])
    numpy_optimizers.clip_gradients(flat, 0.5, 1.0, variant)
    clipped = tf_optimizers.clip_gradients([tf.constant(g) for g in grads], 0.5, 1.0, variant)
    got = np.concatenate([g.numpy().ravel() for g in clipped])
    assert np.array_equal(got, flat)
    norm = np.linalg.norm(np.clip(np.concatenate([g.ravel() for g in grads]), -0.5, 0.5))
    assert norm > 1  # so the norm clip is active: to 1, or (torch) to norm / (norm + 1e-6)
    expected = 1.0 if variant == "nnfs" else norm / (norm + 1e-6)
    assert np.linalg.norm(got) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_exact_norm_clipping_is_bit_exact_inside_a_graph(dtype):
    """clip_norm in a tf.function equals impl_numpy's bit for bit: the norm is NumPy's pairwise
    sum over the canonical buffer (reduce_sum and add_n were an ulp off in 51 of 200 cases)."""
    rng = np.random.default_rng(7)
    clip = tf.function(tf_optimizers.clip_gradients, reduce_retracing=True)
    for case in range(24):
        shapes = [(int(rng.integers(1, 40)), int(rng.integers(1, 70))), (int(rng.integers(1, 70)),)]
        grads = [(rng.standard_normal(s) * rng.uniform(0.1, 3)).astype(dtype) for s in shapes]
        flat = np.concatenate([g.ravel() for g in grads])
        variant, clip_norm = ("nnfs", "torch", "keras")[case % 3], float(rng.uniform(0.1, 2))
        assert np.linalg.norm(flat) > clip_norm  # the clip is active
        numpy_optimizers.clip_gradients(flat, 0.0, clip_norm, variant)
        clipped = clip([tf.constant(g) for g in grads], 0.0, clip_norm, variant)
        got = np.concatenate([g.numpy().ravel() for g in clipped])
        assert np.array_equal(got, flat), (case, variant, np.max(np.abs(got - flat)))


def test_nnfs_l1_gradient_is_plus_lambda_at_zero(spiral):
    spec, X, y = spiral
    layers = list(spec.layers)
    layers[2] = dataclasses.replace(layers[2], bias_l1=0.25)  # biases start at exactly 0
    spec = spec.replace(layers=tuple(layers))
    params = weights.initial(spec, seed=0)
    for variant in ("nnfs", "keras"):
        s = spec.replace(variant=variant)
        got = impl_tf.build(s, params).gradients(X, y)["dense2.bias"]
        expected = impl_numpy.build(s, params).gradients(X, y)["dense2.bias"]
        np.testing.assert_allclose(got, expected, atol=1e-15)
    data_only = impl_numpy.build(spiral[0], params).gradients(X, y)["dense2.bias"]
    nnfs = impl_tf.build(spec, params).gradients(X, y)["dense2.bias"]
    np.testing.assert_allclose(nnfs - data_only, 0.25, atol=1e-15)


def _dropout_spec():
    spec = networks.load("spiral")
    layers = list(spec.layers)
    layers.insert(2, Layer(type="dropout", name="dropout1", rate=0.25))
    return spec.replace(layers=tuple(layers), training={"batch_size": 64})


def test_epoch_function_equals_per_step_loop(spiral):
    # Mini-batches of 64 (4 full, 1 short) with dropout masks from shared.training.
    _, X, y = spiral
    spec = _dropout_spec()
    params = weights.initial(spec, seed=0)
    fused = impl_tf.build(spec, params)
    stepped = impl_tf.build(spec, params)
    stepped.train_epoch = lambda *args: TrainingMixin.train_epoch(stepped, *args)
    history = fused.fit(X, y, epochs=3)
    assert history["loss"] == stepped.fit(X, y, epochs=3)["loss"]
    assert _max_diff(fused.parameters(), stepped.parameters()) == 0.0
    reference = impl_numpy.build(spec, params)
    np.testing.assert_allclose(history["loss"], reference.fit(X, y, epochs=3)["loss"],
                               rtol=1e-14)  # measured: 2e-16


def test_dropout_masks_injected_and_drawn(spiral):
    _, X, _ = spiral
    spec = _dropout_spec()
    params = weights.initial(spec, seed=0)
    model, reference = impl_tf.build(spec, params), impl_numpy.build(spec, params)
    masks = epoch_masks(spec, 0, 0, [len(X)])[0]
    np.testing.assert_allclose(model.forward(X, training=True, dropout_masks=masks),
                               reference.forward(X, training=True, dropout_masks=masks),
                               atol=1e-15)
    np.testing.assert_array_equal(model.forward(X, dropout_masks=masks), model.forward(X))
    drawn = model.forward(X, training=True)
    assert not np.allclose(drawn, model.forward(X)) and np.allclose(drawn.sum(axis=1), 1.0)


def test_float32_model_stays_float32(spiral):
    spec, X, y = spiral
    params = weights.initial(spec, seed=0)
    model = impl_tf.build(spec, params, dtype="float32")
    reference = impl_numpy.build(spec, params, dtype="float32")
    assert model.forward(X).dtype == np.float32
    for _ in range(5):
        assert model.step(X, y) == pytest.approx(reference.step(X, y), abs=1e-6, rel=1e-5)
    got = model.parameters()
    assert all(value.dtype == np.float32 for value in got.values())
    assert _max_diff(got, reference.parameters()) < 1e-5


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_exact_softmax_sums_and_divides_as_the_reference(dtype):
    """tf.nn.softmax multiplies by 1 / sum: 147 of spiral's 900 float64 outputs at its initial
    weights differed from impl_numpy's (and the output bias gradient). Given TF's exps (its exp
    and NumPy's may differ in the last bit), the sums over the classes, in order, and the
    divisions must be impl_numpy's, at 3 classes and at MNIST's 10."""
    from impl_numpy.activations import Softmax as NumpySoftmax
    from impl_tf import activations

    rng = np.random.default_rng(4)
    for trial in range(60):
        n, k = int(rng.integers(1, 300)), int(rng.choice([1, 2, 3, 5, 10]))
        logits = (rng.standard_normal((n, k)) * 10.0 ** rng.uniform(-1, 1.5)).astype(dtype)
        exps = tf.exp(logits - tf.reduce_max(logits, axis=1, keepdims=True)).numpy()
        expected = exps / _sum_in_order(exps)
        assert np.array_equal(activations.softmax(tf.constant(logits)).numpy(), expected), (n, k)
    # and impl_numpy's own softmax sums in that order (so the two agree where the exps do)
    z = rng.standard_normal((50, 10))
    exps = np.exp(z - z.max(axis=1, keepdims=True))
    assert np.array_equal(NumpySoftmax().forward(z), exps / _sum_in_order(exps))


@pytest.mark.parametrize("variant", ["nnfs", "torch", "keras"])
def test_the_fused_crossentropy_gradient_is_of_the_logits_it_is_given(variant):
    """backward(z) is (softmax(z) - y) / n for its own z, called alone or after a forward of
    other logits (it read the probabilities the last forward left behind: an AttributeError
    alone, the other logits' gradient after). The expected value is written here in NumPy,
    the softmax from TF's exps as the exact softmax divides them (its test above)."""
    from impl_tf import losses

    rng = np.random.default_rng(5)
    y = tf.constant([0, 1, 2, 1, 0])
    z, other = rng.standard_normal((5, 3)), rng.standard_normal((5, 3))
    exps = tf.exp(z - z.max(axis=1, keepdims=True)).numpy()
    expected = (exps / _sum_in_order(exps) - np.eye(3)[y.numpy()]) / 5
    loss = losses.SoftmaxCategoricalCrossentropy(variant)
    assert np.array_equal(loss.backward(tf.constant(z), y).numpy(), expected)
    loss.forward(tf.constant(other), y)
    assert np.array_equal(loss.backward(tf.constant(z), y).numpy(), expected)


def test_the_keras_variant_of_the_unfused_crossentropies_is_keras_on_probabilities():
    """Keras clips probabilities to [1e-7, 1 - 1e-7] as nnfs does; the keras variant of the
    unfused losses (a model fuses them with the softmax or sigmoid instead) floored p at the
    smallest float, as torch's do (CCE 184.9 for Keras's 8.93, BCE torch's 25.2 for 4.27).
    The oracle is Keras's own losses; the rows sum to exactly 1, so Keras's division by the
    row sum changes nothing, and some entries are clipped (0, 1, 2^-40)."""
    import keras

    from impl_pure import losses as pure_losses
    from impl_tf import losses as tf_losses

    p = np.array([[0.0, 1.0, 0.0], [2.0 ** -40, 1 - 2.0 ** -40, 0.0], [0.25, 0.5, 0.25],
                  [0.125, 0.125, 0.75]])
    labels = np.array([0, 0, 2, 1])
    targets = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    for name, y, keras_loss in (
            ("CategoricalCrossentropy", labels,
             keras.losses.categorical_crossentropy(np.eye(3)[labels], p)),
            ("BinaryCrossentropy", targets, keras.losses.binary_crossentropy(targets, p))):
        expected = float(np.mean(keras_loss.numpy()))
        got = {"numpy": getattr(impl_numpy.losses, name)("keras").forward(p, y),
               "pure": getattr(pure_losses, name)("keras").forward(p.tolist(), y.tolist()),
               "tf": getattr(tf_losses, name)("keras").forward(tf.constant(p), tf.constant(y))}
        for impl, value in got.items():
            assert float(value) == pytest.approx(expected, rel=1e-15), (name, impl)


def _sum_in_order(exps):
    """Each row's sum, its columns added left to right, as a column."""
    return functools.reduce(np.add, [exps[:, j] for j in range(exps.shape[1])])[:, None]


def test_bad_input_names_x():
    spec = networks.load("xor")
    model = impl_tf.build(spec, weights.initial(spec, seed=0))
    with pytest.raises(ValueError, match=r"X: expected shape \(n, 2\)"):
        model.forward(np.zeros((3, 5)))
    with pytest.raises(ValueError, match="mode"):
        impl_tf.build(spec, weights.initial(spec, seed=0), mode="fast")


# One parameter, so that Keras's norm, sqrt(g^2), is impl_numpy's whatever the summation order;
# the gradients cross the clipping threshold both ways.
NATIVE_GRADIENTS = [0.3, -2.5, 0.9, 1.7, -0.05, 3.1, -0.6, 0.25]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("settings", [{"decay": 0.3}, {"clip_norm": 0.7}, {"clip_norm": 1.0},
                                      {"clip_norm": 1.85}, {"clip_norm": 1.757},
                                      {"clip_norm": 0.3, "decay": 0.05}])
def test_the_keras_variant_decays_and_clips_as_keras_bit_for_bit(settings, dtype):
    """Keras's InverseTimeDecay divides, lr / (1 + d t), and its global_clipnorm scales every
    gradient by c * min(1 / norm, 1 / c), even below the threshold; impl_numpy's keras variant
    took lr * (1 / (1 + d t)) and c / max(norm, c) when below 1 (4 of these 8 cases failed).
    At c = 1.757 in float32, Keras's scale below the threshold is f32(c) * f32(1 / c), 1 - 1 ulp,
    where f32(c) * (1 / f32(c)) is 1: Keras divides the Python float.
    The oracle is Keras's own SGD, as impl_tf's native mode builds it."""
    spec = from_dict({"name": "one", "inputs": 1, "loss": "mse", "variant": "keras",
                      "layers": [{"type": "dense", "units": 1}, {"type": "linear"}],
                      "optimizer": {"type": "sgd", "learning_rate": 0.05, **settings}})
    variable = tf.Variable(np.zeros(1, dtype))
    with tf_model.floatx(dtype):  # as impl_tf builds it: its learning rate takes floatx
        keras_optimizer = tf_model.make_optimizer(spec, "native", dtype)
        keras_optimizer.build([variable])
    optimizer = numpy_model.make_optimizer(spec, dtype)
    o = spec.optimizer
    for step, g in enumerate(NATIVE_GRADIENTS * 3, 1):
        # from 0 at every step, so that the update is -lr * g, each rounding in sight
        variable.assign(np.zeros(1, dtype))
        params = np.zeros(1, dtype)
        keras_optimizer.apply_gradients([(tf.constant([g], dtype), variable)])
        grads = np.array([g], dtype)
        numpy_optimizers.clip_gradients(grads, o.clip_value, o.clip_norm, "keras")
        optimizer.pre_update_params()
        optimizer.update_params(params, grads)
        optimizer.post_update_params()
        assert variable.numpy()[0] == params[0], (step, variable.numpy()[0], params[0])


# Every Keras optimizer native mode builds, each hyperparameter off its default and decayed.
KERAS_OPTIMIZERS = {
    "momentum": {"type": "sgd", "learning_rate": 0.3, "decay": 0.01, "momentum": 0.8},
    "nesterov": {"type": "sgd", "learning_rate": 0.3, "decay": 0.01, "momentum": 0.8,
                 "nesterov": True, "clip_value": 0.5},
    "adagrad": {"type": "adagrad", "learning_rate": 0.4, "decay": 1e-3, "epsilon": 1e-6,
                "initial_accumulator": 0.2},
    "rmsprop": {"type": "rmsprop", "learning_rate": 0.01, "decay": 1e-3, "epsilon": 1e-6,
                "rho": 0.95},
    "adam": {"type": "adam", "learning_rate": 0.05, "decay": 5e-3, "epsilon": 1e-6,
             "beta_1": 0.85, "beta_2": 0.99},
    "adam defaults": {"type": "adam", "learning_rate": 0.001},
}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", sorted(KERAS_OPTIMIZERS))
def test_the_keras_variant_steps_as_keras_bit_for_bit(case, dtype):
    """Keras's own optimizers, built as native mode builds them, against impl_numpy's keras
    variant on equal gradients: every element after every step has the same bits. In float32,
    Keras given np.float64 hyperparameters ran parts of RMSprop, Adagrad and Adam in float64
    (the variant matched none of these float32 steps); given Python floats, as a Keras user
    writes them, it computes every scalar in float32, and the variant computes lr_t and
    Adam's alpha as it does. The oracle is Keras itself."""
    spec = from_dict({"name": "one", "inputs": 1, "loss": "mse", "variant": "keras",
                      "layers": [{"type": "dense", "units": 1}, {"type": "linear"}],
                      "optimizer": KERAS_OPTIMIZERS[case]})
    rng = np.random.default_rng(3)
    start = rng.standard_normal(3000).astype(dtype)
    variable = tf.Variable(start)
    with tf_model.floatx(dtype):
        keras_optimizer = tf_model.make_optimizer(spec, "native", dtype)
        keras_optimizer.build([variable])
    apply = tf.function(lambda grads: keras_optimizer.apply_gradients([(grads, variable)]))
    optimizer, params = numpy_model.make_optimizer(spec, dtype), start.copy()
    for step in range(40):
        grads = (rng.standard_normal(3000) * 10.0 ** rng.uniform(-4, 1)).astype(dtype)
        apply(tf.constant(grads))
        numpy_optimizers.clip_gradients(grads, spec.optimizer.clip_value, 0.0, "keras")
        optimizer.pre_update_params()
        optimizer.update_params(params, grads)
        optimizer.post_update_params()
        differ = int(np.sum(variable.numpy() != params))
        assert differ == 0, f"{case} {dtype}: {differ} of 3000 elements differ at step {step}"


# The spec's hyperparameter -> the Keras constructor argument it stands for, per optimizer.
KERAS_DEFAULTS = {
    "sgd": {"momentum": "momentum", "nesterov": "nesterov"},
    "adagrad": {"epsilon": "epsilon", "initial_accumulator": "initial_accumulator_value"},
    "rmsprop": {"epsilon": "epsilon", "rho": "rho"},
    "adam": {"epsilon": "epsilon", "beta_1": "beta_1", "beta_2": "beta_2"},
}


@pytest.mark.parametrize("kind", sorted(KERAS_DEFAULTS))
def test_a_spec_left_at_its_defaults_gets_kerass_own_defaults(kind):
    """A spec that leaves a hyperparameter out runs, in variant "keras", what a Keras user who
    leaves the argument out runs: the spec's defaults are the Keras constructors' (Adagrad's
    initial accumulator 0.1 is Keras's alone; nnfs and torch start at 0). A review set the
    spec's initial_accumulator default to 0.0 and test_spec, test_numpy, test_tf and
    test_harness_trajectory passed: every one of their tests hands the spec's value to Keras
    too. The oracle is Keras's own constructor defaults."""
    import keras

    spec = from_dict({"name": "defaults", "inputs": 1, "loss": "mse", "variant": "keras",
                      "layers": [{"type": "dense", "units": 1}, {"type": "linear"}],
                      "optimizer": {"type": kind}})
    default = {"sgd": keras.optimizers.SGD, "adagrad": keras.optimizers.Adagrad,
               "rmsprop": keras.optimizers.RMSprop, "adam": keras.optimizers.Adam}[kind]()
    for ours, theirs in KERAS_DEFAULTS[kind].items():
        assert getattr(spec.optimizer, ours) == getattr(default, theirs), (kind, ours)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the overflowing norm
@pytest.mark.parametrize("grads", [[np.inf, 1.0], [1e300, 1e300], [0.0, 0.0], [3.0, 4.0]])
def test_the_keras_variant_clips_a_non_finite_norm_to_nan_as_keras(grads):
    """Keras's clip_by_global_norm adds (norm - norm) to its scale, so a norm of inf (from an
    inf gradient, or overflowing from finite ones) makes every gradient NaN; the mirrors
    scaled by 0 instead (finite gradients became 0). Oracle: Keras's own function."""
    from keras.src.optimizers.base_optimizer import clip_by_global_norm

    from impl_pure import optimizers as pure_optimizers
    from impl_tf import optimizers as tf_optimizers

    expected = clip_by_global_norm([tf.constant(grads, tf.float64)], np.float64(0.7))[0].numpy()
    ours, pure = np.array(grads), [list(grads)]
    numpy_optimizers.clip_gradients(ours, 0.0, 0.7, "keras")
    pure_optimizers.clip_gradients(pure, 0.0, 0.7, "keras")
    graph = tf_optimizers.clip_gradients([tf.constant(grads, tf.float64)], 0.0, 0.7, "keras")
    results = [ours, np.array(pure[0]), graph[0].numpy()]
    if importlib.util.find_spec("torch") is not None or in_ci():
        import torch

        from impl_torch import optimizers as torch_optimizers
        flat = torch.tensor(grads, dtype=torch.float64)
        torch_optimizers.clip_gradients(flat, 0.0, 0.7, "keras")
        results.append(flat.numpy())
    for got in results:
        assert np.array_equal(got, expected, equal_nan=True), (got, expected)


@pytest.mark.parametrize("clip_norm", [1.757, 0.028, 0.337, 6.37])
def test_every_mirror_rounds_the_keras_clip_scale_as_keras_in_float32(clip_norm):
    """Below the threshold Keras's clip scale is c * (1 / c), with 1 / c divided as Python floats
    and then rounded to float32: for these c that is 1 +- 1 ulp where 1 / f32(c) gives the other
    (4,280 of 20,000 random c differ). Every mirror's keras variant against Keras's own function,
    given c as native mode gives it (a Python float)."""
    from keras.src.optimizers.base_optimizer import clip_by_global_norm

    from impl_tf import optimizers as tf_optimizers

    grads = np.array([0.3e-3, -0.2e-3], np.float32)  # a norm far below every c
    c = np.float32(clip_norm)
    assert c * np.float32(1 / clip_norm) != c * (1 / c)  # the case: the two roundings differ
    expected = clip_by_global_norm([tf.constant(grads)], clip_norm)[0].numpy()
    ours = grads.copy()
    numpy_optimizers.clip_gradients(ours, 0.0, clip_norm, "keras")
    graph = tf_optimizers.clip_gradients([tf.constant(grads)], 0.0, clip_norm, "keras")
    results = [ours, graph[0].numpy()]
    if importlib.util.find_spec("torch") is not None or in_ci():
        import torch

        from impl_torch import optimizers as torch_optimizers
        flat = torch.from_numpy(grads.copy())
        torch_optimizers.clip_gradients(flat, 0.0, clip_norm, "keras")
        results.append(flat.numpy())
    for got in results:
        assert np.array_equal(got, expected), (got, expected)
