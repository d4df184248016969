"""Activations of the Keras implementation: Keras layers under the nnfs names; GradientTape does the backward.

Mirrors: impl_numpy/activations.py, impl_pure/activations.py, impl_torch/activations.py.
"""
from functools import reduce

import keras
import tensorflow as tf


class ReLU(keras.layers.ReLU):
    """y = max(0, x); dy/dx = 1 where x > 0, else 0."""


class LeakyReLU(keras.layers.Layer):
    """y = x where x > 0, else alpha * x; dy/dx = 1 where x > 0, else alpha.

    Not keras.layers.LeakyReLU: tf.nn.leaky_relu takes alpha as a float32 attribute,
    so in float64 the slope 0.01 becomes 0.009999999776.
    """

    def __init__(self, alpha=0.01, **kwargs):
        super().__init__(**kwargs)
        self.alpha = alpha

    def call(self, inputs):
        return tf.where(inputs > 0, inputs, tf.constant(self.alpha, inputs.dtype) * inputs)


class Sigmoid(keras.layers.Activation):
    """y = 1 / (1 + exp(-x)); dy/dx = y * (1 - y)."""

    def __init__(self, exact=True, **kwargs):
        super().__init__(sigmoid if exact else "sigmoid", **kwargs)


class Tanh(keras.layers.Activation):
    """y = tanh(x); dy/dx = 1 - y^2."""

    def __init__(self, **kwargs):
        # No exact switch (impl_torch has one): TF's TanhGrad computes d * (1 - y * y), as
        # impl_numpy does; only tanh itself may round differently.
        super().__init__("tanh", **kwargs)


class Softmax(keras.layers.Softmax):
    """y_i = exp(x_i - max x) / sum_j exp(x_j - max x), over each row."""

    def __init__(self, exact=True, **kwargs):
        super().__init__(**kwargs)
        self.exact = exact

    def call(self, inputs, mask=None):
        return softmax(inputs) if self.exact else super().call(inputs, mask)


@tf.custom_gradient
def sigmoid(inputs):
    """impl_numpy's sigmoid, 1 / (1 + exp(-x)), and its gradient, upstream * (1 - y) * y.

    tf.sigmoid (Eigen's logistic) rounds 48% of float64 inputs in [-30, 30] otherwise (up to 3
    ulps; float32: 54%, up to 7), and a saturated binary cross-entropy, log(1 - p) at p near 1,
    multiplies that: 1.8e-3 of the loss in float32 on a measured case. This, with TF's exp:
    6% (float32: 19%), up to 2 ulps (4).
    """
    output = 1 / (1 + tf.exp(-inputs))
    return output, lambda upstream: upstream * (1 - output) * output


def softmax(inputs):
    """impl_numpy's softmax: e = exp(x - max x), then e / sum(e), the classes added in order.

    tf.nn.softmax multiplies by 1 / sum(e): on spiral at its initial weights 147 of the 900
    float64 outputs differed from impl_numpy's, and the output bias gradient with them."""
    exps = tf.exp(inputs - tf.reduce_max(inputs, axis=1, keepdims=True))
    return exps / reduce(tf.add, tf.unstack(exps, axis=1))[:, None]


class Linear(keras.layers.Identity):
    """y = x (nnfs Activation_Linear, the regression output)."""


@tf.custom_gradient
def straight_through_step(inputs):
    """1 where x > 0, else 0, with the identity as its gradient."""
    return tf.cast(inputs > 0, inputs.dtype), lambda upstream: upstream


class Step(keras.layers.Layer):
    """y = 1 where x > 0, else 0; backward is straight-through, which with MAE is the perceptron rule."""

    def call(self, inputs):
        return straight_through_step(inputs)
