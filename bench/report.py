"""The benchmark's targets and its tables: plain text for the terminal, markdown for the README."""
from __future__ import annotations

from shared import report as shared_report

DEFAULT_ROUNDS = 9
# (label, workload, implementation, metric, comparison, bound); ratios are time / torch's time.
TARGETS = (
    ("impl_numpy MNIST f32 b64 time vs torch", "mnist f32 b64", "numpy", "ratio", "<=", 0.75),
    ("impl_numpy MNIST f32 b256 time vs torch", "mnist f32 b256", "numpy", "ratio", "<=", 0.75),
    ("impl_numpy MNIST f64 b64 time vs torch", "mnist f64 b64", "numpy", "ratio", "<=", 0.90),
    ("impl_numpy MNIST f64 b256 time vs torch", "mnist f64 b256", "numpy", "ratio", "<=", 0.90),
    ("impl_numpy spiral f32 epochs/s", "spiral f32", "numpy", "epochs", ">=", 8000),
    ("impl_numpy spiral f32 time vs torch", "spiral f32", "numpy", "ratio", "<=", 1 / 3),
    ("impl_torch spiral f32 epochs/s", "spiral f32", "torch", "epochs", ">=", 2000),
    ("impl_pure spiral f64 epochs/s", "spiral f64", "pure", "epochs", ">=", 100),
    ("python compare.py (no arguments) wall s", "compare.py", None, "wall", "<=", 60),
)


def unjudged_reason(meta: dict) -> str | None:
    """Why a run's figures are not judged against the targets, or None when they are: the
    targets are for a full run with every thread count 1 (and each workload's at least
    DEFAULT_ROUNDS timed rounds: see :func:`targets`)."""
    if meta["quick"]:
        return "--quick"
    if any(value not in (None, "1") for value in meta["threads"].values()):
        return "threads other than 1"
    return None


def _too_few_rounds(workload: dict) -> str | None:
    # the rounds timed, which --rounds N rounds up to whole cycles of the rotation
    timed = workload.get("rounds")
    return (f"{timed} timed rounds, fewer than {DEFAULT_ROUNDS}"
            if timed is not None and timed < DEFAULT_ROUNDS else None)


def targets(results: dict) -> list[dict]:
    """Each target with the measured median, and met True/False, or None where that
    implementation did not run or the run is not judged (see :func:`unjudged_reason`)."""
    rows, run_not_judged = [], unjudged_reason(results["meta"])
    for label, workload, impl, metric, comparison, bound in TARGETS:
        not_judged = run_not_judged
        if metric == "wall":  # a whole compare.py run with no arguments, every implementation
            run = results.get("compare") or {}
            complete = run.get("args") == [] and "error" not in run and not run.get("skipped")
            value = run.get("wall_s") if complete else None
        else:
            measured = results["workloads"].get(workload, {})
            not_judged = not_judged or _too_few_rounds(measured)
            entry = measured.get("impls", {}).get(impl) or {}
            value = (entry.get("ratio_vs_torch", {}).get("median") if metric == "ratio"
                     else entry.get("epochs_per_second"))
        met = (None if value is None or not_judged else
               value <= bound if comparison == "<=" else value >= bound)
        rows.append({"target": label, "bound": f"{comparison} {_number(bound)}",
                     "value": value, "met": met, "not_judged": not_judged})
    return rows


def _number(value) -> str:
    if value is None:
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}" if abs(value) >= 0.01 else f"{value:.2e}"


def _range(summary: dict, scale: float = 1.0) -> str:
    return (f"{_number(summary['median'] * scale)} "
            f"[{_number(summary['min'] * scale)}-{_number(summary['max'] * scale)}]")


def _training_rows(results: dict):
    for name, workload in results["workloads"].items():
        for impl, entry in workload["impls"].items():
            if workload["unit"] == "batch":
                throughput = f"{_number(entry['samples_per_second'])} samples/s"
                per_epoch = f"{entry['seconds_per_epoch_estimate']:.2f} s/epoch"
            else:
                throughput = f"{_number(entry['epochs_per_second'])} epochs/s"
                per_epoch = f"{entry['seconds_per_unit']['median'] * 1e3:.3f} ms/epoch"
            ratio = _range(entry["ratio_vs_torch"]) if "ratio_vs_torch" in entry else "-"
            yield (name, impl, throughput, per_epoch, ratio,
                   f"{entry['gflops']:.1f}" if "gflops" in entry else "-")


TRAINING_HEADER = ("workload", "impl", "throughput", "time", "time / torch, median [min-max]",
                   "GFLOP/s")


def _columns(header, rows) -> str:
    rows = [tuple(map(str, row)) for row in rows]
    widths = [max(len(row[i]) for row in [header] + rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip()
             for row in [header] + rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def _process_rows(results: dict):
    startup, xor = results["startup"]["impls"], results["xor"]["impls"]
    for impl in results["meta"]["impls"]:
        s, x = startup.get(impl), xor.get(impl)
        yield (impl,
               f"{s['startup_s']['median']:.2f}" if s else "-",
               f"{s['import_s']['median']:.2f}" if s else "-",
               f"{s['import_peak_mib']['median']:.0f}" if s else "-",
               f"{s['train_peak_mib']['median']:.0f} ({s['train_network']})" if s else "-",
               f"{x['wall_s']['median']:.2f}" if x else "-",
               f"{x['accuracy']['median']:.2f}" if x else "-")


PROCESS_HEADER = ("impl", "start-up s", "import s", "peak MiB after import",
                  "peak MiB training (f64: 4 batches of 64, pure 1 of 300)", "XOR end to end s",
                  "XOR accuracy")


def _interpreter_note(rates: dict) -> str:
    start, end = rates["start"], rates["end"]
    return (f"Interpreter speed (best of several, start / end of the run): a float comprehension "
            f"{start['python_ns_per_element']:.1f} / {end['python_ns_per_element']:.1f} ns per "
            f"element, a NumPy ufunc call on 300x3 {start['numpy_us_per_call']:.2f} / "
            f"{end['numpy_us_per_call']:.2f} us; higher means a slower phase for impl_pure and "
            f"the spiral net.")


def _code_paths(machine: dict) -> str:
    """NumPy's SIMD extensions and OpenBLAS's kernels (recorded since 2026-12-02)."""
    if "blas_kernel" not in machine:
        return ""
    kernels = f", OpenBLAS {machine['blas_kernel']} kernels" if machine["blas_kernel"] else ""
    return f" (SIMD {shared_report.describe_simd(machine['numpy_simd'])}){kernels}"


def _cache_and_blocks(machine: dict) -> tuple[str, str]:
    """The L2 size and impl_numpy's Adam blocks, which set its speed (recorded since 2026-12-03)."""
    l2 = f", L2 {machine['l2_cache']} per core" if machine.get("l2_cache") else ""
    if "numpy_adam_block_bytes" not in machine:
        return l2, ""
    block = machine["numpy_adam_block_bytes"]
    return l2, (f"; impl_numpy's Adam in blocks of {block // 1024} KB" if block else
                "; impl_numpy's Adam over whole buffers")


def _notes(results: dict) -> list[str]:
    meta = results["meta"]
    gemm = ", ".join(f"{key}: {value:.1f}" for key, value in results["gemm_gflops"].items())
    l2, blocks = _cache_and_blocks(meta["machine"])
    notes = [
        f"{meta['date']}, {meta['machine']['cpu']}, {meta['machine']['cores']} cores{l2}, "
        f"Python {meta['machine']['python']}, NumPy {meta['machine']['numpy']}"
        f"{_code_paths(meta['machine'])}{blocks}; threads {meta['threads']}.",
        f"NumPy GEMM rate (GFLOP/s, best of several): {gemm}.",
        _interpreter_note(results["interpreter"]),
        f"MNIST data: {meta['mnist_data']}. Each round times one chunk per implementation "
        f"(MNIST: a fixed number of mini-batches, not a whole epoch, in one train_epoch call "
        f"over the chunk's rows; spiral: a fixed number of full-batch epochs, one train_epoch "
        f"call each as fit makes them, or all in one call (fused) as fit(eval_every=...) does), "
        f"in rotating order, reversed and stepping the other way every other cycle; "
        f"{_rounds(results)} rounds after one "
        f"warm-up round (at least {meta['rounds']}, in whole cycles: each implementation is "
        f"timed in every position, after each neighbour, equally often). Timed as fit trains; "
        f"fit's evaluation after each epoch (as its own history['seconds']) is not timed. "
        f"s/epoch is extrapolated from the chunk rate and excludes the shared per-epoch "
        f"shuffling and dropout-mask drawing ({meta.get('shared_epoch_s', 0):.2f} s per MNIST "
        f"b64 epoch). The data comes in each workload's dtype, as fit converts it once per "
        f"call, before its first epoch.",
        "Ratios are the implementation's time per unit (mini-batch or epoch) over torch's in "
        "the same round; the table gives the median of those ratios, which need not equal the "
        "ratio of the median rates.",
    ]
    if meta["quick"]:
        notes.append("--quick: tiny sizes for a smoke test; these figures mean nothing.")
    skipped = {f"{workload}: {impl}": why for workload, entry in results["workloads"].items()
               for impl, why in entry["skipped"].items()}
    skipped.update({f"{what}: {impl}": why for what in ("startup", "xor")
                    for impl, why in results[what]["skipped"].items()})
    notes += [f"skipped {key} ({why})" for key, why in skipped.items()]
    run = results.get("compare")
    if run:
        command = " ".join(["python compare.py", *run["args"]])
        error = f"; {run['error']}" if "error" in run else ""
        ran = (f", implementations {', '.join(run['implementations'])}"
               if run.get("implementations") else "")
        skipped_there = (f", skipped {', '.join(run['skipped'])} (not judged)"
                         if run.get("skipped") else "")
        notes.append(f"`{command}` (in an empty folder, imports included): {run['wall_s']:.1f} s "
                     f"wall, exit status {run['exit_code']}{ran}{skipped_there}{error}.")
    notes.append("start-up s: from launching a fresh interpreter to the implementation "
                 "imported; import s: the import alone, timed inside it; both, and peak MiB "
                 "after import, for impl_pure are the package's own (no NumPy; the harness's "
                 "adapter adds NumPy's); XOR end to end: a fresh interpreter from its launch to "
                 "its exit (interpreter shutdown included), having trained the model, fit "
                 "evaluating once at the end. Each figure is a median; results.json holds "
                 "every one's min and max, and the raw times.")
    pypy = results.get("pypy")
    if pypy and "skipped" in pypy:
        notes.append(f"impl_pure on PyPy: skipped ({pypy['skipped']}).")
    elif pypy:
        rates = pypy["epochs_per_second"]
        notes.append(
            f"impl_pure on {pypy['version']} (bench/pure_on_pypy.py, spiral, {pypy['epochs']} "
            f"epochs, the first 50 a warm-up for PyPy's JIT, untimed; interleaved with CPython): {_range(rates['pypy'])} epochs/s against "
            f"{_range(rates['cpython'])} on CPython, {_range(pypy['speedup'])}x; final loss "
            f"{'bit-identical' if pypy['bit_identical'] else 'DIFFERENT'} "
            f"({pypy['final_loss']['pypy']}). The script steps impl_pure on its own lists "
            f"(model.step, no adapter), so its CPython rate is not the table's impl_pure row."
            + (f" Left out: {'; '.join(pypy['errors'])}." if pypy.get("errors") else ""))
    if meta["unavailable"]:
        notes.append(f"not installed: {', '.join(meta['unavailable'])}")
    return notes


def _rounds(results: dict) -> str:
    counts = sorted({workload["rounds"] for workload in results["workloads"].values()})
    return " or ".join(map(str, counts)) or str(results["meta"]["rounds"])


def _target_rows(results: dict):
    for row in results["targets"]:
        status = ("n/a" if row["value"] is None else
                  f"not judged ({row['not_judged']})" if row.get("not_judged") else
                  "met" if row["met"] else "MISSED")
        yield row["target"], row["bound"], _measured(row), status


def _measured(row: dict) -> str:
    """The value as the tables print numbers, with the digits it takes for the printed number to
    meet the printed bound exactly when the value meets the target (0.7505 against "<= 0.75"
    is not 0.75, nor 99.97 against ">= 100" 100.0)."""
    value, shown = row["value"], _number(row["value"])
    if value is None:
        return shown
    comparison, limit = row["bound"].split()
    limit = float(limit.replace(",", ""))

    def holds(x):
        return x <= limit if comparison == "<=" else x >= limit

    met = holds(value) if row["met"] is None else row["met"]  # the bound is printed rounded
    digits = 4
    while holds(float(shown.replace(",", ""))) != met and digits <= 17:  # 17 round-trip
        shown, digits = f"{value:,.{digits}g}", digits + 1
    return shown


TARGET_HEADER = ("target", "bound", "measured", "status")


def text(results: dict) -> str:
    parts = [_columns(TRAINING_HEADER, _training_rows(results)), "",
             _columns(PROCESS_HEADER, _process_rows(results)), "",
             _columns(TARGET_HEADER, _target_rows(results)), ""]
    parts += [f"- {note}" for note in _notes(results)]
    return "\n".join(parts)


def _markdown_table(header, rows) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(map(str, row)) + " |" for row in rows]
    return "\n".join(lines)


def markdown(results: dict) -> str:
    """The README's performance section body: three tables and the notes."""
    parts = [_markdown_table(TRAINING_HEADER, _training_rows(results)), "",
             _markdown_table(PROCESS_HEADER, _process_rows(results)), "",
             _markdown_table(TARGET_HEADER, _target_rows(results)), ""]
    parts += [f"- {note}" for note in _notes(results)]
    return "\n".join(parts)
