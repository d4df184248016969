"""Layers of the PyTorch implementation: Dense (an nn.Linear) and Dropout (nnfs Layer_Dense, Layer_Dropout).

torch keeps a Linear weight as (n_neurons, n_inputs), the transpose of the canonical
(n_inputs, n_neurons); the model transposes at the harness boundary.

Mirrors: impl_numpy/layers.py, impl_pure/layers.py, impl_tf/layers.py.
"""
from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import nn


class Dense(nn.Linear):
    """y = x @ W.T + b with W of shape (out, in), with L1/L2 penalties on W and b (nnfs Layer_Dense)."""

    def __init__(self, weight, bias, spec_layer, variant="nnfs", exact=True):
        # weight and bias are views into the model's flat buffer (see Model.__init__); the
        # meta device skips torch's own initialization, which would draw from its global RNG.
        n_neurons, n_inputs = weight.shape
        super().__init__(n_inputs, n_neurons, device="meta", dtype=weight.dtype)
        self.weight, self.bias = nn.Parameter(weight), nn.Parameter(bias)
        self.weight_l1, self.weight_l2 = spec_layer.weight_l1, spec_layer.weight_l2
        self.bias_l1, self.bias_l2 = spec_layer.bias_l1, spec_layer.bias_l2
        self.variant = variant
        self.exact = exact

    def forward(self, inputs):
        if not self.exact:
            return super().forward(inputs)
        # x @ W.T + outer(1, b): autograd's backward then computes db = dy.T @ 1, a BLAS gemv
        # that sums the batch row after row, as impl_numpy's einsum("ij->j") does for two or
        # more outputs (tests/test_torch_bits.py checks the bits; a single output NumPy sums
        # pairwise, so there the two can differ in the last bit). The backward of x @ W.T + b
        # would be torch's sum(0), which groups the rows differently: that matters where the
        # sum nearly cancels.
        ones = _ones(len(inputs), inputs.dtype)
        return torch.addr(F.linear(inputs, self.weight), ones, self.bias)

    def add_penalty_gradients(self):
        """dL/dW += l1 * d|W|/dW, then += 2 * l2 * W, and so for b: impl_numpy's order, where
        autograd through ``regularization_loss`` adds the two penalties' gradients first."""
        for param, l1, l2 in ((self.weight, self.weight_l1, self.weight_l2),
                              (self.bias, self.bias_l1, self.bias_l2)):
            if l1 > 0:
                param.grad.add_(l1 * l1_sign(param, self.variant))
            if l2 > 0:
                param.grad.add_(2 * l2 * param)

    def regularization_loss(self):
        """l1 * sum|w| + l2 * sum(w^2), for weights and biases (a 0-d tensor, or 0.0 without penalties)."""
        loss = 0.0
        for param, l1, l2 in ((self.weight, self.weight_l1, self.weight_l2),
                              (self.bias, self.bias_l1, self.bias_l2)):
            if l1 > 0:
                loss = loss + l1 * torch.sum(torch.abs(param))
            if l2 > 0:
                loss = loss + l2 * torch.sum(param * param)
        return loss


def l1_sign(param, variant):
    """d|w|/dw: nnfs takes +1 at w == 0, torch and Keras take sign(0) = 0."""
    if variant == "nnfs":
        return torch.where(param < 0, -1.0, 1.0).to(param.dtype)
    return torch.sign(param)


@lru_cache(maxsize=16)
def _ones(n, dtype):
    """A vector of n ones, kept per length and dtype (never written to)."""
    return torch.ones(n, dtype=dtype)


class Dropout(nn.Module):
    """Inverted dropout: y = x * (mask / (1 - rate)), with the given 0/1 mask or, in training mode, a drawn one."""

    def __init__(self, rate, generator=None):
        super().__init__()
        self.rate = rate
        self.generator = generator  # a torch.Generator, for masks drawn here when none is given

    def forward(self, inputs, mask=None):
        # An injected mask applies in either mode (the harness's masks; at rate 0 it can only
        # be all ones); without one the layer draws its own from its generator in training
        # mode and is the identity in eval mode.
        if self.rate == 0 or (mask is None and not self.training):
            return inputs
        if mask is None:
            uniform = torch.rand(inputs.shape, generator=self.generator, dtype=inputs.dtype)
            mask = uniform >= self.rate
        return inputs * (mask.to(inputs.dtype) / (1 - self.rate))
