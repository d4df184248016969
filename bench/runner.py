"""Interleaved measurement: every implementation trains the same chunk in turn, in rotating order (reversed every other cycle).

The machine's speed drifts by 2x over tens of seconds, so only times taken side by side
are compared: in each round every implementation runs one chunk (a fixed number of
mini-batches, or of full-batch epochs) and its time is divided by torch's time in the
same round. Reported: the median over rounds, with min-max.
"""
from __future__ import annotations

import datetime
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench import THREAD_VARIABLES, report
from impl_numpy import optimizers as numpy_optimizers
from shared import datasets, implementations, networks, weights
from shared import machine as shared_machine
from shared import report as shared_report
from shared.training import batch_indices, epoch_masks

REFERENCE = "torch"
ROOT = Path(__file__).resolve().parent.parent
SUBPROCESS_TIMEOUT = 900  # seconds for one child, compare.py or PyPy run


@dataclass(frozen=True)
class Workload:
    """One timed training job: ``units`` mini-batches (or full-batch epochs) per chunk.

    A chunk is timed as fit runs it: its mini-batches in one train_epoch call, over the
    chunk's own rows (fit converts X once per call, an MNIST epoch: a chunk converts its share);
    full-batch epochs in one train_epoch call each (fit with eval_every=1), or ``fused`` in
    one call for the whole chunk (fit with eval_every >= units: impl_tf runs one graph).
    """

    name: str
    network: str
    dtype: str
    batch_size: int  # 0 = full batch: one chunk unit is one epoch
    units: int
    pure_units: int = 0  # impl_pure's (smaller) chunk; 0 = impl_pure skips this workload
    fused: bool = False


def workloads(quick: bool, pure_mnist: bool) -> list[Workload]:
    mnist_64, mnist_256, spiral = (3, 2, 20) if quick else (24, 8, 250)
    pure = 1 if pure_mnist else 0
    return [
        Workload("mnist f32 b64", "mnist", "float32", 64, mnist_64),
        Workload("mnist f32 b256", "mnist", "float32", 256, mnist_256),
        Workload("mnist f64 b64", "mnist", "float64", 64, mnist_64, pure),
        Workload("mnist f64 b256", "mnist", "float64", 256, mnist_256, pure),
        Workload("spiral f32", "spiral", "float32", 0, spiral),
        Workload("spiral f32 fused", "spiral", "float32", 0, spiral, fused=True),
        Workload("spiral f64", "spiral", "float64", 0, spiral, 3 if quick else 25),
    ]


# Work-unit FLOPs of a dense net: forward 2*in*out per layer, backward twice that, except
# that the first layer needs no dL/dX (impl_numpy skips it).
def train_flops_per_sample(spec) -> int:
    flops, n_in = 0, spec.inputs
    for index, layer in enumerate(spec.dense_layers):
        flops += 2 * n_in * layer.units * (2 if index == 0 else 3)
        n_in = layer.units
    return flops


def mnist_data(quick: bool):
    """Fashion-MNIST's 60,000 training images when Debian's package is installed, else random data."""
    if not quick and datasets.fashion_mnist_available():
        data = datasets.fashion_mnist()
        return data.X_train, data.y_train.astype(np.int64), "Fashion-MNIST train set (60,000)"
    n = 2048 if quick else 60000
    rng = np.random.default_rng(0)
    return (rng.random((n, 784)), rng.integers(0, 10, n),
            f"random data ({n:,} x 784; Fashion-MNIST not installed)" if not quick
            else f"random data ({n:,} x 784, --quick)")


def gemm_rates(quick: bool) -> dict:
    """NumPy matmul GFLOP/s (best of several runs): a square 512^3 and the MNIST net's first layer."""
    shapes = {"512x512x512": (512, 512, 512), "mnist layer 1 (256x784x256)": (256, 784, 256)}
    rates = {}
    for dtype in ("float32", "float64"):
        for label, (m, k, n) in shapes.items():
            rng = np.random.default_rng(0)
            a, b = rng.random((m, k)).astype(dtype), rng.random((k, n)).astype(dtype)
            out = np.empty((m, n), dtype)
            np.matmul(a, b, out=out)
            best, reps = np.inf, 3 if quick else 7
            for _ in range(reps):
                count = 2 if quick else 10
                start = time.perf_counter()
                for _ in range(count):
                    np.matmul(a, b, out=out)
                best = min(best, (time.perf_counter() - start) / count)
            rates[f"{dtype} {label}"] = 2 * m * k * n / best / 1e9
    return rates


def interpreter_rates(quick: bool) -> dict:
    """How fast this machine runs Python-bound work now (best of several runs).

    The GEMM rate says little about impl_pure and the spiral net, which are bound by the
    interpreter and by NumPy's per-call overhead; these two rates, taken at the start and the
    end of a run, tell a slow phase from a slow change: a float comprehension (ns per element,
    impl_pure's kind of loop) and a NumPy ufunc on a 300x3 array (us per call, spiral's kind).
    """
    rng = np.random.default_rng(0)
    a, b, c = (rng.random(10_000).tolist() for _ in range(3))
    small, out = rng.random((300, 3)), np.empty((300, 3))
    reps, count = (3, 5) if quick else (7, 50)

    def best(function, units):
        times = []
        for _ in range(reps):
            start = time.perf_counter()
            for _ in range(count):
                function()
            times.append((time.perf_counter() - start) / count / units)
        return min(times)

    return {"python_ns_per_element": 1e9 * best(
                lambda: [x * y + z for x, y, z in zip(a, b, c)], len(a)),
            "numpy_us_per_call": 1e6 * best(lambda: [np.add(small, small, out=out)
                                                     for _ in range(100)], 100)}


def shared_epoch_seconds(n: int) -> float:
    """What fit spends per MNIST b64 epoch of ``n`` rows outside the implementation: the
    shuffle and the masks (the same epoch as the table's s/epoch)."""
    spec = networks.load("mnist")
    start = time.perf_counter()
    batches = batch_indices(n, 64, 0, 0)
    epoch_masks(spec, 0, 0, [len(b) for b in batches])
    return time.perf_counter() - start


def build_models(impls, spec, dtype, units, workload):
    """(models, skipped): each implementation's model from the same initial parameters."""
    params = weights.initial(spec, seed=0)
    models, skipped = {}, {}
    for name in impls:
        if name == "pure" and not workload.pure_units:
            skipped[name] = ("float64 only" if workload.dtype != "float64" else
                             "pure Python takes seconds per MNIST batch (--pure-mnist to include)")
            continue
        try:
            models[name] = implementations.build(name, spec, params, dtype)
        except Exception as error:  # an implementation under construction must not stop the run
            skipped[name] = f"{type(error).__name__}: {error}"
    return models, skipped


def chunks(spec, X, workload, units):
    """Endless (batches, masks) chunks of ``units`` batches, walking the seeded epochs in order.

    Only full-size batches: an epoch's short last one would count as a whole unit (and be a
    new shape for impl_tf's graph, traced inside a timed chunk).
    """
    epoch = 0
    pending_batches, pending_masks = [], []
    while True:
        while len(pending_batches) < units:
            batches = batch_indices(len(X), workload.batch_size, 0, epoch)
            masks = epoch_masks(spec, 0, epoch, [len(b) for b in batches])
            full = [i for i, b in enumerate(batches) if len(b) == len(batches[0])]
            pending_batches += [batches[i] for i in full]
            pending_masks += [masks[i] for i in full]
            epoch += 1
        yield pending_batches[:units], pending_masks[:units]
        pending_batches, pending_masks = pending_batches[units:], pending_masks[units:]


def chunk_calls(X, y, batches, masks, workload):
    """The train_epoch calls that run one chunk, as (X, y, batches, masks) argument tuples.

    Mini-batches: one call over the chunk's rows only, the batches renumbered into them.
    Full batch: one call per epoch over the whole data, or one for all (``fused``).
    """
    if workload.batch_size == 0:
        if workload.fused:
            return [(X, y, batches, masks)]
        return [(X, y, [b], [m]) for b, m in zip(batches, masks)]
    rows = np.concatenate(batches)
    ends = np.cumsum([len(b) for b in batches])
    local = [np.arange(end - len(b), end) for b, end in zip(batches, ends)]
    return [(X.take(rows, axis=0), y.take(rows, axis=0), local, masks)]


def timed_rounds(rounds: int, implementations: int) -> int:
    """``rounds`` rounded up to whole cycles of round_order (2 x the implementations), so that
    each implementation is timed in every position, after each neighbour, equally often."""
    cycle = 2 * max(implementations, 1)
    return -(-rounds // cycle) * cycle


def round_order(names, round_: int) -> list:
    """The order of round ``round_``: the rotations of ``names``, then the same reversed, and so on.

    Plain rotations always run an implementation right after the same one (numpy after tf,
    in every round), so whatever one leaves in the caches always falls on the same next one;
    reversed, each follows its other neighbour. Over 2n rounds each implementation runs in
    every position twice, after each neighbour in turn. The reversed rotations step the other
    way, so that from three implementations on no round starts with the one that ended the
    round before (stepping the same way, n - 1 of a cycle's rounds did: numpy twice in a row).
    """
    if not names:
        return []
    n, reversed_ = len(names), (round_ // len(names)) % 2
    k = -round_ % n if reversed_ else round_ % n
    order = list(names[k:]) + list(names[:k])
    return order[::-1] if reversed_ else order


def run_workload(workload: Workload, impls, rounds: int, data, log) -> dict:
    spec = networks.load(workload.network)
    X, y = data[workload.network]
    X = X.astype(workload.dtype)  # every implementation gets the data in its own dtype
    models, skipped = build_models(impls, spec, workload.dtype, workload.units, workload)
    units = {name: workload.pure_units if name == "pure" else workload.units for name in models}
    streams = {name: chunks(spec, X, workload, units[name]) for name in models}
    times = {name: [] for name in models}
    failed = {}
    names = list(models)
    rounds = timed_rounds(rounds, len(names))
    for round_ in range(rounds + 1):  # round 0 warms up (buffers, allocator, first-call costs)
        # the timed rounds 1..rounds go through whole cycles of the rotation, balanced
        for name in round_order(names, max(round_ - 1, 0)):
            if name in failed:
                continue
            calls = chunk_calls(X, y, *next(streams[name]), workload)
            train_epoch = models[name].train_epoch
            try:
                start = time.perf_counter()
                for arguments in calls:
                    train_epoch(*arguments)
                elapsed = time.perf_counter() - start
            except Exception as error:
                failed[name] = f"{type(error).__name__}: {error}"
                continue
            if round_:
                times[name].append(elapsed / units[name])
        log(".")
    log(f" {workload.name}\n")
    skipped.update(failed)
    samples = workload.batch_size or len(X)
    flops = train_flops_per_sample(spec)
    result = {"network": workload.network, "dtype": workload.dtype,
              "batch_size": workload.batch_size or len(X),
              "unit": "epoch" if workload.batch_size == 0 else "batch",
              "units_per_chunk": units, "rounds": rounds, "skipped": skipped, "impls": {}}
    reference = times.get(REFERENCE) if REFERENCE not in failed else None
    for name, values in times.items():
        if name in failed or not values:
            continue
        seconds = np.array(values)
        entry = {"seconds_per_unit": _summary(seconds),
                 "per_second": float(1 / np.median(seconds))}
        if workload.batch_size:
            entry["samples_per_second"] = float(samples / np.median(seconds))
            entry["seconds_per_epoch_estimate"] = float(len(X) / entry["samples_per_second"])
            entry["gflops"] = float(flops * entry["samples_per_second"] / 1e9)
        else:
            entry["epochs_per_second"] = entry["per_second"]
        if reference:
            entry["ratio_vs_torch"] = _summary(seconds / np.array(reference))
        entry["raw_seconds_per_unit"] = [float(v) for v in values]
        result["impls"][name] = entry
    return result


def _summary(values) -> dict:
    return {"median": float(np.median(values)), "min": float(np.min(values)),
            "max": float(np.max(values))}


def _failure(process) -> str:
    """A failed subprocess in one line: its last line of output, or its exit status."""
    lines = (process.stderr or process.stdout).strip().splitlines()
    return lines[-1] if lines else f"exit status {process.returncode}"


def subprocess_runs(impls, mode: str, repeats: int, log) -> dict:
    """``python -m bench.child MODE IMPL`` per implementation, interleaved; wall time includes start-up."""
    runs = {name: [] for name in impls}
    errors = {}
    for repeat in range(repeats):
        for name in round_order(impls, repeat):
            if name in errors:
                continue
            start, launched = time.perf_counter(), time.time()
            try:
                process = subprocess.run([sys.executable, "-m", "bench.child", mode, name],
                                         capture_output=True, text=True, cwd=ROOT,
                                         env=os.environ, timeout=SUBPROCESS_TIMEOUT)
            except subprocess.TimeoutExpired:
                errors[name] = f"no result within {SUBPROCESS_TIMEOUT} s"
                continue
            wall = time.perf_counter() - start
            if process.returncode:
                errors[name] = _failure(process)
                continue
            try:
                run = json.loads(process.stdout.strip().splitlines()[-1])
            except (IndexError, ValueError):
                errors[name] = f"no JSON line in its output: {process.stdout[-200:]!r}"
                continue
            run["wall_s"] = wall
            if "imported_at" in run:  # from the launch to the implementation imported
                run["startup_s"] = run.pop("imported_at") - launched
            runs[name].append(run)
        log(".")
    log(f" {mode}\n")
    result = {"skipped": errors, "impls": {}}
    for name, values in runs.items():
        if not values:
            continue
        keys = [key for key, value in values[0].items() if isinstance(value, float)]
        result["impls"][name] = {key: _summary([run[key] for run in values]) for key in keys}
        result["impls"][name].update({key: value for key, value in values[0].items()
                                      if not isinstance(value, float)})
    return result


def compare_run(quick: bool, log, env=None) -> dict:
    """``python compare.py`` with no arguments (--quick: a tiny NumPy-only run), timed from outside.

    It runs in an empty temporary folder, so that its reports/ does not replace the user's,
    in ``env``: the environment the user started the benchmark in, without the thread counts
    the benchmark set for itself.
    """
    args = ["--impls", "numpy", "--epochs", "2", "--parity-steps", "2"] if quick else []
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        try:
            process = subprocess.run([sys.executable, str(ROOT / "compare.py"), *args],
                                     capture_output=True, text=True, cwd=folder,
                                     env=os.environ if env is None else env,
                                     timeout=SUBPROCESS_TIMEOUT)
        except subprocess.TimeoutExpired:
            log(" compare.py: timed out\n")
            return {"args": args, "wall_s": float(SUBPROCESS_TIMEOUT), "exit_code": None,
                    "implementations": [], "skipped": [],
                    "error": f"no result within {SUBPROCESS_TIMEOUT} s"}
        wall = time.perf_counter() - start
        try:
            written = json.loads(Path(folder, "reports", "results.json").read_text())
        except (OSError, ValueError):
            written = {}
    log(f". compare.py{' ' + ' '.join(args) if args else ''}\n")
    result = {"args": args, "wall_s": wall, "exit_code": process.returncode,
              "implementations": written.get("implementations", []),
              "skipped": [s.get("name") for s in written.get("skipped", [])]}
    # Exit 1 is a disagreement, still a timed run, when compare.py wrote its verdict; 2 is a
    # usage error, 3 a crash or unwritable reports, 4 nothing compared.
    if process.returncode not in (0, 1) or written.get("verdict") is None:
        result["error"] = _failure(process)
    return result


def pypy_runs(epochs: int, repeats: int, log) -> dict:
    """bench/pure_on_pypy.py under PyPy and this CPython, interleaved: epochs/s and the final loss."""
    pypy = shutil.which("pypy3")
    if pypy is None:
        return {"skipped": "pypy3 is not installed"}
    script = [str(ROOT / "bench" / "pure_on_pypy.py"), str(epochs)]
    interpreters = (("pypy", pypy), ("cpython", sys.executable))
    runs = {"pypy": [], "cpython": []}
    losses = {}
    errors = []
    for repeat in range(repeats):  # a repeat counts when both interpreters ran: rates paired
        rates = {}
        for name, exe in interpreters if repeat % 2 == 0 else interpreters[::-1]:
            rate_and_loss = _pypy_script_run(exe, script)
            if isinstance(rate_and_loss, str):
                errors.append(f"{name}, repeat {repeat + 1}: {rate_and_loss}")
                continue
            rates[name], losses[name] = rate_and_loss
        if len(rates) == 2:
            for name, rate in rates.items():
                runs[name].append(rate)
        log(".")
    log(" impl_pure on PyPy\n")
    if not runs["pypy"]:
        return {"skipped": "; ".join(errors) or "no run"}
    ratios = [p / c for p, c in zip(runs["pypy"], runs["cpython"])]
    version = subprocess.run([pypy, "--version"], capture_output=True, text=True)
    found = re.search(r"PyPy [\d.]+", version.stdout + version.stderr)
    return {"epochs": epochs, "version": found.group(0) if found else "PyPy",
            "epochs_per_second": {name: _summary(values) for name, values in runs.items()},
            "speedup": _summary(ratios), "final_loss": losses,
            "bit_identical": losses["pypy"] == losses["cpython"], "errors": errors}


def _pypy_script_run(exe: str, script: list):
    """(epochs/s, final loss) of one run of bench/pure_on_pypy.py, or why there is none."""
    try:
        process = subprocess.run([exe, *script], capture_output=True, text=True, cwd=ROOT,
                                 timeout=SUBPROCESS_TIMEOUT)
    except subprocess.TimeoutExpired:
        return f"no result within {SUBPROCESS_TIMEOUT} s"
    if process.returncode:
        return _failure(process)
    line = process.stdout.strip()  # "pypy 3.9.18: 140.27 epochs/s after ...; final loss X"
    try:
        return float(line.split(": ", 1)[1].split()[0]), line.split("final loss ")[1]
    except (IndexError, ValueError):
        return f"unexpected output {line[-200:]!r}"


def machine() -> dict:
    return {"cpu": shared_report.cpu_model() or "unknown CPU", "cores": os.cpu_count(),
            "l2_cache": shared_machine.l2_cache(),
            "python": platform.python_version(), "platform": platform.platform(),
            "numpy": np.__version__, "numpy_simd": shared_report.numpy_simd(),
            "blas_kernel": shared_report.blas_kernel(),
            "numpy_adam_block_bytes": numpy_optimizers.BLOCK_BYTES}


def main(args) -> int:
    log = lambda text: print(text, end="", file=sys.stderr, flush=True)  # noqa: E731
    rounds = args.rounds or (2 if args.quick else 9)
    impls = [name for name in dict.fromkeys(args.impls) if implementations.is_available(name)]
    names = [workload.name for workload in workloads(args.quick, args.pure_mnist)]
    if not impls:
        print(f"python -m bench: error: --impls: none of {args.impls} is installed",
              file=sys.stderr)
        return 2
    if not any(args.only in name for name in names):
        print(f"python -m bench: error: --only: no workload name contains {args.only!r}; "
              f"the workloads are {names}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    X, y, source = mnist_data(args.quick)
    spiral = datasets.load("spiral")
    data = {"mnist": (X, y), "spiral": (spiral.X_train, spiral.y_train)}
    meta = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "machine": machine(),
            "threads": {var: os.environ.get(var) for var in THREAD_VARIABLES},
            "quick": args.quick, "rounds": rounds, "impls": impls,
            "unavailable": [name for name in args.impls if name not in impls],
            "mnist_data": source, "command": "python -m bench " + " ".join(sys.argv[1:])}
    log(f"bench: {', '.join(impls)}; at least {rounds} interleaved rounds per workload, in whole "
        f"rotation cycles (2 x its implementations); MNIST data: "
        f"{source}\n")
    results = {"meta": meta, "gemm_gflops": gemm_rates(args.quick), "workloads": {},
               "interpreter": {"start": interpreter_rates(args.quick)}}
    meta["shared_epoch_s"] = shared_epoch_seconds(len(X))
    for workload in workloads(args.quick, args.pure_mnist):
        if args.only in workload.name:
            results["workloads"][workload.name] = run_workload(workload, impls, rounds, data, log)
    repeats = 0 if args.only else 1 if args.quick else 3
    results["startup"] = subprocess_runs(impls, "startup", repeats, log)
    results["xor"] = subprocess_runs(impls, "xor", repeats, log)
    results["compare"] = (compare_run(args.quick, log, getattr(args, "user_environment", None))
                          if not args.only else None)
    results["pypy"] = (pypy_runs(60 if args.quick else 300, 1 if args.quick else 3, log)
                       if not args.only and "pure" in impls else None)
    results["interpreter"]["end"] = interpreter_rates(args.quick)
    results["targets"] = report.targets(results)
    meta["seconds"] = time.perf_counter() - started
    print(report.text(results))  # first: a failed write below must not lose the measurements
    if args.markdown:
        print(report.markdown(results))
    path = Path(args.json)
    try:
        weights.atomic_write_bytes(path, (json.dumps(results, indent=2) + "\n").encode("utf-8"))
    except OSError as error:
        print(f"python -m bench: error: could not write the results to {path} ({error}); the "
              f"tables above hold them", file=sys.stderr)
        return 1
    print(f"results written to {path}")
    return 0
