"""The work behind compare.py's sections, on one checked :class:`Run`.

1. :func:`check_parity`: forward, loss and every gradient at initialisation against the
   reference (shared.metrics.parity), plus :func:`finite_differences`;
2. :func:`train_all`: every implementation fitted with the same data order and masks;
3. :func:`check_divergence`: the first optimizer steps against the noise floor;
5. :func:`explain_native`: native mode's drift from the nnfs formulas, explained by the atlas;
and :func:`run_sweep`, which replaces 1-3 with --sweep. Each appends what disagrees to
``run.failures``; compare.py turns them into the verdict and the exit status.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass, field

import numpy as np

from shared import implementations, metrics, sweep, training

REFERENCE = implementations.REFERENCE
FD_ENTRIES = 12              # finite differences: random entries per parameter


# ----------------------------------------------------------------------------- settings

@dataclass
class Run:
    """One comparison: checked settings, data, initial weights, and what it found."""

    args: argparse.Namespace
    spec: object
    data: object
    impls: list[str]
    params: dict
    epochs: int
    epochs_note: str
    batch_size: int
    parity_steps: int
    parity_samples: int
    console: object
    skipped: list[dict] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    sweep_configs: list[sweep.Config] = field(default_factory=list)  # --sweep, checked
    diverged_everywhere: bool = False  # training diverged in every implementation alike

    @property
    def dtype(self):
        return self.args.dtype

    @property
    def mode(self):
        return self.args.mode

    @property
    def eval_every(self) -> int:
        """Epochs between fit's evaluations: about 25 points per curve, or every epoch where
        the spec's patience stops training (it counts evaluations: epochs, as in fit)."""
        return 1 if self.spec.training.patience else max(1, self.epochs // 25)

    def reference(self, impl: str):
        """(reference spec, label) that ``impl`` is judged against in this mode."""
        ref = implementations.reference_spec(self.spec, impl, self.mode)
        label = REFERENCE if ref.variant == self.spec.variant else f"{REFERENCE}[{ref.variant}]"
        return ref, label

    def build(self, impl: str, spec=None, params=None):
        return implementations.build(impl, spec or self.spec, self.params if params is None
                                     else params, self.dtype, self.mode if impl != REFERENCE
                                     else "exact")

    def skip(self, impl: str, reason: str) -> None:
        self.skipped.append({"name": impl, "reason": reason})
        if impl in self.impls:
            self.impls.remove(impl)
        print(f"skipping {impl}: {reason}", file=sys.stderr, flush=True)  # even with --quiet

    def build_all(self) -> dict:
        """Each implementation (and the reference) built once from the initial weights. One whose
        framework is missing or fails to import is skipped; one that fails to build is a failure."""
        models = {}
        for impl in list(self.impls) if REFERENCE in self.impls else [REFERENCE] + self.impls:
            try:
                models[impl] = self.build(impl)
            except Exception as error:
                if impl == REFERENCE:
                    raise
                reason = f"{type(error).__name__}: {error}"
                if isinstance(error, ImportError) or not _imports(impl):
                    self.skip(impl, reason)
                else:  # a bug, not a missing framework
                    self.failures.append(f"network {self.spec.name!r}: {impl} failed to build: "
                                         f"{reason}")
                    self.impls.remove(impl)
        return models


def _imports(impl: str) -> bool:
    try:
        implementations.module(impl)
    except Exception:  # noqa: BLE001 - whatever a broken install raises
        return False
    return True


# ----------------------------------------------------------------------------- 1. parity

def check_parity(run: Run):
    """Forward, loss and gradients of each implementation against its reference; FD errors."""
    X, y = run.data.X_train[:run.parity_samples], run.data.y_train[:run.parity_samples]
    conditions = [("dropout off", None)]
    if run.spec.dropout_layers:
        masks = training.epoch_masks(run.spec, run.spec.training.seed, 0, [len(X)])[0]
        conditions.append(("dropout masks of epoch 1", masks))
    models, differences = run.build_all(), []
    for impl, model in models.items():
        ref_spec, label = run.reference(impl)
        if impl == REFERENCE and label == REFERENCE:
            continue
        reference = implementations.build(REFERENCE, ref_spec, run.params, run.dtype, "exact")
        for condition, masks in conditions:
            try:
                found = metrics.parity({label: reference, impl: model}, X, y, masks,
                                       dtype=run.dtype, pairs="reference")
            except Exception as error:
                run.failures.append(f"network {run.spec.name!r}: {impl} raised "
                                    f"{type(error).__name__} at initialisation: {error}")
                break
            differences += [dict(d.to_dict(), condition=condition) for d in found]
            bad = metrics.first_failure(found)
            if bad is not None:
                run.failures.append(metrics.describe(bad, run.spec.name)
                                    + ("" if condition == "dropout off" else f" ({condition})"))
                break
    fd = finite_differences(run, models, X, y, conditions[-1][1])
    return {"ok": all(d["ok"] for d in differences), "differences": differences,
            "finite_difference": fd}


def finite_differences(run: Run, models: dict, X, y, masks) -> dict:
    """metrics.relative_error of each model's gradients against central differences of its loss."""
    note = (f"central differences (h {metrics.FINITE_DIFFERENCE_STEP:g}) on up to {FD_ENTRIES} "
            f"random entries per parameter (all of a smaller one); informational, not part of "
            f"the verdict (the tests hold smooth networks to "
            f"{metrics.FINITE_DIFFERENCE_TOLERANCE:g}): ReLU kinks, L1's |w| at w = 0 and step "
            f"functions raise it")
    errors = {}
    if run.dtype == "float32":
        return {"tolerance": metrics.FINITE_DIFFERENCE_TOLERANCE, "entries_per_parameter": 0,
                "note": "skipped in float32 (rounding swamps the differences)", "errors": {}}
    if any(layer.type == "step" for layer in run.spec.layers):
        note += "; this network's step activation has a straight-through gradient, which no " \
                "difference quotient reproduces"
    for impl, model in models.items():
        try:
            numeric = metrics.finite_difference_gradients(
                model, X, y, masks, max_entries=FD_ENTRIES, seed=run.spec.training.seed)
            errors[impl] = metrics.relative_error(model.gradients(X, y, masks), numeric)
        except Exception as error:
            run.failures.append(f"network {run.spec.name!r}: {impl} raised "
                                f"{type(error).__name__} in finite differences: {error}")
    return {"tolerance": metrics.FINITE_DIFFERENCE_TOLERANCE,
            "entries_per_parameter": FD_ENTRIES, "note": note, "errors": errors}


# ----------------------------------------------------------------------------- 3. divergence

def schedule(run: Run, steps: int, batch_size: int) -> dict:
    """The first ``steps`` mini-batches and dropout masks of training, for metrics.trajectory."""
    n, seed = len(run.data.X_train), run.spec.training.seed
    batches, masks, epoch = [], [], 0
    while len(batches) < steps:
        epoch_batches = training.batch_indices(n, batch_size, seed, epoch)
        batches += epoch_batches
        masks += training.epoch_masks(run.spec, seed, epoch, [len(b) for b in epoch_batches])
        epoch += 1
    return {"batches": batches[:steps], "masks": masks[:steps]}

def check_divergence(run: Run) -> tuple[dict, dict]:
    """Each implementation's trajectory against its reference's, judged by the noise floor."""
    X, y = run.data.X_train, run.data.y_train
    steps = run.parity_steps
    plan = schedule(run, steps, run.batch_size)
    minimum = (metrics.FLOAT32_TRAJECTORY_ATOL if run.dtype == "float32"
               else metrics.TRAJECTORY_MINIMUM)
    references = {}
    needed = list(run.impls) + ([REFERENCE] if run.mode == "native" else [])
    for impl in needed:
        ref_spec, label = run.reference(impl)
        if label in references:
            continue

        def build_reference(params, ref_spec=ref_spec):
            return implementations.build(REFERENCE, ref_spec, params, run.dtype, "exact")

        path = metrics.trajectory(build_reference(run.params), X, y, steps, **plan)
        floor = metrics.noise_floor(build_reference, run.params, path, X, y, steps, run.dtype,
                                    **plan)
        # One rerun is one draw of the chaos, and it can be a lucky one: the floor is the largest
        # of three, the third and fourth from the inputs moved one ulp down and up, a rounding
        # difference that enters every step (measured: on spiral with --l2 5e-4 the weights'
        # rerun alone sat 7x below the inputs' at step 40, and every implementation left 10x it).
        for moved in metrics.inputs_one_ulp(X, run.dtype):
            floor = np.maximum(floor, metrics.distances(path, metrics.trajectory(
                build_reference(run.params), moved, y, steps, **plan)))
        if run.dtype == "float32":
            # float32 rounds a near-cancelling gradient sum by percents, and Adam's g / (|g| + eps)
            # amplifies that where |g| ~ eps: the floor is also the reference's own rounding
            # error, its distance from the same steps in float64.
            exact = implementations.build(REFERENCE, ref_spec, run.params, "float64", "exact")
            floor = np.maximum(floor, metrics.distances(
                path, metrics.trajectory(exact, X, y, steps, **plan)))
        references[label] = (path, floor)
    checks, paths = {}, {}
    found = []  # (step, failure): reported in order of step, the earliest divergence first
    for impl in run.impls:
        ref_spec, label = run.reference(impl)
        if impl == REFERENCE and label == REFERENCE:
            continue
        ref_path, floor = references[label]
        try:
            path = metrics.trajectory(run.build(impl), X, y, steps, **plan)
        except Exception as error:
            found.append((0, f"network {run.spec.name!r}: {impl} raised "
                             f"{type(error).__name__} during the divergence steps: {error}"))
            continue
        distance = metrics.distances(ref_path, path)
        check = metrics.check_trajectory(distance, floor, minimum=minimum)
        message = check.describe(f"{impl} vs {label}")
        if not check.ok:
            t = check.first_bad_step
            gap = np.abs(ref_path[t] - path[t])
            k = int(np.argmax(np.where(np.isnan(gap), np.inf, gap)))
            name, index = metrics.locate(run.params, k)
            message = (f"network {run.spec.name!r}: {impl} vs {label}: parameter "
                       f"{name}[{', '.join(map(str, index))}] left the noise-floor bound at "
                       f"step {t}: {label} {float(ref_path[t, k])!r} vs {impl} "
                       f"{float(path[t, k])!r}; distance {check.distance[t]:.3g} > bound "
                       f"{check.bound[t]:.3g} (noise floor {check.floor[t]:.3g})")
            if check.diverged_step is not None:
                message += (f"; the run diverged (non-finite parameters) at step "
                            f"{check.diverged_step}")
            found.append((t, message))
        ok = check.ok
        ref_gone, gone = (metrics.first_non_finite_step(p) for p in (ref_path, path))
        if ok and ref_gone != gone:  # an inf floor passes anything: compare where each blew up
            ok = False
            message = (f"network {run.spec.name!r}: {impl} vs {label}: the parameters became "
                       f"non-finite at step {ref_gone} in {label} but at step {gone} in {impl} "
                       f"(None: never)")
            found.append((min(step for step in (ref_gone, gone) if step is not None), message))
        checks[impl] = {"reference": label, "distance": list(check.distance),
                        "noise_floor": list(check.floor), "bound": list(check.bound),
                        "ok": ok, "first_bad_step": check.first_bad_step,
                        "worst_ratio": check.worst_ratio, "worst_step": check.worst_step,
                        "diverged_step": check.diverged_step, "message": message}
        paths[impl] = path[-1]
    run.failures += [message for _, message in sorted(found, key=lambda item: item[0])]
    drift = {}
    if run.mode == "native":
        plain = references[REFERENCE][0][-1]
        drift = {impl: float(np.max(np.abs(last - plain))) for impl, last in paths.items()}
    return {"steps": steps, "batch_size": run.batch_size, "implementations": checks}, drift


# ----------------------------------------------------------------------------- 2. training

def _judge_divergences(run: Run, diverged: dict) -> None:
    """Training that diverges in the reference and in an implementation alike is a note, as in
    the sweep (both diverged: they agree); diverging on one side only is a failure."""
    name = f"network {run.spec.name!r}"
    for impl, message in diverged.items():
        if impl == REFERENCE:
            others = [i for i in run.impls if i != REFERENCE and i not in diverged]
            if others:
                run.failures.append(f"{name}: the reference {REFERENCE} diverged in training, "
                                    f"{', '.join(others)} did not: {message}")
            else:
                run.notes.append(f"{name}: training diverged in every implementation: {message}")
                run.diverged_everywhere = True
        elif REFERENCE not in diverged:
            where = (f"where the reference {REFERENCE} did not" if REFERENCE in run.impls
                     else f"(the reference {REFERENCE} was not trained)")
            run.failures.append(f"{name}: {impl} diverged in training {where}: {message}")


def _evaluation(model, X, y, validation) -> dict:
    """Loss and accuracy on the training and validation data, dropout off (model.evaluate)."""
    train = model.evaluate(X, y)
    val = model.evaluate(*validation) if validation else {"loss": None, "accuracy": None}
    return {"loss": train["loss"], "accuracy": train["accuracy"], "val_loss": val["loss"],
            "val_accuracy": val["accuracy"]}


def train_all(run: Run, progress) -> tuple[dict, dict]:
    """Fit each implementation from the same weights, data order and masks."""
    d = run.data
    validation = (d.X_val, d.y_val) if d.X_val is not None else None
    eval_every = run.eval_every
    results, models, diverged = {}, {}, {}
    for impl in list(run.impls):
        task = progress.add_task(impl, total=run.epochs) if progress else None

        def update(epoch, history, task=task, impl=impl):
            if progress:
                line = f"{impl:5} loss {history['loss'][-1]:.4g} acc {history['accuracy'][-1]:.3f}"
                if history["val_loss"]:
                    line += (f" val_loss {history['val_loss'][-1]:.4g} "
                             f"val_acc {history['val_accuracy'][-1]:.3f}")
                progress.update(task, completed=epoch + 1, description=line)

        try:
            model = run.build(impl)
            untrained = _evaluation(model, d.X_train, d.y_train, validation)
            start = time.perf_counter()
            history = model.fit(d.X_train, d.y_train, epochs=run.epochs,
                                batch_size=run.batch_size, seed=run.spec.training.seed,
                                validation_data=validation, eval_every=eval_every,
                                callback=update)
            seconds = time.perf_counter() - start
        except training.TrainingDiverged as error:
            diverged[impl] = str(error)
            continue
        except Exception as error:
            run.failures.append(f"network {run.spec.name!r}: {impl} raised "
                                f"{type(error).__name__} during training: {error}")
            continue
        models[impl] = model
        final = {key: (history[key][-1] if history[key] else None)
                 for key in ("loss", "accuracy", "val_loss", "val_accuracy")}
        results[impl] = {"history": {k: history[k] for k in ("epoch", "loss", "accuracy",
                                                            "val_loss", "val_accuracy",
                                                            "seconds")},
                         "seconds": seconds,
                         "seconds_per_epoch": statistics.median(history["seconds"]),
                         "untrained": untrained, "final": final,
                         "stopped_epoch": history.get("stopped_epoch"),  # patience ran out
                         "distance_from_reference": None}
    _judge_divergences(run, diverged)
    if REFERENCE in models:
        ref = metrics.flatten(models[REFERENCE].parameters())
        for impl, model in models.items():
            if run.reference(impl)[1] == REFERENCE:
                results[impl]["distance_from_reference"] = float(
                    np.max(np.abs(metrics.flatten(model.parameters()) - ref)))
    return {"epochs": run.epochs, "batch_size": run.batch_size, "implementations": results}, models


# ----------------------------------------------------------------------------- 5. native

def explain_native(run: Run, drift: dict) -> dict:
    """Each framework's distance from the nnfs reference and the atlas's formula differences."""
    try:
        from shared import atlas
    except ImportError as error:
        atlas = None
        missing = f"atlas unavailable ({error})"
    X, y = run.data.X_train[:run.parity_samples], run.data.y_train[:run.parity_samples]
    plain = metrics.snapshot(implementations.build(REFERENCE, run.spec, run.params, run.dtype),
                             X, y)
    native = {}
    for impl in run.impls:
        if run.reference(impl)[1] == REFERENCE:
            continue
        try:
            found = metrics.compare_snapshots(plain, metrics.snapshot(run.build(impl), X, y),
                                              pair=(REFERENCE, impl), dtype=run.dtype)
            bad = metrics.first_failure(found)
            at_init = (metrics.describe(bad) if bad else
                       "forward, loss and gradients match the nnfs reference at initialisation")
        except Exception as error:
            at_init = f"{type(error).__name__}: {error}"
        if atlas is None:
            explanations = [missing]
        else:
            try:
                explanations = [str(line) for line in atlas.explain(impl, run.spec)]
            except Exception as error:
                explanations = [f"atlas failed: {type(error).__name__}: {error}"]
        native[impl] = {"reference": REFERENCE, "final_distance": drift.get(impl, float("nan")),
                        "at_init": at_init,
                        "explanations": (explanations or [NO_FORMULA_DIFFERENCE])
                        + [OPERATION_ORDER[impl]]}
    return native


NO_FORMULA_DIFFERENCE = "the atlas lists no formula difference for this spec"
# Beside its formulas, each framework's own order of operations moves native runs by rounding
# (README: on spiral, 24x and 41x the noise floor of the reference variants after 100 Adam
# steps, three to nine orders of magnitude below the atlas's formula differences): the last
# explanation.
OPERATION_ORDER = {
    "torch": "and torch's own operation order: fused lerp, addcdiv and addcmul in its "
             "optimizers, a sqrt that is not correctly rounded, other summation orders",
    "tf": "and Keras's own operation order: Eigen's summation orders (its clipping norm among "
          "them)",
}


# ----------------------------------------------------------------------------- sweep

def _one_ulp_reruns(run: Run) -> list[tuple[dict, object]]:
    """(initial weights, inputs) of the reference's reruns for the sweep's noise floor: the
    weights moved one ulp of the dtype; in float32 also the inputs one ulp down and up, as in
    section 3 (one rerun is one draw of float32's chaos: with the weights' alone, tf left the
    bound on two of 48 spiral configurations)."""
    moved_weights = (metrics.perturb_one_ulp(run.params, run.dtype), run.data.X_train)
    if run.dtype != "float32":
        return [moved_weights]
    return [moved_weights] + [(run.params, moved)
                              for moved in metrics.inputs_one_ulp(run.data.X_train, "float32")]


def run_sweep(run: Run, progress) -> dict:
    """Train every configuration in every implementation; judge final weights by the noise floor."""
    d = run.data
    validation = (d.X_val, d.y_val) if d.X_val is not None else None
    run.build_all()  # skips a framework that fails to import, as sections 1-3 do
    task = progress.add_task("sweep", total=len(run.sweep_configs)) if progress else None
    out = []
    for config in run.sweep_configs:
        spec = config.apply(run.spec)

        def fit(impl, params, spec_, dtype=run.dtype, X=d.X_train):
            """(final flat weights or None if training diverged, history, seconds)."""
            model = implementations.build(impl, spec_, params, dtype,
                                          run.mode if impl != REFERENCE else "exact")
            start = time.perf_counter()
            try:
                h = model.fit(X, d.y_train, epochs=run.epochs,
                              batch_size=config.batch_size, seed=spec.training.seed,
                              validation_data=validation, eval_every=run.epochs)
            except training.TrainingDiverged:
                return None, None, time.perf_counter() - start
            return metrics.flatten(model.parameters()), h, time.perf_counter() - start

        results, references = {}, {}
        for impl in run.impls:
            ref_spec = implementations.reference_spec(spec, impl, run.mode)
            if ref_spec.variant not in references:
                fitted = fit(REFERENCE, run.params, ref_spec)
                reruns = [fit(REFERENCE, params, ref_spec, X=X)[0]
                          for params, X in _one_ulp_reruns(run)]
                if run.dtype == "float32":  # and its own rounding: the same run in float64
                    reruns.append(fit(REFERENCE, run.params, ref_spec, "float64")[0])
                references[ref_spec.variant] = (fitted, reruns)
                gone = sum(rerun is None for rerun in reruns)
                if gone and fitted[0] is not None:
                    run.notes.append(
                        f"network {run.spec.name!r}, sweep {config.label}: {gone} of the "
                        f"reference's {len(reruns)} noise-floor reruns diverged in training; "
                        + ("the bound is the other reruns'" if gone < len(reruns) else
                           "none finished, so the bound is infinite (any finite end passes)"))
            (ref_final, ref_history, ref_seconds), reruns = references[ref_spec.variant]
            try:
                final, history, seconds = (fit(impl, run.params, spec) if impl != REFERENCE
                                           or ref_spec.variant != spec.variant
                                           else (ref_final, ref_history, ref_seconds))
            except Exception as error:
                run.failures.append(f"sweep {config.label}: {impl} raised "
                                    f"{type(error).__name__}: {error}")
                continue
            if final is None or ref_final is None:  # diverged: agree only if both did
                ok = final is None and ref_final is None
                distance = bound = float("nan")
                h = {"loss": [float("nan")], "accuracy": [float("nan")], "val_loss": [],
                     "val_accuracy": []}
            else:
                floor = max((np.max(np.abs(ref_final - rerun)) for rerun in reruns
                             if rerun is not None), default=np.inf)
                distance = float(np.max(np.abs(final - ref_final)))
                check = metrics.check_trajectory(
                    [distance], [floor], minimum=metrics.FLOAT32_TRAJECTORY_ATOL
                    if run.dtype == "float32" else metrics.TRAJECTORY_MINIMUM)
                ok, bound, h = check.ok, check.bound[0], history
            if not ok:
                label = (REFERENCE if ref_spec.variant == spec.variant
                         else f"{REFERENCE}[{ref_spec.variant}]")
                what = (f"{impl} diverged in training where the reference {label} did not"
                        if final is None else
                        f"the reference {label} diverged in training, {impl} did not"
                        if ref_final is None else
                        f"{impl} ended {distance:.3g} from the reference after {run.epochs} "
                        f"epochs, outside the noise-floor bound {bound:.3g}")
                run.failures.append(f"network {run.spec.name!r}, sweep {config.label}: {what}")
            results[impl] = {"loss": h["loss"][-1], "accuracy": h["accuracy"][-1],
                             "val_loss": h["val_loss"][-1] if h["val_loss"] else None,
                             "val_accuracy": h["val_accuracy"][-1] if h["val_accuracy"] else None,
                             "seconds": seconds, "distance": distance, "bound": bound, "ok": ok}
        out.append({"label": config.label, "optimizer": config.optimizer,
                    "learning_rate": config.learning_rate, "batch_size": config.batch_size,
                    "regularization": config.regularization, "results": results})
        if progress:
            progress.advance(task)
    return {"epochs": run.epochs, "configs": out}

