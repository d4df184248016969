"""Losses of the NumPy reference (nnfs Loss_*): each returns the mean over samples.

Mirrors: impl_pure/losses.py, impl_torch/losses.py, impl_tf/losses.py.
"""
from functools import lru_cache

import numpy as np

CLIP = 1e-7  # nnfs clips probabilities to [1e-7, 1 - 1e-7] before taking a log
TORCH_BCE_EPSILON = float(np.float32(1e-12))  # torch's BCELoss backward: a float32 constant


def _clip(y_pred, variant):
    # nnfs and Keras clip (Keras's epsilon is 1e-7 too); torch takes the log unclipped, here
    # only kept finite (a CategoricalCrossentropy built by hand: models use the fused loss).
    if variant != "torch":
        return y_pred.clip(CLIP, 1 - CLIP)
    return np.maximum(y_pred, np.finfo(y_pred.dtype).tiny)


@lru_cache(maxsize=16)
def _identity(n_classes, dtype):
    """A read-only identity matrix, kept per size and dtype: its rows are the one-hot labels."""
    identity = np.eye(n_classes, dtype=dtype)
    identity.flags.writeable = False
    return identity


def _one_hot(y_true, n_classes, dtype):
    if y_true.ndim == 2:
        return y_true.astype(dtype)
    return _identity(n_classes, dtype).take(y_true, axis=0)


def _class_indices(y_true):
    return np.argmax(y_true, axis=1) if y_true.ndim == 2 else y_true


class CategoricalCrossentropy:
    """L = -mean(log p[y]), dL/dp = -one_hot(y) / p / n: sparse or one-hot labels, p clipped to [1e-7, 1 - 1e-7] in both (torch: unclipped)."""
    # (Keras on probabilities also divides p by its row sum first, and its autograd gives 0
    # where p is clipped; this class does neither.)

    from_logits = False

    def __init__(self, variant="nnfs"):
        self.variant = variant

    def forward(self, y_pred, y_true):
        if y_true.ndim == 2:
            y_pred = np.sum(y_pred * y_true.astype(y_pred.dtype), axis=1)
        else:  # p[y]: the same bits as the sum over a one-hot row, without building it
            y_pred = y_pred[np.arange(len(y_pred)), y_true]
        # -(sum of logs) / n: np.mean's bits for the mean of -log p, without negating the array
        return -np.log(_clip(y_pred, self.variant)).sum() / len(y_pred)

    def backward(self, dvalues, y_true):
        samples = len(dvalues)
        y_true = _one_hot(y_true, dvalues.shape[1], dvalues.dtype)
        # at p clipped as in the forward: nnfs divides by the raw p (inf or NaN at p = 0)
        self.dinputs = -y_true / _clip(dvalues, self.variant) / samples
        return self.dinputs


class SoftmaxCategoricalCrossentropy(CategoricalCrossentropy):
    """Softmax followed by cross-entropy, fused: dL/dz = (softmax(z) - y) / n; torch and Keras
    take L from the logits z: L = mean(logsumexp(z) - z[y])."""

    def __init__(self, variant="nnfs"):
        super().__init__(variant)
        self.from_logits = variant != "nnfs"

    def forward(self, y_pred, y_true):
        """L from the probabilities (nnfs), or from the logits z (``from_logits``: torch, Keras)."""
        if not self.from_logits:
            return super().forward(y_pred, y_true)
        shifted = y_pred - y_pred.max(axis=1, keepdims=True)  # log-softmax, the max subtracted
        log_sums = np.log(np.exp(shifted).sum(axis=1))
        sample_losses = log_sums - shifted[np.arange(len(shifted)), _class_indices(y_true)]
        return sample_losses.sum() / len(sample_losses)

    def backward(self, dvalues, y_true):
        """dL/dz from ``dvalues``, the softmax's output (not the logits its forward may take)."""
        # y_hat - y with y one-hot: nnfs's bits (it subtracts 1 at each label of a copy, and
        # p - 0 = p), 2x faster than that fancy-indexed subtraction.
        self.dinputs = dvalues - _one_hot(_class_indices(y_true), dvalues.shape[1], dvalues.dtype)
        self.dinputs /= len(dvalues)
        return self.dinputs


class BinaryCrossentropy:
    """L = -mean(y log p + (1 - y) log(1 - p)), p clipped as nnfs (and Keras), dL/dp = -(y/p - (1 - y)/(1 - p)) / outputs / n; torch: p unclipped, log(1 - p) = log1p(-p), each log at least -100, dL/dp = (p - y) / max(p(1 - p), 1e-12) / (outputs * n)."""
    # Variant keras is Keras's BCE value on probabilities (its gradient is this formula at the
    # clipped p, where Keras's autograd through the clip gives 0); a Keras model takes the
    # sigmoid's logits instead (SigmoidBinaryCrossentropy, see model.make_loss).

    from_logits = False

    def __init__(self, variant="nnfs"):
        self.variant = variant

    def forward(self, y_pred, y_true):
        if self.variant == "torch":  # torch's BCELoss: log1p(-p), each log clamped at -100
            with np.errstate(divide="ignore"):
                log_p = np.maximum(np.log(y_pred), -100)
                log_1mp = np.maximum(np.log1p(-y_pred), -100)
        else:
            p = _clip(y_pred, self.variant)
            log_p, log_1mp = np.log(p), np.log(1 - p)
        sample_losses = -(y_true * log_p + (1 - y_true) * log_1mp)
        return np.mean(np.mean(sample_losses, axis=-1))

    def backward(self, dvalues, y_true):
        samples, outputs = dvalues.shape
        if self.variant == "torch":  # torch's formula, unclipped, with its order of divisions
            p = dvalues
            self.dinputs = ((p - y_true) / np.maximum((1 - p) * p, TORCH_BCE_EPSILON)
                            / (samples * outputs))
            return self.dinputs
        p = _clip(dvalues, self.variant)
        self.dinputs = -(y_true / p - (1 - y_true) / (1 - p)) / outputs / samples
        return self.dinputs


class SigmoidBinaryCrossentropy(BinaryCrossentropy):
    """Sigmoid followed by binary cross-entropy, fused, as Keras (variant "keras"): L from the logits z,
    mean(max(z, 0) - z y + log(1 + exp(-|z|))); dL/dz = (sigmoid(z) - y) / outputs / n."""

    from_logits = True

    def forward(self, y_pred, y_true):
        """L from the logits ``y_pred`` (tf.nn.sigmoid_cross_entropy_with_logits)."""
        z = y_pred
        sample_losses = np.maximum(z, 0) - z * y_true + np.log1p(np.exp(-np.abs(z)))
        return np.mean(np.mean(sample_losses, axis=-1))

    def backward(self, dvalues, y_true):
        """dL/dz from ``dvalues``, the sigmoid's output (its forward takes the logits)."""
        samples, outputs = dvalues.shape
        self.dinputs = (dvalues - y_true) / outputs / samples
        return self.dinputs


class MeanSquaredError:
    """L = mean((y - y_hat)^2); dL/dy_hat = -2 (y - y_hat) / outputs / n."""

    from_logits = False

    def __init__(self, variant="nnfs"):
        self.variant = variant

    def forward(self, y_pred, y_true):
        return np.mean(np.mean((y_true - y_pred) ** 2, axis=-1))

    def backward(self, dvalues, y_true):
        samples, outputs = dvalues.shape
        self.dinputs = -2 * (y_true - dvalues) / outputs / samples
        return self.dinputs


class MeanAbsoluteError:
    """L = mean|y - y_hat|; dL/dy_hat = -sign(y - y_hat) / outputs / n."""

    from_logits = False

    def __init__(self, variant="nnfs"):
        self.variant = variant

    def forward(self, y_pred, y_true):
        return np.mean(np.mean(np.abs(y_true - y_pred), axis=-1))

    def backward(self, dvalues, y_true):
        samples, outputs = dvalues.shape
        self.dinputs = -np.sign(y_true - dvalues) / outputs / samples
        return self.dinputs
