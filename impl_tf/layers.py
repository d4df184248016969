"""Layers of the Keras implementation: Dense (a keras.layers.Dense) and Dropout (nnfs Layer_Dense, Layer_Dropout).

Keras keeps a Dense kernel as (n_inputs, n_neurons), the canonical layout, so nothing
is transposed. L1/L2 penalties are Keras regularizers on the kernel and the bias; the
model adds ``sum(network.losses)`` to the data loss.

Mirrors: impl_numpy/layers.py, impl_pure/layers.py, impl_torch/layers.py.
"""
import keras
import tensorflow as tf


class Dense(keras.layers.Dense):
    """y = x @ W + b with W of shape (in, out), with L1/L2 penalties on W and b (nnfs Layer_Dense)."""

    def __init__(self, n_inputs, spec_layer, variant="nnfs", dtype="float64"):
        # Zeros, not Keras's Glorot draw: the model sets the given parameters right after.
        super().__init__(
            spec_layer.units, kernel_initializer="zeros", bias_initializer="zeros",
            kernel_regularizer=_regularizer(spec_layer.weight_l1, spec_layer.weight_l2, variant),
            bias_regularizer=_regularizer(spec_layer.bias_l1, spec_layer.bias_l2, variant),
            dtype=dtype, name=spec_layer.name)
        self.build((None, n_inputs))


def _regularizer(l1, l2, variant):
    return L1L2(l1, l2, variant) if l1 > 0 or l2 > 0 else None


class L1L2(keras.regularizers.L1L2):
    """l1 * sum|w| + l2 * sum(w^2); its gradient is added by ``add_penalty_gradients`` (exact mode) or by the tape (native).

    keras.regularizers.L1L2 stores its factors as Python floats and casts them with
    ops.cast, which goes through float32: in float64, l2 = 0.1 becomes 0.10000000149.
    Here each factor is converted straight to the weight's dtype.
    """

    def __init__(self, l1=0.0, l2=0.0, variant="nnfs"):
        super().__init__(l1, l2)
        self.variant = variant

    def __call__(self, x):
        loss = tf.constant(0.0, x.dtype)
        if self.l1 > 0:
            loss += tf.constant(self.l1, x.dtype) * tf.reduce_sum(tf.abs(x))
        if self.l2 > 0:
            loss += tf.constant(self.l2, x.dtype) * tf.reduce_sum(x * x)
        return loss

    def add_penalty_gradients(self, gradient, x):
        """gradient + l1 * d|x|/dx, then + 2 * l2 * x: impl_numpy's order, where the tape through
        ``__call__`` adds the two penalties' gradients first."""
        if self.l1 > 0:
            gradient += tf.constant(self.l1, x.dtype) * l1_sign(x, self.variant)
        if self.l2 > 0:
            gradient += tf.constant(2 * self.l2, x.dtype) * x
        return gradient


def l1_sign(param, variant):
    """d|w|/dw: nnfs takes +1 at w == 0, torch and Keras take sign(0) = 0."""
    if variant == "nnfs":
        return tf.where(param < 0, tf.constant(-1.0, param.dtype), tf.constant(1.0, param.dtype))
    return tf.sign(param)


class Dropout(keras.layers.Layer):
    """Inverted dropout: y = x * (mask / (1 - rate)), with the given 0/1 mask or, in training mode, a drawn one."""

    def __init__(self, rate, seed_generator=None, **kwargs):
        super().__init__(**kwargs)
        self.rate = rate
        # a keras.random.SeedGenerator, for masks drawn here when none is given
        self.seed_generator = (keras.random.SeedGenerator() if seed_generator is None
                               else seed_generator)

    def call(self, inputs, dropout_mask=None, training=False):
        # An injected mask applies in either mode (the harness's masks; at rate 0 it can only
        # be all ones); without one the layer draws its own in training mode and is the
        # identity otherwise. ("dropout_mask", since Keras
        # reserves a call argument named "mask".)
        if self.rate == 0 or (dropout_mask is None and not training):
            return inputs
        if dropout_mask is None:
            uniform = keras.random.uniform(tf.shape(inputs), seed=self.seed_generator,
                                           dtype=inputs.dtype)
            dropout_mask = uniform >= self.rate
        scale = tf.constant(1 - self.rate, inputs.dtype)
        return inputs * (tf.cast(dropout_mask, inputs.dtype) / scale)
