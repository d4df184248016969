"""impl_pure at the harness boundary: NumPy arrays in, nested lists to impl_pure, float64 arrays out.

impl_pure computes with Python floats and imports no NumPy, so the harness contract
(validation with shared.checks, arrays in canonical layout, fit/evaluate/predict from
shared.training, safetensors files) lives here. ``shared.implementations.module("pure")``
returns this module.
"""
from __future__ import annotations

import numpy as np

import impl_pure
from shared import weights
from shared.checks import (check_dtype, check_flag, check_inputs, check_masks, check_settings,
                           check_targets)
from shared.implementations import check_mode
from shared.training import TrainingMixin


def build(spec, params, dtype="float64", mode="exact"):
    """The harness entry point: impl_pure's model of ``spec`` holding a copy of ``params``.

    Python floats are float64, so ``dtype`` must be "float64". There is no framework
    behind impl_pure, so both modes compute the spec's own formulas.
    """
    if check_dtype(dtype) != "float64":
        raise ValueError(f"dtype: impl_pure computes with Python floats, which are float64 only; "
                         f"got {dtype!r} (use dtype='float64')")
    check_mode(mode)
    return PureModel(spec, params)


def _matrix(array) -> list:
    return np.asarray(array, dtype=np.float64).tolist()


def _targets(y) -> list:
    """Class indices as ints; one-hot labels and regression targets as rows of floats."""
    return y.tolist() if y.ndim == 1 else _matrix(y)


def _masks(masks: dict) -> dict:
    return {name: _matrix(mask) for name, mask in masks.items()}


def _arrays(params: dict) -> dict:
    return {name: np.array(value, dtype=np.float64) for name, value in params.items()}


class PureModel(TrainingMixin):
    """impl_pure's Model behind the harness contract: checks and conversions around each call."""

    def __init__(self, spec, params):
        self.spec = spec
        check_settings(spec, np.float64)
        self.model = impl_pure.build(spec, {name: value.tolist() for name, value
                                            in weights.check(spec, params).items()})

    def _checked(self, X, y, dropout_masks):
        X = check_inputs(self.spec, X)
        y = check_targets(self.spec, y, len(X))
        return _matrix(X), _targets(y), _masks(check_masks(self.spec, dropout_masks, len(X)))

    def forward(self, X, training=False, dropout_masks=None) -> np.ndarray:
        """Output activations for X; dropout uses ``dropout_masks`` (or fresh ones) when training."""
        training = check_flag("training", training)
        X = check_inputs(self.spec, X)
        masks = _masks(check_masks(self.spec, dropout_masks, len(X)))
        return np.array(self.model.forward(_matrix(X), training, masks), dtype=np.float64)

    def loss(self, X, y, dropout_masks=None) -> float:
        """Mean data loss plus regularization; dropout active only where masks are given."""
        return float(self.model.loss(*self._checked(X, y, dropout_masks)))

    def gradients(self, X, y, dropout_masks=None) -> dict:
        """d(loss)/d(parameter) by canonical name, in canonical layout."""
        return _arrays(self.model.gradients(*self._checked(X, y, dropout_masks)))

    def step(self, X, y, dropout_masks=None) -> float:
        """One optimizer update (clipping, decay, formula variant); returns the loss before it."""
        return float(self.model.step(*self._checked(X, y, dropout_masks)))

    def train_epoch(self, X, y, batches, masks) -> list[float]:
        """A step per batch; X and y (checked by fit) become lists once per call, each batch's
        masks only when its step comes (as lists of floats they take ~8x a float32 array)."""
        return self.model.train_epoch(_matrix(X), _targets(y), [b.tolist() for b in batches],
                                      (_masks(batch_masks) for batch_masks in masks))

    def parameters(self) -> dict:
        """Current parameters by canonical name, in canonical layout (float64 copies)."""
        return _arrays(self.model.parameters())

    def set_parameters(self, params) -> None:
        """Overwrite the parameters (names and shapes checked against the spec)."""
        checked = weights.check(self.spec, params)
        self.model.set_parameters({name: value.tolist() for name, value in checked.items()})

    def save(self, path) -> None:
        """Write the parameters to a safetensors file (float64, canonical names)."""
        weights.save(path, self.parameters())

    def load(self, path) -> None:
        """Read parameters from a safetensors file written by any implementation."""
        self.set_parameters(weights.load(path, self.spec))
