"""How the harness and compare.py decide whether two implementations agree.

Everything is paired by canonical name, never by position. Three kinds of check:

* **parity** at one point: forward outputs, loss and every gradient of two models on the
  same data, against :data:`TOLERANCES`;
* **trajectories**: the parameters after each of many optimizer steps, judged against a
  measured **noise floor** (the reference rerun from initial weights perturbed by one ulp),
  because training is chaotic and a fixed tolerance for long runs is wrong;
* **finite differences**: central differences of the loss, an oracle independent of every
  implementation's backprop.

This module imports NumPy only; the models come from shared.implementations.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from itertools import combinations

import numpy as np

# (atol, rtol) per dtype and quantity. Float32 gradients use atol = GRADIENT_SCALE * max|g|
# where that is larger: atol 1e-6, or 1e-4 x max|g|.
TOLERANCES = {
    "float64": {"forward": (1e-12, 1e-10), "loss": (1e-12, 1e-10), "gradient": (1e-12, 1e-10)},
    "float32": {"forward": (1e-6, 1e-5), "loss": (1e-6, 1e-5), "gradient": (1e-6, 1e-5)},
}
FLOAT32_GRADIENT_SCALE = 1e-4
TRAJECTORY_FACTOR = 10.0       # an implementation may sit up to 10x the noise floor ...
TRAJECTORY_MINIMUM = 1e-12     # ... or 1e-12, whichever is larger
FLOAT32_TRAJECTORY_ATOL = 1e-5  # float32: at most ~10 steps, absolute tolerance
FINITE_DIFFERENCE_STEP = 1e-6
FINITE_DIFFERENCE_TOLERANCE = 1e-6  # relative error of the analytic gradient, float64


@dataclass(frozen=True)
class Difference:
    """max|a - b| of one quantity (forward output, loss, or one parameter's gradient) between two implementations."""

    quantity: str          # "forward", "loss" or "gradient"
    name: str              # "output", "loss" or a canonical parameter name
    pair: tuple[str, str]  # (reference side, other side)
    max_abs: float
    max_rel: float         # max|a - b| / max|a| (0 when both are 0)
    atol: float
    rtol: float
    ok: bool
    index: tuple[int, ...] = ()  # where |a - b| is largest
    values: tuple[float, float] = (math.nan, math.nan)  # a and b there
    worst_ratio: float = 0.0     # max |a - b| / (atol + rtol*|a|): ok when at most 1

    def to_dict(self) -> dict:
        data = asdict(self)
        data["pair"], data["index"], data["values"] = list(self.pair), list(self.index), \
            [_json_float(v) for v in self.values]
        data["max_abs"], data["max_rel"] = _json_float(self.max_abs), _json_float(self.max_rel)
        data["worst_ratio"] = _json_float(self.worst_ratio)
        return data


def _json_float(value: float):
    return value if math.isfinite(value) else str(value)


def difference(quantity: str, name: str, a, b, *, pair=("a", "b"), dtype="float64",
               atol: float | None = None, rtol: float | None = None) -> Difference:
    """Compare two arrays elementwise: ok when every |a - b| <= atol + rtol*|a| (numpy.allclose:
    an infinite value must be matched by the same infinity, and NaN is never ok)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"{quantity} {name!r}: shapes differ between {pair[0]} {a.shape} "
                         f"and {pair[1]} {b.shape}")
    default_atol, default_rtol = tolerance(dtype, quantity)
    atol = default_atol if atol is None else atol
    rtol = default_rtol if rtol is None else rtol
    finite = np.abs(a[np.isfinite(a)])
    if dtype == "float32" and quantity == "gradient" and finite.size:  # an inf would pass all
        atol = max(atol, FLOAT32_GRADIENT_SCALE * float(np.max(finite)))
    if a.size == 0:
        return Difference(quantity, name, tuple(pair), 0.0, 0.0, atol, rtol, True)
    with np.errstate(invalid="ignore"):  # inf - inf
        gap = np.abs(a - b)
    gap = np.where(a == b, 0.0, gap)  # equal infinities: 0
    gap = np.where(np.isnan(gap), np.inf, gap)  # a NaN on either side, never within: the worst
    worst = np.unravel_index(int(np.argmax(gap)), a.shape)
    max_abs = float(gap[worst])
    scale = float(np.max(finite)) if finite.size else 0.0
    max_rel = max_abs / scale if scale else (0.0 if max_abs == 0 else math.inf)
    bound = atol + rtol * np.abs(a)
    # an infinite reference has an infinite bound: only the same infinity is within it
    within = np.where(np.isfinite(a), gap <= bound, a == b)
    ok = bool(np.all(within))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = np.where(gap == 0, 0.0, gap / bound)  # 0 / 0 is 0
    # outside the bound, a ratio that says so (a NaN reference has a NaN bound, never within)
    ratios = np.where(within, np.where(np.isfinite(a), ratios, 0.0),
                      np.where(ratios > 1, ratios, np.inf))
    return Difference(quantity, name, tuple(pair), max_abs, max_rel, atol, rtol, ok,
                      tuple(int(i) for i in worst), (float(a[worst]), float(b[worst])),
                      float(np.max(ratios)))


def tolerance(dtype: str, quantity: str) -> tuple[float, float]:
    """(atol, rtol) for ``quantity`` in ``dtype``."""
    if dtype not in TOLERANCES:
        raise ValueError(f"dtype: expected one of {tuple(TOLERANCES)}, got {dtype!r}")
    if quantity not in TOLERANCES[dtype]:
        raise ValueError(f"quantity: expected one of {tuple(TOLERANCES[dtype])}, got {quantity!r}")
    return TOLERANCES[dtype][quantity]


def compare_named(quantity: str, a: dict, b: dict, *, pair=("a", "b"), dtype="float64",
                  **tolerances) -> list[Difference]:
    """One Difference per canonical name; a name missing on either side is an error, never skipped."""
    if set(a) != set(b):
        raise ValueError(f"{quantity}: {pair[0]} and {pair[1]} name different parameters: "
                         f"only in {pair[0]}: {sorted(set(a) - set(b))}, "
                         f"only in {pair[1]}: {sorted(set(b) - set(a))}")
    return [difference(quantity, name, a[name], b[name], pair=pair, dtype=dtype, **tolerances)
            for name in a]


@dataclass
class Snapshot:
    """One implementation's answers at one point: outputs, loss and gradients by name."""

    forward: np.ndarray
    loss: float
    gradients: dict[str, np.ndarray] = field(default_factory=dict)


def snapshot(model, X, y, dropout_masks=None) -> Snapshot:
    """Ask ``model`` the harness questions on (X, y); dropout active only where masks are given."""
    training = bool(dropout_masks)
    return Snapshot(model.forward(X, training=training, dropout_masks=dropout_masks),
                    model.loss(X, y, dropout_masks), model.gradients(X, y, dropout_masks))


def compare_snapshots(a: Snapshot, b: Snapshot, *, pair=("a", "b"), dtype="float64",
                      **tolerances) -> list[Difference]:
    """forward, loss and every gradient of ``b`` against ``a`` (``atol``/``rtol`` override TOLERANCES)."""
    return ([difference("forward", "output", a.forward, b.forward, pair=pair, dtype=dtype,
                        **tolerances),
             difference("loss", "loss", a.loss, b.loss, pair=pair, dtype=dtype, **tolerances)]
            + compare_named("gradient", a.gradients, b.gradients, pair=pair, dtype=dtype,
                            **tolerances))


def parity(models: dict, X, y, dropout_masks=None, dtype="float64",
           pairs="all") -> list[Difference]:
    """Differences for every pair of ``models`` (name -> model), or against the first one (pairs="reference")."""
    snaps = {name: snapshot(model, X, y, dropout_masks) for name, model in models.items()}
    names = list(snaps)
    chosen = (combinations(names, 2) if pairs == "all"
              else [(names[0], other) for other in names[1:]])
    return [d for a, b in chosen
            for d in compare_snapshots(snaps[a], snaps[b], pair=(a, b), dtype=dtype)]


def agree(differences) -> bool:
    """Whether every Difference is within its tolerance."""
    return all(d.ok for d in differences)


def first_failure(differences) -> Difference | None:
    """The first Difference outside its tolerance, in the order checked (forward, loss, then gradients)."""
    return next((d for d in differences if not d.ok), None)


def describe(d: Difference, network: str | None = None) -> str:
    """One line naming the quantity, parameter, pair, where, and 'mine vs theirs'."""
    where = f"network {network!r}, " if network else ""
    at = f"[{', '.join(map(str, d.index))}]" if d.index else ""
    verdict = "within" if d.ok else "OUTSIDE"
    return (f"{where}{d.quantity} {d.name}{at}: {d.pair[0]} {d.values[0]!r} vs {d.pair[1]} "
            f"{d.values[1]!r}; max|diff| {d.max_abs:.3g} (rel {d.max_rel:.3g}) {verdict} "
            f"atol {d.atol:.0e} + rtol {d.rtol:.0e}")


# ----------------------------------------------------------------------------- trajectories

def flatten(params: dict) -> np.ndarray:
    """All parameters as one float64 vector, in the spec's canonical order (the dict's order)."""
    return np.concatenate([np.asarray(v, dtype=np.float64).ravel() for v in params.values()])


def perturb_one_ulp(params: dict, dtype="float64") -> dict:
    """Every nonzero parameter moved by one ulp of ``dtype`` towards +inf: the smallest possible change.

    In float32 the move is one float32 ulp (a float64 ulp vanishes in the cast). Exact zeros
    (the initial biases) stay: their ulp is a denormal (5e-324, 1e-45 in float32) that changes
    a branch rather than the rounding. A zero bias puts a ReLU exactly on its kink for an
    input of 0 (spiral's first point), and nudging it to a denormal turns that sample's
    gradient on, an O(1) difference in the first step, not a rounding difference.
    """
    kind = np.dtype(dtype).type
    perturbed = {}
    for name, v in params.items():
        v = np.asarray(v, dtype=kind)
        perturbed[name] = np.where(v != 0, np.nextafter(v, kind(np.inf)), v)
    return perturbed


def inputs_one_ulp(X, dtype="float64") -> list:
    """X in ``dtype`` with every nonzero entry moved one ulp down, and up: two reruns' inputs."""
    inputs = np.asarray(X, dtype=dtype)
    return [np.where(inputs != 0, np.nextafter(inputs, inputs.dtype.type(direction)), inputs)
            for direction in (-np.inf, np.inf)]


def trajectory(model, X, y, steps: int, *, batches=None, masks=None) -> np.ndarray:
    """Flattened parameters before and after each of ``steps`` updates: shape (steps + 1, P).

    ``batches`` (index arrays) and ``masks`` (dropout-mask dicts) are used in turn, one per
    step, cycling; without them every step is full batch with dropout off.
    """
    rows = [flatten(model.parameters())]
    for t in range(steps):
        index = batches[t % len(batches)] if batches else None
        mask = masks[t % len(masks)] if masks else None
        Xb, yb = (X, y) if index is None else (X[index], y[index])
        model.step(Xb, yb, mask)
        rows.append(flatten(model.parameters()))
    return np.stack(rows)


def locate(params: dict, flat_index: int) -> tuple[str, tuple[int, ...]]:
    """The canonical name and index of entry ``flat_index`` of ``flatten(params)``."""
    offset = 0
    for name, value in params.items():
        shape = np.shape(value)
        size = int(np.prod(shape))
        if flat_index < offset + size:
            return name, tuple(int(i) for i in np.unravel_index(flat_index - offset, shape))
        offset += size
    raise IndexError(f"flat index {flat_index} is beyond the {offset} parameters")


def describe_step(a: np.ndarray, b: np.ndarray, step: int, params: dict,
                  pair=("reference", "other"), label: str = "") -> str:
    """Where trajectories ``a`` and ``b`` differ most at ``step``: parameter, index, both values, abs/rel difference.

    ``params`` gives the names and shapes (any parameter dict of the spec, e.g. the initial one).
    """
    gap = np.abs(a[step] - b[step])
    gap = np.where(np.isnan(gap), np.inf, gap)
    worst = int(np.argmax(gap))
    name, index = locate(params, worst)
    scale = float(np.max(np.abs(a[step])))
    rel = gap[worst] / scale if scale else math.inf
    prefix = f"{label}: " if label else ""
    return (f"{prefix}step {step}, {name}[{', '.join(map(str, index))}]: {pair[0]} "
            f"{a[step, worst]!r} vs {pair[1]} {b[step, worst]!r}; |diff| {gap[worst]:.3g} "
            f"(rel {rel:.3g})")


def first_non_finite_step(path: np.ndarray) -> int | None:
    """The first step of a trajectory whose parameters hold NaN or inf, or None."""
    bad = np.flatnonzero(~np.all(np.isfinite(path), axis=1))
    return int(bad[0]) if bad.size else None


def distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """max|a - b| over all parameters, per step, of two trajectories."""
    if a.shape != b.shape:
        raise ValueError(f"trajectories differ in shape: {a.shape} vs {b.shape}")
    gap = np.abs(a - b)
    return np.where(np.isnan(gap), np.inf, gap).max(axis=1)


def noise_floor(build, params: dict, reference: np.ndarray, X, y, steps: int,
                dtype="float64", **schedule) -> np.ndarray:
    """Per-step distance of the reference from itself rerun from one-ulp-perturbed initial weights.

    ``build(params)`` returns a fresh reference model; ``reference`` is its trajectory from
    ``params``. The distance at step 0 is the perturbation itself (one ulp of ``dtype``).
    """
    perturbed = trajectory(build(perturb_one_ulp(params, dtype)), X, y, steps, **schedule)
    return distances(reference, perturbed)


@dataclass(frozen=True)
class TrajectoryCheck:
    """An implementation's per-step distance from the reference, against max(factor * floor, minimum)."""

    distance: tuple[float, ...]
    floor: tuple[float, ...]
    bound: tuple[float, ...]
    ok: bool
    first_bad_step: int | None  # the first step whose distance exceeds its bound
    worst_ratio: float          # max over steps of distance / bound (inf/inf steps left out)
    diverged_step: int | None = None  # the first step with a non-finite distance or floor
    worst_step: int | None = None     # the step of worst_ratio

    def describe(self, label: str = "") -> str:
        prefix = f"{label}: " if label else ""
        final = (f"final distance {self.distance[-1]:.3g}, noise floor {self.floor[-1]:.3g}, "
                 f"worst distance/bound {self.worst_ratio:.3g}")
        if self.diverged_step is not None:
            final += f"; the run diverged (non-finite parameters) at step {self.diverged_step}"
        if self.ok:
            return f"{prefix}within the noise-floor bound at every step ({final})"
        t = self.first_bad_step
        return (f"{prefix}left the noise-floor bound at step {t}: distance {self.distance[t]:.3g} "
                f"> bound {self.bound[t]:.3g} (floor {self.floor[t]:.3g}); {final}")


def check_trajectory(distance, floor, factor: float = TRAJECTORY_FACTOR,
                     minimum: float = TRAJECTORY_MINIMUM) -> TrajectoryCheck:
    """Pass when distance <= max(factor * floor, minimum) at every step."""
    distance, floor = np.asarray(distance, float), np.asarray(floor, float)
    bound = np.maximum(factor * floor, minimum)
    bad = np.flatnonzero(~(distance <= bound))
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(np.isnan(distance), np.inf, distance) / bound
    # inf / inf: both runs diverged, no ratio to speak of
    ratio = np.where(np.isnan(ratio), -np.inf, ratio)
    top = ratio.max() if ratio.size else -np.inf
    worst = int(np.argmax(ratio)) if top > 0 else None  # no step: the runs never moved apart
    blown = np.flatnonzero(~np.isfinite(distance) | ~np.isfinite(floor))
    return TrajectoryCheck(tuple(distance.tolist()), tuple(floor.tolist()), tuple(bound.tolist()),
                           bad.size == 0, int(bad[0]) if bad.size else None,
                           float(top) if top > -np.inf else math.nan,
                           int(blown[0]) if blown.size else None, worst)


# ----------------------------------------------------------------------- finite differences

def finite_difference_gradients(model, X, y, dropout_masks=None, *,
                                h: float = FINITE_DIFFERENCE_STEP,
                                max_entries: int | None = None, seed: int = 0) -> dict:
    """Central differences (L(w+h) - L(w-h)) / 2h of ``model.loss``, by canonical name.

    With ``max_entries``, only that many randomly chosen entries per parameter are
    differenced and the rest are NaN (for big networks). The model's parameters are
    restored afterwards.
    """
    params = {name: np.array(value, dtype=np.float64) for name, value in model.parameters().items()}
    rng = np.random.default_rng(seed)
    grads = {}
    try:
        for name, value in params.items():
            grad = np.full(value.shape, np.nan)
            flat = np.arange(value.size)
            if max_entries is not None and value.size > max_entries:
                flat = rng.choice(value.size, max_entries, replace=False)
            for i in flat:
                index = np.unravel_index(i, value.shape)
                original = value[index]
                losses = []
                for shift in (h, -h):
                    value[index] = original + shift
                    model.set_parameters(params)
                    losses.append(model.loss(X, y, dropout_masks))
                value[index] = original
                grad[index] = (losses[0] - losses[1]) / (2 * h)
            grads[name] = grad
    finally:
        model.set_parameters(params)
    return grads


def relative_error(analytic: dict, numeric: dict, floor: float = 1e-3) -> dict:
    """||a - n|| / max(||a|| + ||n||, floor) per parameter, over the entries ``numeric`` holds (not NaN).

    The floor makes the error absolute for (near-)zero gradients such as a dead ReLU's,
    where the differences' rounding noise (~eps*|L|/h = 1e-10) would otherwise look relative 1.
    A parameter with no entry held (none differenced, or a NaN loss) gets NaN, which fails
    every bound: a check over nothing is not a pass.
    """
    errors = {}
    for name, n in numeric.items():
        a = np.asarray(analytic[name], dtype=np.float64)
        held = ~np.isnan(n)
        if not held.any():
            errors[name] = math.nan
            continue
        a, n = a[held], n[held]
        errors[name] = float(np.linalg.norm(a - n) /
                             max(np.linalg.norm(a) + np.linalg.norm(n), floor))
    return errors
