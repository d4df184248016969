"""Classic backprop bugs injected into impl_numpy at run time, and the probes that catch them.

A mutant is one small edit of impl_numpy's source (a token or a line, as a person would
mistype it), compiled in the module's namespace and patched over the original function
for the duration of a ``with applied(mutant):`` block. Each edit must match exactly once,
so a refactor of impl_numpy that moves the code makes the mutant fail loudly instead of
silently testing nothing.

The probes are what the harness runs: parity at the initial weights (forward, loss and
every gradient, with injected dropout masks), short trajectories judged against the
one-ulp noise floor, and the numerical robustness cases (softmax logits of +-1e4,
sigmoid of +-1000, probabilities of exactly 0 and 1), which must also stay finite and
raise no floating-point warning.
"""
from __future__ import annotations

import contextlib
import inspect
import re
import textwrap
from dataclasses import dataclass

import numpy as np

from impl_numpy import activations, layers, losses, optimizers
from shared import implementations, metrics
from shared.checks import InputError
from shared.spec import from_dict


# ------------------------------------------------------------------------------ mutants

@dataclass(frozen=True)
class Mutant:
    """One bug: regex edits (pattern, replacement) of one or two functions of impl_numpy."""

    name: str
    description: str
    patches: tuple  # (owner class or module, function name, ((pattern, replacement), ...))


def _function(owner, attribute):
    value = inspect.getattr_static(owner, attribute)
    return value.__func__ if isinstance(value, (staticmethod, classmethod)) else value


def mutated_function(name: str, owner, attribute: str, edits):
    """``owner.attribute`` recompiled from its source with each edit applied exactly once."""
    original = _function(owner, attribute)
    source = textwrap.dedent(inspect.getsource(original))
    for pattern, replacement in edits:
        source, count = re.subn(pattern, replacement, source)
        if count != 1:
            raise LookupError(f"mutant {name}: pattern {pattern!r} matched {count} times "
                              f"in {original.__qualname__}, expected exactly once "
                              f"(impl_numpy changed? update tests/mutants.py)")
    namespace = {}
    exec(compile(source, f"<mutant {name}>", "exec"), vars(inspect.getmodule(original)),
         namespace)
    return namespace[original.__name__]


@contextlib.contextmanager
def applied(mutant: Mutant):
    """Patch the mutant over impl_numpy for the duration of the block, then restore it."""
    replacements = [(owner, attribute, mutated_function(mutant.name, owner, attribute, edits))
                    for owner, attribute, edits in mutant.patches]
    originals = [(owner, attribute, inspect.getattr_static(owner, attribute))
                 for owner, attribute, _ in mutant.patches]
    try:
        for owner, attribute, function in replacements:
            setattr(owner, attribute, function)
        yield
    finally:
        for owner, attribute, original in originals:
            setattr(owner, attribute, original)


def _m(name, owner, attribute, description, *edits, also=()):
    return Mutant(name, description, ((owner, attribute, tuple(edits)),) + tuple(also))


MUTANTS = (
    _m("dense_missing_transpose", layers.Dense, "backward",
       "dL/dX = dvalues @ W instead of dvalues @ W.T (silent on a square layer)",
       (r"dvalues @ self\.weights\.T", "dvalues @ self.weights")),
    _m("sigmoid_derivative_on_z", activations.Sigmoid, "backward",
       "sigmoid'(z) taken as z (1 - z) on the input instead of y (1 - y) on the output",
       (r"\(1 - self\.output\) \* self\.output", "(1 - self.inputs) * self.inputs"),
       also=[(activations.Sigmoid, "forward",
              ((r"(\n\s*)self\.output = ", r"\1self.inputs = inputs\1self.output = "),))]),
    _m("loss_not_divided_by_batch", losses.SoftmaxCategoricalCrossentropy, "backward",
       "softmax + cross-entropy gradient not divided by the batch size",
       (r"self\.dinputs /= len\(dvalues\)", "pass")),
    _m("mse_not_divided_by_batch", losses.MeanSquaredError, "backward",
       "mean squared error gradient not divided by the batch size",
       (r" / outputs / samples", " / outputs")),
    _m("bias_gradient_not_summed", layers.Dense, "backward",
       "bias gradient taken from the first sample instead of summed over the batch",
       (r"np\.einsum\(\"ij->j\", dvalues, out=self\.dbiases\)", "self.dbiases[...] = dvalues[0]")),
    _m("momentum_sign_flipped", optimizers.SGD, "update_params",
       "v = -mu*v - lr*g instead of v = mu*v - lr*g",
       (r"v \*= mu(\s+)v -= lr \* grads", r"v *= -mu\1v -= lr * grads")),
    _m("adam_bias_correction_off_by_one", optimizers.Adam, "update_params",
       "Adam's bias correction uses t + 1 (one step ahead)",
       (r"self\.iterations \+ 1", "self.iterations + 2")),
    _m("adam_epsilon_on_parameter", optimizers.Adam, "update_params",
       "w -= lr*m_hat/sqrt(v_hat) + eps: epsilon added to the step, not the denominator",
       (r"denominator \+= eps", "pass"),
       (r"(\n\s*)step /= denominator", r"\1step /= denominator\1step += eps")),
    _m("relu_gradient_passes_negatives", activations.ReLU, "backward",
       "ReLU's gradient masked only where x == 0, so it flows through negative inputs",
       (r"self\.output != 0", "self.inputs != 0")),
    _m("dropout_not_rescaled", layers.Dropout, "forward",
       "dropout multiplies by the mask without dividing by (1 - rate)",
       (r"np\.divide\(mask, inputs\.dtype\.type\(1 - self\.rate\), dtype=inputs\.dtype\)",
        "np.asarray(mask, dtype=inputs.dtype)")),
    _m("l2_gradient_without_2", layers.Dense, "_add_penalty_gradients",
       "L2 gradient lam*w instead of 2*lam*w",
       (r"2 \* l2 \* param", "l2 * param")),
    _m("l1_sign_at_zero", layers, "l1_sign",
       "nnfs L1 gradient with sign(0) = 0 instead of nnfs's +1 at w == 0",
       (r"np\.where\(param < 0, -1\.0, 1\.0\)", "np.sign(param)")),
    _m("softmax_without_max_subtraction", activations.Softmax, "forward",
       "softmax exp(x) / sum exp(x) without subtracting the row maximum (overflows at 1e4)",
       (r"exps -= exps\.max\(axis=0\)", "pass")),
    # Beyond the twelve: more bugs of the same kind.
    _m("tanh_derivative_missing_square", activations.Tanh, "backward",
       "tanh' = 1 - y instead of 1 - y^2",
       (r"\(1 - self\.output \* self\.output\)", "(1 - self.output)")),
    _m("mse_gradient_missing_2", losses.MeanSquaredError, "backward",
       "MSE gradient -(y - y_hat) without its factor 2",
       (r"-2 \* \(y_true - dvalues\)", "-(y_true - dvalues)")),
    _m("bce_gradient_not_divided_by_outputs", losses.BinaryCrossentropy, "backward",
       "binary cross-entropy gradient not divided by the number of outputs",
       (r" / outputs / samples", " / samples")),
    _m("leaky_relu_backward_ignores_alpha", activations.LeakyReLU, "backward",
       "LeakyReLU's gradient is 0 (not alpha) for negative inputs",
       (r"self\.alpha \* dvalues", "0 * dvalues")),
    _m("dropout_backward_unmasked", layers.Dropout, "backward",
       "dropout's backward passes the gradient of dropped units",
       (r"dvalues \* self\.scaled_mask", "dvalues")),
    _m("lr_decay_off_by_one", optimizers.Optimizer, "pre_update_params",
       "decay counts updates from 1: lr / (1 + decay * (t + 1))",
       (r"decayed = 1\.0 / \(1\.0 \+ self\.decay \* self\.iterations\)",
        "decayed = 1.0 / (1.0 + self.decay * (self.iterations + 1))")),
    _m("adam_second_moment_uses_beta_1", optimizers.Adam, "update_params",
       "v = b1*v + ... instead of b2*v",
       (r"v \*= b2", "v *= b1")),
    _m("rmsprop_rho_swapped", optimizers.RMSprop, "update_params",
       "c = (1 - rho)*c + rho*g^2",
       (r"self\.cache \*= self\.rho", "self.cache *= 1 - self.rho"),
       (r"\(1 - self\.rho\) \* \(grads \* grads\)", "self.rho * (grads * grads)")),
    _m("adagrad_accumulates_abs", optimizers.Adagrad, "update_params",
       "Adagrad accumulates |g| instead of g^2",
       (r"self\.cache \+= grads \* grads", "self.cache += np.abs(grads)")),
)
# The twelve classic bugs (the rest are extra).
CLASSIC = tuple(m.name for m in MUTANTS[:13] if m.name != "mse_not_divided_by_batch")


# ------------------------------------------------------------------------------ probes

def _spec(name, inputs, layer_list, loss, optimizer=None):
    return from_dict({"inputs": inputs, "loss": loss, "layers": layer_list,
                      "optimizer": optimizer or {"type": "sgd", "learning_rate": 0.1}}, name=name)


def _dense(units, **penalties):
    return {"type": "dense", "units": units, **penalties}


# Every dense layer after the first is square, so that a missing transpose runs silently.
CLASSIFIER = [_dense(3, weight_l1=1e-3, weight_l2=1e-2, bias_l1=1e-3, bias_l2=1e-2),
              {"type": "sigmoid"}, {"type": "dropout", "rate": 0.25},
              _dense(3, weight_l2=5e-3), {"type": "relu"},
              _dense(3, bias_l1=1e-3), {"type": "softmax"}]
REGRESSION = [_dense(3), {"type": "tanh"}, _dense(3), {"type": "leaky_relu", "alpha": 0.1},
              _dense(2), {"type": "linear"}]
BINARY = [_dense(3), {"type": "relu"}, _dense(2), {"type": "sigmoid"}]


@dataclass(frozen=True)
class Probe:
    """One harness check: a spec, weights and data; ``steps`` > 0 makes it a trajectory check."""

    name: str
    spec: object
    params: dict
    X: np.ndarray
    y: np.ndarray
    masks: dict | None = None
    steps: int = 0
    robustness: bool = False


def _params(spec, rng, scale=1.0):
    """Normal weights and zero biases (zero biases exercise L1's sign at 0)."""
    return {name: (scale * rng.standard_normal(shape) if name.endswith("weight")
                   else np.zeros(shape)) for name, shape in spec.parameter_shapes().items()}


def probes() -> list[Probe]:
    """Every probe of the harness, built from fixed seeds."""
    rng = np.random.default_rng(20240607)
    classifier = _spec("classifier", 3, CLASSIFIER, "categorical_crossentropy")
    regression = _spec("regression", 2, REGRESSION, "mse")
    binary = _spec("binary", 2, BINARY, "binary_crossentropy")
    cp, rp, bp = _params(classifier, rng), _params(regression, rng), _params(binary, rng)
    Xc, yc = rng.standard_normal((6, 3)), np.array([0, 1, 2, 2, 1, 0])
    masks = {"dropout1": np.array([[1, 0, 1], [1, 1, 0], [0, 1, 1],
                                   [1, 1, 1], [1, 0, 1], [0, 1, 1]], dtype=float)}
    Xr, yr = rng.standard_normal((5, 2)), rng.standard_normal((5, 2))
    Xb, yb = rng.standard_normal((5, 2)), rng.integers(0, 2, (5, 2)).astype(float)
    result = [
        Probe("parity classifier", classifier, cp, Xc, yc, masks),
        Probe("parity regression", regression, rp, Xr, yr),
        Probe("parity binary", binary, bp, Xb, yb),
    ]
    optimizers_ = {
        "sgd momentum": (classifier, cp, Xc, yc, masks,
                         {"type": "sgd", "learning_rate": 0.5, "momentum": 0.9, "decay": 0.05}),
        "adam": (classifier, cp, Xc, yc, masks,
                 {"type": "adam", "learning_rate": 0.05, "decay": 0.05}),
        "rmsprop": (regression, rp, Xr, yr, None,
                    {"type": "rmsprop", "learning_rate": 0.01, "decay": 0.05}),
        "adagrad": (regression, rp, Xr, yr, None,
                    {"type": "adagrad", "learning_rate": 0.1, "decay": 0.05}),
    }
    for label, (spec, params, X, y, m, optimizer) in optimizers_.items():
        result.append(Probe(f"trajectory {label}", spec.replace(optimizer=optimizer), params,
                            X, y, m, steps=6))
    softmax = _spec("softmax_1e4", 1, [_dense(3), {"type": "softmax"}], "categorical_crossentropy")
    sigmoid = _spec("sigmoid_1000", 1, [_dense(2), {"type": "sigmoid"}], "binary_crossentropy")
    result += [
        # Logits +-1e4: probabilities of exactly 0 and 1, true classes at both.
        Probe("robustness softmax +-1e4", softmax,
              {"dense1.weight": np.array([[1e4, -1e4, 0.0]]), "dense1.bias": np.zeros(3)},
              np.array([[1.0], [-1.0], [0.5]]), np.array([1, 0, 0]), robustness=True),
        # Sigmoid of +-1000: outputs exactly 1 and 0, targets the opposite ones.
        Probe("robustness sigmoid +-1000", sigmoid,
              {"dense1.weight": np.array([[1000.0, -1000.0]]), "dense1.bias": np.zeros(2)},
              np.array([[1.0], [-1.0]]), np.array([[0.0, 1.0], [1.0, 1.0]]), robustness=True),
    ]
    return result


def answers(name: str, probe: Probe):
    """What implementation ``name`` answers to ``probe``: a Snapshot, or a trajectory array."""
    model = implementations.build(name, probe.spec, probe.params)
    if probe.steps:
        masks = [probe.masks] if probe.masks else None
        return metrics.trajectory(model, probe.X, probe.y, probe.steps, masks=masks)
    return metrics.snapshot(model, probe.X, probe.y, probe.masks)


def _finite(snapshot) -> bool:
    return (np.all(np.isfinite(snapshot.forward)) and np.isfinite(snapshot.loss)
            and all(np.all(np.isfinite(g)) for g in snapshot.gradients.values()))


def judge(probe: Probe, other, other_name: str) -> str | None:
    """impl_numpy (as it is now) on ``probe`` against ``other``'s answers; None when they agree."""
    try:
        with np.errstate(over="raise", divide="raise", invalid="raise", under="ignore"):
            mine = answers("numpy", probe)
            if probe.steps:
                masks = [probe.masks] if probe.masks else None
                floor = metrics.noise_floor(
                    lambda p: implementations.build("numpy", probe.spec, p), probe.params, mine,
                    probe.X, probe.y, probe.steps, masks=masks)
    except (ArithmeticError, ValueError) as error:
        # What a wrong formula raises: a floating-point error (NumPy's errstate above) or a shape
        # mismatch. Anything else (a TypeError, a NameError, an input check's InputError) is a
        # broken mutant, not a catch.
        if isinstance(error, InputError):
            raise
        return f"{probe.name}: numpy raised {type(error).__name__}: {error}"
    if probe.steps:
        check = metrics.check_trajectory(metrics.distances(mine, other), floor)
        return None if check.ok else check.describe(f"{probe.name}, numpy vs {other_name}")
    if probe.robustness and not _finite(mine):
        return f"{probe.name}: numpy gave non-finite outputs, loss or gradients"
    bad = metrics.first_failure(metrics.compare_snapshots(mine, other,
                                                          pair=("numpy", other_name)))
    return None if bad is None else f"{probe.name}: {metrics.describe(bad)}"


def harness(other_answers: dict, other_name: str) -> list[str]:
    """Every probe's failure message (empty when impl_numpy agrees with ``other`` everywhere)."""
    failures = []
    for probe in probes():
        message = judge(probe, other_answers[probe.name], other_name)
        if message:
            failures.append(message)
    return failures


def importable() -> list[str]:
    """The implementations whose framework is installed and whose package imports."""
    names = []
    for name in implementations.available():
        try:
            implementations.module(name)
        except ImportError:
            continue
        names.append(name)
    return names
