"""The divergence atlas: where torch's and Keras's native defaults and formulas differ from the nnfs reference.

Data plus a generator. Each :class:`Entry` names a framework and a topic, states the
reference formula and the native one, says which specs it concerns, and knows how to
measure its effect: the max |parameter difference| after 100 full-batch float64 steps
on the spiral network (2-64-3, 300 samples, initial weights seed 0) between the nnfs
formula and the framework's, next to the one-ulp noise floor of that run.

The measurements run impl_numpy, whose "torch" and "keras" variants compute the
frameworks' native formulas (the harness, tests/test_harness_trajectory.py, checks
that the native torch and Keras runs stay within the noise floor of those variants).
So the atlas needs neither framework installed, and its numbers are deterministic:
float64, fixed seeds, one BLAS thread, rounded to 2 significant digits.

``python -m shared.atlas`` rewrites docs/divergences.md; ``explain(impl, spec)`` returns
the entries that concern a spec (compare.py prints them next to native runs).
"""
from __future__ import annotations

import argparse
import dataclasses
import functools
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from shared import datasets, metrics, networks, weights
from shared.weights import atomic_write_bytes

STEPS = 100
NETWORK = "spiral"
DOC = Path(__file__).resolve().parent.parent / "docs" / "divergences.md"
FRAMEWORKS = {"torch": "PyTorch", "tf": "Keras 3 (TensorFlow)"}
FORMULA_FACTOR = 1e3  # a drift this many times the noise floor is a formula, not rounding


# ------------------------------------------------------------------------ measurements

@functools.cache
def _problem():
    spec = networks.load(NETWORK)
    data = datasets.for_spec(spec)
    return data.X_train, data.y_train


def _spec(optimizer: dict | None = None, variant: str = "nnfs", dense1: dict | None = None,
          clip_norm: float = 0.0):
    """The spiral spec with another optimizer, formula variant, or dense1 regularizers."""
    spec = networks.load(NETWORK)
    changes = {"variant": variant}
    if optimizer is not None or clip_norm:
        base = dataclasses.asdict(spec.optimizer) if optimizer is None else {
            **dataclasses.asdict(type(spec.optimizer)()), **optimizer}
        changes["optimizer"] = type(spec.optimizer)(**{**base, "clip_norm": clip_norm})
    if dense1:
        layers = list(spec.layers)
        layers[0] = dataclasses.replace(layers[0], **dense1)
        changes["layers"] = tuple(layers)
    return spec.replace(**changes)


def _build(spec, params):
    from impl_numpy import build  # the reference; imported here so that shared imports no impl

    return build(spec, params)


def _run(spec, params=None, after_step: Callable | None = None, data=None):
    X, y = data or _problem()
    model = _build(spec, params or weights.initial(spec, seed=0))
    rows = [metrics.flatten(model.parameters())]
    for _ in range(STEPS):
        before = model.parameters()
        model.step(X, y)
        if after_step is not None:
            after_step(model, before)
        rows.append(metrics.flatten(model.parameters()))
    return np.stack(rows), model


_FLOORS: dict = {}


def _floor(spec) -> float:
    """The nnfs run's distance from itself started one ulp away, after STEPS steps (cached per spec)."""
    key = repr(spec.to_dict())
    if key not in _FLOORS:
        _FLOORS[key] = _measure_floor(spec)
    return _FLOORS[key]


def _measure_floor(spec) -> float:
    params = weights.initial(spec, seed=0)
    reference, _ = _run(spec, params)
    perturbed, _ = _run(spec, metrics.perturb_one_ulp(params))
    return float(metrics.distances(reference, perturbed)[-1])


@dataclass(frozen=True)
class Measured:
    """The drift after STEPS steps (max |parameter difference|), the noise floor, and what was run."""

    drift: float
    floor: float
    setting: str
    note: str = ""
    run: bool = True  # False: the same formula by construction, stated rather than measured
    value_not_formula: bool = False  # the difference is a hyperparameter's value, not a formula

    @property
    def verdict(self) -> str:
        """Robust across machines: the floor's own digits depend on the CPU's rounding, this does not."""
        if not self.run:
            return "same formula by construction (not run)"
        if self.value_not_formula and self.drift > FORMULA_FACTOR * self.floor:
            return "another value, not another formula (> 1,000x the floor)"
        if self.drift == 0:
            return "same arithmetic"
        if self.drift <= metrics.TRAJECTORY_FACTOR * self.floor:
            return "rounding only (within 10x the floor)"
        if self.drift > FORMULA_FACTOR * self.floor:
            return "formula difference (> 1,000x the floor)"
        return "unclear (between 10x and 1,000x the floor)"

    def text(self) -> str:
        if not self.run:
            value = "not run"
        elif self.drift == 0:
            value = "0 (bit-identical)"
        elif self.drift <= metrics.TRAJECTORY_FACTOR * self.floor:
            value = "within the noise floor (same formula, other rounding)"
        else:
            value = f"{self.drift:.2g}"
        return value + (f"; {self.note}" if self.note else "")


def _drift(reference_spec, native_spec, setting, note="", after_step=None) -> Measured:
    reference, _ = _run(reference_spec)
    native, _ = _run(native_spec, after_step=after_step)
    return Measured(float(metrics.distances(reference, native)[-1]), _floor(reference_spec),
                    setting, note)


def _variant_drift(variant, setting, **spec_args) -> Callable[[], Measured]:
    return lambda: _drift(_spec(**spec_args), _spec(variant=variant, **spec_args), setting)


SGD_DECAY = {"type": "sgd", "learning_rate": 1.0, "momentum": 0.9, "decay": 1e-3}
ADAGRAD = {"type": "adagrad", "learning_rate": 1.0}
RMSPROP = {"type": "rmsprop", "learning_rate": 0.02}
PLAIN_SGD = {"type": "sgd", "learning_rate": 1.0}
L1 = {"weight_l1": 5e-4, "bias_l1": 5e-4}
L2 = {"weight_l2": 5e-4}


def _adam_default_epsilon() -> Measured:
    spec = _spec()
    return _drift(spec, spec.replace(optimizer={"epsilon": 1e-8}),
                  "spiral Adam lr 0.05, decay 5e-7: eps 1e-7 vs 1e-8")


def _coupled_weight_decay() -> Measured:
    """torch weight_decay=2*lam adds 2*lam*w to the gradient: nnfs's L2 gradient; the loss omits lam*sum(w^2)."""
    spec = _spec(dense1=L2)
    _, model = _run(spec)
    penalty = float(model.regularization_loss())
    return Measured(0.0, _floor(spec), "spiral Adam, dense1 weight L2 5e-4 vs weight_decay=1e-3",
                    f"the coupled term wd*w is nnfs's L2 gradient 2*lam*w (torch's add(alpha=) "
                    f"rounds it in its own way: the last bits differ), given only to the "
                    f"parameters of its group (all of them, biases too, unless param groups "
                    f"say otherwise); measured: the reported loss lacks the penalty "
                    f"lam*sum(w^2) = {penalty:.2g} after {STEPS} steps", run=False)


def _decoupled_weight_decay() -> Measured:
    """Keras weight_decay=wd: w -= lr_t*wd*w besides the update, instead of 2*lam*w in the gradient."""
    wd = 2 * L2["weight_l2"]

    def decay(model, before):
        lr = model.optimizer.current_learning_rate
        params = model.parameters()
        for name in params:
            if name.endswith(".weight") and name.startswith("dense1"):
                params[name] = params[name] - lr * wd * before[name]
        model.set_parameters(params)

    return _drift(_spec(dense1=L2), _spec(), "spiral Adam, dense1 weight L2 5e-4 vs "
                  "weight_decay=1e-3 (decoupled, simulated with impl_numpy)", after_step=decay)


def _float32_hyperparameters() -> Measured:
    spec = _spec()
    o = spec.optimizer
    rounded = {key: float(np.float32(getattr(o, key)))
               for key in ("learning_rate", "decay", "epsilon", "beta_1", "beta_2")}
    measured = _drift(spec, spec.replace(optimizer=rounded),
                      "spiral Adam: lr, decay, eps, beta_1, beta_2 rounded to float32")
    return dataclasses.replace(measured, value_not_formula=True)


def _cce_clip(variant) -> Callable[[], Measured]:
    def measure():
        measured = _variant_drift(variant, "spiral plain SGD lr 1: clipped vs unclipped log",
                                  optimizer=PLAIN_SGD)()
        return dataclasses.replace(measured, note="the fused softmax + cross-entropy backward "
                                   "(p - y)/n never clips, so only the reported loss changes, "
                                   "where p < 1e-7 or p > 1 - 1e-7")
    return measure


BCE_SCALE = 30.0  # xor's initial weights times this: outputs saturate beyond [1e-7, 1 - 1e-7]


def _bce_clip(variant) -> Callable[[], Measured]:
    """nnfs clips p in BCE's backward too, so a saturated wrong output has no gradient; the
    frameworks' native BCE (torch's BCELoss, Keras's from the sigmoid's logits) do not clip it."""
    spec = networks.load("xor").replace(loss="binary_crossentropy")

    def drift(scale, setting, note=""):
        data = datasets.for_spec(spec)
        data = (data.X_train, data.y_train)
        params = {name: scale * value for name, value in weights.initial(spec, 0).items()}
        reference, _ = _run(spec, params, data=data)
        native, _ = _run(spec.replace(variant=variant), params, data=data)
        perturbed, _ = _run(spec, metrics.perturb_one_ulp(params), data=data)
        return Measured(float(metrics.distances(reference, native)[-1]),
                        float(metrics.distances(reference, perturbed)[-1]), setting, note)

    def measure():
        unsaturated = drift(1.0, "xor's own initial weights")
        return drift(BCE_SCALE, f"xor, binary cross-entropy, SGD lr 2, momentum 0.9, initial "
                     f"weights x{BCE_SCALE:g} (outputs saturate)",
                     f"at xor's own initial weights (unsaturated): {unsaturated.text()}; "
                     f"the formulas part where p leaves [1e-7, 1 - 1e-7]")
    return measure


# ------------------------------------------------------------------------------- entries

@dataclass(frozen=True)
class Entry:
    """One formula or default where a framework's native behaviour differs from (or matches) nnfs."""

    framework: str
    topic: str
    reference: str
    native: str
    applies: Callable
    measure: Callable[[], Measured]

    def line(self, measured: Measured | None = None) -> str:
        text = f"{self.topic}: {FRAMEWORKS[self.framework]} {self.native}; nnfs {self.reference}"
        if measured is not None:
            text += (f" (drift after {STEPS} steps on {measured.setting}: {measured.text()}; "
                     f"{measured.verdict})")
        return text


def _sgd_momentum_with_decay(spec):
    o = spec.optimizer
    return o.type == "sgd" and o.momentum > 0 and o.decay > 0


def _optimizer(kind):
    return lambda spec: spec.optimizer.type == kind


def _never(spec):
    """For a default the project's native runs do not take (they pass the spec's value)."""
    return False


def _has(key):
    return lambda spec: any(getattr(layer, f"weight_{key}") or getattr(layer, f"bias_{key}")
                            for layer in spec.dense_layers)


def _cce(spec):
    return spec.loss == "categorical_crossentropy"


def _bce(spec):
    return spec.loss == "binary_crossentropy"


def _clip_norm(spec):
    return spec.optimizer.clip_norm > 0


SGD_SETTING = "spiral SGD lr 1, momentum 0.9, decay 1e-3"
# Plain SGD is the same formula in every variant, so these measure the one topic alone.
L1_SETTING = "spiral plain SGD lr 1, dense1 L1 5e-4 on weights and biases (biases start at 0)"
CLIP_SETTING = "spiral plain SGD lr 1, clip_norm 1e-3 (the gradient norm starts at 4e-3)"
ENTRIES = (
    Entry("torch", "SGD momentum with decay",
          "v = mu*v - lr_t*g; w += v",
          "buf = mu*buf + g; w -= lr_t*buf (equal only while lr is constant)",
          _sgd_momentum_with_decay, _variant_drift("torch", SGD_SETTING, optimizer=SGD_DECAY)),
    Entry("torch", "Adagrad initial accumulator and epsilon",
          "c0 = 0; w -= lr*g/(sqrt(c) + eps)", "the same formula (initial_accumulator_value 0; "
          "default eps 1e-10 and lr 0.01, where impl_torch passes the spec's)",
          _optimizer("adagrad"), _variant_drift("torch", "spiral Adagrad lr 1", optimizer=ADAGRAD)),
    Entry("torch", "RMSprop epsilon", "w -= lr*g/(sqrt(c) + eps)",
          "the same formula (alpha = rho; defaults lr 0.01, alpha 0.99, eps 1e-8, where "
          "impl_torch passes the spec's)", _optimizer("rmsprop"),
          _variant_drift("torch", "spiral RMSprop lr 0.02", optimizer=RMSPROP)),
    Entry("torch", "Adam default epsilon", "eps = 1e-7",
          "eps = 1e-8 by default (same formula otherwise; impl_torch's native mode passes the "
          "spec's eps, so its runs do not take this default)", _never,
          _adam_default_epsilon),
    Entry("torch", "L1 at w == 0", "d|w|/dw = +1 at w == 0 (nnfs)", "sign(0) = 0",
          _has("l1"), _variant_drift("torch", L1_SETTING, optimizer=PLAIN_SGD, dense1=L1)),
    Entry("torch", "Cross-entropy clip", "p clipped to [1e-7, 1 - 1e-7] before the log",
          "CrossEntropyLoss on logits, no clip", _cce, _cce_clip("torch")),
    Entry("torch", "weight_decay coupling", "L2: loss += lam*sum(w^2), gradient += 2*lam*w",
          "weight_decay=2*lam is coupled: gradient += 2*lam*w, no loss term (impl_torch's "
          "native mode puts L2 in the loss, as nnfs, so its runs do not take this)",
          _never, _coupled_weight_decay),
    Entry("torch", "Binary cross-entropy clip", "p clipped to [1e-7, 1 - 1e-7] in the loss "
          "and in its gradient -(y/p - (1 - y)/(1 - p))",
          "BCELoss: p unclipped, each log at least -100, gradient (p - y)/max(p(1 - p), 1e-12)",
          _bce, _bce_clip("torch")),
    Entry("torch", "clip_grad_norm_ epsilon", "g *= c / max(||g||, c)",
          "g *= min(1 / (||g|| + 1e-6) * c, 1)", _clip_norm,
          _variant_drift("torch", CLIP_SETTING, optimizer=PLAIN_SGD, clip_norm=1e-3)),
    Entry("tf", "SGD momentum with decay", "v = mu*v - lr_t*g; w += v",
          "the same form as nnfs", _sgd_momentum_with_decay,
          _variant_drift("keras", SGD_SETTING, optimizer=SGD_DECAY)),
    Entry("tf", "Adagrad initial accumulator and epsilon", "c0 = 0; w -= lr*g/(sqrt(c) + eps)",
          "c0 = 0.1 and eps inside the root: w -= lr*g/sqrt(c + eps)", _optimizer("adagrad"),
          _variant_drift("keras", "spiral Adagrad lr 1", optimizer=ADAGRAD)),
    Entry("tf", "RMSprop epsilon", "w -= lr*g/(sqrt(c) + eps)",
          "eps inside the root: w -= lr*g/sqrt(c + eps)", _optimizer("rmsprop"),
          _variant_drift("keras", "spiral RMSprop lr 0.02", optimizer=RMSPROP)),
    Entry("tf", "Adam epsilon hat", "w -= lr*m_hat/(sqrt(v_hat) + eps)",
          "w -= lr*sqrt(1 - b2^t)/(1 - b1^t) * m/(sqrt(v) + eps) (\"epsilon hat\"; "
          "default eps 1e-7 as nnfs)", _optimizer("adam"),
          _variant_drift("keras", "spiral Adam lr 0.05, decay 5e-7")),
    Entry("tf", "L1 at w == 0", "d|w|/dw = +1 at w == 0 (nnfs)", "sign(0) = 0", _has("l1"),
          _variant_drift("keras", L1_SETTING, optimizer=PLAIN_SGD, dense1=L1)),
    Entry("tf", "Cross-entropy clip and the softmax-logits shortcut",
          "p clipped to [1e-7, 1 - 1e-7] before the log",
          "on a softmax output Keras silently takes the logits (no clip), but only when the "
          "loss's dtype is the output's (the default, floatx float32, casts a float64 output "
          "and loses them); on plain probabilities it clips like nnfs", _cce,
          _cce_clip("keras")),
    Entry("tf", "weight_decay coupling", "L2: loss += lam*sum(w^2), gradient += 2*lam*w",
          "weight_decay=wd is decoupled in every optimizer: w -= lr_t*wd*w before the update, "
          "which equals L2 with 2*lam = wd only for SGD without momentum; every variable, "
          "biases too, unless exclude_from_weight_decay (impl_tf's native mode puts L2 in the "
          "loss, as nnfs, so its runs do not take this)", _never, _decoupled_weight_decay),
    Entry("tf", "Binary cross-entropy clip", "p clipped to [1e-7, 1 - 1e-7] in the loss "
          "and in its gradient -(y/p - (1 - y)/(1 - p))",
          "after a sigmoid Keras takes the logits z: sigmoid(z) - y, unclipped",
          _bce, _bce_clip("keras")),
    Entry("tf", "global_clipnorm", "g *= c / max(||g||, c) over all parameters",
          "global_clipnorm: the same, rounded as g * (c * min(1/||g||, 1/c)) and always "
          "multiplied (where ||g|| <= c the factor can be 1 - 1 ulp; the keras variant "
          "computes it so); clipnorm= clips each variable separately (not measured)",
          _clip_norm, _variant_drift("keras", CLIP_SETTING, optimizer=PLAIN_SGD, clip_norm=1e-3)),
    Entry("tf", "Python-float hyperparameters in float64",
          "every hyperparameter a float64 value",
          "a plain Python float given as momentum, the betas (in Adam's bias corrections), "
          "initial_accumulator_value or a schedule's arguments is rounded to float32 in a "
          "float64 model (InverseTimeDecay then runs in float32); a constant learning_rate, "
          "epsilon and 1 - beta stay float64; pass np.float64(x) (L1L2's factors round it all "
          "the same: 5e-4 becomes 5.0000002e-4, checked on Keras 3.15). Measured here: five "
          "values rounded in impl_numpy, more than Keras rounds (impl_tf's native mode passes "
          "np.float64 values, so its runs do not take this)",
          _never, _float32_hyperparameters),
)


@functools.cache
def measure(entry: Entry) -> Measured:
    """The entry's measured effect (cached: one run per entry per process)."""
    return entry.measure()


def explain(impl: str, spec) -> list[str]:
    """The atlas entries that concern ``spec`` run natively by ``impl`` ("torch" or "tf"), measured.

    impl_numpy and impl_pure have no native formulas of their own: no entries.
    """
    from shared.implementations import IMPLEMENTATIONS

    if impl not in IMPLEMENTATIONS:
        raise ValueError(f"implementation: expected one of {IMPLEMENTATIONS}, got {impl!r}")
    return [entry.line(measure(entry)) for entry in ENTRIES
            if entry.framework == impl and entry.applies(spec)]


# ----------------------------------------------------------------------------- document

def render() -> str:
    """docs/divergences.md, measured now."""
    lines = [
        "# Divergence atlas",
        "",
        "<!-- Generated by `python -m shared.atlas` (make atlas). Do not edit by hand: "
        "tests/test_harness_atlas.py checks that this file is current. -->",
        "",
        "Where the native defaults and formulas of PyTorch and Keras differ from the nnfs",
        "reference (impl_numpy), and how far each difference moves training. **Drift** is the",
        f"max |parameter difference| after {STEPS} full-batch float64 steps on the `{NETWORK}`",
        "network (2-64-3, 300 samples, initial weights seed 0) between the nnfs formula and the",
        "framework's, computed by impl_numpy's `torch` and `keras` variants (the harness checks,",
        "on its smaller trajectory network, that native torch and Keras runs stay within 10x the",
        "noise floor of those variants; on spiral, after 100 Adam steps, their own operation",
        "order puts them 1.1e-8 and 1.5e-8 from the variants, 24x and 41x the harness's floor,",
        "the largest of three reruns: some 4-7 x 10^8 times below the Adam rows' drifts and",
        "2,000-3,000 times below the smallest, `clip_grad_norm_`'s epsilon; see the README).",
        "Rows whose verdict is \"not run\" state a formula that is the same by construction.",
        "A drift of 0",
        "means that impl_numpy's two variants compute the same bits; the frameworks' own",
        "rounding (torch's fused multiply-adds in `add(alpha=)` and `addcmul_`, its `sqrt`,",
        "Keras's clipping scale) differs from them in the last bits, as native mode shows.",
        "**Noise floor** is the nnfs run's distance from itself started one ulp away (every",
        "nonzero weight moved by one ulp): a drift within 10x the floor is rounding, one above",
        "1,000x the floor is a formula. The floors' own digits depend on the CPU's rounding, so",
        "the table gives the verdict; `shared.atlas.measure(entry).floor` holds the number.",
        "",
    ]
    for framework, title in FRAMEWORKS.items():
        lines += [f"## {title}", "",
                  "| Topic | nnfs reference | native | measured on | drift | verdict |",
                  "|---|---|---|---|---|---|"]
        for entry in ENTRIES:
            if entry.framework != framework:
                continue
            m = measure(entry)
            lines.append(f"| {entry.topic} | {_cell(entry.reference)} | {_cell(entry.native)} | "
                         f"{_cell(m.setting)} | {_cell(m.text())} | {m.verdict} |")
        lines.append("")
    return "\n".join(lines)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.atlas",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--output", type=Path, default=DOC, help=f"where to write (default {DOC})")
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if the file differs from a fresh generation, write nothing")
    args = parser.parse_args(argv)
    try:
        from threadpoolctl import threadpool_limits
        threadpool_limits(limits=1, user_api="blas")
    except ImportError:  # pragma: no cover
        pass
    text = render()
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
        if current != text:
            print(f"{args.output} is out of date: run `make atlas`", file=sys.stderr)
            return 1
        return 0
    atomic_write_bytes(args.output, text.encode("utf-8"))
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
