"""Losses of the PyTorch implementation in exact mode (nnfs Loss_*): nn.Modules returning the mean over samples.

Native mode uses torch's own losses instead (nn.CrossEntropyLoss on logits, nn.BCELoss,
nn.MSELoss, nn.L1Loss; see model.NATIVE_LOSSES).

Each loss computes its value and impl_numpy's gradient formula together (``value`` and
``backward``, both in ``value_and_gradient``); the model hands that gradient to autograd at
the network's output (a loss called as a module hands it on through an autograd Function):
autograd's own would scale by (1/n) where nnfs divides by n (2 of 3 MSE gradients differed in
the last bit), and would zero the gradient where nnfs clips p (nnfs's backward formulas are
derivatives of the unclipped loss evaluated at the clipped p).

Mirrors: impl_numpy/losses.py, impl_pure/losses.py, impl_tf/losses.py.
"""
from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable

from impl_torch.activations import sigmoid, softmax

CLIP = 1e-7  # nnfs clips probabilities to [1e-7, 1 - 1e-7] before taking a log
TORCH_BCE_EPSILON = torch.tensor(1e-12, dtype=torch.float32).item()  # BCELoss backward: float32


def _clip(y_pred, variant):
    # nnfs and Keras clip (Keras's epsilon is 1e-7 too); torch takes the log unclipped, here
    # only kept finite (a CategoricalCrossentropy built by hand: models use the fused loss).
    if variant != "torch":
        return torch.clamp(y_pred, CLIP, 1 - CLIP)
    return torch.clamp(y_pred, min=torch.finfo(y_pred.dtype).tiny)


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


class _Loss(torch.autograd.Function):
    """Forward: the loss's value; backward: its own gradient formula (``Loss.backward``)."""

    @staticmethod
    def forward(ctx, y_pred, y_true, loss):
        value, gradient = loss.value_and_gradient(y_pred, y_true)
        ctx.save_for_backward(gradient)
        return value

    @staticmethod
    @once_differentiable  # the formula is a value, not a graph: no second derivative
    def backward(ctx, grad_output):
        (gradient,) = ctx.saved_tensors
        return gradient * grad_output, None, None


class Loss(nn.Module):
    """A loss module of predictions (n, outputs) whose gradient is impl_numpy's formula, not autograd's."""

    from_logits = False

    def __init__(self, variant="nnfs"):
        super().__init__()
        self.variant = variant

    def forward(self, y_pred, y_true):
        if not (torch.is_grad_enabled() and y_pred.requires_grad) or y_true.requires_grad:
            # No gradient wanted (an evaluation), or one for the targets too: autograd's,
            # through the value's own operations.
            return self.value(y_pred, y_true)
        return _Loss.apply(y_pred, y_true, self)

    @torch.no_grad()
    def value_and_gradient(self, y_pred, y_true):
        """(L, dL/dy_pred) without a graph (the model hands the gradient to autograd)."""
        return self.value(y_pred, y_true), self.backward(y_pred, y_true)


class CategoricalCrossentropy(Loss):
    """L = -mean(log p[y]), dL/dp = -one_hot(y) / p / n: class indices (n,), p clipped to [1e-7, 1 - 1e-7] in both (torch: unclipped)."""
    # (Keras on probabilities also divides p by its row sum first, and its autograd gives 0
    # where p is clipped; this class does neither.)

    def value(self, y_pred, y_true):
        return F.nll_loss(torch.log(_clip(y_pred, self.variant)), y_true)  # -mean(x[i, y_i])

    def backward(self, y_pred, y_true):
        one_hot = _identity(y_pred.shape[1], y_pred.dtype).index_select(0, y_true)
        # at p clipped as in the forward: nnfs divides by the raw p (inf or NaN at p = 0)
        return -one_hot / _clip(y_pred, self.variant) / len(y_pred)


class SoftmaxCategoricalCrossentropy(CategoricalCrossentropy):
    """Softmax followed by cross-entropy, on logits; dL/dz = (softmax(z) - y) / n; torch and
    Keras take L from the logits z: L = mean(logsumexp(z) - z[y])."""

    def __init__(self, variant="nnfs"):
        super().__init__(variant)
        self.from_logits = variant != "nnfs"

    def value(self, logits, y_true):
        return self._value(softmax(logits).contiguous(), logits, y_true)

    def backward(self, logits, y_true):
        return self._gradient(softmax(logits).contiguous(), logits, y_true)

    @torch.no_grad()
    def value_and_gradient(self, logits, y_true):
        """(L, dL/dz) from one softmax, as impl_numpy computes them."""
        probabilities = softmax(logits).contiguous()
        return (self._value(probabilities, logits, y_true),
                self._gradient(probabilities, logits, y_true))

    def _value(self, probabilities, logits, y_true):
        """L from softmax(z), clipped (nnfs), or from the logits z (``from_logits``: torch, Keras)."""
        if not self.from_logits:
            return super().value(probabilities, y_true)
        return _softmax_crossentropy_from_logits(logits, y_true)

    @staticmethod
    def _gradient(probabilities, logits, y_true):
        """The fused (softmax(z) - one_hot(y)) / n, never clipped; n a 0-d tensor (a Python
        number costs an op ~3 us more)."""
        one_hot = _identity(logits.shape[1], logits.dtype).index_select(0, y_true)
        return torch.sub(probabilities, one_hot).div_(_count(len(logits), logits.dtype))


class BinaryCrossentropy(Loss):
    """L = -mean(y log p + (1 - y) log(1 - p)), p clipped as nnfs (and Keras), dL/dp = -(y/p - (1 - y)/(1 - p)) / outputs / n; torch: p unclipped, log(1 - p) = log1p(-p), each log at least -100, dL/dp = (p - y) / max(p(1 - p), 1e-12) / (outputs * n)."""
    # Variant keras is Keras's BCE value on probabilities (its gradient is this formula at the
    # clipped p, where Keras's autograd through the clip gives 0); a Keras model takes the
    # sigmoid's logits instead (SigmoidBinaryCrossentropy, see model.make_loss).

    def value(self, y_pred, y_true):
        if self.variant == "torch":  # torch's BCELoss: log1p(-p), each log clamped at -100
            log_p = torch.clamp(torch.log(y_pred), min=-100)
            log_1mp = torch.clamp(torch.log1p(-y_pred), min=-100)
        else:
            p = _clip(y_pred, self.variant)
            log_p, log_1mp = torch.log(p), torch.log(1 - p)
        sample_losses = -(y_true * log_p + (1 - y_true) * log_1mp)
        return torch.mean(torch.mean(sample_losses, dim=-1))

    def backward(self, y_pred, y_true):
        samples, outputs = y_pred.shape
        if self.variant == "torch":  # torch's formula, unclipped, with its order of divisions
            p = y_pred
            return (p - y_true) / torch.clamp((1 - p) * p, min=TORCH_BCE_EPSILON) / (
                samples * outputs)
        p = _clip(y_pred, self.variant)
        return -(y_true / p - (1 - y_true) / (1 - p)) / outputs / samples


class SigmoidBinaryCrossentropy(BinaryCrossentropy):
    """Sigmoid followed by binary cross-entropy, fused, as Keras (variant "keras"): L from the logits z,
    mean(max(z, 0) - z y + log(1 + exp(-|z|))); dL/dz = (sigmoid(z) - y) / outputs / n."""

    from_logits = True

    def value(self, logits, y_true):
        return _binary_crossentropy_from_logits(logits, y_true)

    def backward(self, logits, y_true):
        samples, outputs = logits.shape
        return (sigmoid(logits) - y_true) / outputs / samples  # impl_numpy's sigmoid


class MeanSquaredError(Loss):
    """L = mean((y - y_hat)^2); dL/dy_hat = -2 (y - y_hat) / outputs / n."""

    def value(self, y_pred, y_true):
        return torch.mean(torch.mean((y_true - y_pred) ** 2, dim=-1))

    def backward(self, y_pred, y_true):
        samples, outputs = y_pred.shape
        return -2 * (y_true - y_pred) / outputs / samples


class MeanAbsoluteError(Loss):
    """L = mean|y - y_hat|; dL/dy_hat = -sign(y - y_hat) / outputs / n."""

    def value(self, y_pred, y_true):
        return torch.mean(torch.mean(torch.abs(y_true - y_pred), dim=-1))

    def backward(self, y_pred, y_true):
        samples, outputs = y_pred.shape
        return -torch.sign(y_true - y_pred) / outputs / samples
