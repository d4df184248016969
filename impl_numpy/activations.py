"""Activations of the NumPy reference (nnfs Activation_*).

Mirrors: impl_pure/activations.py, impl_torch/activations.py, impl_tf/activations.py.
"""
from functools import lru_cache

import numpy as np


@lru_cache(maxsize=16)
def _zeros(shape, dtype):
    """A read-only array of zeros, kept per shape and dtype."""
    zeros = np.zeros(shape, dtype)
    zeros.flags.writeable = False
    return zeros


class ReLU:
    """y = max(0, x); dy/dx = 1 where x > 0, else 0."""

    def forward(self, inputs, training=False, mask=None):
        self.inputs = inputs  # kept, as nnfs keeps it (the backward reads the output)
        # max(0, x) against an array of zeros: the same bits (-0.0 and NaN included), 3x faster
        # in float32, as NumPy's vectorised loop takes no scalar operand.
        self.output = np.maximum(_zeros(inputs.shape, inputs.dtype), inputs)
        return self.output

    def backward(self, dvalues):
        # dvalues * [x > 0], read off y: y != 0 exactly where x > 0, and where x is NaN, which
        # passes the gradient as "not x <= 0" would (one comparison instead of two operations).
        # Unlike nnfs's assignment of 0, a product gives -0.0 for d < 0, and NaN for d = inf.
        self.dinputs = dvalues * (self.output != 0)
        return self.dinputs


class LeakyReLU:
    """y = x where x > 0, else alpha * x; dy/dx = 1 where x > 0, else alpha."""

    def __init__(self, alpha=0.01):
        self.alpha = alpha

    def forward(self, inputs, training=False, mask=None):
        self.inputs = inputs
        self.output = np.where(inputs > 0, inputs, self.alpha * inputs)
        return self.output

    def backward(self, dvalues):
        self.dinputs = np.where(self.inputs > 0, dvalues, self.alpha * dvalues)
        return self.dinputs


class Sigmoid:
    """y = 1 / (1 + exp(-x)); dy/dx = y * (1 - y)."""

    def forward(self, inputs, training=False, mask=None):
        # below x = -709.78 (float64; -88.72 in float32) exp(-x) = inf, and y = 0
        with np.errstate(over="ignore"):
            self.output = 1 / (1 + np.exp(-inputs))
        return self.output

    def backward(self, dvalues):
        self.dinputs = dvalues * (1 - self.output) * self.output
        return self.dinputs


class Tanh:
    """y = tanh(x); dy/dx = 1 - y^2."""

    def forward(self, inputs, training=False, mask=None):
        self.output = np.tanh(inputs)
        return self.output

    def backward(self, dvalues):
        self.dinputs = dvalues * (1 - self.output * self.output)
        return self.dinputs


class Softmax:
    """y_i = exp(x_i - max x) / sum_j exp(x_j - max x); backward through the full Jacobian."""

    def forward(self, inputs, training=False, mask=None):
        # nnfs: e = exp(x - max_row(x)); y = e / sum_row(e).
        # Computed on a transposed copy, one row per class: the max and the sum over the classes
        # then run along contiguous memory (3x faster for 3 classes), and the sum adds the classes
        # in order, as impl_pure does (a row sum of 8 or more would add them pairwise).
        exps = inputs.T.copy()
        exps -= exps.max(axis=0)
        np.exp(exps, out=exps)
        exps /= exps.sum(axis=0)
        self.output = exps.T
        return self.output

    def backward(self, dvalues):
        # One Jacobian per sample: J = diag(y) - y y^T, then dinputs = J @ dvalues.
        y = self.output
        jacobians = np.einsum("ni,ij->nij", y, np.eye(y.shape[1], dtype=y.dtype))
        jacobians -= np.einsum("ni,nj->nij", y, y)
        self.dinputs = np.einsum("nij,nj->ni", jacobians, dvalues)
        return self.dinputs


class Linear:
    """y = x (nnfs Activation_Linear, the regression output)."""

    def forward(self, inputs, training=False, mask=None):
        self.output = inputs
        return self.output

    def backward(self, dvalues):
        self.dinputs = dvalues
        return self.dinputs


class Step:
    """y = 1 where x > 0, else 0; backward is straight-through, which with MAE is the perceptron rule."""

    def forward(self, inputs, training=False, mask=None):
        self.output = (inputs > 0).astype(inputs.dtype)
        return self.output

    def backward(self, dvalues):
        self.dinputs = dvalues
        return self.dinputs
