"""Losses of the Keras implementation in exact mode (nnfs Loss_*): callables (y_true, y_pred) -> the mean over samples.

Native mode uses Keras's own losses instead (SparseCategoricalCrossentropy and
BinaryCrossentropy on logits, MeanSquaredError, MeanAbsoluteError; see model.make_loss).

Each loss here has impl_numpy's forward formula and, through tf.custom_gradient,
impl_numpy's backward formula, divisions in the same order: autograd would scale by
(1/n) where nnfs divides by n, and would zero the gradient where nnfs clips p (nnfs's
backward formulas are derivatives of the unclipped loss evaluated at the clipped p).
The argument order is Keras's: ``loss(y_true, y_pred)``.

Mirrors: impl_numpy/losses.py, impl_pure/losses.py, impl_torch/losses.py.
"""
import numpy as np
import tensorflow as tf

from impl_tf import activations

CLIP = 1e-7  # nnfs clips probabilities to [1e-7, 1 - 1e-7] before taking a log
TORCH_BCE_EPSILON = float(np.float32(1e-12))  # torch's BCELoss backward: a float32 constant


def _clip(y_pred, variant):
    # nnfs and Keras clip (Keras's epsilon is 1e-7 too); torch takes the log unclipped, here
    # only kept finite (a CategoricalCrossentropy built by hand: models use the fused loss).
    if variant != "torch":
        return tf.clip_by_value(y_pred, CLIP, 1 - CLIP)
    return tf.maximum(y_pred, tf.constant(np.finfo(y_pred.dtype.as_numpy_dtype).tiny,
                                          y_pred.dtype))


def _rows_and_columns(values):
    shape = tf.shape(values)
    return tf.cast(shape[0], values.dtype), tf.cast(shape[1], values.dtype)


def _confidences(probabilities, labels):
    """p[y] per sample, for class indices of shape (n,)."""
    return tf.gather(probabilities, labels, axis=1, batch_dims=1)


def _softmax_crossentropy_from_logits(logits, labels):
    """mean(logsumexp(z) - z[y]): torch's CrossEntropyLoss and Keras's on a softmax output."""
    # log-softmax, the max subtracted
    shifted = logits - tf.reduce_max(logits, axis=1, keepdims=True)
    log_sums = tf.math.log(tf.reduce_sum(tf.exp(shifted), axis=1))
    return tf.reduce_mean(log_sums - _confidences(shifted, labels))


def _binary_crossentropy_from_logits(logits, y_true):
    """mean(max(z, 0) - z y + log(1 + exp(-|z|))): Keras's BCE on a sigmoid output."""
    sample_losses = tf.maximum(logits, 0) - logits * y_true + tf.math.log1p(
        tf.exp(-tf.abs(logits)))
    return tf.reduce_mean(tf.reduce_mean(sample_losses, axis=-1))


class Loss:
    """A loss callable as Keras's ``loss(y_true, y_pred)``, whose gradient is ``backward``, not autograd's."""

    from_logits = False

    def __init__(self, variant="nnfs"):
        self.variant = variant

    def __call__(self, y_true, y_pred):
        @tf.custom_gradient
        def loss(y_pred):
            return self.forward(y_pred, y_true), \
                lambda upstream: self.backward(y_pred, y_true) * upstream
        return loss(y_pred)


class CategoricalCrossentropy(Loss):
    """L = -mean(log p[y]), dL/dp = -one_hot(y) / p / n: class indices (n,), p clipped to [1e-7, 1 - 1e-7] in both (torch: unclipped)."""
    # (Keras on probabilities also divides p by its row sum first, and its autograd gives 0
    # where p is clipped; this class does neither.)

    def forward(self, y_pred, y_true):
        return tf.reduce_mean(-tf.math.log(_confidences(_clip(y_pred, self.variant), y_true)))

    def backward(self, y_pred, y_true):
        samples, _ = _rows_and_columns(y_pred)
        one_hot = tf.one_hot(y_true, tf.shape(y_pred)[1], dtype=y_pred.dtype)
        # at p clipped as in the forward: nnfs divides by the raw p (inf or NaN at p = 0)
        return -one_hot / _clip(y_pred, self.variant) / samples


class SoftmaxCategoricalCrossentropy(CategoricalCrossentropy):
    """Softmax followed by cross-entropy, on logits; dL/dz = (softmax(z) - y) / n; torch and
    Keras take L from the logits z: L = mean(logsumexp(z) - z[y])."""

    def __init__(self, variant="nnfs"):
        super().__init__(variant)
        self.from_logits = variant != "nnfs"

    def forward(self, logits, y_true):
        """L from softmax(z), clipped (nnfs), or from the logits z (``from_logits``: torch, Keras)."""
        if not self.from_logits:
            return super().forward(activations.softmax(logits), y_true)
        return _softmax_crossentropy_from_logits(logits, y_true)

    def backward(self, logits, y_true):
        # the softmax again, the same bits: TF computes it twice (its arithmetic optimizer,
        # which would merge the two, is off in impl_tf: model.keep_float_order)
        samples, _ = _rows_and_columns(logits)
        one_hot = tf.one_hot(y_true, tf.shape(logits)[1], dtype=logits.dtype)
        return (activations.softmax(logits) - one_hot) / samples


class BinaryCrossentropy(Loss):
    """L = -mean(y log p + (1 - y) log(1 - p)), p clipped as nnfs (and Keras), dL/dp = -(y/p - (1 - y)/(1 - p)) / outputs / n; torch: p unclipped, log(1 - p) = log1p(-p), each log at least -100, dL/dp = (p - y) / max(p(1 - p), 1e-12) / (outputs * n)."""
    # Variant keras is Keras's BCE value on probabilities (its gradient is this formula at the
    # clipped p, where Keras's autograd through the clip gives 0); a Keras model takes the
    # sigmoid's logits instead (SigmoidBinaryCrossentropy, see model.make_loss).

    def forward(self, y_pred, y_true):
        if self.variant == "torch":  # torch's BCELoss: log1p(-p), each log clamped at -100
            log_p = tf.maximum(tf.math.log(y_pred), -100)
            log_1mp = tf.maximum(tf.math.log1p(-y_pred), -100)
        else:
            p = _clip(y_pred, self.variant)
            log_p, log_1mp = tf.math.log(p), tf.math.log(1 - p)
        sample_losses = -(y_true * log_p + (1 - y_true) * log_1mp)
        return tf.reduce_mean(tf.reduce_mean(sample_losses, axis=-1))

    def backward(self, y_pred, y_true):
        samples, outputs = _rows_and_columns(y_pred)
        if self.variant == "torch":  # torch's formula, unclipped, with its order of divisions
            p = y_pred
            return (p - y_true) / tf.maximum((1 - p) * p, TORCH_BCE_EPSILON) / (samples * outputs)
        p = _clip(y_pred, self.variant)
        return -(y_true / p - (1 - y_true) / (1 - p)) / outputs / samples


class SigmoidBinaryCrossentropy(BinaryCrossentropy):
    """Sigmoid followed by binary cross-entropy, fused, as Keras (variant "keras"): L from the logits z,
    mean(max(z, 0) - z y + log(1 + exp(-|z|))); dL/dz = (sigmoid(z) - y) / outputs / n."""

    from_logits = True

    def forward(self, logits, y_true):
        return _binary_crossentropy_from_logits(logits, y_true)

    def backward(self, logits, y_true):
        samples, outputs = _rows_and_columns(logits)
        return (activations.sigmoid(logits) - y_true) / outputs / samples  # impl_numpy's sigmoid


class MeanSquaredError(Loss):
    """L = mean((y - y_hat)^2); dL/dy_hat = -2 (y - y_hat) / outputs / n."""

    def forward(self, y_pred, y_true):
        return tf.reduce_mean(tf.reduce_mean(tf.square(y_true - y_pred), axis=-1))

    def backward(self, y_pred, y_true):
        samples, outputs = _rows_and_columns(y_pred)
        return -2 * (y_true - y_pred) / outputs / samples


class MeanAbsoluteError(Loss):
    """L = mean|y - y_hat|; dL/dy_hat = -sign(y - y_hat) / outputs / n."""

    def forward(self, y_pred, y_true):
        return tf.reduce_mean(tf.reduce_mean(tf.abs(y_true - y_pred), axis=-1))

    def backward(self, y_pred, y_true):
        samples, outputs = _rows_and_columns(y_pred)
        return -tf.sign(y_true - y_pred) / outputs / samples
