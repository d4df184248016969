"""The NumPy reference model: a spec's layers in order, its loss and its optimizer (nnfs Model).

Every parameter is a view into one flat buffer, and every gradient a view into another,
so the optimizer runs its formula over the whole network in one call, in place (Adam in
cache-sized blocks where that is faster).

Mirrors: impl_pure/model.py, impl_torch/model.py, impl_tf/model.py.
"""
from __future__ import annotations

from functools import reduce
from operator import add

import numpy as np

from impl_numpy import activations, layers, losses, optimizers
from shared import weights
from shared.checks import (check_dtype, check_flag, check_inputs, check_masks, check_settings,
                           check_targets)
from shared.implementations import check_mode
from shared.training import TrainingMixin

ACTIVATIONS = {
    "relu": activations.ReLU, "leaky_relu": activations.LeakyReLU,
    "sigmoid": activations.Sigmoid, "tanh": activations.Tanh, "softmax": activations.Softmax,
    "linear": activations.Linear, "step": activations.Step,
}
LOSSES = {
    "categorical_crossentropy": losses.CategoricalCrossentropy,
    "binary_crossentropy": losses.BinaryCrossentropy,
    "mse": losses.MeanSquaredError, "mae": losses.MeanAbsoluteError,
}

FUSED_LOSSES = (losses.SoftmaxCategoricalCrossentropy, losses.SigmoidBinaryCrossentropy)


def build(spec, params, dtype="float64", mode="exact"):
    """The harness entry point: a model of ``spec`` holding a copy of ``params`` (``mode`` is for the frameworks)."""
    check_mode(mode)
    return Model(spec, params, dtype)


def make_optimizer(spec, dtype="float64"):
    """The spec's optimizer, all its hyperparameters and its formula variant, for ``dtype`` parameters."""
    o, variant = spec.optimizer, spec.variant
    if o.type == "sgd":
        return optimizers.SGD(o.learning_rate, o.decay, o.momentum, o.nesterov, variant, dtype)
    if o.type == "adagrad":
        return optimizers.Adagrad(o.learning_rate, o.decay, o.epsilon, o.initial_accumulator,
                                  variant, dtype)
    if o.type == "rmsprop":
        return optimizers.RMSprop(o.learning_rate, o.decay, o.epsilon, o.rho, variant, dtype)
    return optimizers.Adam(o.learning_rate, o.decay, o.epsilon, o.beta_1, o.beta_2, variant,
                           dtype)


def make_loss(spec):
    """The data loss; softmax + cross-entropy fused, and sigmoid + BCE for Keras (variant "keras")."""
    if spec.loss == "categorical_crossentropy":  # always after softmax (the spec is validated)
        return losses.SoftmaxCategoricalCrossentropy(spec.variant)
    if spec.loss == "binary_crossentropy" and spec.variant == "keras":  # after sigmoid
        return losses.SigmoidBinaryCrossentropy(spec.variant)
    return LOSSES[spec.loss](spec.variant)


class Model(TrainingMixin):
    """y_hat = f_L(...f_1(X)); trained by loss + regularization and the spec's optimizer."""

    def __init__(self, spec, params, dtype="float64"):
        self.spec = spec
        self.np_dtype = np.dtype(check_dtype(dtype))
        check_settings(spec, self.np_dtype)
        params = weights.check(spec, params, dtype=self.np_dtype)
        shapes = spec.parameter_shapes()
        total = sum(int(np.prod(shape)) for shape in shapes.values())
        self.flat_params = np.empty(total, self.np_dtype)
        self.flat_grads = np.zeros(total, self.np_dtype)
        self.param_views, self.grad_views, offset = {}, {}, 0
        for name, shape in shapes.items():
            size = int(np.prod(shape))
            self.param_views[name] = self.flat_params[offset:offset + size].reshape(shape)
            self.grad_views[name] = self.flat_grads[offset:offset + size].reshape(shape)
            self.param_views[name][...] = params[name]
            offset += size
        rng = np.random.default_rng(spec.training.seed)
        self.layers = [self._make_layer(layer, rng) for layer in spec.layers]
        self.layers[0].propagate = False
        self.regularized_layers = [layer for layer, spec_layer in zip(self.layers, spec.layers)
                                   if spec_layer.type == "dense" and spec_layer.regularized]
        self.names = [layer.name for layer in spec.layers]
        self.loss_function = make_loss(spec)
        self.fused_loss = isinstance(self.loss_function, FUSED_LOSSES)
        self.optimizer = make_optimizer(spec, self.np_dtype)

    def _make_layer(self, layer, rng):
        if layer.type == "dense":
            w, b = f"{layer.name}.weight", f"{layer.name}.bias"
            return layers.Dense(self.param_views[w], self.param_views[b],
                                self.grad_views[w], self.grad_views[b], layer, self.spec.variant)
        if layer.type == "dropout":
            return layers.Dropout(layer.rate, rng)
        if layer.type == "leaky_relu":
            return activations.LeakyReLU(layer.alpha)
        return ACTIVATIONS[layer.type]()

    def forward(self, X, training=False, dropout_masks=None):
        """Output activations for X; dropout uses ``dropout_masks`` (or fresh ones) when training."""
        training = check_flag("training", training)
        X = check_inputs(self.spec, X, dtype=self.np_dtype).astype(self.np_dtype, copy=False)
        masks = check_masks(self.spec, dropout_masks, len(X))
        return self._forward(X, training, masks, draw_masks=True)

    def _forward(self, X, training, masks, draw_masks=False):
        output = X
        for name, layer in zip(self.names, self.layers):
            mask = masks.get(name)
            active = training and (mask is not None or draw_masks)
            self.logits = output  # ends as the last layer's input: the output activation's logits
            output = layer.forward(output, training=active, mask=mask)
        return output

    def _data_loss(self, output, y):
        # torch's and Keras's cross-entropies take their value from the logits.
        return self.loss_function.forward(self.logits if self.loss_function.from_logits
                                          else output, y)

    def regularization_loss(self):
        """Sum of every Dense layer's L1/L2 penalties, added in order."""
        # reduce, not sum(): from Python 3.12 sum() compensates the rounding of float terms
        return reduce(add, (layer.regularization_loss() for layer in self.regularized_layers), 0.0)

    def _total_loss(self, output, y):
        loss = self._data_loss(output, y)
        return loss + self.regularization_loss() if self.regularized_layers else loss

    def _checked(self, X, y, dropout_masks):
        X = check_inputs(self.spec, X, dtype=self.np_dtype).astype(self.np_dtype, copy=False)
        y = check_targets(self.spec, y, len(X), dtype=self.np_dtype)
        if y.dtype.kind == "f":
            y = y.astype(self.np_dtype, copy=False)
        return X, y, check_masks(self.spec, dropout_masks, len(X))

    def loss(self, X, y, dropout_masks=None):
        """Mean data loss plus regularization; dropout active only where masks are given."""
        X, y, masks = self._checked(X, y, dropout_masks)
        return float(self._total_loss(self._forward(X, True, masks), y))

    def _backward(self, X, y, masks):
        output = self._forward(X, True, masks)
        loss = self._total_loss(output, y)
        dvalues = self.loss_function.backward(output, y)
        # A fused loss's gradient (softmax or sigmoid + cross-entropy) is already the
        # gradient with respect to the logits.
        stack = self.layers[:-1] if self.fused_loss else self.layers
        for layer in reversed(stack):
            dvalues = layer.backward(dvalues)
        return float(loss)

    def gradients(self, X, y, dropout_masks=None):
        """d(loss)/d(parameter) by canonical name, in canonical layout."""
        self._backward(*self._checked(X, y, dropout_masks))
        return {name: grad.copy() for name, grad in self.grad_views.items()}

    def step(self, X, y, dropout_masks=None):
        """One optimizer update (clipping, decay, formula variant); returns the loss before it."""
        return self._step(*self._checked(X, y, dropout_masks))

    def _step(self, X, y, masks):
        loss = self._backward(X, y, masks)
        o = self.spec.optimizer
        if o.clip_value or o.clip_norm:
            optimizers.clip_gradients(self.flat_grads, o.clip_value, o.clip_norm, self.spec.variant)
        self.optimizer.pre_update_params()
        self.optimizer.update_params(self.flat_params, self.flat_grads)
        self.optimizer.post_update_params()
        return loss

    def train_epoch(self, X, y, batches, masks):
        """Unchecked steps, one per batch: an epoch's, or fit's epochs up to its next evaluation.

        fit has checked X and y once, and each batch is gathered once."""
        X = X.astype(self.np_dtype, copy=False)
        if y.dtype.kind == "f":
            y = y.astype(self.np_dtype, copy=False)
        # ndarray.take gathers rows as X[idx] does, ~20% faster on MNIST-sized batches (and a
        # full batch is gathered in less time than it takes to check that it is one)
        return [self._step(X.take(idx, axis=0), y.take(idx, axis=0), mask)
                for idx, mask in zip(batches, masks)]

    def parameters(self):
        """Current parameters by canonical name, in canonical layout (copies)."""
        return {name: param.copy() for name, param in self.param_views.items()}

    def set_parameters(self, params):
        """Overwrite the parameters (names and shapes checked against the spec)."""
        for name, value in weights.check(self.spec, params, dtype=self.np_dtype).items():
            self.param_views[name][...] = value

    def save(self, path):
        """Write the parameters to a safetensors file (float64, canonical names)."""
        weights.save(path, {k: v.astype(np.float64) for k, v in self.parameters().items()})

    def load(self, path):
        """Read parameters from a safetensors file written by any implementation."""
        self.set_parameters(weights.load(path, self.spec, self.np_dtype))
