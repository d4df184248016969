"""The pure-Python model: a spec's layers in order, its loss and its optimizer (nnfs Model).

Every parameter is a list (weights: n_inputs rows of n_neurons; biases: n_neurons) shared
with its Dense layer, and so is every gradient. The optimizer updates them in place, row by
row: ``param_rows`` and ``grad_rows`` are impl_numpy's flat buffers cut into rows.
Everything here is Python floats: inputs, targets and masks are lists of rows, and
shared/pure_adapter.py converts NumPy arrays at the boundary; it also holds what the other
models get from their own files and shared.training (the input checks, fit, evaluate,
predict, save and load), as impl_pure imports no NumPy.

Mirrors: impl_numpy/model.py, impl_torch/model.py, impl_tf/model.py.
"""
from __future__ import annotations

import random
from math import isfinite

from impl_pure import activations, layers, losses, optimizers
from impl_pure.linalg import sum_in_order, zeros_like

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


def build(spec, params):
    """A model of ``spec`` holding a copy of ``params``: canonical names -> nested lists of floats."""
    return Model(spec, params)


def make_optimizer(spec):
    """The spec's optimizer with all its hyperparameters and its formula variant."""
    o, variant = spec.optimizer, spec.variant
    if o.type == "sgd":
        return optimizers.SGD(o.learning_rate, o.decay, o.momentum, o.nesterov, variant)
    if o.type == "adagrad":
        return optimizers.Adagrad(o.learning_rate, o.decay, o.epsilon, o.initial_accumulator,
                                  variant)
    if o.type == "rmsprop":
        return optimizers.RMSprop(o.learning_rate, o.decay, o.epsilon, o.rho, variant)
    return optimizers.Adam(o.learning_rate, o.decay, o.epsilon, o.beta_1, o.beta_2, variant)


def make_loss(spec):
    """The data loss; softmax + cross-entropy fused, and sigmoid + BCE for Keras (variant "keras")."""
    if spec.loss == "categorical_crossentropy":  # always after softmax (the spec is validated)
        return losses.SoftmaxCategoricalCrossentropy(spec.variant)
    if spec.loss == "binary_crossentropy" and spec.variant == "keras":  # after sigmoid
        return losses.SigmoidBinaryCrossentropy(spec.variant)
    return LOSSES[spec.loss](spec.variant)


def check_parameters(spec, params):
    """Copies of ``params`` as lists of finite floats if every name and shape matches ``spec``; else ValueError."""
    expected = spec.parameter_shapes()
    if set(params) != set(expected):
        raise ValueError(f"parameters do not fit network {spec.name!r}: "
                         f"missing {sorted(set(expected) - set(params))}, "
                         f"unexpected {sorted(set(params) - set(expected))}")
    checked = {}
    for name, shape in expected.items():
        value = params[name]
        if len(shape) == 1:
            rows, got = [value], (len(value),)
        else:
            rows, got = value, (len(value), *{len(row) for row in value})
        if got != shape:
            raise ValueError(f"parameters: {name} has shape {got}, expected {shape} "
                             f"for network {spec.name!r}")
        try:
            rows = [[float(x) for x in row] for row in rows]
        except (TypeError, ValueError):
            raise ValueError(f"parameters: {name} holds something other than numbers") from None
        if not all(all(map(isfinite, row)) for row in rows):
            raise ValueError(f"parameters: {name} holds NaN or inf")
        checked[name] = rows[0] if len(shape) == 1 else rows
    return checked


class Model:
    """y_hat = f_L(...f_1(X)); trained by loss + regularization and the spec's optimizer."""

    def __init__(self, spec, params):
        self.spec = spec
        self.param_views = check_parameters(spec, params)
        self.grad_views = {name: zeros_like(value) if isinstance(value[0], list)
                           else [0.0] * len(value) for name, value in self.param_views.items()}
        # Every weight row and bias vector in canonical order: impl_numpy's flat buffers as rows.
        self.param_rows = _rows(self.param_views)
        self.grad_rows = _rows(self.grad_views)
        rng = random.Random(spec.training.seed)
        self.layers = [self._make_layer(layer, rng) for layer in spec.layers]
        self.layers[0].propagate = False
        self.regularized_layers = [layer for layer, spec_layer in zip(self.layers, spec.layers)
                                   if spec_layer.type == "dense" and spec_layer.regularized]
        self.names = [layer.name for layer in spec.layers]
        self.loss_function = make_loss(spec)
        self.fused_loss = isinstance(self.loss_function, FUSED_LOSSES)
        self.optimizer = make_optimizer(spec)

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
        X, _, masks = self._checked(X, None, dropout_masks)
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
        return sum_in_order((layer.regularization_loss() for layer in self.regularized_layers),
                            0.0)

    def _total_loss(self, output, y):
        loss = self._data_loss(output, y)
        return loss + self.regularization_loss() if self.regularized_layers else loss

    def _checked(self, X, y, dropout_masks):
        widths = {len(row) for row in X}
        if not X or widths != {self.spec.inputs}:
            raise ValueError(f"X: expected a non-empty list of rows of {self.spec.inputs} floats, "
                             f"got {len(X)} rows of lengths {sorted(widths)}")
        if y is not None and len(y) != len(X):
            raise ValueError(f"y: expected {len(X)} targets (one per sample), got {len(y)}")
        return X, y, dropout_masks or {}

    def loss(self, X, y, dropout_masks=None):
        """Mean data loss plus regularization; dropout active only where masks are given."""
        X, y, masks = self._checked(X, y, dropout_masks)
        return self._total_loss(self._forward(X, True, masks), y)

    def _backward(self, X, y, masks):
        output = self._forward(X, True, masks)
        loss = self._total_loss(output, y)
        dvalues = self.loss_function.backward(output, y)
        # A fused loss's gradient (softmax or sigmoid + cross-entropy) is already the
        # gradient with respect to the logits.
        stack = self.layers[:-1] if self.fused_loss else self.layers
        for layer in reversed(stack):
            dvalues = layer.backward(dvalues)
        return loss

    def gradients(self, X, y, dropout_masks=None):
        """d(loss)/d(parameter) by canonical name, in canonical layout."""
        self._backward(*self._checked(X, y, dropout_masks))
        return _copies(self.grad_views)

    def step(self, X, y, dropout_masks=None):
        """One optimizer update (clipping, decay, formula variant); returns the loss before it."""
        return self._step(*self._checked(X, y, dropout_masks))

    def _step(self, X, y, masks):
        loss = self._backward(X, y, masks)
        o = self.spec.optimizer
        if o.clip_value or o.clip_norm:
            optimizers.clip_gradients(self.grad_rows, o.clip_value, o.clip_norm, self.spec.variant)
        self.optimizer.pre_update_params()
        self.optimizer.update_params(self.param_rows, self.grad_rows)
        self.optimizer.post_update_params()
        return loss

    def train_epoch(self, X, y, batches, masks):
        """Unchecked steps, one per batch: an epoch's, or fit's epochs up to its next evaluation.

        ``batches`` hold sample indices, ``masks`` a dict per batch."""
        return [self._step([X[i] for i in indices], [y[i] for i in indices], batch_masks)
                for indices, batch_masks in zip(batches, masks)]

    def parameters(self):
        """Current parameters by canonical name, in canonical layout (copies)."""
        return _copies(self.param_views)

    def set_parameters(self, params):
        """Overwrite the parameters in place (names and shapes checked against the spec)."""
        for name, value in check_parameters(self.spec, params).items():
            view = self.param_views[name]
            if isinstance(view[0], list):
                for row, new_row in zip(view, value):
                    row[:] = new_row
            else:
                view[:] = value


def _rows(views):
    return [row for value in views.values()
            for row in (value if isinstance(value[0], list) else [value])]


def _copies(views):
    return {name: [row[:] for row in value] if isinstance(value[0], list) else value[:]
            for name, value in views.items()}
