"""Input checks shared by every implementation: bad data fails here, named, before any arithmetic."""
from __future__ import annotations

import numpy as np

from shared.spec import Spec, SpecError, check_spec


class InputError(ValueError):
    """Inputs or targets that do not fit the network; the message says what was expected."""


DTYPES = ("float32", "float64")


def check_dtype(dtype, allowed=DTYPES) -> str:
    """The name of a model dtype given as a name, a NumPy dtype or a NumPy scalar type."""
    name = None
    if isinstance(dtype, (str, np.dtype)) or dtype is float or (
            isinstance(dtype, type) and issubclass(dtype, np.generic)):
        try:
            name = np.dtype(dtype).name
        except TypeError:
            pass
    if name not in allowed:
        expected = " or ".join(repr(a) for a in allowed)
        raise ValueError(f"dtype: expected {expected} (a name or a NumPy dtype), got {dtype!r}")
    return name


def check_settings(spec: Spec, dtype) -> None:
    """Refuse a spec setting that the model's ``dtype`` cannot hold, or holds only as a subnormal
    (the spec checks float64's range): in float32 a clip_norm of 1e39 is inf and its scale
    inf/inf NaN; an epsilon of 1e-40 (1e-310 in float64) is subnormal, which TensorFlow takes
    as 0, and a zero gradient then divides by it; a beta_1, beta_2 or rho that rounds to 1
    makes Keras's 1 - beta 0 (Adam's step inf, or no step at all). What is not a Spec is
    refused first."""
    check_spec(spec)
    info, name = np.finfo(dtype), np.dtype(dtype).name
    largest = float(info.max)  # a Python float: against an np.float32, 1e39 would be cast first
    o = spec.optimizer
    settings = [(f"optimizer.{key}", getattr(o, key), largest) for key in
                ("learning_rate", "decay", "epsilon", "initial_accumulator", "clip_value",
                 "clip_norm")]
    for i, layer in enumerate(spec.layers):
        settings.append((f"layers[{i}].alpha", layer.alpha, largest))
        settings += [(f"layers[{i}].{key}", getattr(layer, key), largest / 2)  # 2 * l2 * w
                     for key in ("weight_l1", "weight_l2", "bias_l1", "bias_l2")]
    for where, value, limit in settings:
        if value > limit:
            raise SpecError(f"{where}: expected at most {limit:.4g} for a {name} model, got "
                            f"{value!r} (use float64, or a smaller value)")
    for key in ("beta_1", "beta_2", "rho"):  # 1 - beta, which Keras computes in the dtype
        value = getattr(o, key)
        if value > 0 and np.dtype(dtype).type(value) == 1:
            below = float(np.nextafter(np.dtype(dtype).type(1), np.dtype(dtype).type(0)))
            raise SpecError(f"optimizer.{key}: expected at most {below!r} for a {name} model "
                            f"(the largest {name} below 1), got {value!r}, which is 1 there: "
                            f"1 - {key} would be 0 (use float64, or a smaller value)")
    if o.epsilon < float(info.tiny):  # TensorFlow flushes subnormals to 0: g / (0 + 0) is NaN
        raise SpecError(f"optimizer.epsilon: expected at least {float(info.tiny):.4g}, the "
                        f"smallest normal {name} (TensorFlow takes smaller ones as 0), got "
                        f"{o.epsilon!r}")


def _is_real(array: np.ndarray) -> bool:
    """bool, integer or float: not complex (a cast drops the imaginary part), object or time."""
    return array.dtype.kind in "biuf"


def exceeds(array: np.ndarray, dtype) -> bool:
    """Whether finite values lie beyond ``dtype``'s range (a float64 1e300 is inf in float32).
    Only a wider float can: for the others no pass over the values is made."""
    limit = np.finfo(dtype).max
    if array.dtype.kind != "f" or np.finfo(array.dtype).max <= limit or not array.size:
        return False
    return bool(np.max(np.abs(array)) > limit)


def _check_range(array: np.ndarray, name: str, dtype) -> None:
    if exceeds(array, dtype):
        raise InputError(f"{name}: holds values beyond the {np.dtype(dtype).name} range "
                         f"(|x| <= {np.finfo(dtype).max:.4g}) that the model computes in")


def _array(value, name: str) -> np.ndarray:
    if isinstance(value, np.ma.MaskedArray) and np.ma.is_masked(value):  # asarray drops the mask
        raise InputError(f"{name}: a masked array with masked entries; expected plain numbers "
                         f"(fill or drop the masked ones first)")
    try:
        return np.asarray(value)
    except ValueError as error:  # ragged nested lists
        raise InputError(f"{name}: expected a rectangular array ({error})") from None
    except (TypeError, RuntimeError) as error:  # a tensor that requires grad, say
        raise InputError(f"{name}: a {type(value).__name__} that does not convert to a NumPy "
                         f"array ({error})") from None


def check_inputs(spec: Spec, X, name: str = "X", dtype=np.float64) -> np.ndarray:
    """``X`` as a real array of shape (n, spec.inputs), n >= 1, all finite in ``dtype``."""
    X = _array(X, name)
    if not _is_real(X):
        raise InputError(f"{name}: expected a real numeric array, got dtype {X.dtype}")
    if X.ndim != 2 or X.shape[1] != spec.inputs:
        raise InputError(f"{name}: expected shape (n, {spec.inputs}) for network {spec.name!r}, "
                         f"got {X.shape}")
    if len(X) == 0:
        raise InputError(f"{name}: the batch is empty; expected at least one sample")
    if not np.all(np.isfinite(X)):
        bad = np.argwhere(~np.isfinite(X))[0]
        raise InputError(f"{name}: holds NaN or inf (first at row {bad[0]}, column {bad[1]}); "
                         f"expected finite numbers")
    _check_range(X, name, dtype)
    return X


def check_targets(spec: Spec, y, n: int, name: str = "y", dtype=np.float64) -> np.ndarray:
    """``y`` checked against the loss: class indices (n,) or one-hot (n, C) for cross-entropy, else (n, outputs)."""
    y = _array(y, name)
    if not _is_real(y):
        raise InputError(f"{name}: expected a real numeric array, got dtype {y.dtype}")
    outputs = spec.outputs
    if spec.loss == "categorical_crossentropy":
        if y.ndim == 1:
            if not np.issubdtype(y.dtype, np.integer):
                raise InputError(f"{name}: expected integer class indices for {spec.loss}, "
                                 f"got dtype {y.dtype}")
            if len(y) != n:
                raise InputError(f"{name}: expected {n} labels (one per sample), got {len(y)}")
            if len(y) and (y.min() < 0 or y.max() >= outputs):
                raise InputError(f"{name}: labels must lie in [0, {outputs - 1}], "
                                 f"got values from {y.min()} to {y.max()}")
            return y
        if y.shape != (n, outputs):
            raise InputError(f"{name}: expected class indices of shape ({n},) or one-hot labels of "
                             f"shape ({n}, {outputs}), got {y.shape}")
        if not np.all((y == 0) | (y == 1)) or not np.all(y.sum(axis=1) == 1):
            raise InputError(f"{name}: one-hot labels must hold a single 1 per row and 0 elsewhere")
        return y
    if y.shape != (n, outputs):
        hint = (f"; reshape to ({n}, 1) (a ({n},) target against a ({n}, 1) output would "
                f"broadcast to ({n}, {n}))" if y.shape == (n,) and outputs == 1 else "")
        raise InputError(f"{name}: expected shape ({n}, {outputs}) for {spec.loss}, "
                         f"got {y.shape}{hint}")
    if not np.all(np.isfinite(y)):
        raise InputError(f"{name}: expected finite numbers for {spec.loss}")
    _check_range(y, name, dtype)
    if y.dtype.kind != "f":  # bool or integer targets: as numbers, cast to the model's dtype
        y = y.astype(np.float64)
    if spec.loss == "binary_crossentropy" and (y.min() < 0 or y.max() > 1):
        raise InputError(f"{name}: binary_crossentropy expects targets in [0, 1], "
                         f"got values from {y.min()} to {y.max()}")
    return y


def check_masks(spec: Spec, dropout_masks, n: int) -> dict:
    """Injected dropout masks: only known dropout layers, 0/1 arrays of shape (n, width)."""
    if dropout_masks is None or (isinstance(dropout_masks, dict) and not dropout_masks):
        return {}
    if not isinstance(dropout_masks, dict):
        raise InputError(f"dropout_masks: expected a dict of dropout layer name -> mask, got "
                         f"{type(dropout_masks).__name__}")
    widths = dropout_widths(spec)
    rates = {layer.name: layer.rate for layer in spec.dropout_layers}
    unknown = sorted(set(dropout_masks) - set(widths), key=repr)  # names of any type
    if unknown:
        raise InputError(f"dropout_masks: unknown layers {unknown}; the dropout layers are "
                         f"{sorted(widths)}")
    checked = {}
    for name, mask in dropout_masks.items():
        mask = _array(mask, f"dropout_masks[{name!r}]")
        if not _is_real(mask):
            raise InputError(f"dropout_masks[{name!r}]: expected a bool or real 0/1 array, "
                             f"got dtype {mask.dtype}")
        if mask.shape != (n, widths[name]):
            raise InputError(f"dropout_masks[{name!r}]: expected shape ({n}, {widths[name]}), "
                             f"got {mask.shape}")
        if not np.all((mask == 0) | (mask == 1)):
            raise InputError(f"dropout_masks[{name!r}]: expected only 0 and 1")
        if rates[name] == 0 and not np.all(mask == 1):  # every layer would ignore it
            raise InputError(f"dropout_masks[{name!r}]: the layer's rate is 0, which keeps "
                             f"every unit; expected only 1s (or no mask)")
        checked[name] = mask
    return checked


def check_flag(name: str, value) -> bool:
    """A True/False argument (``training``): refused by name when it is anything else."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name}: expected True or False, got {type(value).__name__} "
                        f"{value!r:.60}")
    return bool(value)


def dropout_widths(spec: Spec) -> dict[str, int]:
    """Each dropout layer's name -> the width of its input (the preceding dense layer's units)."""
    widths, width = {}, spec.inputs
    for layer in spec.layers:
        if layer.type == "dense":
            width = layer.units
        elif layer.type == "dropout":
            widths[layer.name] = width
    return widths
