"""Layers in pure Python: Dense and Dropout (nnfs Layer_Dense, Layer_Dropout).

Mirrors: impl_numpy/layers.py, impl_torch/layers.py, impl_tf/layers.py.
"""
from math import nan
from operator import mul

from impl_pure.linalg import (
    affine,
    dot_products,
    matmul_transposed,
    pairwise_sum,
    sum_in_order,
    transpose,
)


class Dense:
    """y = x @ W + b, with L1/L2 penalties on W and b (nnfs Layer_Dense)."""

    def __init__(self, weights, biases, dweights, dbiases, spec_layer, variant="nnfs"):
        # All four are the model's own lists (see Model.__init__), updated in place:
        # weights and dweights are n_inputs rows of n_neurons, biases and dbiases n_neurons.
        self.weights, self.biases = weights, biases
        self.dweights, self.dbiases = dweights, dbiases
        self.weight_l1, self.weight_l2 = spec_layer.weight_l1, spec_layer.weight_l2
        self.bias_l1, self.bias_l2 = spec_layer.bias_l1, spec_layer.bias_l2
        self.variant = variant
        self.propagate = True  # the model turns this off for the first layer: no dL/dX needed
        self.regularized = spec_layer.regularized

    def forward(self, inputs, training=False, mask=None):
        self.inputs = inputs
        self.output = affine(inputs, self.weights, self.biases)
        return self.output

    def backward(self, dvalues):
        # dW = inputs.T @ dvalues: each column of inputs dotted with each column of dvalues.
        # Both transposed once per step, and dW copied into its own rows.
        dvalue_columns = transpose(dvalues)
        for row, dots in zip(self.dweights, dot_products(transpose(self.inputs), dvalue_columns)):
            row[:] = dots
        # db = sum over the samples i, in impl_numpy's orders: in order, but pairwise (np.sum's
        # order) for a single column
        if len(dvalue_columns) == 1:
            self.dbiases[:] = [pairwise_sum(dvalue_columns[0])]
        else:
            self.dbiases[:] = map(sum_in_order, dvalue_columns)
        if self.regularized:
            for param_row, dparam_row in zip(self.weights, self.dweights):
                self._add_penalty_gradients(param_row, dparam_row, self.weight_l1, self.weight_l2)
            self._add_penalty_gradients(self.biases, self.dbiases, self.bias_l1, self.bias_l2)
        self.dinputs = matmul_transposed(dvalues, self.weights) if self.propagate else None
        return self.dinputs

    def _add_penalty_gradients(self, param, dparam, l1, l2):
        if l1 > 0:
            dparam[:] = [g + l1 * s for g, s in zip(dparam, l1_sign(param, self.variant))]
        if l2 > 0:
            dparam[:] = [g + 2 * l2 * p for g, p in zip(dparam, param)]

    def regularization_loss(self):
        """l1 * sum|w| + l2 * sum(w^2), for weights and biases."""
        loss = 0.0
        for param, l1, l2 in ((self.weights, self.weight_l1, self.weight_l2),
                              ([self.biases], self.bias_l1, self.bias_l2)):  # biases: one row
            if l1 > 0:
                loss += l1 * pairwise_sum([abs(p) for row in param for p in row])
            if l2 > 0:
                loss += l2 * pairwise_sum([p * p for row in param for p in row])
        return loss


def l1_sign(param, variant):
    """d|w|/dw: nnfs takes +1 at w == 0, torch and Keras take sign(0) = 0."""
    if variant == "nnfs":
        return [-1.0 if p < 0 else 1.0 for p in param]
    return [1.0 if p > 0 else -1.0 if p < 0 else 0.0 if p == 0 else nan  # np.sign's, NaN too
            for p in param]


class Dropout:
    """Inverted dropout: y = x * (mask / (1 - rate)) while training, y = x otherwise (nnfs Layer_Dropout)."""

    def __init__(self, rate, rng):
        self.rate = rate
        self.rng = rng  # a random.Random, for masks drawn here when none is given

    def forward(self, inputs, training=False, mask=None):
        if not training or self.rate == 0:
            self.scaled_mask = None
            self.output = inputs
            return inputs
        if mask is None:
            random, rate = self.rng.random, self.rate
            mask = [[1.0 if random() >= rate else 0.0 for _ in row] for row in inputs]
        keep = 1 - self.rate
        self.scaled_mask = [[m / keep for m in row] for row in mask]
        self.output = [list(map(mul, row, scale)) for row, scale in zip(inputs, self.scaled_mask)]
        return self.output

    def backward(self, dvalues):
        if self.scaled_mask is None:
            self.dinputs = dvalues
        else:
            self.dinputs = [list(map(mul, row, scale))
                            for row, scale in zip(dvalues, self.scaled_mask)]
        return self.dinputs
