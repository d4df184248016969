"""Losses in pure Python (nnfs Loss_*): each returns the mean over samples.

Mirrors: impl_numpy/losses.py, impl_torch/losses.py, impl_tf/losses.py.
"""
import struct
import sys
from math import exp, inf, log, log1p, nan

from impl_pure.linalg import pairwise_sum

CLIP = 1e-7  # nnfs clips probabilities to [1e-7, 1 - 1e-7] before taking a log
TINY = sys.float_info.min  # the smallest normal float64, NumPy's finfo(float64).tiny
# torch's BCELoss backward: a float32 constant 1e-12, read back as a float64
TORCH_BCE_EPSILON = struct.unpack("f", struct.pack("f", 1e-12))[0]


def _clip(p, variant):
    # nnfs and Keras clip (Keras's epsilon is 1e-7 too); torch takes the log unclipped, here
    # only kept finite (a CategoricalCrossentropy built by hand: models use the fused loss).
    if variant != "torch":
        return min(max(p, CLIP), 1 - CLIP)
    return max(p, TINY)


def _class_indices(y_true):
    """Class indices from sparse labels or one-hot rows (the index of their 1)."""
    if isinstance(y_true[0], (list, tuple)):
        return [row.index(1) for row in y_true]
    return y_true


# As NumPy's: -inf at the pole, NaN below it and for NaN (math.log raises instead).
def _log(x):
    return log(x) if x > 0 else -inf if x == 0 else nan


def _log1p(x):
    return log1p(x) if x > -1 else -inf if x == -1 else nan


def _mean(values):
    return pairwise_sum(values) / len(values)  # np.mean's order of additions


def _sign(x):
    return 1.0 if x > 0 else -1.0 if x < 0 else 0.0 if x == 0 else nan  # np.sign's NaN too


class CategoricalCrossentropy:
    """L = -mean(log p[y]), dL/dp = -one_hot(y) / p / n: sparse or one-hot labels, p clipped to [1e-7, 1 - 1e-7] in both (torch: unclipped)."""
    # (Keras on probabilities also divides p by its row sum first, and its autograd gives 0
    # where p is clipped; this class does neither.)

    from_logits = False

    def __init__(self, variant="nnfs"):
        self.variant = variant

    def forward(self, y_pred, y_true):
        confidences = [_clip(row[label], self.variant)
                       for row, label in zip(y_pred, _class_indices(y_true))]
        return _mean([-log(c) for c in confidences])

    def backward(self, dvalues, y_true):
        samples = len(dvalues)
        # at p clipped as in the forward: nnfs divides by the raw p (inf or NaN at p = 0)
        self.dinputs = [[-float(j == label) / _clip(p, self.variant) / samples
                         for j, p in enumerate(row)]
                        for row, label in zip(dvalues, _class_indices(y_true))]
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
        sample_losses = []
        for row, label in zip(y_pred, _class_indices(y_true)):
            largest = max(row)  # log-softmax, the max subtracted
            shifted = [z - largest for z in row]
            sample_losses.append(log(pairwise_sum(exp(s) for s in shifted)) - shifted[label])
        return _mean(sample_losses)

    def backward(self, dvalues, y_true):
        """dL/dz from ``dvalues``, the softmax's output (not the logits its forward may take)."""
        samples = len(dvalues)
        self.dinputs = []
        for row, label in zip(dvalues, _class_indices(y_true)):
            row = row[:]
            row[label] -= 1
            self.dinputs.append([d / samples for d in row])
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
        torch_formula = self.variant == "torch"
        sample_losses = []
        for p_row, t_row in zip(y_pred, y_true):
            losses = []
            for p, t in zip(p_row, t_row):
                if torch_formula:  # torch's BCELoss: log1p(-p), each log clamped at -100
                    log_p, log_1mp = max(_log(p), -100.0), max(_log1p(-p), -100.0)
                else:
                    clipped = _clip(p, self.variant)
                    log_p, log_1mp = _log(clipped), _log(1 - clipped)
                losses.append(-(t * log_p + (1 - t) * log_1mp))
            sample_losses.append(_mean(losses))
        return _mean(sample_losses)

    def backward(self, dvalues, y_true):
        samples, outputs = len(dvalues), len(dvalues[0])
        if self.variant == "torch":  # torch's formula, unclipped, with its order of divisions
            self.dinputs = [[(p - t) / max((1 - p) * p, TORCH_BCE_EPSILON) / (samples * outputs)
                             for p, t in zip(p_row, t_row)]
                            for p_row, t_row in zip(dvalues, y_true)]
            return self.dinputs
        self.dinputs = []
        for p_row, t_row in zip(dvalues, y_true):
            clipped = [_clip(p, self.variant) for p in p_row]
            self.dinputs.append([-(t / p - (1 - t) / (1 - p)) / outputs / samples
                                 for p, t in zip(clipped, t_row)])
        return self.dinputs


class SigmoidBinaryCrossentropy(BinaryCrossentropy):
    """Sigmoid followed by binary cross-entropy, fused, as Keras (variant "keras"): L from the logits z,
    mean(max(z, 0) - z y + log(1 + exp(-|z|))); dL/dz = (sigmoid(z) - y) / outputs / n."""

    from_logits = True

    def forward(self, y_pred, y_true):
        """L from the logits ``y_pred`` (tf.nn.sigmoid_cross_entropy_with_logits)."""
        return _mean([_mean([max(z, 0.0) - z * t + log1p(exp(-abs(z)))
                             for z, t in zip(z_row, t_row)])
                      for z_row, t_row in zip(y_pred, y_true)])

    def backward(self, dvalues, y_true):
        """dL/dz from ``dvalues``, the sigmoid's output (its forward takes the logits)."""
        samples, outputs = len(dvalues), len(dvalues[0])
        self.dinputs = [[(p - t) / outputs / samples for p, t in zip(p_row, t_row)]
                        for p_row, t_row in zip(dvalues, y_true)]
        return self.dinputs


class MeanSquaredError:
    """L = mean((y - y_hat)^2); dL/dy_hat = -2 (y - y_hat) / outputs / n."""

    from_logits = False

    def __init__(self, variant="nnfs"):
        self.variant = variant

    def forward(self, y_pred, y_true):
        return _mean([_mean([(t - p) * (t - p) for p, t in zip(p_row, t_row)])
                      for p_row, t_row in zip(y_pred, y_true)])

    def backward(self, dvalues, y_true):
        samples, outputs = len(dvalues), len(dvalues[0])
        self.dinputs = [[-2 * (t - p) / outputs / samples for p, t in zip(p_row, t_row)]
                        for p_row, t_row in zip(dvalues, y_true)]
        return self.dinputs


class MeanAbsoluteError:
    """L = mean|y - y_hat|; dL/dy_hat = -sign(y - y_hat) / outputs / n."""

    from_logits = False

    def __init__(self, variant="nnfs"):
        self.variant = variant

    def forward(self, y_pred, y_true):
        return _mean([_mean([abs(t - p) for p, t in zip(p_row, t_row)])
                      for p_row, t_row in zip(y_pred, y_true)])

    def backward(self, dvalues, y_true):
        samples, outputs = len(dvalues), len(dvalues[0])
        self.dinputs = [[-_sign(t - p) / outputs / samples for p, t in zip(p_row, t_row)]
                        for p_row, t_row in zip(dvalues, y_true)]
        return self.dinputs
