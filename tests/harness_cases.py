"""The harness's test cases: built-in networks and seeded random small specs, with data and masks.

Shared by the tests/test_harness_*.py modules. Every case is deterministic: fixed seeds,
fixed slices of the datasets, dropout masks drawn by shared.training.epoch_masks.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from shared import datasets, implementations, networks, spec as spec_module, weights
from shared.training import epoch_masks

IMPLS = implementations.IMPLEMENTATIONS          # ("numpy", "pure", "torch", "tf")
REFERENCE = implementations.REFERENCE
FLOAT32_IMPLS = tuple(name for name in IMPLS if name != "pure")  # Python floats are float64
BUILTINS = networks.BUILTINS
STEP_NETWORKS = ("and", "or")  # the perceptron's step: straight-through backward
RANDOM_SPEC_SEEDS = tuple(range(20))
HIDDEN_ACTIVATIONS = ("relu", "leaky_relu", "sigmoid", "tanh", "linear", "step")
OUTPUT_ACTIVATIONS = {  # which output activation each loss gets in the random specs
    "categorical_crossentropy": ("softmax",),
    "binary_crossentropy": ("sigmoid",),
    "mse": ("linear", "sigmoid", "tanh", "relu", "softmax"),  # seeds 2, 6, ..., 18: each once
    "mae": ("linear", "tanh", "sigmoid", "leaky_relu"),
}


@dataclass(frozen=True, eq=False)
class Case:
    """A spec, its initial parameters, a batch (X, y) and the dropout masks for it."""

    name: str
    spec: object
    params: dict
    X: np.ndarray
    y: np.ndarray
    masks: dict

    def build(self, impl: str, dtype: str = "float64", mode: str = "exact", spec=None):
        return implementations.build(impl, spec or self.spec, self.params, dtype, mode)

    @property
    def has_step(self) -> bool:
        return any(layer.type == "step" for layer in self.spec.layers)


@functools.cache
def data(name: str):
    """The dataset of a built-in network, loaded once per process."""
    return datasets.for_spec(networks.load(name))


def builtin_case(name: str, rows: int = 32) -> Case:
    """A built-in network at its initial weights (seed 0) on ``rows`` fixed rows of its data.

    MNIST uses 8 rows (impl_pure's loops are slow) and dropout masks injected for them.
    """
    spec = networks.load(name)
    d = data(name)
    if name == "mnist":
        rows = 8
    n = len(d.X_train)
    index = (np.arange(n) if n <= rows
             else np.sort(np.random.default_rng(0).choice(n, rows, replace=False)))
    X, y = d.X_train[index], d.y_train[index]
    masks = epoch_masks(spec, 0, 0, [len(X)])[0]
    return Case(name, spec, weights.initial(spec, seed=0), X, y, masks)


def random_spec(seed: int):
    """A small random spec: depth 1-3, widths 1-16, cycling through every activation, loss and regularizer.

    The seed picks everything, so the list of 20 specs is fixed. Hidden activations cycle
    through HIDDEN_ACTIVATIONS and losses through spec.LOSSES, so every one appears, and
    every loss meets every formula variant (seed // 4 picks it; seed % 4 the loss).
    """
    rng = np.random.default_rng(1000 + seed)
    loss = spec_module.LOSSES[seed % len(spec_module.LOSSES)]
    depth = 1 + seed % 3
    layers = []
    for i in range(depth):
        last = i == depth - 1
        units = int(rng.integers(1, 17))
        if last:
            units = max(units, 2) if loss == "categorical_crossentropy" else min(units, 4)
        dense = {"type": "dense", "units": units}
        for key, scale in (("weight_l1", 1e-3), ("weight_l2", 1e-3), ("bias_l1", 1e-3),
                           ("bias_l2", 1e-3)):
            if rng.random() < 0.4:
                dense[key] = float(scale * rng.integers(1, 10))
        layers.append(dense)
        if last:
            outputs = OUTPUT_ACTIVATIONS[loss]
            layers.append({"type": outputs[(seed // 4) % len(outputs)]})
        else:
            activation = HIDDEN_ACTIVATIONS[(seed + i) % len(HIDDEN_ACTIVATIONS)]
            layers.append({"type": activation})
            if activation == "leaky_relu":
                layers[-1]["alpha"] = 0.1
            if rng.random() < 0.5:
                layers.append({"type": "dropout", "rate": float(rng.choice([0.1, 0.25, 0.5]))})
    return spec_module.from_dict({
        "name": f"random{seed}", "inputs": int(rng.integers(1, 9)), "layers": layers,
        "loss": loss, "init": spec_module.INITIALIZERS[seed % len(spec_module.INITIALIZERS)],
        "metric": "categorical" if loss == "categorical_crossentropy" else "regression",
        "variant": spec_module.VARIANTS[(seed // 4) % len(spec_module.VARIANTS)],
        "optimizer": {"type": "sgd", "learning_rate": 0.1},
    })


def random_case(seed: int) -> Case:
    """random_spec(seed) with random inputs, targets fitting its loss, and injected masks."""
    spec = random_spec(seed)
    rng = np.random.default_rng(2000 + seed)
    n = int(rng.integers(4, 17))
    X = rng.normal(size=(n, spec.inputs))
    if spec.loss == "categorical_crossentropy":
        y = rng.integers(0, spec.outputs, size=n)
    elif spec.loss == "binary_crossentropy":
        y = rng.integers(0, 2, size=(n, spec.outputs)).astype(np.float64)
    else:
        y = rng.normal(size=(n, spec.outputs))
    masks = epoch_masks(spec, seed, 0, [n])[0]
    # Biases start at 0; random ones exercise the bias gradients and L1's sign away from 0.
    params = weights.initial(spec, seed=seed)
    if seed % 2:
        params = {k: (v + 0.1 * rng.normal(size=v.shape) if k.endswith(".bias") else v)
                  for k, v in params.items()}
    return Case(spec.name, spec, params, X, y, masks)


def pair_ids(pairs):
    return [f"{a}-{b}" for a, b in pairs]
