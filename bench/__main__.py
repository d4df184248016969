"""``python -m bench [--quick] [--impls numpy,torch] [--json PATH] [--markdown] [--threads N]``."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from bench import THREAD_VARIABLES

IMPLEMENTATIONS = ("numpy", "torch", "tf", "pure")
MAX_THREADS = 1024


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Training throughput, start-up time and peak memory of each implementation, "
                    "measured in one process with the implementations interleaved.")
    parser.add_argument("--quick", action="store_true",
                        help="tiny sizes and the fewest rounds: 2, in whole rotation cycles (a smoke "
                             "test for CI, not a measurement)")
    parser.add_argument("--impls", default=",".join(IMPLEMENTATIONS),
                        help="comma-separated implementations (default: all that import)")
    parser.add_argument("--json", metavar="PATH",
                        help="where to write the results (default: bench/results.json; "
                             "bench/results-quick.json with --quick, bench/results-partial.json "
                             "with --only, --rounds, --threads, --pure-mnist, some --impls, "
                             "or thread counts other than 1 in the environment)")
    parser.add_argument("--markdown", action="store_true",
                        help="also print the README-ready markdown table")
    parser.add_argument("--threads", type=int,
                        help="BLAS / torch / TensorFlow intra-op threads (default 1, unless the "
                             "environment sets them)")
    parser.add_argument("--rounds", type=int, default=None,
                        help="timed rounds per workload (default 9, or 2 with --quick), "
                             "rounded up to whole rotation cycles: 2 x the implementations")
    parser.add_argument("--only", default="", metavar="TEXT",
                        help="time only the workloads whose name contains TEXT (e.g. spiral); "
                             "skips the start-up, XOR, compare.py and PyPy runs")
    parser.add_argument("--pure-mnist", action="store_true",
                        help="also time impl_pure on the MNIST network (seconds per batch)")
    args = parser.parse_args(argv)
    impls = [name.strip() for name in args.impls.split(",") if name.strip()]
    unknown = sorted(set(impls) - set(IMPLEMENTATIONS))
    if unknown:
        parser.error(f"--impls: unknown {unknown}; expected some of {list(IMPLEMENTATIONS)}")
    if not impls:
        parser.error(f"--impls: expected at least one of {list(IMPLEMENTATIONS)}")
    if args.threads is not None and not 1 <= args.threads <= MAX_THREADS:
        parser.error(f"--threads: expected an integer in [1, {MAX_THREADS}], got {args.threads}")
    if args.rounds is not None and args.rounds < 1:
        parser.error(f"--rounds: expected a positive integer, got {args.rounds}")
    args.impls = impls
    if args.json is None:  # results.json (the README's table) only from a full run
        partial = (args.only or args.rounds or args.threads or args.pure_mnist
                   or impls != list(IMPLEMENTATIONS)
                   or any(os.environ.get(name, "1") != "1" for name in THREAD_VARIABLES))
        args.json = os.path.join("bench", "results-quick.json" if args.quick else
                                 "results-partial.json" if partial else "results.json")
    problem = json_path_problem(args.json)
    if problem:  # found now, not after minutes of measuring
        parser.error(f"--json: {problem}")
    return args


def json_path_problem(text: str) -> str | None:
    """Why ``text`` cannot be written as the results file, or None."""
    path = Path(text)
    if not text or path.is_dir():
        return f"expected a file path, got {'a directory' if text else 'an empty string'} ({text!r})"
    existing = next(parent for parent in path.absolute().parents if parent.exists())
    if not existing.is_dir():
        return f"cannot write {text}: {existing} is a file, not a directory"
    # the file is replaced by a temporary one renamed into its folder: the folder must be writable
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"cannot write {text}: the folder {existing} is not writable"
    return None


def set_threads(threads: int | None) -> None:
    """Thread counts must be set before NumPy (OpenBLAS), torch or TensorFlow are imported.
    ``--threads`` sets them all; without it the environment's own values win over the default 1."""
    for variable in THREAD_VARIABLES:
        if threads is None:
            os.environ.setdefault(variable, "1")
        else:
            os.environ[variable] = str(threads)
    os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(argv=None) -> int:
    args = parse_args(argv)
    args.user_environment = dict(os.environ)  # for compare.py's run: a user's plain run
    set_threads(args.threads)
    from bench import runner  # imports NumPy: only after the thread counts are set

    return runner.main(args)


if __name__ == "__main__":
    sys.exit(main())
