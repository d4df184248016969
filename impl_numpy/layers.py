"""Layers of the NumPy reference: Dense and Dropout (nnfs Layer_Dense, Layer_Dropout).

Mirrors: impl_pure/layers.py, impl_torch/layers.py, impl_tf/layers.py.
"""
import numpy as np


class Dense:
    """y = x @ W + b, with L1/L2 penalties on W and b (nnfs Layer_Dense)."""

    def __init__(self, weights, biases, dweights, dbiases, spec_layer, variant="nnfs"):
        # All four arrays are views into the model's flat buffers (see Model.__init__).
        self.weights, self.biases = weights, biases
        self.dweights, self.dbiases = dweights, dbiases
        self.weight_l1, self.weight_l2 = spec_layer.weight_l1, spec_layer.weight_l2
        self.bias_l1, self.bias_l2 = spec_layer.bias_l1, spec_layer.bias_l2
        self.variant = variant
        self.propagate = True  # the model turns this off for the first layer: no dL/dX needed
        self.regularized = spec_layer.regularized

    def forward(self, inputs, training=False, mask=None):
        self.inputs = inputs
        self.output = inputs @ self.weights
        self.output += self.biases  # in place: one array per call, the same sums
        return self.output

    def backward(self, dvalues):
        np.matmul(self.inputs.T, dvalues, out=self.dweights)
        # db = sum over the samples (nnfs: np.sum(dvalues, axis=0)). For two or more columns
        # np.sum adds the rows in order, and einsum gives the same bits 1.5-2x faster on narrow
        # layers; a single column is contiguous, np.sum adds it pairwise, and that case keeps it.
        if dvalues.shape[1] == 1:
            dvalues.sum(axis=0, out=self.dbiases)
        else:
            np.einsum("ij->j", dvalues, out=self.dbiases)
        if self.regularized:
            self._add_penalty_gradients(self.weights, self.dweights, self.weight_l1, self.weight_l2)
            self._add_penalty_gradients(self.biases, self.dbiases, self.bias_l1, self.bias_l2)
        self.dinputs = dvalues @ self.weights.T if self.propagate else None
        return self.dinputs

    def _add_penalty_gradients(self, param, dparam, l1, l2):
        if l1 > 0:
            dparam += l1 * l1_sign(param, self.variant)
        if l2 > 0:
            dparam += 2 * l2 * param

    def regularization_loss(self):
        """l1 * sum|w| + l2 * sum(w^2), for weights and biases."""
        loss = 0.0
        for param, l1, l2 in ((self.weights, self.weight_l1, self.weight_l2),
                              (self.biases, self.bias_l1, self.bias_l2)):
            if l1 > 0:
                loss += l1 * np.sum(np.abs(param))
            if l2 > 0:
                loss += l2 * np.sum(param * param)
        return loss


def l1_sign(param, variant):
    """d|w|/dw: nnfs takes +1 at w == 0, torch and Keras take sign(0) = 0."""
    if variant == "nnfs":
        return np.where(param < 0, -1.0, 1.0).astype(param.dtype)
    return np.sign(param)


class Dropout:
    """Inverted dropout: y = x * (mask / (1 - rate)) while training, y = x otherwise (nnfs Layer_Dropout)."""

    def __init__(self, rate, rng):
        self.rate = rate
        self.rng = rng

    def forward(self, inputs, training=False, mask=None):
        if not training or self.rate == 0:
            self.scaled_mask = None
            self.output = inputs
            return inputs
        if mask is None:
            mask = self.rng.binomial(1, 1 - self.rate, size=inputs.shape)
        # mask / (1 - rate) in the inputs' dtype, converting the mask on the way (one pass)
        self.scaled_mask = np.divide(mask, inputs.dtype.type(1 - self.rate), dtype=inputs.dtype)
        self.output = inputs * self.scaled_mask
        return self.output

    def backward(self, dvalues):
        self.dinputs = dvalues if self.scaled_mask is None else dvalues * self.scaled_mask
        return self.dinputs
