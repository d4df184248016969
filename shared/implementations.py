"""The four implementations by name, imported lazily so that using one never imports another's framework."""
from __future__ import annotations

import importlib
import importlib.util
import os

IMPLEMENTATIONS = ("numpy", "pure", "torch", "tf")
REFERENCE = "numpy"
# The third-party package each implementation needs, besides NumPy at the harness boundary.
REQUIRES = {"numpy": "numpy", "pure": None, "torch": "torch", "tf": "tensorflow"}
MODES = ("exact", "native")
# The environment variable that sets a framework's threads (default 1: fastest for small nets,
# and reproducible).
THREADS_ENV = {"torch": "ROSETTA_TORCH_THREADS", "tf": "ROSETTA_TF_THREADS"}
MAX_THREADS = 1024


class UnavailableImplementation(ImportError):
    """An implementation whose framework is not installed."""


def is_available(name: str) -> bool:
    """Whether ``name``'s framework is installed (found without importing it)."""
    _check_name(name)
    package = REQUIRES[name]
    return package is None or importlib.util.find_spec(package) is not None


def available() -> list[str]:
    """The implementations whose frameworks are installed, in canonical order."""
    return [name for name in IMPLEMENTATIONS if is_available(name)]


def module(name: str):
    """The package ``impl_<name>``, imported on first use."""
    _check_name(name)
    if not is_available(name):
        raise UnavailableImplementation(
            f"implementation {name!r} needs the package {REQUIRES[name]!r}, which is not installed")
    if name == "pure":
        return importlib.import_module("shared.pure_adapter")
    return importlib.import_module(f"impl_{name}")


def check_mode(mode) -> None:
    """Refuse a mode other than "exact" (impl_numpy's formulas) and "native" (the framework's own)."""
    if mode not in MODES:
        raise ValueError(f"mode: expected one of {MODES}, got {mode!r}")


def build(name: str, spec, params, dtype: str = "float64", mode: str = "exact"):
    """A model of ``spec`` in implementation ``name`` that follows the harness contract."""
    check_mode(mode)
    from shared.spec import check_spec

    check_spec(spec)
    impl = module(name)
    from shared.checks import check_dtype  # NumPy: imported here, once it is known to be installed
    return impl.build(spec, params, dtype=check_dtype(dtype), mode=mode)


def reference_spec(spec, name: str, mode: str = "exact"):
    """The spec whose impl_numpy run computes the same formulas as ``name`` in ``mode``.

    In exact mode every implementation computes the spec's own formulas. In native mode
    torch and Keras compute their built-in formulas, which impl_numpy implements as the
    variants "torch" and "keras".
    """
    if mode == "native" and name in ("torch", "tf"):
        return spec.replace(variant="keras" if name == "tf" else "torch")
    return spec


def thread_count(name: str) -> int:
    """The threads $ROSETTA_TORCH_THREADS or $ROSETTA_TF_THREADS asks of ``name`` (1 if unset)."""
    variable = THREADS_ENV[name]
    value = os.environ.get(variable, "1")
    if not (value.isascii() and value.isdigit() and 1 <= int(value) <= MAX_THREADS):
        raise ValueError(f"{variable}: expected an integer in [1, {MAX_THREADS}], got {value!r}")
    return int(value)


def _check_name(name: str) -> None:
    if name not in IMPLEMENTATIONS:
        raise ValueError(f"implementation: expected one of {IMPLEMENTATIONS}, got {name!r}")
