"""Spec variations for compare.py: optimizer, L2, dropout, and the sweep grid.

A sweep is the "which optimizer, which step size" study of the tutorials: optimizer x
learning rate x batch size (0 = full batch) x regularization ("none", "l2", "dropout"),
each configuration trained in every implementation from the same weights, data order
and dropout masks. A configuration is what its label says (:meth:`Config.apply`): no
hyperparameter or regularization is inherited from the spec. NumPy-free: these are plain
transformations of a :class:`Spec`.
"""
from __future__ import annotations

import dataclasses
import itertools
import math

from shared.spec import (
    OPTIMIZER_DEFAULTS,
    OPTIMIZERS,
    Layer,
    Optimizer,
    Spec,
    check_hyperparameters,
)

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
    check_hyperparameters(optimizer or spec.optimizer.type, changes)
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


def has_hidden_layer(spec: Spec) -> bool:
    """Whether :func:`with_dropout` has somewhere to put a dropout layer."""
    try:
        with_dropout(spec)
    except ValueError:
        return False
    return True


def unregularized(spec: Spec) -> Spec:
    """``spec`` without L1/L2 factors and dropout layers (the other layers keep their names)."""
    zero = {"weight_l1": 0.0, "weight_l2": 0.0, "bias_l1": 0.0, "bias_l2": 0.0}
    return spec.replace(layers=tuple(dataclasses.replace(layer, **zero) for layer in spec.layers
                                     if layer.type != "dropout"))


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
        return f"{self.optimizer} lr={self.learning_rate!r} {batch} {self.regularization}"

    def apply(self, spec: Spec) -> Spec:
        """The spec of this configuration, determined by the label alone: the network's layers
        without their own regularization, the optimizer from its nnfs defaults with this
        learning rate (the batch size goes to fit, not into the spec)."""
        fresh = Optimizer(type=self.optimizer, **dict(OPTIMIZER_DEFAULTS[self.optimizer],
                                                      learning_rate=self.learning_rate))
        return regularized(unregularized(spec).replace(optimizer=fresh), self.regularization)


def check(axis: str, values) -> None:
    """Raise ValueError saying what ``axis`` of :func:`grid` expects, when ``values`` do not fit."""
    if not values:
        raise ValueError("expected at least one value")
    for value in values:
        if axis == "optimizers" and value not in OPTIMIZERS:
            raise ValueError(f"expected a subset of {','.join(OPTIMIZERS)}, got {value!r}")
        if axis == "learning_rates" and not (math.isfinite(value) and value > 0):
            raise ValueError(f"expected finite numbers > 0, got {value!r}")
        if axis == "batch_sizes" and value < 0:
            raise ValueError(f"expected 0 (full batch) or more, got {value!r}")
        if axis == "regularizations" and value not in REGULARIZATIONS:
            raise ValueError(f"expected a subset of {','.join(REGULARIZATIONS)}, got {value!r}")


def grid(optimizers=DEFAULT_OPTIMIZERS, learning_rates=DEFAULT_LEARNING_RATES,
         batch_sizes=DEFAULT_BATCH_SIZES, regularizations=DEFAULT_REGULARIZATIONS) -> list[Config]:
    """Every combination, optimizer slowest; checked so a typo fails before any training."""
    axes = {"optimizers": optimizers, "learning_rates": learning_rates,
            "batch_sizes": batch_sizes, "regularizations": regularizations}
    for axis, values in axes.items():
        try:
            check(axis, values)
        except ValueError as error:
            raise ValueError(f"sweep {axis}: {error}") from None
    return [Config(*point) for point in itertools.product(*axes.values())]
