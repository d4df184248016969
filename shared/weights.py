"""Initial parameters by canonical name, and safetensors files that hold them.

Canonical layout (Keras and nnfs): ``denseK.weight`` is (n_inputs, n_neurons) and
``denseK.bias`` is (n_neurons,). Every array is float64; implementations cast.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from shared.spec import INITIALIZERS, Spec


class WeightsError(ValueError):
    """A parameter set or weight file that does not fit the spec."""


def initial(spec: Spec, seed: int = 0, scheme: str | None = None) -> dict[str, np.ndarray]:
    """Fresh parameters for ``spec``: nnfs 0.01*randn, Glorot uniform or He normal; biases zero."""
    scheme = scheme or spec.init
    if scheme not in INITIALIZERS:
        raise WeightsError(f"init scheme: expected one of {INITIALIZERS}, got {scheme!r}")
    rng = np.random.default_rng(seed)
    params = {}
    for name, shape in spec.parameter_shapes().items():
        if name.endswith(".bias"):
            params[name] = np.zeros(shape)
        elif scheme == "nnfs":
            params[name] = 0.01 * rng.standard_normal(shape)
        elif scheme == "glorot_uniform":
            limit = np.sqrt(6.0 / (shape[0] + shape[1]))
            params[name] = rng.uniform(-limit, limit, shape)
        else:  # he_normal
            params[name] = rng.standard_normal(shape) * np.sqrt(2.0 / shape[0])
    return params


def check(spec: Spec, params: dict[str, np.ndarray], *, source: str = "parameters") -> dict:
    """Return ``params`` as float64 arrays if every name and shape matches ``spec``; else raise."""
    expected = spec.parameter_shapes()
    missing = sorted(set(expected) - set(params))
    extra = sorted(set(params) - set(expected))
    if missing or extra:
        raise WeightsError(f"{source} do not fit network {spec.name!r}: "
                           f"missing {missing}, unexpected {extra}; expected exactly {sorted(expected)}")
    checked = {}
    for name, shape in expected.items():
        array = np.asarray(params[name])
        if array.shape != shape:
            raise WeightsError(f"{source}: {name} has shape {array.shape}, expected {shape} "
                               f"for network {spec.name!r}")
        if not np.issubdtype(array.dtype, np.floating):
            raise WeightsError(f"{source}: {name} has dtype {array.dtype}, expected a float array")
        if not np.all(np.isfinite(array)):
            raise WeightsError(f"{source}: {name} holds NaN or inf")
        checked[name] = array.astype(np.float64)
    return checked


def save(path: str | Path, params: dict[str, np.ndarray]) -> None:
    """Write ``params`` to a safetensors file atomically (temporary file, then rename)."""
    from safetensors.numpy import save as to_bytes

    data = to_bytes({name: np.ascontiguousarray(array) for name, array in params.items()})
    atomic_write_bytes(path, data)


def load(path: str | Path, spec: Spec) -> dict[str, np.ndarray]:
    """Read a safetensors file and check every name and shape against ``spec``."""
    from safetensors import SafetensorError
    from safetensors.numpy import load as from_bytes

    path = Path(path)
    try:
        params = from_bytes(path.read_bytes())
    except FileNotFoundError:
        raise WeightsError(f"weight file {path}: no such file") from None
    except (SafetensorError, ValueError, OSError) as error:
        raise WeightsError(f"weight file {path}: not a readable safetensors file "
                           f"(truncated or corrupt?): {error}") from None
    return check(spec, params, source=f"weight file {path}")


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a crash leaves either the old file or the new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
