#!/usr/bin/env python3
"""compare.py: the implementations side by side, judged by the harness (shared.metrics).

1. parity at initialisation: forward, loss and every gradient against the NumPy reference,
   plus each implementation's finite-difference error;
2. training with the same data order and dropout masks (shared.training);
3. parameter divergence from the reference over the first optimizer steps, against the
   noise floor (the reference rerun from weights perturbed by one ulp);
4. a terminal summary, report.md, a self-contained report.html and results.json;
5. in native mode, each framework's drift from the nnfs formulas, explained by the atlas.

Exit status: 0 every pair agrees, 1 some pair disagrees (the first divergence is named),
2 usage error.
"""
from __future__ import annotations

import time

_START = time.perf_counter()

import argparse  # noqa: E402
import os  # noqa: E402
import shlex  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402

# One BLAS thread (before NumPy loads; override from the environment): NumPy's results then
# do not depend on the machine's core count, and a busy 2-core machine is not oversubscribed.
for _variable in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import numpy as np  # noqa: E402

from shared import datasets, implementations, metrics, networks, report  # noqa: E402
from shared import sweep, training, weights  # noqa: E402
from shared.spec import INITIALIZERS, OPTIMIZERS, SpecError  # noqa: E402

REFERENCE = implementations.REFERENCE
# Epochs compare.py trains by default: enough to see the curves, small enough that every
# installed implementation (pure Python is the slow one) finishes spiral within a minute.
COMPARE_EPOCHS = {"xor": 1000, "and": 20, "or": 20, "spiral": 200, "sine": 30, "mnist": 1}
CUSTOM_EPOCHS = 100          # at most this many for a user's TOML unless --epochs
FD_ENTRIES = 12              # finite differences: random entries per parameter
PARITY_SAMPLES = 128         # parity at init on the first 128 samples of big datasets ...
PARITY_ALL_UP_TO = 1000      # ... and on all of them up to 1,000
FLOAT32_STEPS = 10           # float32 trajectories drift apart: compare ~10 steps (GUIDE §3)
GRID = 70                    # decision-region grid per axis
MNIST_DIGITS = 16
SLOW_ON_MNIST = ("pure",)    # left out of MNIST unless named in --impls

EPILOG = """examples:
  python compare.py                                  # spiral, every installed implementation
  python compare.py --network xor --epochs 500
  python compare.py --network my_net.toml --impls numpy,torch
  python compare.py --mode native --impls numpy,torch,tf   # framework defaults, explained
  python compare.py --dtype float32 --impls numpy,torch --parity-steps 10
  python compare.py --optimizer sgd --lr 0.5 --momentum 0.9 --batch-size 32
  python compare.py --json --quiet > results.json
  python compare.py --sweep --sweep-optimizers sgd,adam,rmsprop --sweep-lrs 0.001,0.01,0.1

exit status: 0 all pairs agree within the harness tolerances, 1 some pair disagrees
(the first divergence is named: network, parameter, step, values), 2 usage error."""


class UsageError(Exception):
    """A bad option or combination; compare.py exits 2 with this message."""


def _csv(kind):
    def parse(text):
        try:
            return [kind(item) for item in text.split(",") if item.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected a comma-separated list of {kind.__name__}, got {text!r}") from None
    return parse


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="compare.py", formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG,
        description="Run the implementations side by side on one network: parity at "
                    "initialisation, training, divergence against the noise floor; writes "
                    "report.md, report.html and results.json.")
    p.add_argument("--network", default="spiral",
                   help=f"built-in name {networks.BUILTINS} or a TOML file (default spiral)")
    p.add_argument("--impls", type=_csv(str),
                   help=f"comma-separated subset of {','.join(implementations.IMPLEMENTATIONS)} "
                        "(default: every installed one; the reference numpy always runs)")
    p.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    p.add_argument("--mode", choices=implementations.MODES, default="exact",
                   help="exact: the reference's arithmetic everywhere; native: each framework's "
                        "built-in formulas, compared with the reference variant that computes them")
    p.add_argument("--init", choices=INITIALIZERS, help="initializer (default: the spec's)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the initial weights, data order and dropout masks (default 0)")
    p.add_argument("--epochs", type=int,
                   help="training epochs (default: a per-network value that keeps the run short; "
                        "printed in the output)")
    p.add_argument("--batch-size", type=int, help="0 = full batch (default: the spec's)")
    p.add_argument("--data-dir", help="MNIST IDX files or mnist.npz (default: offline digits)")
    o = p.add_argument_group("optimizer overrides (a new --optimizer starts from nnfs defaults)")
    o.add_argument("--optimizer", choices=OPTIMIZERS)
    o.add_argument("--lr", "--learning-rate", dest="learning_rate", type=float)
    for flag in ("decay", "momentum", "epsilon", "rho", "beta-1", "beta-2",
                 "clip-value", "clip-norm"):
        o.add_argument(f"--{flag}", type=float)
    o.add_argument("--nesterov", action="store_true", default=None)
    o.add_argument("--l2", type=float, help="L2 factor on every dense layer's weights and biases")
    o.add_argument("--dropout", type=float, help="dropout rate after every hidden layer")
    c = p.add_argument_group("comparison")
    c.add_argument("--parity-steps", type=int, default=100,
                   help="optimizer steps of the divergence check (default 100; float32: 10)")
    c.add_argument("--parity-samples", type=int,
                   help=f"samples for parity at init (default all up to {PARITY_ALL_UP_TO}, "
                        f"else {PARITY_SAMPLES})")
    c.add_argument("--out", default="reports", help="output directory (default reports/)")
    c.add_argument("--json", action="store_true",
                   help="print results.json on stdout (and nothing else there)")
    c.add_argument("--quiet", action="store_true", help="only skip notices and the verdict")
    s = p.add_argument_group("sweep (optimizer x learning rate x batch size x regularization)")
    s.add_argument("--sweep", action="store_true",
                   help=f"run the sweep instead of sections 1-3 (default {sweep.DEFAULT_EPOCHS} "
                        "epochs per configuration)")
    s.add_argument("--sweep-optimizers", type=_csv(str), default=list(sweep.DEFAULT_OPTIMIZERS))
    s.add_argument("--sweep-lrs", type=_csv(float), default=list(sweep.DEFAULT_LEARNING_RATES))
    s.add_argument("--sweep-batch-sizes", type=_csv(int), default=list(sweep.DEFAULT_BATCH_SIZES),
                   help="0 = full batch")
    s.add_argument("--sweep-regs", type=_csv(str), default=list(sweep.DEFAULT_REGULARIZATIONS),
                   help=f"subset of {','.join(sweep.REGULARIZATIONS)}")
    return p


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

    @property
    def dtype(self):
        return self.args.dtype

    @property
    def mode(self):
        return self.args.mode

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


def configure(args, console) -> Run:
    """Check every option against the spec and data; raise UsageError with a helpful message."""
    try:
        spec = networks.load(args.network)
    except SpecError as error:
        raise UsageError(f"--network: {error}") from None
    optimizer = {"learning_rate": args.learning_rate, "decay": args.decay,
                 "momentum": args.momentum, "epsilon": args.epsilon, "rho": args.rho,
                 "beta_1": args.beta_1, "beta_2": args.beta_2, "clip_value": args.clip_value,
                 "clip_norm": args.clip_norm, "nesterov": args.nesterov}
    try:
        spec = sweep.with_optimizer(spec, args.optimizer, **optimizer)
        if args.l2 is not None:
            spec = sweep.with_l2(spec, args.l2)
        if args.dropout is not None:
            spec = sweep.with_dropout(spec, args.dropout)
        if args.init:
            spec = spec.replace(init=args.init)
        if args.seed < 0:
            raise ValueError(f"--seed: expected an integer >= 0, got {args.seed}")
        spec = spec.replace(training={"seed": args.seed})
    except (SpecError, ValueError) as error:
        raise UsageError(f"optimizer/regularization options: {error}") from None

    for name, value, low in (("--epochs", args.epochs, 1), ("--batch-size", args.batch_size, 0),
                             ("--parity-steps", args.parity_steps, 1),
                             ("--parity-samples", args.parity_samples, 1)):
        if value is not None and value < low:
            raise UsageError(f"{name}: expected an integer >= {low}, got {value}")

    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"--out: cannot create the output directory {out}: {error}") from None
    if not os.access(out, os.W_OK):
        raise UsageError(f"--out: the output directory {out} is not writable")

    requested = args.impls
    if requested is not None:
        unknown = [name for name in requested if name not in implementations.IMPLEMENTATIONS]
        if unknown or not requested:
            raise UsageError(f"--impls: unknown implementation(s) {unknown or requested}; expected "
                             f"a comma-separated subset of {implementations.IMPLEMENTATIONS}")
    impls = list(dict.fromkeys(requested or implementations.IMPLEMENTATIONS))
    if args.dtype == "float32" and impls == ["pure"]:
        raise UsageError("--dtype float32: impl_pure computes with Python floats (float64 only), "
                         "so there is nothing to compare; add another implementation "
                         "(--impls pure,numpy,torch) or use --dtype float64")

    try:
        overrides = {"data_dir": args.data_dir} if args.data_dir else {}
        data = datasets.for_spec(spec, **overrides)
    except (datasets.DataError, OSError, ValueError) as error:
        raise UsageError(f"data for network {spec.name!r}: {error}") from None
    n = len(data.X_train)
    batch_size = spec.training.batch_size if args.batch_size is None else args.batch_size
    if batch_size > n:
        raise UsageError(f"--batch-size: expected at most the {n} training samples of "
                         f"{spec.name!r} (or 0 for full batch), got {batch_size}")
    if args.parity_samples is not None and args.parity_samples > n:
        raise UsageError(f"--parity-samples: expected at most {n}, got {args.parity_samples}")
    for name in args.sweep_optimizers if args.sweep else ():
        if name not in OPTIMIZERS:
            raise UsageError(f"--sweep-optimizers: expected a subset of {OPTIMIZERS}, got {name!r}")
    if args.sweep:
        try:
            sweep.grid(args.sweep_optimizers, args.sweep_lrs, args.sweep_batch_sizes,
                       args.sweep_regs)
        except ValueError as error:
            raise UsageError(f"--sweep-*: {error}") from None

    default_epochs = (sweep.DEFAULT_EPOCHS if args.sweep
                      else COMPARE_EPOCHS.get(args.network, min(spec.training.epochs,
                                                                CUSTOM_EPOCHS)))
    epochs = args.epochs or min(default_epochs, spec.training.epochs)
    note = ("" if args.epochs else
            f"training {epochs} epochs, compare.py's default for {spec.name!r}"
            + (f" (the spec says {spec.training.epochs}; pass --epochs "
               f"{spec.training.epochs} for the full run)" if epochs < spec.training.epochs
               else ""))
    steps = args.parity_steps
    if args.dtype == "float32" and steps > FLOAT32_STEPS:
        steps = FLOAT32_STEPS
    run = Run(args=args, spec=spec, data=data, impls=impls,
              params=weights.initial(spec, args.seed, spec.init), epochs=epochs,
              epochs_note=note, batch_size=batch_size, parity_steps=steps,
              parity_samples=args.parity_samples or (n if n <= PARITY_ALL_UP_TO
                                                     else PARITY_SAMPLES), console=console)
    if steps != args.parity_steps:
        run.notes.append(f"float32: divergence over {steps} steps, not {args.parity_steps} "
                         f"(float32 trajectories drift apart; long-run parity is float64's)")
    for impl in list(run.impls):
        if not implementations.is_available(impl):
            run.skip(impl, f"its package {implementations.REQUIRES[impl]!r} is not installed")
        elif impl == "pure" and args.dtype == "float32":
            run.skip(impl, "impl_pure computes with Python floats, float64 only")
        elif impl in SLOW_ON_MNIST and spec.inputs == 784 and requested is None:
            run.skip(impl, "pure Python needs minutes per MNIST step; name it in --impls to "
                           "include it")
    if REFERENCE not in run.impls:
        run.notes.append(f"{REFERENCE} is not in --impls but runs as the reference")
    elif run.impls == [REFERENCE] and args.mode == "exact":
        run.notes.append(f"only the reference {REFERENCE} runs: there is no pair to compare")
    return run


# ----------------------------------------------------------------------------- 1. parity

def check_parity(run: Run):
    """Forward, loss and gradients of each implementation against its reference; FD errors."""
    X, y = run.data.X_train[:run.parity_samples], run.data.y_train[:run.parity_samples]
    conditions = [("dropout off", None)]
    if run.spec.dropout_layers:
        masks = training.epoch_masks(run.spec, run.spec.training.seed, 0, [len(X)])[0]
        conditions.append(("dropout masks of epoch 1", masks))
    models, differences = {}, []
    for impl in list(run.impls) if REFERENCE in run.impls else [REFERENCE] + run.impls:
        try:
            models[impl] = run.build(impl)
        except Exception as error:  # a framework that fails to import or to build is skipped
            if impl == REFERENCE:
                raise
            run.skip(impl, f"{type(error).__name__}: {error}")
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
    note = (f"central differences (h {metrics.FINITE_DIFFERENCE_STEP:g}) on {FD_ENTRIES} random "
            f"entries per parameter; informational: ReLU kinks and step functions raise it")
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
                model, X, y, masks, max_entries=FD_ENTRIES, seed=run.args.seed)
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


def locate(spec, flat_index: int) -> str:
    """'dense2.bias[1]' for an index into metrics.flatten's vector."""
    offset = 0
    for name, shape in spec.parameter_shapes().items():
        size = int(np.prod(shape))
        if flat_index < offset + size:
            where = np.unravel_index(flat_index - offset, shape)
            return f"{name}[{', '.join(str(int(i)) for i in where)}]"
        offset += size
    return f"parameter #{flat_index}"


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

        def build_perturbed(params, ref_spec=ref_spec):
            # a float64 ulp vanishes in the cast to float32: move those weights one float32 ulp
            params = {name: np.nextafter(np.float32(value), np.float32(np.inf))
                      for name, value in params.items()}
            return implementations.build(REFERENCE, ref_spec, params, run.dtype, "exact")

        path = metrics.trajectory(build_reference(run.params), X, y, steps, **plan)
        floor = metrics.noise_floor(build_perturbed if run.dtype == "float32" else build_reference,
                                    run.params, path, X, y, steps, **plan)
        references[label] = (path, floor)
    checks, paths = {}, {}
    for impl in run.impls:
        ref_spec, label = run.reference(impl)
        if impl == REFERENCE and label == REFERENCE:
            continue
        ref_path, floor = references[label]
        try:
            path = metrics.trajectory(run.build(impl), X, y, steps, **plan)
        except Exception as error:
            run.failures.append(f"network {run.spec.name!r}: {impl} raised "
                                f"{type(error).__name__} during the divergence steps: {error}")
            continue
        distance = metrics.distances(ref_path, path)
        check = metrics.check_trajectory(distance, floor, minimum=minimum)
        message = check.describe(f"{impl} vs {label}")
        if not check.ok:
            t = check.first_bad_step
            gap = np.abs(ref_path[t] - path[t])
            k = int(np.argmax(np.where(np.isnan(gap), np.inf, gap)))
            message = (f"network {run.spec.name!r}: {impl} vs {label}: parameter "
                       f"{locate(run.spec, k)} left the noise-floor bound at step {t}: "
                       f"{label} {float(ref_path[t, k])!r} vs {impl} {float(path[t, k])!r}; "
                       f"distance "
                       f"{check.distance[t]:.3g} > bound {check.bound[t]:.3g} (noise floor "
                       f"{check.floor[t]:.3g})")
            run.failures.append(message)
        checks[impl] = {"reference": label, "distance": list(check.distance),
                        "noise_floor": list(check.floor), "bound": list(check.bound),
                        "ok": check.ok, "first_bad_step": check.first_bad_step,
                        "worst_ratio": check.worst_ratio, "message": message}
        paths[impl] = path[-1]
    drift = {}
    if run.mode == "native":
        plain = references[REFERENCE][0][-1]
        drift = {impl: float(np.max(np.abs(last - plain))) for impl, last in paths.items()}
    return {"steps": steps, "batch_size": run.batch_size, "implementations": checks}, drift


# ----------------------------------------------------------------------------- 2. training

def train_all(run: Run, progress) -> tuple[dict, dict]:
    """Fit each implementation from the same weights, data order and masks."""
    d = run.data
    validation = (d.X_val, d.y_val) if d.X_val is not None else None
    eval_every = max(1, run.epochs // 25)
    results, models = {}, {}
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
            start = time.perf_counter()
            history = model.fit(d.X_train, d.y_train, epochs=run.epochs,
                                batch_size=run.batch_size, seed=run.spec.training.seed,
                                validation_data=validation, eval_every=eval_every,
                                callback=update)
            seconds = time.perf_counter() - start
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
                         "final": final, "distance_from_reference": None}
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
                        "explanations": explanations or ["the atlas lists no formula difference"]}
    return native


# ----------------------------------------------------------------------------- sweep

def run_sweep(run: Run, progress) -> dict:
    """Train every configuration in every implementation; judge final weights by the noise floor."""
    d = run.data
    n = len(d.X_train)
    validation = (d.X_val, d.y_val) if d.X_val is not None else None
    a = run.args
    sizes = [0 if size >= n else size for size in a.sweep_batch_sizes]
    configs = list(dict.fromkeys(sweep.grid(a.sweep_optimizers, a.sweep_lrs, sizes, a.sweep_regs)))
    task = progress.add_task("sweep", total=len(configs)) if progress else None
    out = []
    for config in configs:
        spec = config.apply(run.spec)

        def fit(impl, params, spec_):
            model = implementations.build(impl, spec_, params, run.dtype,
                                          run.mode if impl != REFERENCE else "exact")
            try:
                h = model.fit(d.X_train, d.y_train, epochs=run.epochs,
                              batch_size=config.batch_size, seed=spec.training.seed,
                              validation_data=validation, eval_every=run.epochs)
            except training.TrainingDiverged:
                return None, None
            return metrics.flatten(model.parameters()), h

        results, references = {}, {}
        for impl in run.impls:
            ref_spec = implementations.reference_spec(spec, impl, run.mode)
            if ref_spec.variant not in references:
                final, history = fit(REFERENCE, run.params, ref_spec)
                perturbed, _ = fit(REFERENCE, metrics.perturb_one_ulp(run.params), ref_spec)
                references[ref_spec.variant] = (final, history, perturbed)
            ref_final, ref_history, perturbed = references[ref_spec.variant]
            start = time.perf_counter()
            try:
                final, history = (fit(impl, run.params, spec) if impl != REFERENCE
                                  or ref_spec.variant != spec.variant
                                  else (ref_final, ref_history))
            except Exception as error:
                run.failures.append(f"sweep {config.label}: {impl} raised "
                                    f"{type(error).__name__}: {error}")
                continue
            seconds = time.perf_counter() - start
            if final is None or ref_final is None:  # diverged: agree only if both did
                ok = final is None and ref_final is None
                distance = bound = float("nan")
                h = {"loss": [float("nan")], "accuracy": [float("nan")], "val_loss": [],
                     "val_accuracy": []}
            else:
                floor = (np.max(np.abs(ref_final - perturbed)) if perturbed is not None
                         else np.inf)
                distance = float(np.max(np.abs(final - ref_final)))
                check = metrics.check_trajectory(
                    [distance], [floor], minimum=metrics.FLOAT32_TRAJECTORY_ATOL
                    if run.dtype == "float32" else metrics.TRAJECTORY_MINIMUM)
                ok, bound, h = check.ok, check.bound[0], history
            if not ok:
                run.failures.append(f"network {run.spec.name!r}, sweep {config.label}: {impl} "
                                    f"ended {distance:.3g} from the reference after {run.epochs} "
                                    f"epochs, outside the noise-floor bound {bound:.3g}")
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


# ----------------------------------------------------------------------------- plots

def make_plots(run: Run, results: dict, models: dict) -> dict[str, bytes]:
    """PNG bytes by plot name, for the sections that ran."""
    images = {}
    if results["sweep"]:
        images["sweep"] = report.plot_sweep(results["sweep"])
        return images
    if results["training"] and results["training"]["implementations"]:
        images["loss_accuracy"] = report.plot_loss_accuracy(results["training"]["implementations"])
    if results["parity"] and results["parity"]["differences"]:
        images["gradient_differences"] = report.plot_gradient_differences(
            results["parity"]["differences"])
    if results["divergence"] and results["divergence"]["implementations"]:
        images["divergence"] = report.plot_divergence(results["divergence"])
    d, spec = run.data, run.spec
    if models and spec.inputs == 2:
        lo, hi = d.X_train.min(axis=0), d.X_train.max(axis=0)
        pad = 0.1 * (hi - lo + 1e-9)
        gx, gy = np.meshgrid(np.linspace(lo[0] - pad[0], hi[0] + pad[0], GRID),
                             np.linspace(lo[1] - pad[1], hi[1] + pad[1], GRID))
        grid = np.column_stack([gx.ravel(), gy.ravel()])
        regions = {}
        for impl, model in models.items():
            out = model.predict(grid)
            label = np.argmax(out, axis=1) if out.shape[1] > 1 else (
                out[:, 0] > 0.5 if spec.metric == "binary" else out[:, 0])
            regions[impl] = label.astype(float).reshape(gx.shape)
        images["decision_regions"] = report.plot_decision_regions(gx, gy, regions, d.X_train,
                                                                  d.y_train)
    if models and spec.inputs == 1:
        images["regression_fit"] = report.plot_regression_fit(
            d.X_train, d.y_train, {impl: m.predict(d.X_train) for impl, m in models.items()})
    if models and spec.inputs == 784:
        X = d.X_val if d.X_val is not None else d.X_train
        y = d.y_val if d.y_val is not None else d.y_train
        X, y = X[:MNIST_DIGITS], y[:MNIST_DIGITS]
        labels = np.argmax(y, axis=1) if y.ndim == 2 else y
        images["mnist_predictions"] = report.plot_mnist(
            X, labels, {impl: np.argmax(m.predict(X), axis=1) for impl, m in models.items()})
    if results["training"] and results["training"]["implementations"]:
        images["time_per_epoch"] = report.plot_time_per_epoch(
            results["training"]["implementations"])
    return images


# ----------------------------------------------------------------------------- report

def sections(run: Run, results: dict) -> list[report.Section]:
    """The report's sections, from results (the same data results.json holds)."""
    f = report.fmt
    spec, out = run.spec, []
    o = spec.optimizer
    head = report.Section("Settings", [
        f"network {spec.name!r} ({spec.description or 'custom'}); {results['settings']['dtype']}, "
        f"{run.mode} mode, init {spec.init}, seed {run.args.seed}; optimizer {o.type} "
        f"lr {o.learning_rate:g} decay {o.decay:g}; batch size "
        f"{run.batch_size or 'full'}; implementations {', '.join(run.impls) or 'none'}"
        + (f"; skipped {', '.join(s['name'] for s in run.skipped)}" if run.skipped else "")]
        + ([run.epochs_note] if run.epochs_note else []) + run.notes)
    out.append(head)
    parity = results["parity"]
    if parity is not None:
        s = report.Section("1. Parity at initialisation", [
            f"The same initial weights in every implementation; forward outputs, loss and every "
            f"gradient on {run.parity_samples} samples against the reference (max |diff| and max "
            f"|diff| / max |reference|)."], plots=["gradient_differences"])
        masked = bool(spec.dropout_layers)
        table = report.Table("Differences from the reference", ["condition"] * masked + [
            "quantity", "name", "pair", "max abs", "max rel", "atol + rtol", "ok"])
        for d in parity["differences"]:
            table.add(*[d["condition"]] * masked, d["quantity"], d["name"],
                      f"{d['pair'][1]} vs {d['pair'][0]}", f(d["max_abs"]), f(d["max_rel"]),
                      f"{d['atol']:.0e} + {d['rtol']:.0e}", "yes" if d["ok"] else "NO",
                      bad=not d["ok"])
        s.tables.append(table)
        fd = parity["finite_difference"]
        s.paragraphs.append(f"Finite differences: {fd['note']}.")
        if fd["errors"]:
            names = list(spec.parameter_shapes())
            table = report.Table("Relative error of each implementation's gradients against "
                                 "finite differences", ["implementation"] + names + ["max"])
            for impl, errors in fd["errors"].items():
                worst = max(float(v) for v in errors.values())
                table.add(impl, *(f(errors[name]) for name in names), f(worst))
            s.tables.append(table)
        out.append(s)
    train = results["training"]
    if train is not None:
        s = report.Section("2. Training", [
            f"{train['epochs']} epochs, batch size {train['batch_size'] or 'full'}; every "
            f"implementation sees the same data order and dropout masks (shared.training). Over "
            f"many epochs training is chaotic, so the distance after training is informational; "
            f"the verdict comes from section 3."],
            plots=["loss_accuracy", "decision_regions", "regression_fit", "mnist_predictions",
                   "time_per_epoch"])
        table = report.Table("Final metrics", ["implementation", "loss", "accuracy", "val loss",
                                               "val accuracy", "ms / epoch", "total s",
                                               f"distance from {REFERENCE}"])
        for impl, r in train["implementations"].items():
            fin = r["final"]
            table.add(impl, f(fin["loss"]), f(fin["accuracy"]), f(fin["val_loss"]),
                      f(fin["val_accuracy"]), f(1e3 * r["seconds_per_epoch"]), f(r["seconds"]),
                      f(r["distance_from_reference"]))
        s.tables.append(table)
        out.append(s)
    div = results["divergence"]
    minimum = (metrics.FLOAT32_TRAJECTORY_ATOL if run.dtype == "float32"
               else metrics.TRAJECTORY_MINIMUM)
    if div is not None:
        s = report.Section("3. Divergence from the reference", [
            f"The parameters after each of the first {div['steps']} optimizer steps (batch size "
            f"{div['batch_size'] or 'full'}), as max |difference| from the reference. The noise "
            f"floor is the reference rerun from weights moved by one ulp: rounding that grows "
            f"chaotically stays near it; a formula difference lands orders of magnitude above. "
            f"Bound: max({metrics.TRAJECTORY_FACTOR:g} x floor, {minimum:g})."],
            plots=["divergence"])
        table = report.Table("Distance at the last step", ["implementation", "reference",
                                                           "distance", "noise floor",
                                                           "worst distance / bound", "verdict"])
        for impl, c in div["implementations"].items():
            table.add(impl, c["reference"], f(c["distance"][-1]), f(c["noise_floor"][-1]),
                      f(c["worst_ratio"]), "within" if c["ok"] else
                      f"left at step {c['first_bad_step']}", bad=not c["ok"])
        s.tables.append(table)
        out.append(s)
    if results["native"]:
        s = report.Section("5. Native mode: drift from the nnfs formulas", [
            "Each framework's built-in formulas against the nnfs reference, after the divergence "
            "steps; the atlas names the formula differences (the verdict above compares each "
            "with the reference variant that computes its formulas)."])
        table = report.Table("Native drift", ["implementation", "distance from nnfs reference",
                                              "at initialisation", "explanation"])
        for impl, n in results["native"].items():
            table.add(impl, f(n["final_distance"]), n["at_init"], "\n".join(n["explanations"]))
        s.tables.append(table)
        out.append(s)
    if results["sweep"]:
        sw = results["sweep"]
        s = report.Section("Sweep", [
            f"Each configuration trained {sw['epochs']} epochs in every implementation from the "
            f"same weights, data order and masks; final weights judged against the noise floor "
            f"(the reference trained from one-ulp-perturbed weights)."], plots=["sweep"])
        table = report.Table("Sweep results", ["configuration", "implementation", "loss",
                                               "accuracy", "val accuracy", "distance", "bound",
                                               "ok"])
        for c in sw["configs"]:
            for impl, r in c["results"].items():
                table.add(c["label"], impl, f(r["loss"]), f(r["accuracy"]), f(r["val_accuracy"]),
                          f(r["distance"]), f(r["bound"]), "yes" if r["ok"] else "NO",
                          bad=not r["ok"])
        s.tables.append(table)
        out.append(s)
    verdict = results["verdict"]
    summary = report.Section("Summary", [
        "All pairs agree within the harness tolerances." if verdict["ok"] else
        f"DISAGREEMENT: {verdict['first_divergence']}"]
        + [f"also: {line}" for line in verdict["failures"][1:]])
    out.append(summary)
    return out


def write_outputs(run: Run, results: dict, images: dict) -> list[report.Section]:
    """PNGs, report.md, report.html and results.json in --out, each written atomically."""
    out = Path(run.args.out)
    results["plots"] = [{"name": name, "file": f"{name}.png", "title": report.PLOT_TITLES[name]}
                        for name in images]
    results["files"] = ([f"{name}.png" for name in images]
                        + ["report.md", "report.html", "results.json"])
    results["seconds"] = time.perf_counter() - _START
    parts = sections(run, results)
    plots = {p["name"]: p for p in results["plots"]}
    for name, data in images.items():
        weights.atomic_write_bytes(out / f"{name}.png", data)
    title = f"Rosetta NN comparison: {run.spec.name}"
    report.write_text(out / "report.md", report.markdown(title, parts, plots))
    report.write_text(out / "report.html", report.html_page(title, parts, plots, images))
    return parts


def console_for(args):
    from rich.console import Console

    # With --json, stdout carries the JSON only; everything for people goes to stderr.
    return Console(stderr=args.json, highlight=False)


def main(argv=None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    console = console_for(args)
    try:
        run = configure(args, console)
    except UsageError as error:
        parser.print_usage(sys.stderr)
        print(f"compare.py: error: {error}", file=sys.stderr)
        return 2
    loud = not args.quiet
    show = console if loud else None
    for line in ([run.epochs_note] if run.epochs_note else []) + run.notes:
        if loud:
            console.print(line, markup=False)
    results = {"schema_version": report.SCHEMA_VERSION,
               "command": shlex.join(["compare.py"] + list(sys.argv[1:] if argv is None
                                                           else argv)),
               "network": run.spec.name, "spec": run.spec.to_dict(),
               "settings": {"dtype": args.dtype, "mode": args.mode, "init": run.spec.init,
                            "seed": args.seed, "epochs": run.epochs,
                            "epochs_note": run.epochs_note, "batch_size": run.batch_size,
                            "parity_steps": run.parity_steps,
                            "parity_samples": run.parity_samples, "reference": REFERENCE,
                            "sweep": args.sweep},
               "implementations": [], "skipped": run.skipped, "parity": None, "training": None,
               "divergence": None, "native": None, "sweep": None}
    models = {}
    from rich.progress import Progress

    if args.sweep:
        with Progress(console=console, disable=not loud) as progress:
            results["sweep"] = run_sweep(run, progress)
    else:
        results["parity"] = check_parity(run)
        divergence, drift = check_divergence(run)
        results["divergence"] = divergence
        with Progress(console=console, disable=not loud) as progress:
            results["training"], models = train_all(run, progress)
        if args.mode == "native":
            results["native"] = explain_native(run, drift)
    results["implementations"] = list(run.impls)
    results["verdict"] = {"ok": not run.failures, "exit_code": 1 if run.failures else 0,
                          "first_divergence": run.failures[0] if run.failures else None,
                          "failures": run.failures}
    images = make_plots(run, results, models)
    parts = write_outputs(run, results, images)
    text = report.write_json(Path(args.out) / "results.json", results)
    if loud:
        report.print_console(parts, console, {p["name"]: Path(args.out) / p["file"]
                                              for p in results["plots"]})
        console.print(f"wrote {', '.join(results['files'])} to {args.out}/ "
                      f"in {results['seconds']:.1f} s", markup=False)
    else:
        print(("agree" if not run.failures else f"DISAGREE: {run.failures[0]}"),
              file=sys.stderr)
    if args.json:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
    return results["verdict"]["exit_code"]


if __name__ == "__main__":
    sys.exit(main())
