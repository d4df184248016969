"""Spec variations for compare.py: optimizer, L2, dropout, and the sweep grid.

A sweep is the "which optimizer, which step size" study of the tutorials: optimizer x
learning rate x batch size (0 = full batch) x regularization ("none", "l2", "dropout"),
each configuration trained in every implementation from the same weights, data order
and dropout masks. NumPy-free: these are plain transformations of a :class:`Spec`.
"""
from __future__ import annotations

import dataclasses
import itertools

from shared.spec import OPTIMIZER_DEFAULTS, OPTIMIZERS, Layer, Optimizer, Spec

REGULARIZATIONS = ("none", "l2", "dropout")
L2 = 5e-4            # nnfs Ch. 14's weight_regularizer_l2 and bias_regularizer_l2
DROPOUT_RATE = 0.1   # nnfs Ch. 15's Layer_Dropout(0.1)

DEFAULT_OPTIMIZERS = ("sgd", "adam")
DEFAULT_LEARNING_RATES = (0.01, 0.1)
DEFAULT_BATCH_SIZES = (0, 32)
DEFAULT_REGULARIZATIONS = REGULARIZATIONS
DEFAULT_EPOCHS = 20


def with_optimizer(spec: Spec, optimizer: str | None = None, **hyperparameters) -> Spec:
    """``spec`` with another optimizer (nnfs defaults for a new type) and/or new hyperparameters."""
    if optimizer is not None and optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer: expected one of {OPTIMIZERS}, got {optimizer!r}")
    changes = {k: v for k, v in hyperparameters.items() if v is not None}
    if optimizer is not None and optimizer != spec.optimizer.type:
        fresh = Optimizer(type=optimizer, **OPTIMIZER_DEFAULTS[optimizer])
        return spec.replace(optimizer=dataclasses.replace(fresh, **changes))
    return spec.replace(optimizer=changes) if changes else spec


def with_l2(spec: Spec, lam: float = L2) -> Spec:
    """``spec`` with L2 factor ``lam`` on the weights and biases of every dense layer."""
    return spec.replace(layers=tuple(
        dataclasses.replace(layer, weight_l2=lam, bias_l2=lam) if layer.type == "dense" else layer
        for layer in spec.layers))


def with_dropout(spec: Spec, rate: float = DROPOUT_RATE) -> Spec:
    """``spec`` with Dropout(``rate``) after every hidden activation (existing ones get ``rate``)."""
    if spec.dropout_layers:
        return spec.replace(layers=tuple(
            dataclasses.replace(layer, rate=rate) if layer.type == "dropout" else layer
            for layer in spec.layers))
    last_dense = max(i for i, layer in enumerate(spec.layers) if layer.type == "dense")
    layers, count = [], 0
    for i, layer in enumerate(spec.layers):
        layers.append(layer)
        ends_hidden = (i < last_dense and layer.type != "dense"
                       and spec.layers[i + 1].type == "dense")
        if ends_hidden:
            count += 1
            layers.append(Layer(type="dropout", name=f"dropout{count}", rate=rate))
    if not count:
        raise ValueError(f"network {spec.name!r} has no hidden layer to put dropout after")
    return spec.replace(layers=tuple(layers))


def regularized(spec: Spec, regularization: str) -> Spec:
    """``spec`` with the sweep's regularization "none", "l2" or "dropout"."""
    if regularization == "l2":
        return with_l2(spec)
    if regularization == "dropout":
        return with_dropout(spec)
    if regularization != "none":
        raise ValueError(f"regularization: expected one of {REGULARIZATIONS}, "
                         f"got {regularization!r}")
    return spec


@dataclasses.dataclass(frozen=True)
class Config:
    """One sweep point: optimizer, learning rate, batch size (0 = full batch) and regularization."""

    optimizer: str
    learning_rate: float
    batch_size: int
    regularization: str

    @property
    def label(self) -> str:
        batch = "full" if self.batch_size == 0 else f"b{self.batch_size}"
        return f"{self.optimizer} lr={self.learning_rate:g} {batch} {self.regularization}"

    def apply(self, spec: Spec) -> Spec:
        """The spec of this configuration (batch size goes to fit, not into the spec)."""
        spec = with_optimizer(spec, self.optimizer, learning_rate=self.learning_rate)
        return regularized(spec, self.regularization)


def grid(optimizers=DEFAULT_OPTIMIZERS, learning_rates=DEFAULT_LEARNING_RATES,
         batch_sizes=DEFAULT_BATCH_SIZES, regularizations=DEFAULT_REGULARIZATIONS) -> list[Config]:
    """Every combination, optimizer slowest; checked so a typo fails before any training."""
    for name in optimizers:
        if name not in OPTIMIZERS:
            raise ValueError(f"sweep optimizer: expected one of {OPTIMIZERS}, got {name!r}")
    for lr in learning_rates:
        if not lr > 0:
            raise ValueError(f"sweep learning rate: expected a number > 0, got {lr!r}")
    for size in batch_sizes:
        if size < 0:
            raise ValueError(f"sweep batch size: expected 0 (full batch) or more, got {size!r}")
    for name in regularizations:
        if name not in REGULARIZATIONS:
            raise ValueError(f"sweep regularization: expected one of {REGULARIZATIONS}, "
                             f"got {name!r}")
    return [Config(*point) for point in itertools.product(optimizers, learning_rates,
                                                         batch_sizes, regularizations)]
