"""Losses of the PyTorch implementation in exact mode (nnfs Loss_*): nn.Modules returning the mean over samples.

Native mode uses torch's own losses instead (nn.CrossEntropyLoss on logits, nn.BCELoss,
nn.MSELoss, nn.L1Loss; see model.NATIVE_LOSSES).

nnfs clips probabilities before each log, but its backward formulas are the derivatives
of the unclipped loss evaluated at the clipped p: they never zero the gradient where p
was clipped, as autograd through torch.clamp would. The clip here is therefore
straight-through (clamp forward, identity backward), and the fused softmax +
cross-entropy has its own backward.

Mirrors: impl_numpy/losses.py, impl_pure/losses.py, impl_tf/losses.py.
"""
from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import nn

from impl_torch.activations import sigmoid, softmax

CLIP = 1e-7  # nnfs clips probabilities to [1e-7, 1 - 1e-7] before taking a log


class _StraightThroughClamp(torch.autograd.Function):
    @staticmethod
    def forward(ctx, inputs, low, high):
        return torch.clamp(inputs, low, high)

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output, None, None


def _bounds(variant, dtype):
    if variant == "nnfs":
        return CLIP, 1 - CLIP
    # torch takes the log unclipped, and so does Keras after a softmax (from the logits;
    # plain probabilities it clips as nnfs): here only kept finite.
    return torch.finfo(dtype).tiny, None


def _clip(y_pred, variant):
    return _StraightThroughClamp.apply(y_pred, *_bounds(variant, y_pred.dtype))


@lru_cache(maxsize=16)
def _identity(n_classes, dtype):
    """An identity matrix, kept per size and dtype (never written to): its rows are the one-hot labels."""
    return torch.eye(n_classes, dtype=dtype)


@lru_cache(maxsize=64)
def _count(n, dtype):
    """n as a 0-d tensor of dtype, kept (never written to)."""
    return torch.tensor(n, dtype=dtype)


def _confidences(probabilities, labels):
    """p[y] per sample, for class indices of shape (n,)."""
    return torch.gather(probabilities, 1, labels.unsqueeze(1)).squeeze(1)


def _softmax_crossentropy_from_logits(logits, labels):
    """mean(logsumexp(z) - z[y]): torch's CrossEntropyLoss and Keras's on a softmax output."""
    shifted = logits - logits.max(dim=1, keepdim=True).values  # log-softmax, the max subtracted
    log_sums = torch.log(torch.exp(shifted).sum(dim=1))
    return torch.mean(log_sums - _confidences(shifted, labels))


def _binary_crossentropy_from_logits(logits, y_true):
    """mean(max(z, 0) - z y + log(1 + exp(-|z|))): Keras's BCE on a sigmoid output."""
    sample_losses = torch.clamp(logits, min=0) - logits * y_true + torch.log1p(
        torch.exp(-torch.abs(logits)))
    return torch.mean(torch.mean(sample_losses, dim=-1))


class CategoricalCrossentropy(nn.Module):
    """L = -mean(log p[y]): class indices (n,), p clipped as nnfs (variant nnfs)."""

    from_logits = False

    def __init__(self, variant="nnfs"):
        super().__init__()
        self.variant = variant

    def forward(self, y_pred, y_true):
        return torch.mean(-torch.log(_confidences(_clip(y_pred, self.variant), y_true)))


def _softmax_crossentropy(logits, labels, variant):
    """(L, dL/dz): nnfs's clipped cross-entropy of softmax(z) (torch, Keras: L from the logits)
    and nnfs's fused (softmax(z) - y) / n, computed as impl_numpy computes it."""
    probabilities = softmax(logits).contiguous()
    if variant == "nnfs":  # -mean(log p[y]), p clipped
        clipped = torch.clamp(probabilities, CLIP, 1 - CLIP)
        loss = F.nll_loss(torch.log(clipped), labels)
    else:
        loss = _softmax_crossentropy_from_logits(logits, labels)
    # (y_hat - one_hot(y)) / n, with n a 0-d tensor: a Python number costs an op ~3 us more
    one_hot = _identity(logits.shape[1], logits.dtype).index_select(0, labels)
    return loss, torch.sub(probabilities, one_hot).div_(_count(len(logits), logits.dtype))


class _SoftmaxCrossentropy(torch.autograd.Function):
    """Forward: L; backward: nnfs's fused dL/dz, never clipped.

    Autograd through the clip would zero the gradient of a sample whose true-class
    probability is clipped (p > 1 - 1e-7 or p < 1e-7); nnfs's fused backward never
    clips, so neither does this one.
    """

    @staticmethod
    def forward(ctx, logits, labels, variant):
        loss, dlogits = _softmax_crossentropy(logits, labels, variant)
        ctx.save_for_backward(dlogits)
        return loss

    @staticmethod
    def backward(ctx, grad_output):
        (dlogits,) = ctx.saved_tensors
        return dlogits * grad_output, None, None


class SoftmaxCategoricalCrossentropy(CategoricalCrossentropy):
    """Softmax followed by cross-entropy, on logits; dL/dz = (softmax(z) - y) / n; torch and
    Keras take L from the logits z: L = mean(logsumexp(z) - z[y])."""

    def __init__(self, variant="nnfs"):
        super().__init__(variant)
        self.from_logits = variant != "nnfs"

    def forward(self, logits, y_true):
        return _SoftmaxCrossentropy.apply(logits, y_true, self.variant)

    def value_and_gradient(self, logits, y_true):
        """(L, dL/dz) without a graph (see Model._backward)."""
        with torch.no_grad():
            return _softmax_crossentropy(logits, y_true, self.variant)


class BinaryCrossentropy(nn.Module):
    """L = -mean(y log p + (1 - y) log(1 - p)), p clipped as nnfs; torch: log(1 - p) = log1p(-p), p unclipped, dL/dp = (p - y) / max(p(1 - p), 1e-12) / (outputs * n)."""
    # Variants nnfs and torch: variant keras gets SigmoidBinaryCrossentropy (see model.make_loss).

    from_logits = False

    def __init__(self, variant="nnfs"):
        super().__init__()
        self.variant = variant

    def forward(self, y_pred, y_true):
        if self.variant != "nnfs":  # torch's BCELoss: no clip, each log clamped at -100
            return F.binary_cross_entropy(y_pred, y_true)
        p = _clip(y_pred, self.variant)
        sample_losses = -(y_true * torch.log(p) + (1 - y_true) * torch.log(1 - p))
        return torch.mean(torch.mean(sample_losses, dim=-1))


def _sigmoid_binary_crossentropy(logits, y_true):
    """(L, dL/dz): Keras's BCE from the logits and the fused (sigmoid(z) - y) / (outputs * n)."""
    samples, outputs = logits.shape
    dlogits = (sigmoid(logits) - y_true) / outputs / samples  # impl_numpy's sigmoid
    return _binary_crossentropy_from_logits(logits, y_true), dlogits


class _SigmoidBinaryCrossentropy(torch.autograd.Function):
    """Forward: L; backward: the fused dL/dz."""

    @staticmethod
    def forward(ctx, logits, y_true):
        loss, dlogits = _sigmoid_binary_crossentropy(logits, y_true)
        ctx.save_for_backward(dlogits)
        return loss

    @staticmethod
    def backward(ctx, grad_output):
        (dlogits,) = ctx.saved_tensors
        return dlogits * grad_output, None


class SigmoidBinaryCrossentropy(BinaryCrossentropy):
    """Sigmoid followed by binary cross-entropy, fused, as Keras (variant "keras"): L from the logits z,
    mean(max(z, 0) - z y + log(1 + exp(-|z|))); dL/dz = (sigmoid(z) - y) / (outputs * n)."""

    from_logits = True

    def forward(self, logits, y_true):
        return _SigmoidBinaryCrossentropy.apply(logits, y_true)

    def value_and_gradient(self, logits, y_true):
        """(L, dL/dz) without a graph (see Model._backward)."""
        with torch.no_grad():
            return _sigmoid_binary_crossentropy(logits, y_true)


class MeanSquaredError(nn.Module):
    """L = mean((y - y_hat)^2); dL/dy_hat = -2 (y - y_hat) / (outputs * n)."""

    from_logits = False

    def __init__(self, variant="nnfs"):
        super().__init__()
        self.variant = variant

    def forward(self, y_pred, y_true):
        return torch.mean(torch.mean((y_true - y_pred) ** 2, dim=-1))


class MeanAbsoluteError(nn.Module):
    """L = mean|y - y_hat|; dL/dy_hat = -sign(y - y_hat) / (outputs * n)."""

    from_logits = False

    def __init__(self, variant="nnfs"):
        super().__init__()
        self.variant = variant

    def forward(self, y_pred, y_true):
        return torch.mean(torch.mean(torch.abs(y_true - y_pred), dim=-1))
