"""The benchmark keeps working: ``python -m bench --quick --impls numpy`` runs and writes well-formed JSON.

No timing is asserted (the machine is shared and noisy); only the structure of the results.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
WORKLOADS = {"mnist f32 b64", "mnist f32 b256", "mnist f64 b64", "mnist f64 b256", "spiral f32",
             "spiral f32 fused", "spiral f64"}


def test_quick_benchmark_writes_results(tmp_path):
    path = tmp_path / "results.json"
    process = subprocess.run([sys.executable, "-m", "bench", "--quick", "--impls", "numpy",
                              "--json", str(path), "--markdown"],
                             cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert process.returncode == 0, process.stderr[-2000:]
    results = json.loads(path.read_text())
    assert results["meta"]["quick"] is True
    assert results["meta"]["impls"] == ["numpy"]
    assert set(results["workloads"]) == WORKLOADS
    for name, workload in results["workloads"].items():
        entry = workload["impls"]["numpy"]
        assert len(entry["raw_seconds_per_unit"]) == workload["rounds"] == 2, name  # 1 impl: 2
        assert 0 < entry["seconds_per_unit"]["min"] <= entry["seconds_per_unit"]["median"] \
            <= entry["seconds_per_unit"]["max"], name
        assert "ratio_vs_torch" not in entry, name  # torch was not run
        rate = "samples_per_second" if workload["unit"] == "batch" else "epochs_per_second"
        assert entry[rate] > 0, name
    assert set(results["gemm_gflops"]) == {f"{dtype} {shape}" for dtype in ("float32", "float64")
                                           for shape in ("512x512x512",
                                                         "mnist layer 1 (256x784x256)")}
    for moment in ("start", "end"):
        rates = results["interpreter"][moment]
        assert rates["python_ns_per_element"] > 0 and rates["numpy_us_per_call"] > 0
    assert "Interpreter speed" in process.stdout
    startup = results["startup"]["impls"]["numpy"]
    assert 0 < startup["import_s"]["median"] < startup["startup_s"]["median"]
    assert 0 < startup["import_peak_mib"]["median"] <= startup["train_peak_mib"]["median"]
    xor = results["xor"]["impls"]["numpy"]
    assert xor["epochs"] == 2000 and xor["wall_s"]["median"] > xor["in_process_s"]["median"]
    # numpy's targets are measured; the ones that need torch or impl_pure are not applicable.
    targets = {row["target"]: row for row in results["targets"]}
    assert targets["impl_numpy spiral f32 epochs/s"]["value"] > 0
    assert targets["impl_torch spiral f32 epochs/s"]["met"] is None
    # compare.py ran (a tiny NumPy-only run under --quick, so its 60 s target is not judged);
    # impl_pure did not run, so neither did PyPy.
    assert results["compare"]["args"] and results["compare"]["exit_code"] == 0
    assert targets["python compare.py (no arguments) wall s"]["met"] is None
    assert results["pypy"] is None
    assert "| workload | impl |" in process.stdout  # the --markdown table
    markdown = process.stdout[process.stdout.index("| workload | impl |"):]
    assert "- --quick: tiny sizes for a smoke test" in markdown  # the disclaimer, there too
    assert "not judged (--quick)" in markdown and "MISSED" not in process.stdout
    # The code paths that set the machine's speed and bits: OpenBLAS's kernels, NumPy's SIMD
    # (the subprocess inherits the suite's pins, if any: see conftest).
    # This process's kernels (test_determinism checks them against the pins) are the child's.
    from shared.report import blas_kernel
    assert results["meta"]["machine"]["blas_kernel"] == blas_kernel()
    assert f"OpenBLAS {blas_kernel()} kernels" in markdown
    # impl_numpy's Adam block size depends on the CPU (impl_numpy/optimizers.py): recorded.
    from impl_numpy.optimizers import BLOCK_BYTES
    assert results["meta"]["machine"]["numpy_adam_block_bytes"] == BLOCK_BYTES
    blocks = f"in blocks of {BLOCK_BYTES // 1024} KB" if BLOCK_BYTES else "over whole buffers"
    assert f"kernels; impl_numpy's Adam {blocks}; threads" in markdown


def test_l2_cache_is_read_off_sysfs(tmp_path):
    from shared.machine import l2_cache
    for index, (level, kind, size) in enumerate([("1", "Data", "48K"), ("1", "Instruction", "32K"),
                                                 ("2", "Unified", "2048K"),
                                                 ("3", "Unified", "107520K")]):
        folder = tmp_path / f"index{index}"
        folder.mkdir()
        for name, value in (("level", level), ("type", kind), ("size", size)):
            (folder / name).write_text(value + "\n")
    assert l2_cache(tmp_path) == "2048K"
    (tmp_path / "index2" / "level").write_text("3\n")
    assert l2_cache(tmp_path) == ""  # no level-2 cache listed
    assert l2_cache(tmp_path / "missing") == ""  # not Linux


def test_bad_arguments_are_named():
    process = subprocess.run([sys.executable, "-m", "bench", "--impls", "numpy,jax"],
                             cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert process.returncode == 2
    assert "--impls" in process.stderr and "jax" in process.stderr


def test_impl_pure_runs_unchanged_on_pypy():
    # issue #7: impl_pure runs unchanged on PyPy. make test installs Debian's pypy3; elsewhere
    # this is skipped (it is not a harness test). The final loss after 60 Adam steps must be
    # bit-identical under both interpreters (same IEEE arithmetic, same libm).
    import shutil

    pypy = shutil.which("pypy3")
    if pypy is None:
        if os.environ.get("CI"):
            pytest.fail("CI installs pypy3 (make test, as root); it is missing")
        pytest.skip("pypy3 is not installed")
    script = [str(ROOT / "bench" / "pure_on_pypy.py"), "60"]
    runs = [subprocess.run([exe, *script], capture_output=True, text=True, timeout=300)
            for exe in (pypy, sys.executable)]
    for run in runs:
        assert run.returncode == 0, run.stderr
    lines = [run.stdout.strip() for run in runs]
    assert lines[0].startswith("pypy ") and lines[1].startswith("cpython ")
    assert lines[0].split("final loss ")[1] == lines[1].split("final loss ")[1]


@pytest.mark.parametrize("argv, message", [
    (["--impls", ","], "--impls: expected at least one of"),
    (["--impls", "jax"], "--impls: unknown ['jax']"),
    (["--quick", "--only", "nosuch"], "--only: no workload name contains 'nosuch'"),
    (["--threads", "0"], "--threads: expected an integer in [1, 1024], got 0"),
    (["--threads", "100000000"], "--threads: expected an integer in [1, 1024], got 100000000"),
])
def test_bad_options_exit_2_before_any_measurement(argv, message, tmp_path):
    """`--impls ,` used to run every workload and then crash (modulo by zero), and `--only` with
    no match exited 0 with empty tables, overwriting bench/results.json."""
    path = tmp_path / "results.json"
    process = subprocess.run([sys.executable, "-m", "bench", *argv, "--json", str(path)],
                             cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert process.returncode == 2, process.stderr[-2000:]
    assert message in process.stderr
    assert not path.exists()


@pytest.mark.parametrize("target, message", [
    ("folder", "--json: expected a file path, got a directory"),
    ("", "--json: expected a file path, got an empty string"),
    ("file/results.json", "is a file, not a directory"),
])
def test_an_unwritable_json_path_is_refused_before_measuring(target, message, tmp_path):
    """The path was tried only after the whole run: minutes of measurements, then a traceback."""
    (tmp_path / "folder").mkdir()
    (tmp_path / "file").write_text("kept")
    process = subprocess.run([sys.executable, "-m", "bench", "--quick", "--impls", "numpy",
                              "--json", str(tmp_path / target) if target else ""],
                             cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert process.returncode == 2, process.stderr[-2000:]
    assert message in process.stderr
    assert "bench: numpy" not in process.stderr + process.stdout  # nothing was measured
    assert (tmp_path / "file").read_text() == "kept"


def test_the_json_path_needs_a_writable_folder(tmp_path, monkeypatch):
    """The results replace the file through a temporary one in its folder: a read-only file in a
    writable folder can be written, a writable file in a read-only folder cannot (root passes
    every access check, so the folder's is simulated)."""
    from bench.__main__ import json_path_problem

    (tmp_path / "old.json").write_text("{}")
    assert json_path_problem(str(tmp_path / "old.json")) is None
    monkeypatch.setattr(os, "access", lambda path, mode: Path(path) != tmp_path)
    assert json_path_problem(str(tmp_path / "old.json")) == (
        f"cannot write {tmp_path / 'old.json'}: the folder {tmp_path} is not writable")


def test_threads_option_overrides_the_environment(monkeypatch):
    """--threads set only the variables the environment left unset, so a run could mix counts."""
    from bench import THREAD_VARIABLES
    from bench.__main__ import set_threads
    for variable in (*THREAD_VARIABLES, "TF_NUM_INTEROP_THREADS", "TF_CPP_MIN_LOG_LEVEL"):
        monkeypatch.setenv(variable, "0")  # recorded, so that teardown restores the real value
        monkeypatch.delenv(variable)
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    set_threads(2)
    # impl_tf takes its threads from ROSETTA_TF_THREADS (over TF's own variable): --threads
    # left TensorFlow on one thread while NumPy and torch ran on two
    assert os.environ["OPENBLAS_NUM_THREADS"] == os.environ["ROSETTA_TORCH_THREADS"] == \
        os.environ["ROSETTA_TF_THREADS"] == "2"
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "3")
    set_threads(None)  # no --threads: the environment's value stays, the others default to 1
    assert os.environ["OPENBLAS_NUM_THREADS"] == "3"


# ------------------------------------------------------------------ units, with no timing

def test_a_chunk_is_timed_as_fit_runs_it():
    """Mini-batches: one train_epoch call over the chunk's own rows (TF converted, and impl_pure
    listed, the whole 60,000-row X per chunk of 24 batches: 39x fit's share of it). Full batch:
    one call per epoch, as fit makes them, or one for the whole chunk when fused."""
    import numpy as np

    from bench.runner import Workload, chunk_calls, chunks
    from shared import networks

    spec = networks.load("mnist")
    X, y = np.arange(100.0)[:, None] * np.ones(784), np.arange(100)
    mini = Workload("m", "mnist", "float64", 16, 5)
    batches, masks = next(chunks(spec, X, mini, 5))
    (call,) = chunk_calls(X, y, batches, masks, mini)
    X_chunk, y_chunk, local, local_masks = call
    assert len(X_chunk) == len(y_chunk) == 5 * 16 and local_masks is masks
    for b, rows in zip(batches, local):
        assert np.array_equal(X_chunk[rows], X[b]) and np.array_equal(y_chunk[rows], y[b])
    # 100 rows in batches of 16: the short sixth batch of each epoch is left out
    stream = chunks(spec, X, mini, 5)
    assert all(len(b) == 16 for _ in range(4) for b in next(stream)[0])
    full = Workload("s", "spiral", "float64", 0, 3)
    epochs = ([np.arange(100)] * 3, [{}] * 3)
    assert [len(c[2]) for c in chunk_calls(X, y, *epochs, full)] == [1, 1, 1]
    fused = Workload("s", "spiral", "float64", 0, 3, fused=True)
    assert [len(c[2]) for c in chunk_calls(X, y, *epochs, fused)] == [3]


@pytest.mark.parametrize("names", [["numpy", "torch", "tf"], ["numpy", "torch", "tf", "pure"]])
def test_round_order_balances_positions_and_predecessors(names):
    """Plain rotation ran numpy right after tf in every round (what tf left in the caches always
    fell on numpy); over 2n rounds each implementation now takes every position twice and
    follows each of its two neighbours equally often."""
    from collections import Counter

    from bench.runner import round_order

    orders = [round_order(names, r) for r in range(2 * len(names))]
    assert all(sorted(order) == sorted(names) for order in orders)
    for name in names:
        assert Counter(order.index(name) for order in orders) == {
            position: 2 for position in range(len(names))}
        before = Counter(order[order.index(name) - 1] for order in orders
                         if order.index(name) > 0)
        assert len(before) == 2 and len(set(before.values())) == 1, (name, before)
    # across rounds too, no implementation runs twice in a row (a review found numpy and torch
    # twice in a row at two of a cycle's boundaries with three implementations)
    sequence = [name for r in range(4 * len(names)) for name in round_order(names, r)]
    assert all(a != b for a, b in zip(sequence, sequence[1:])), sequence
    assert round_order([], 3) == []


def test_ratios_pair_the_rounds_and_a_failing_implementation_is_dropped(monkeypatch):
    """On a fake clock: numpy takes 1 unit a batch and torch 2 in round r (r = 1, 2, ...), so
    every paired ratio is 0.5 although the times drift; 'tf' raises in round 3 and is skipped."""
    from bench import runner
    clock = [0.0]
    monkeypatch.setattr(runner.time, "perf_counter", lambda: clock[0])

    class Fake:
        def __init__(self, name):
            self.name, self.calls = name, 0

        def train_epoch(self, X, y, batches, masks):
            self.calls += 1
            if self.name == "tf" and self.calls == 4:
                raise RuntimeError("boom")
            clock[0] += len(batches) * self.calls * (2 if self.name == "torch" else 1)

    monkeypatch.setattr(runner.implementations, "build", lambda name, *a, **k: Fake(name))
    workload = runner.Workload("w", "xor", "float64", 2, 2)
    import numpy as np
    data = {"xor": (np.zeros((4, 2)), np.zeros((4, 1)))}
    result = runner.run_workload(workload, ["numpy", "torch", "tf"], 5, data, lambda text: None)
    numpy = result["impls"]["numpy"]
    assert numpy["ratio_vs_torch"] == {"median": 0.5, "min": 0.5, "max": 0.5}
    # round 0 warms up; 5 rounds become 6, a whole cycle of the rotation for 3 implementations
    assert result["rounds"] == 6
    assert numpy["raw_seconds_per_unit"] == [2.0, 3.0, 4.0, 5.0, 6.0, 7.0]
    assert "tf" not in result["impls"] and result["skipped"]["tf"] == "RuntimeError: boom"


FULL_RUN = {"quick": False, "rounds": 9, "threads": {"OPENBLAS_NUM_THREADS": "1",
                                                     "ROSETTA_TORCH_THREADS": "1",
                                                     "ROSETTA_TF_THREADS": "1"}}


def test_a_crashed_compare_run_does_not_meet_its_target():
    from bench import report
    ran = {"args": [], "wall_s": 1.2, "exit_code": 1, "skipped": []}

    def met(run):
        return report.targets({"meta": FULL_RUN, "workloads": {}, "compare": run})[-1]["met"]

    assert met(ran) is True  # a disagreement is still a timed run
    assert met(dict(ran, error="Traceback ... ZeroDivisionError")) is None
    assert met(dict(ran, wall_s=61.0)) is False
    # a run that left implementations out is faster than the one the target is about
    assert met(dict(ran, skipped=["tf"])) is None


def test_only_a_full_run_is_judged_against_the_targets():
    from bench import THREAD_VARIABLES, report
    assert report.unjudged_reason(FULL_RUN) is None
    assert report.unjudged_reason(dict(FULL_RUN, quick=True)) == "--quick"
    for variable in THREAD_VARIABLES:  # every one recorded counts (OMP_NUM_THREADS=4 did not)
        threads = dict(FULL_RUN["threads"], **{variable: "2"})
        assert report.unjudged_reason(dict(FULL_RUN, threads=threads)) == "threads other than 1"
    spiral = {"spiral f32": {"impls": {"numpy": {"epochs_per_second": 9000.0}}}}
    for meta, met in ((FULL_RUN, True), (dict(FULL_RUN, quick=True), None)):
        row = next(r for r in report.targets({"meta": meta, "workloads": spiral, "compare": None})
                   if r["target"] == "impl_numpy spiral f32 epochs/s")
        assert row["value"] == 9000.0 and row["met"] is met


def test_a_workload_is_judged_on_the_rounds_it_timed():
    """--rounds 7 times 12 rounds with three implementations (whole cycles of the rotation):
    judged, as 12 >= 9; a workload timed in fewer than 9 rounds is not (it was judged on the
    requested --rounds alone, which marked the 12-round run not judged)."""
    from bench import report, runner
    assert runner.timed_rounds(7, 3) == 12 and runner.timed_rounds(7, 2) == 8
    for timed, met in ((12, True), (9, True), (8, None)):
        spiral = {"spiral f32": {"rounds": timed, "impls": {"numpy": {"epochs_per_second": 9e3}}}}
        results = {"meta": dict(FULL_RUN, rounds=7), "workloads": spiral, "compare": None}
        row = next(r for r in report.targets(results)
                   if r["target"] == "impl_numpy spiral f32 epochs/s")
        assert row["met"] is met
        assert row["not_judged"] == (None if met else "8 timed rounds, fewer than 9")


def test_a_value_just_past_its_bound_is_not_printed_as_meeting_it():
    from bench import report

    def row(value, bound, limit, met=None):
        comparison = bound.split()[0]
        if met is None:
            met = value <= limit if comparison == "<=" else value >= limit
        return {"target": "t", "bound": bound, "value": value, "met": met, "not_judged": None}

    rows = [row(0.75047, "<= 0.75", 0.75), row(0.75, "<= 0.75", 0.75),
            row(0.7491, "<= 0.75", 0.75), row(0.7500001, "<= 0.75", 0.75),
            row(7999.6, ">= 8,000", 8000), row(7999.9999, ">= 8,000", 8000),
            row(99.97, ">= 100", 100), row(100.04, ">= 100", 100),
            # the bound 1/3 prints as 0.333: 0.3332 meets it as printed, 0.33335 does not
            row(0.3332, "<= 0.333", 1 / 3), row(0.33335, "<= 0.333", 1 / 3),
            dict(row(0.75047, "<= 0.75", 0.75), met=None, not_judged="--quick")]
    printed = [r[2:] for r in report._target_rows({"targets": rows})]
    assert printed == [("0.7505", "MISSED"), ("0.75", "met"), ("0.749", "met"),
                       ("0.7500001", "MISSED"), ("7,999.6", "MISSED"),
                       ("7,999.9999", "MISSED"), ("99.97", "MISSED"), ("100", "met"),
                       ("0.333", "met"), ("0.3333", "MISSED"),
                       ("0.7505", "not judged (--quick)")]  # unjudged: by the printed bound


def test_timed_rounds_are_whole_cycles_of_the_rotation():
    from bench.runner import timed_rounds
    assert [timed_rounds(9, n) for n in (1, 2, 3, 4)] == [10, 12, 12, 16]
    assert timed_rounds(2, 1) == 2 and timed_rounds(12, 3) == 12 and timed_rounds(1, 0) == 2


def test_compare_run_flags_a_run_without_a_verdict(monkeypatch, tmp_path):
    """compare.py exits 1 on a disagreement (a timed run) and 3 on a crash (not one; before,
    exit 1 too, and bench told them apart by the missing verdict, as it still does)."""
    from bench import runner

    status = {}

    def fake_run(command, cwd, **kwargs):
        (Path(cwd) / "reports").mkdir()
        if "--disagree" in command[1]:  # compare.py's path
            (Path(cwd) / "reports" / "results.json").write_text('{"verdict": {"ok": false}}')
        return subprocess.CompletedProcess(command, status["code"], "",
                                           "Traceback\nValueError: x\ncompare.py: error: "
                                           "the run stopped on an unexpected ValueError: x\n")

    monkeypatch.setattr(runner.subprocess, "run", fake_run)
    monkeypatch.setattr(runner, "ROOT", tmp_path)
    for code in (1, 3):
        status["code"] = code
        crashed = runner.compare_run(False, lambda text: None)
        assert crashed["exit_code"] == code
        assert crashed["error"] == "compare.py: error: the run stopped on an unexpected ValueError: x"
    monkeypatch.setattr(runner, "ROOT", tmp_path / "--disagree")
    status["code"] = 1
    disagreed = runner.compare_run(False, lambda text: None)
    assert disagreed["exit_code"] == 1 and "error" not in disagreed


def test_the_readme_table_is_bench_results_json():
    """The README's performance tables and notes are generated: ``make bench ARGS=--markdown``
    prints them from the run that wrote bench/results.json, and the two must not drift apart."""
    from bench import report

    results = json.loads((ROOT / "bench" / "results.json").read_text(encoding="utf-8"))
    assert report.markdown(results).rstrip("\n") in (ROOT / "README.md").read_text(encoding="utf-8")
    assert not results["meta"]["quick"] and report.unjudged_reason(results["meta"]) is None


def test_pypy_rates_are_paired_by_repeat_and_failures_kept(monkeypatch):
    """One failed run threw the whole comparison away, and the rates of unequal repeats would
    have been paired; now a repeat counts when both interpreters ran, and failures are listed."""
    from bench import runner

    calls = []

    def fake(exe, script):
        calls.append(exe)
        if exe == "cpython-exe" and calls.count("cpython-exe") == 2:
            return "exit status 1"
        return (200.0 if exe == "pypy-exe" else 50.0) * len(calls), "0.5"

    monkeypatch.setattr(runner.shutil, "which", lambda name: "pypy-exe")
    monkeypatch.setattr(runner.sys, "executable", "cpython-exe")
    monkeypatch.setattr(runner, "_pypy_script_run", fake)
    monkeypatch.setattr(runner.subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(
        a, 0, "Python 3.9.18 [PyPy 7.3.11]", ""))
    result = runner.pypy_runs(60, 3, lambda text: None)
    assert result["errors"] == ["cpython, repeat 2: exit status 1"]
    # repeats 1 and 3 (calls 1-2 and 5-6; repeat 3 runs PyPy first again)
    assert result["epochs_per_second"]["pypy"]["min"] == 200.0
    assert result["speedup"]["median"] == pytest.approx(((200 / 100) + (1000 / 300)) / 2)
    assert result["version"] == "PyPy 7.3.11" and result["bit_identical"]
