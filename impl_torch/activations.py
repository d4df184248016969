"""Activations of the PyTorch implementation: torch's modules under the nnfs names; autograd does the backward.

In exact mode sigmoid and tanh take impl_numpy's gradient formulas (autograd Functions), and
the step's gradient is straight-through.

Mirrors: impl_numpy/activations.py, impl_pure/activations.py, impl_tf/activations.py.
"""
import torch
from torch import nn


class ReLU(nn.ReLU):
    """y = max(0, x); dy/dx = 1 where x > 0, else 0."""


class LeakyReLU(nn.LeakyReLU):
    """y = x where x > 0, else alpha * x; dy/dx = 1 where x > 0, else alpha."""

    def __init__(self, alpha=0.01):
        super().__init__(negative_slope=alpha)


class Sigmoid(nn.Sigmoid):
    """y = 1 / (1 + exp(-x)); dy/dx = y * (1 - y)."""

    def __init__(self, exact=True):
        super().__init__()
        self.exact = exact

    def forward(self, inputs):
        return sigmoid(inputs) if self.exact else super().forward(inputs)


class Tanh(nn.Tanh):
    """y = tanh(x); dy/dx = 1 - y^2."""

    def __init__(self, exact=True):
        super().__init__()
        self.exact = exact

    def forward(self, inputs):
        return tanh(inputs) if self.exact else super().forward(inputs)


class Softmax(nn.Softmax):
    """y_i = exp(x_i - max x) / sum_j exp(x_j - max x), over each row."""

    def __init__(self, exact=True):
        super().__init__(dim=1)
        self.exact = exact

    def forward(self, inputs):
        return softmax(inputs) if self.exact else super().forward(inputs)


class _Sigmoid(torch.autograd.Function):
    @staticmethod
    def forward(ctx, inputs):
        output = 1 / (1 + torch.exp(-inputs))
        ctx.save_for_backward(output)
        return output

    @staticmethod
    def backward(ctx, grad_output):
        (output,) = ctx.saved_tensors
        return grad_output * (1 - output) * output


def sigmoid(inputs):
    """impl_numpy's sigmoid, 1 / (1 + exp(-x)), and its gradient (torch.sigmoid's own rounds
    2.7% of float64 inputs differently, up to 2 ulps; this, with torch's exp, 0.24%)."""
    return _Sigmoid.apply(inputs)


class _Tanh(torch.autograd.Function):
    @staticmethod
    def forward(ctx, inputs):
        output = torch.tanh(inputs)
        ctx.save_for_backward(output)
        return output

    @staticmethod
    def backward(ctx, grad_output):
        (output,) = ctx.saved_tensors
        return grad_output * (1 - output * output)


def tanh(inputs):
    """torch.tanh, with impl_numpy's gradient d * (1 - y*y): torch's own backward takes 1 - y*y
    with a fused multiply-add, which differs where y*y nearly cancels 1 (|y| near 1)."""
    return _Tanh.apply(inputs)


def softmax(inputs):
    """impl_numpy's softmax: torch.softmax multiplies by 1/sum and sums in another order."""
    if inputs.shape[1] <= 4:  # torch adds up to 4 contiguous columns in order, as NumPy
        exps = torch.exp(inputs - inputs.amax(dim=1, keepdim=True))
        return exps / exps.sum(dim=1, keepdim=True)
    # On a transposed copy, one row per class, as impl_numpy computes it: torch's sums over
    # the rows are then NumPy's for most samples (at 10 classes: nearly all from 16 samples
    # up, about half at 8; about half when summed along rows).
    exps = inputs.T.contiguous()
    exps = torch.exp(exps - exps.amax(dim=0))
    return (exps / exps.sum(dim=0)).T


class Linear(nn.Identity):
    """y = x (nnfs Activation_Linear, the regression output)."""


class _StraightThroughStep(torch.autograd.Function):
    @staticmethod
    def forward(ctx, inputs):
        return (inputs > 0).to(inputs.dtype)

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output


def straight_through_step(inputs):
    """1 where x > 0, else 0, with the identity as its gradient."""
    return _StraightThroughStep.apply(inputs)


class Step(nn.Module):
    """y = 1 where x > 0, else 0; backward is straight-through, which with MAE is the perceptron rule."""

    def forward(self, inputs):
        return straight_through_step(inputs)
