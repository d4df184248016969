#!/usr/bin/env python3
"""compare.py: the implementations side by side, judged by the harness (shared.metrics).

1. parity at initialisation: forward, loss and every gradient against the NumPy reference,
   plus each implementation's finite-difference error;
2. training with the same data order and dropout masks (shared.training);
3. parameter divergence from the reference over the first optimizer steps, against the
   noise floor (the reference rerun from weights, and from inputs, moved by one ulp);
4. a terminal summary, report.md, a self-contained report.html and results.json;
5. in native mode, each framework's drift from the nnfs formulas, explained by the atlas.

This file is the command line (options, their checks, the verdict); shared.comparison
does the work of sections 1-3 and 5 (and --sweep), shared.report writes 4.

Exit status: 0 every pair agrees, 1 some pair disagrees (the first divergence is named),
2 usage error, 3 the reports could not be written or the run crashed, 4 nothing was compared
because implementations were skipped (see EPILOG).
"""
from __future__ import annotations

import time

_START = time.perf_counter()

import argparse  # noqa: E402
import contextlib  # noqa: E402
import dataclasses  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import shlex  # noqa: E402
import sys  # noqa: E402
import traceback  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

# One BLAS thread (before NumPy loads; override from the environment): NumPy's results then
# do not depend on the machine's core count, and a busy 2-core machine is not oversubscribed.
for _variable in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")
# TF's Python warnings (tf.function retracing: the divergence steps call each traced function
# with new batch shapes) went to stderr even with --quiet and --json.
logging.getLogger("tensorflow").setLevel(logging.ERROR)

from shared import checks, comparison, datasets, implementations, networks, report  # noqa: E402
from shared import sweep, weights  # noqa: E402
from shared.spec import INITIALIZERS, MAX_EPOCHS, OPTIMIZERS, SpecError, Training  # noqa: E402

REFERENCE = implementations.REFERENCE
# Epochs compare.py trains by default: enough to see the curves, small enough that every
# installed implementation (pure Python is the slow one) finishes spiral within a minute.
COMPARE_EPOCHS = {"xor": 1000, "and": 20, "or": 20, "spiral": 200, "sine": 300, "mnist": 1}
CUSTOM_EPOCHS = 100          # at most this many for a user's TOML unless --epochs
PARITY_SAMPLES = 128         # parity at init on the first 128 samples of big datasets ...
PARITY_ALL_UP_TO = 1000      # ... and on all of them up to 1,000
FLOAT32_STEPS = 10           # float32 trajectories drift apart: compare ~10 steps
# impl_pure is left out by default where it would take longer than this (unless named in
# --impls), estimated from the network's size: PURE_SECONDS per multiply-add of a sample's
# forward pass per training row (measured: spiral ~0.16 us, sine's 64x64 ~0.38 us, with
# backward and evaluation), and PURE_STEP_SECONDS per parameter per optimizer step (the
# update; spiral and sine at batch size 1 took 51 and 201 s).
PURE_BUDGET_SECONDS = 60
PURE_SECONDS = 3e-7
PURE_STEP_SECONDS = 1.5e-6
LOG_WIDTH = 120              # columns for output that is not a terminal (a file, a CI log)
PARITY_STEPS = 100           # default --parity-steps
EXIT_ERROR = 3               # the reports could not be written, or the run crashed
EXIT_NOTHING_COMPARED = 4    # only the reference ran, the others skipped (not installed, slow)
EXIT_INTERRUPTED = 130       # Ctrl-C (128 + SIGINT, as a shell reports it)
MAX_TRAJECTORY_VALUES = 50_000_000  # float64s per parity trajectory (400 MB; MNIST: 212 steps)
# --sweep-* option -> (its destination, sweep.grid's axis, default)
SWEEP_OPTIONS = {"--sweep-optimizers": ("sweep_optimizers", "optimizers", sweep.DEFAULT_OPTIMIZERS),
                 "--sweep-lrs": ("sweep_lrs", "learning_rates", sweep.DEFAULT_LEARNING_RATES),
                 "--sweep-batch-sizes": ("sweep_batch_sizes", "batch_sizes",
                                         sweep.DEFAULT_BATCH_SIZES),
                 "--sweep-regs": ("sweep_regs", "regularizations", sweep.DEFAULT_REGULARIZATIONS)}
# options that --sweep replaces by its own configurations (or does not use)
NOT_WITH_SWEEP = {"--batch-size": "batch_size", "--optimizer": "optimizer",
                  "--lr": "learning_rate", "--decay": "decay", "--momentum": "momentum",
                  "--epsilon": "epsilon", "--rho": "rho", "--beta-1": "beta_1",
                  "--beta-2": "beta_2", "--nesterov": "nesterov", "--clip-value": "clip_value",
                  "--clip-norm": "clip_norm", "--l2": "l2", "--dropout": "dropout",
                  "--parity-steps": "parity_steps", "--parity-samples": "parity_samples"}

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
(the first divergence is named: network, parameter, step, values), 2 usage error, 3 the
reports could not be written (the verdict is still printed; the files are all written
before any is renamed into --out, results.json last) or the run stopped on an unexpected
error (its traceback is printed), 4 nothing was compared: only the reference ran because
the others were skipped (not installed, pure Python too slow, or pure in float32;
--impls numpy alone exits 0), 130 interrupted (Ctrl-C)."""


class UsageError(Exception):
    """A bad option or combination; compare.py exits 2 with this message."""


def _csv(kind):
    def parse(text):
        try:
            return [kind(item.strip()) for item in text.split(",") if item.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected a comma-separated list of {kind.__name__}, got {text!r}") from None
    return parse


def _data_settings(data) -> dict:
    """Where the data came from and its sample counts, for the report's Settings."""
    return {"source": data.source, "train": len(data.X_train),
            "val": 0 if data.X_val is None else len(data.X_val)}


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
    p.add_argument("--seed", type=int,
                   help="seed of the initial weights, data order and dropout masks (default: "
                        "the spec's training.seed)")
    p.add_argument("--epochs", type=int,
                   help="training epochs (default: a per-network value that keeps the run short; "
                        "printed in the output)")
    p.add_argument("--batch-size", type=int, help="0 = full batch (default: the spec's)")
    p.add_argument("--data-dir", help="MNIST IDX files or mnist.npz (default: offline digits)")
    o = p.add_argument_group("optimizer overrides (a new --optimizer starts from nnfs defaults)")
    o.add_argument("--optimizer", choices=OPTIMIZERS, help="the optimizer (default: the spec's)")
    o.add_argument("--lr", "--learning-rate", dest="learning_rate", type=float,
                   help="learning rate (nnfs defaults: sgd and adagrad 1, rmsprop and adam 0.001)")
    for flag, text in (("decay", "learning-rate decay: lr / (1 + decay * step) (default 0)"),
                       ("momentum", "sgd's momentum (default 0)"),
                       ("epsilon", "adagrad, rmsprop and adam's epsilon (default 1e-7)"),
                       ("rho", "rmsprop's cache decay (default 0.9)"),
                       ("beta-1", "adam's momentum decay (default 0.9)"),
                       ("beta-2", "adam's cache decay (default 0.999)"),
                       ("clip-value", "clip each gradient to [-v, v] (default 0: off)"),
                       ("clip-norm", "scale the gradients to a global L2 norm of at most c "
                                     "(default 0: off)")):
        o.add_argument(f"--{flag}", type=float, help=text)
    o.add_argument("--nesterov", action="store_true", default=None,
                   help="Nesterov momentum (sgd with --momentum > 0)")
    o.add_argument("--l2", type=float, help="L2 factor on every dense layer's weights and biases")
    o.add_argument("--dropout", type=float, help="dropout rate after every hidden layer")
    c = p.add_argument_group("comparison")
    c.add_argument("--parity-steps", type=int,
                   help=f"optimizer steps of the divergence check (default {PARITY_STEPS}; "
                        f"float32: {FLOAT32_STEPS})")
    c.add_argument("--parity-samples", type=int,
                   help=f"samples for parity at init (default all up to {PARITY_ALL_UP_TO}, "
                        f"else {PARITY_SAMPLES})")
    c.add_argument("--out", default="reports", help="output directory (default reports/)")
    c.add_argument("--json", action="store_true",
                   help="print results.json on stdout (and nothing else there)")
    c.add_argument("--quiet", action="store_true",
                   help="print only skip notices (stderr) and the verdict (stdout, or stderr "
                        "with --json)")
    s = p.add_argument_group(
        "sweep (optimizer x learning rate x batch size x regularization)",
        "Each configuration is what its label says: the network's layers without their own "
        "regularization, the optimizer from its nnfs defaults with the sweep's learning rate. "
        "So --batch-size, the optimizer overrides, --l2, --dropout, --parity-steps and "
        "--parity-samples are refused with --sweep, and --sweep-* without it. A network "
        "without a hidden layer (and, or) gets no dropout configurations: left out of the "
        "default --sweep-regs with a note, a usage error when asked for.")
    s.add_argument("--sweep", action="store_true",
                   help=f"run the sweep instead of sections 1-3 (default {sweep.DEFAULT_EPOCHS} "
                        "epochs per configuration)")
    s.add_argument("--sweep-optimizers", type=_csv(str),
                   help=f"subset of {','.join(OPTIMIZERS)} "
                        f"(default {','.join(sweep.DEFAULT_OPTIMIZERS)})")
    s.add_argument("--sweep-lrs", type=_csv(float),
                   help=f"default {','.join(map(str, sweep.DEFAULT_LEARNING_RATES))}")
    s.add_argument("--sweep-batch-sizes", type=_csv(int),
                   help=f"0 = full batch (default "
                        f"{','.join(map(str, sweep.DEFAULT_BATCH_SIZES))})")
    s.add_argument("--sweep-regs", type=_csv(str),
                   help=f"subset of {','.join(sweep.REGULARIZATIONS)} "
                        f"(default {','.join(sweep.DEFAULT_REGULARIZATIONS)})")
    return p


# The options that change the spec itself (its description then says so).
SPEC_OPTIONS = ("optimizer", "learning_rate", "decay", "momentum", "epsilon", "rho", "beta_1",
                "beta_2", "clip_value", "clip_norm", "nesterov", "l2", "dropout", "init", "seed")


def pure_seconds(spec, n: int, epochs: int, steps: int, batch_size: int) -> float:
    """impl_pure's rough time for a run: training epochs over n rows, and the divergence steps."""
    shapes = spec.parameter_shapes()
    multiply_adds = sum(shape[0] * shape[1] for shape in shapes.values() if len(shape) == 2)
    parameters = sum(math.prod(shape) for shape in shapes.values())
    rows_per_step = batch_size if 0 < batch_size < n else n
    updates = epochs * math.ceil(n / rows_per_step) + steps
    return (PURE_SECONDS * multiply_adds * (epochs * n + steps * rows_per_step)
            + PURE_STEP_SECONDS * parameters * updates)


def configure(args, console) -> comparison.Run:
    """Check every option against the spec and data; raise UsageError with a helpful message.
    The output directory is created last, so that a usage error leaves nothing behind."""
    try:
        spec = networks.load(args.network)
    except SpecError as error:
        raise UsageError(f"--network: {error}") from None
    if not args.out:
        raise UsageError("--out: expected a directory path, got an empty string")
    for name, value, low in (("--seed", args.seed, 0), ("--epochs", args.epochs, 1),
                             ("--batch-size", args.batch_size, 0),
                             ("--parity-steps", args.parity_steps, 1),
                             ("--parity-samples", args.parity_samples, 1)):
        if value is not None and value < low:
            raise UsageError(f"{name}: expected an integer >= {low}, got {value}")
    if args.epochs is not None and args.epochs > MAX_EPOCHS:
        raise UsageError(f"--epochs: expected at most {MAX_EPOCHS:,}, got {args.epochs}")
    check_sweep_options(args)

    optimizer = {"learning_rate": args.learning_rate, "decay": args.decay,
                 "momentum": args.momentum, "epsilon": args.epsilon, "rho": args.rho,
                 "beta_1": args.beta_1, "beta_2": args.beta_2, "clip_value": args.clip_value,
                 "clip_norm": args.clip_norm, "nesterov": args.nesterov}
    try:
        spec = sweep.with_optimizer(spec, args.optimizer, **optimizer)
        if args.l2 is not None:
            spec = sweep.with_l2(spec, args.l2)
        if args.init:
            spec = spec.replace(init=args.init)
        if args.seed is not None:
            spec = spec.replace(training={"seed": args.seed})
    except (SpecError, ValueError) as error:
        raise UsageError(f"{flag_of(error, args)}: {error}") from None
    if args.dropout is not None:
        try:
            spec = sweep.with_dropout(spec, args.dropout)
        except (SpecError, ValueError) as error:
            raise UsageError(f"--dropout: {error}") from None
    changed = [f"--{name.replace('_', '-')}" + ("" if value is True else f" {value}")
               for name, value in vars(args).items() if name in SPEC_OPTIONS and value is not None]
    if changed:  # the spec's own description no longer describes it
        spec = spec.replace(description=f"{(spec.description or spec.name).rstrip('.')}, changed by "
                                        f"{' '.join(changed)}")

    requested = args.impls
    if requested is not None:
        unknown = [name for name in requested if name not in implementations.IMPLEMENTATIONS]
        if unknown or not requested:
            got = f"unknown implementation(s) {unknown}" if unknown else "an empty list"
            raise UsageError(f"--impls: {got}; expected a comma-separated subset of "
                             f"{implementations.IMPLEMENTATIONS}")
    impls = list(dict.fromkeys(requested or implementations.IMPLEMENTATIONS))
    for impl in set(impls) & set(implementations.THREADS_ENV):
        try:
            implementations.thread_count(impl)
        except ValueError as error:
            raise UsageError(f"environment variable {error}") from None
    if args.dtype == "float32" and impls == ["pure"]:
        raise UsageError("--dtype float32: impl_pure computes with Python floats (float64 only), "
                         "so there is nothing to compare; add another implementation "
                         "(--impls pure,numpy,torch) or use --dtype float64")

    try:
        checks.check_settings(spec, args.dtype)
    except SpecError as error:  # a value beyond float32's range: the flag that gave it, if one did
        flag = flag_of(error, args)
        given = f"{flag} with " if flag.startswith("--") else ""
        raise UsageError(f"{given}--dtype {args.dtype}: {error}") from None

    if args.data_dir is not None and spec.dataset.name != "mnist":
        raise UsageError(f"--data-dir: only the mnist dataset is read from files; network "
                         f"{spec.name!r} trains on {spec.dataset.name!r}")
    try:
        overrides = {"data_dir": args.data_dir} if args.data_dir is not None else {}
        data = datasets.for_spec(spec, **overrides)
    except (datasets.DataError, OSError, ValueError) as error:
        raise UsageError(f"the dataset of network {spec.name!r} ({spec.dataset.name!r}, from the "
                         f"spec's dataset table or --data-dir): {error}") from None
    try:  # a spec that does not fit its data fails here, not in the middle of the run
        for X, y in ((data.X_train, data.y_train), (data.X_val, data.y_val)):
            if X is not None:
                checks.check_targets(spec, y, len(checks.check_inputs(spec, X)))
    except checks.InputError as error:
        raise UsageError(f"--network: {spec.name!r} does not fit its dataset "
                         f"{spec.dataset.name!r}: {error}") from None
    n = len(data.X_train)
    batch_size = spec.training.batch_size if args.batch_size is None else args.batch_size
    if batch_size > n:
        where = ("--batch-size" if args.batch_size is not None else
                 "the spec's training.batch_size (pass --batch-size to change it)")
        raise UsageError(f"{where}: expected at most the {n} training samples of "
                         f"{spec.name!r} (or 0 for full batch), got {batch_size}")
    if args.parity_samples is not None and args.parity_samples > n:
        raise UsageError(f"--parity-samples: expected at most {n}, got {args.parity_samples}")
    notes = []
    configs = sweep_configs(args, spec, n, notes) if args.sweep else []

    builtin = networks.builtin_name(args.network)
    default_epochs = (sweep.DEFAULT_EPOCHS if args.sweep
                      else COMPARE_EPOCHS.get(builtin, min(spec.training.epochs,
                                                           CUSTOM_EPOCHS)))
    epochs = args.epochs or min(default_epochs, spec.training.epochs)
    whose = ("--sweep's default" if args.sweep else f"compare.py's default for {builtin!r}"
             if builtin in COMPARE_EPOCHS else
             f"at most {CUSTOM_EPOCHS} for a network of your own")
    count = f"training {epochs} epoch{'s' * (epochs != 1)}"
    full = spec.training.epochs
    note = ("" if args.epochs else
            f"{count}, {whose} (the spec's training.epochs is {full}; pass --epochs {full} for "
            f"the full run)" if epochs < full else
            f"{count}, the spec's training.epochs"
            + (" (the default)" if full == Training.epochs else ""))
    requested_steps = args.parity_steps or PARITY_STEPS
    steps = requested_steps
    if args.dtype == "float32" and steps > FLOAT32_STEPS and not args.sweep:
        steps = FLOAT32_STEPS
    # Each trajectory keeps every parameter after every step, in memory.
    parameters = sum(math.prod(shape) for shape in spec.parameter_shapes().values())
    most_steps = max(1, MAX_TRAJECTORY_VALUES // parameters)
    if steps > most_steps and not args.sweep:
        if args.parity_steps is not None:
            raise UsageError(f"--parity-steps: expected at most {most_steps:,} for network "
                             f"{spec.name!r}, got {args.parity_steps:,} (each trajectory keeps "
                             f"its {parameters:,} parameters after every step, in memory)")
        notes.append(f"divergence over {most_steps} steps, not {steps}: each trajectory keeps "
                     f"the network's {parameters:,} parameters after every step, in memory")
        steps = requested_steps = most_steps
    run = comparison.Run(args=args, spec=spec, data=data, impls=impls,
                         params=weights.initial(spec, spec.training.seed, spec.init), epochs=epochs,
                         epochs_note=note, batch_size=batch_size, parity_steps=steps,
                         parity_samples=args.parity_samples or (n if n <= PARITY_ALL_UP_TO
                                                                else PARITY_SAMPLES),
                         console=console, notes=notes, sweep_configs=configs)
    if steps != requested_steps:
        run.notes.append(f"float32: divergence over {steps} steps, not {requested_steps} "
                         f"(float32 trajectories drift apart; long-run parity is float64's)")
    for impl in list(run.impls):
        if not implementations.is_available(impl):
            run.skip(impl, f"its package {implementations.REQUIRES[impl]!r} is not installed")
        elif impl == "pure" and args.dtype == "float32":
            run.skip(impl, "impl_pure computes with Python floats, float64 only")
        elif impl == "pure" and requested is None:
            seconds = (pure_seconds(spec, n, epochs, 0, batch_size) * len(configs) if args.sweep
                       else pure_seconds(spec, n, epochs, steps, batch_size))
            if seconds > PURE_BUDGET_SECONDS:
                run.skip(impl, f"pure Python would take about {seconds:.0f} s here (estimated "
                               f"from the network's size); name it in --impls to include it")
    if REFERENCE not in run.impls:
        run.notes.append(f"{REFERENCE} is not in --impls but runs as the reference (for parity "
                         f"and divergence; it does not train)")
    elif run.impls == [REFERENCE] and args.mode == "exact":
        run.notes.append(f"only the reference {REFERENCE} runs: there is no pair to compare")

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out: {out} is a file, not a directory; the reports go into a "
                         f"directory (made if missing)")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"--out: cannot create the output directory {out}: {error}") from None
    if not os.access(out, os.W_OK):
        raise UsageError(f"--out: the output directory {out} is not writable")
    compared = any(impl != REFERENCE for impl in run.impls)  # the reference runs beside them
    names = report.report_files(bool(args.sweep), spec.inputs, compared=compared)
    foreign = foreign_files(out, names, earlier_files(out))
    if foreign:
        raise UsageError(refuse_foreign(out, foreign))
    return run


def flag_of(error, args) -> str:
    """The option behind a spec error about one field (``optimizer.momentum: ...`` -> --momentum),
    if the user gave it; else the group of options."""
    match = re.match(r"(?:optimizer\.|training\.|layers\[\d+\]\.)?(\w+):", str(error))
    field = match.group(1) if match else None
    flags = {dest: (flag, dest) for flag, dest in NOT_WITH_SWEEP.items()}
    flags.update(optimizer=("--optimizer", "optimizer"), weight_l2=("--l2", "l2"),
                 bias_l2=("--l2", "l2"), seed=("--seed", "seed"), init=("--init", "init"))
    flag, dest = flags.get(field, (None, None))
    return flag if flag and getattr(args, dest, None) is not None else \
        "optimizer/regularization options"


def check_sweep_options(args) -> None:
    """--sweep-* only with --sweep, and none of the options it replaces; check the values given."""
    given = [flag for flag, (dest, _, _) in SWEEP_OPTIONS.items()
             if getattr(args, dest) is not None]
    if given and not args.sweep:
        raise UsageError(f"{given[0]}: only used with --sweep; add --sweep or drop {given[0]}")
    replaced = [flag for flag, dest in NOT_WITH_SWEEP.items() if getattr(args, dest) is not None]
    if replaced and args.sweep:
        raise UsageError(f"{', '.join(replaced)}: not used with --sweep, whose configurations "
                         f"set the optimizer (from its nnfs defaults), learning rate, batch size "
                         f"and regularization; use --sweep-optimizers, --sweep-lrs, "
                         f"--sweep-batch-sizes and --sweep-regs, or run without --sweep")
    for flag, (dest, axis, _) in SWEEP_OPTIONS.items():
        if getattr(args, dest) is not None:
            try:
                sweep.check(axis, getattr(args, dest))
            except ValueError as error:
                raise UsageError(f"{flag}: {error}") from None


def sweep_configs(args, spec, n: int, notes: list) -> list:
    """The sweep's configurations, each checked against ``spec``: a batch size of n is full batch,
    and one above n is refused when the user gave it (the default 32 on xor: full batch)."""
    axes = {dest: list(default if getattr(args, dest) is None else getattr(args, dest))
            for dest, _, default in SWEEP_OPTIONS.values()}
    regs = axes["sweep_regs"]
    if "dropout" in regs and not sweep.has_hidden_layer(spec):
        reason = f"network {spec.name!r} has no hidden layer to put dropout after"
        if args.sweep_regs is not None:
            raise UsageError(f"--sweep-regs: dropout: {reason}; expected a subset of "
                             f"{','.join(r for r in sweep.REGULARIZATIONS if r != 'dropout')}")
        regs.remove("dropout")
        notes.append(f"sweep: no dropout configurations, {reason}")
    too_big = [size for size in axes["sweep_batch_sizes"] if size > n]
    if too_big and args.sweep_batch_sizes is not None:  # as --batch-size refuses them
        raise UsageError(f"--sweep-batch-sizes: expected sizes of at most the {n} training "
                         f"samples of {spec.name!r} (or 0 for full batch), got {too_big}")
    if too_big:
        notes.append(f"sweep: batch size {', '.join(map(str, too_big))} is full batch here "
                     f"({spec.name!r} has {n} training samples)")
    sizes = [0 if size >= n else size for size in axes["sweep_batch_sizes"]]
    configs = list(dict.fromkeys(sweep.grid(axes["sweep_optimizers"], axes["sweep_lrs"], sizes,
                                            regs)))
    for config in configs:
        try:
            checks.check_settings(config.apply(spec), args.dtype)
        except (SpecError, ValueError) as error:
            raise UsageError(f"--sweep: configuration {config.label!r}: {error}") from None
    return configs


def console_for(args):
    from rich.console import Console

    # With --json, stdout carries the JSON only; everything for people goes to stderr.
    stream = sys.stderr if args.json else sys.stdout
    # Piped or in a CI log, rich would wrap the tables at 80 columns and split the numbers.
    width = None if stream.isatty() or "COLUMNS" in os.environ else LOG_WIDTH
    return Console(stderr=args.json, highlight=False, width=width)


def earlier_files(out: Path) -> set[str]:
    """The report files that an earlier compare.py run wrote into ``out`` and that nobody changed
    since: its results.json, where that file's own digest shows it unedited, and the files it
    lists whose SHA-256 still matches. Any other file there is someone's, never replaced."""
    try:
        data = (out / "results.json").read_bytes()  # bytes: a text read would take CRLF as LF
        earlier = json.loads(data)
        digests = earlier["file_digests"]
        if not (isinstance(digests, dict) and all(isinstance(v, str) for v in digests.values())):
            return set()
        # its bytes as compare.py writes them, and its own digest (schema 4 had none) still right
        own = report.record_digest(earlier)
        written = (report.json_text(earlier) + "\n").encode("utf-8")
        if data != written or digests.get("results.json", own) != own:
            return set()
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError):
        return set()  # RecursionError: nested too deep for json or for report.clean
    unchanged = {"results.json"}
    for name in (set(digests) & report.report_files()) - unchanged:
        try:
            if report.digest((out / name).read_bytes()) == digests[name]:
                unchanged.add(name)
        except OSError:
            continue
    return unchanged


def foreign_files(out: Path, names, earlier: set[str]) -> list[str]:
    """Those of ``names`` that exist in ``out`` but are not an earlier run's (``earlier``)."""
    return sorted(name for name in set(names) - earlier if (out / name).exists())


def refuse_foreign(out: Path, foreign: list[str]) -> str:
    return (f"--out: {out}/ holds {', '.join(foreign)}, which no earlier compare.py run wrote "
            f"there (or which changed since); compare.py does not replace them: move them or "
            f"choose another --out")


def remove_stale_plots(out: Path, earlier: set[str], files: dict) -> list[str]:
    """Delete the files an earlier run wrote into ``out`` (``earlier``) that this run did not
    write: they would sit beside this report as if they were its own. Returns their names; a
    file of the same name that no run of compare.py listed is never touched."""
    removed = []
    for name in sorted(earlier - set(files)):
        try:
            (out / name).unlink()
        except FileNotFoundError:
            continue
        except OSError as error:  # the new report is whole; only the stale file stays
            print(f"compare.py: warning: could not remove {out / name}, left by an earlier "
                  f"run: {error}", file=sys.stderr)
            continue
        removed.append(name)
    return removed


@contextlib.contextmanager
def numeric_warnings(shown: bool):
    """NumPy's overflow and invalid-value warnings (a diverging run's), hidden unless ``shown``:
    under --quiet the verdict, and the report's Settings, say that training diverged."""
    with warnings.catch_warnings():
        if not shown:
            warnings.simplefilter("ignore", RuntimeWarning)
        yield


def verdict(run) -> dict:
    """results.json's verdict: ok (the exit status is 0), whether any pair was compared, the exit
    status, the summary line and the failures.

    Nothing compared (only the reference ran) is exit 0 when the user asked for the reference
    alone, and EXIT_NOTHING_COMPARED when the others were skipped (not installed, pure Python
    too slow, or float32): a CI job that lost its frameworks must not pass."""
    compared = any(impl != REFERENCE for impl in run.impls)
    if run.failures:
        code, summary = 1, f"DISAGREEMENT: {run.failures[0]}"
    elif compared:
        code, summary = 0, "All pairs agree within the harness tolerances."
        if run.diverged_everywhere:
            summary += " Training diverged in every implementation alike (see Settings)."
    else:
        skipped = ", ".join(s["name"] for s in run.skipped)
        code = EXIT_NOTHING_COMPARED if skipped else 0
        summary = (f"Nothing compared: only the reference {REFERENCE} ran"
                   + (f" ({skipped} skipped: see Settings)." if skipped else "."))
    return {"ok": code == 0, "compared": compared, "exit_code": code, "summary": summary,
            "first_divergence": run.failures[0] if run.failures else None,
            "failures": run.failures}


def main(argv=None) -> int:
    """compare.py's exit status (see EPILOG); an unexpected error prints its traceback and exits 3,
    so that exit 1 always means a disagreement."""
    try:
        return run_compare(argv)
    except KeyboardInterrupt:  # Ctrl-C: the reports are written all at once, at the end
        print(f"\ncompare.py: interrupted, with no verdict (exit status {EXIT_INTERRUPTED}); "
              f"the reports are written only at the end of a run", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as error:  # a bug, or a resource the checks could not foresee
        traceback.print_exc()
        print(f"compare.py: error: the run stopped on an unexpected {type(error).__name__}: "
              f"{error} (traceback above), with no verdict (exit status {EXIT_ERROR})",
              file=sys.stderr)
        return EXIT_ERROR


def run_compare(argv=None) -> int:
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
    early_notes = ([run.epochs_note] if run.epochs_note else []) + run.notes
    for line in early_notes if loud else []:  # before the run; the report's Settings hold them
        console.print(line, markup=False)
    results = {"schema_version": report.SCHEMA_VERSION,
               "command": shlex.join(["compare.py"] + list(sys.argv[1:] if argv is None
                                                           else argv)),
               "environment": report.environment(),
               "network": run.spec.name, "spec": run.spec.to_dict(),
               "settings": {"dtype": args.dtype, "mode": args.mode, "init": run.spec.init,
                            "seed": run.spec.training.seed, "epochs": run.epochs,
                            "epochs_note": run.epochs_note,
                            "batch_size": None if args.sweep else run.batch_size,
                            "parity_steps": None if args.sweep else run.parity_steps,
                            "parity_samples": None if args.sweep else run.parity_samples,
                            "reference": REFERENCE,
                            "sweep": args.sweep, "data": _data_settings(run.data)},
               "implementations": [], "skipped": run.skipped, "parity": None, "training": None,
               "divergence": None, "native": None, "sweep": None}
    models = {}
    from rich.progress import Progress

    with numeric_warnings(shown=loud):
        if args.sweep:
            with Progress(console=console, disable=not loud) as progress:
                results["sweep"] = comparison.run_sweep(run, progress)
        else:
            results["parity"] = comparison.check_parity(run)
            divergence, drift = comparison.check_divergence(run)
            results["divergence"] = divergence
            with Progress(console=console, disable=not loud) as progress:
                results["training"], models = comparison.train_all(run, progress)
            if args.mode == "native":
                results["native"] = comparison.explain_native(run, drift)
    results["implementations"] = list(run.impls)
    results["verdict"] = verdict(run)
    images = report.make_plots(run, results, models)
    parts, files = report.render_outputs(run, results, images, _START)
    earlier = earlier_files(Path(args.out))
    foreign = foreign_files(Path(args.out), files, earlier)  # appeared during the run
    try:  # all the files or none: a failed write leaves the folder as it was
        if foreign:
            raise OSError(refuse_foreign(Path(args.out), foreign))
        weights.atomic_write_files(args.out, files)
        write_error = None
    except OSError as error:
        write_error = (f"compare.py: error: could not write the reports to {args.out}/ "
                       f"({error}); nothing there was changed")
    removed = [] if write_error else remove_stale_plots(Path(args.out), earlier, files)
    if loud:  # plot links only to files that were written; the notes printed above once
        settings = dataclasses.replace(parts[0], paragraphs=[
            line for line in parts[0].paragraphs if line not in early_notes])
        report.print_console([settings, *parts[1:]], console, {} if write_error else {
            p["name"]: Path(args.out) / p["file"] for p in results["plots"]})
        if not write_error:
            console.print(f"wrote {', '.join(results['files'])} to {args.out}/ "
                          f"in {results['seconds']:.1f} s", markup=False)
        if removed:
            console.print(f"removed {', '.join(removed)}: an earlier run's plots, which this "
                          f"run does not draw", markup=False)
    else:  # on stdout, unless that carries the JSON
        print(results["verdict"]["summary"], file=sys.stderr if args.json else sys.stdout)
    if args.json:
        sys.stdout.write(files["results.json"].decode("utf-8"))
        sys.stdout.flush()
    if write_error:
        print(write_error, file=sys.stderr)
        return EXIT_ERROR
    return results["verdict"]["exit_code"]


if __name__ == "__main__":
    sys.exit(main())
