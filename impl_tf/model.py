"""The Keras model: a spec's layers as a keras.Model, its loss, a GradientTape step in a tf.function, a Keras optimizer.

Each Dense layer owns its kernel and bias (TF variables cannot be views into one flat
buffer, as impl_numpy's and impl_torch's are); the canonical names map onto them.
Steps run as ``tf.function``s traced per input signature (eager Keras costs ~30x more per
step), and ``train_epoch`` runs its mini-batches (an epoch, or all the epochs fit hands it)
inside one.

Modes: "exact" computes impl_numpy's arithmetic for ``spec.variant``; "native" is what a
Keras user would write (Keras's losses, optimizers, clipping and InverseTimeDecay), which
impl_numpy reproduces as variant "keras" (shared.implementations.reference_spec).

Float64 needs care in Keras: every layer gets ``dtype=``, every hyperparameter is a
float64 value (a Python float passed through ops.cast is rounded to float32 first), and
the optimizer is built under floatx = the model's dtype (its learning-rate variable
takes floatx).

Mirrors: impl_numpy/model.py, impl_pure/model.py, impl_torch/model.py.
"""
from __future__ import annotations

import contextlib
import warnings

import keras
import numpy as np
import tensorflow as tf

from impl_tf import activations, layers, losses, optimizers
from shared import weights
from shared.checks import (check_dtype, check_flag, check_inputs, check_masks, check_settings,
                           check_targets)
from shared.implementations import THREADS_ENV, check_mode, thread_count
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


def build(spec, params, dtype="float64", mode="exact"):
    """The harness entry point: a model of ``spec`` holding a copy of ``params``."""
    return Model(spec, params, dtype, mode)


def set_threads():
    """Use $ROSETTA_TF_THREADS intra- and inter-op threads (default 1: fastest for small nets, and reproducible)."""
    threads, threading = thread_count("tf"), tf.config.threading
    current = (threading.get_intra_op_parallelism_threads(),
               threading.get_inter_op_parallelism_threads())
    if current == (threads, threads):
        return
    try:
        threading.set_intra_op_parallelism_threads(threads)
        threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError as error:  # TF ran an operation before impl_tf was imported
        warnings.warn(f"{THREADS_ENV['tf']}={threads} not applied: TensorFlow was already "
                      f"initialized with intra/inter-op threads {current} (0 = TF's default): "
                      f"{error}",
                      RuntimeWarning, stacklevel=2)


GRAPPLER_OFF = {"arithmetic_optimization": False, "constant_folding": False}


def keep_float_order():
    """Turn off two Grappler passes, process-wide, that change the bits of impl_numpy's formulas
    in tf.function graphs: the arithmetic optimizer reassociates float operations (chains of
    scalar multiplications reordered), and constant folding turns x / n, with n known when
    the graph is traced (a batch size), into x * (1 / n)."""
    options = tf.config.optimizer.get_experimental_options()
    if any(options.get(key) is not False for key in GRAPPLER_OFF):
        tf.config.optimizer.set_experimental_options(GRAPPLER_OFF)


@contextlib.contextmanager
def floatx(dtype):
    """keras.config.floatx() set to ``dtype`` inside the block only, so float32 and float64 models coexist."""
    previous = keras.config.floatx()
    keras.config.set_floatx(dtype)
    try:
        yield
    finally:
        keras.config.set_floatx(previous)


def make_optimizer(spec, mode="exact", dtype="float64"):
    """The spec's optimizer: impl_numpy's formulas (exact) or Keras's built-ins (native)."""
    o = spec.optimizer
    if mode == "native":
        # The hyperparameters as a Keras user writes them, Python floats, with which Keras
        # computes in float32; a float64 model needs np.float64 values: ops.cast rounds a Python
        # float through float32 (see docs/divergences.md).
        scalar = np.float64 if np.dtype(dtype) == np.float64 else float
        # Keras's schedule divides: lr / (1 + decay * t), t counting updates from 0.
        lr = scalar(o.learning_rate)
        if o.decay:
            lr = keras.optimizers.schedules.InverseTimeDecay(lr, 1, scalar(o.decay))
        # Keras accepts one clipping argument; with both, the model clips values first.
        clip = ({"global_clipnorm": scalar(o.clip_norm)} if o.clip_norm else
                {"clipvalue": scalar(o.clip_value)} if o.clip_value else {})
        eps = scalar(o.epsilon)
        if o.type == "sgd":
            return keras.optimizers.SGD(lr, momentum=scalar(o.momentum), nesterov=o.nesterov,
                                        **clip)
        if o.type == "adagrad":
            return keras.optimizers.Adagrad(
                lr, initial_accumulator_value=scalar(o.initial_accumulator), epsilon=eps, **clip)
        if o.type == "rmsprop":
            return keras.optimizers.RMSprop(lr, rho=scalar(o.rho), epsilon=eps, **clip)
        return keras.optimizers.Adam(lr, beta_1=scalar(o.beta_1), beta_2=scalar(o.beta_2),
                                     epsilon=eps, **clip)
    variant = spec.variant
    if o.type == "sgd":
        return optimizers.SGD(o.learning_rate, o.decay, o.momentum, o.nesterov, variant)
    if o.type == "adagrad":
        return optimizers.Adagrad(o.learning_rate, o.decay, o.epsilon, o.initial_accumulator,
                                  variant)
    if o.type == "rmsprop":
        return optimizers.RMSprop(o.learning_rate, o.decay, o.epsilon, o.rho, variant)
    return optimizers.Adam(o.learning_rate, o.decay, o.epsilon, o.beta_1, o.beta_2, variant)


def make_loss(spec, mode="exact", dtype="float64"):
    """The data loss, called as loss(y_true, y_pred); categorical cross-entropy, and binary in
    native mode or variant keras, take logits."""
    if mode == "native":
        # Keras silently swaps a softmax/sigmoid output for its logits (``_keras_logits``);
        # from_logits=True says so.
        if spec.loss == "categorical_crossentropy":
            return keras.losses.SparseCategoricalCrossentropy(from_logits=True, dtype=dtype)
        if spec.loss == "binary_crossentropy":
            return keras.losses.BinaryCrossentropy(from_logits=True, dtype=dtype)
        if spec.loss == "mse":
            return keras.losses.MeanSquaredError(dtype=dtype)
        return keras.losses.MeanAbsoluteError(dtype=dtype)
    if spec.loss == "categorical_crossentropy":
        return losses.SoftmaxCategoricalCrossentropy(spec.variant)
    if spec.loss == "binary_crossentropy" and spec.variant == "keras":
        return losses.SigmoidBinaryCrossentropy(spec.variant)  # Keras's BCE on logits
    return LOSSES[spec.loss](spec.variant)


def _any_shape(tensor):
    """A TensorSpec of ``tensor``'s dtype and rank, every dimension unknown."""
    return tf.TensorSpec([None] * tensor.shape.rank, tensor.dtype)


def _compile(method):
    """``method`` as a tf.function of its own: TF counts retracings per Python function, across models."""
    def traced(*args):
        return method(*args)
    return tf.function(traced, reduce_retracing=True)


class Network(keras.Model):
    """y_hat = f_L(...f_1(X)): the spec's layers in order, by name (dense1, relu1, dropout1, ...)."""

    def __init__(self, named_layers, dtype="float64"):
        super().__init__(dtype=dtype)
        self.names = [name for name, _ in named_layers]
        self.stack = [layer for _, layer in named_layers]

    def call(self, inputs, masks=None, logits=False, training=False):
        """Dropout layer ``name`` applies ``masks[name]`` when given; ``logits`` stops before the output activation."""
        masks = masks or {}
        count = len(self.stack) - 1 if logits else len(self.stack)
        output = inputs
        for name, layer in zip(self.names[:count], self.stack[:count]):
            if name in masks:
                output = layer(output, dropout_mask=masks[name], training=training)
            else:
                output = layer(output, training=training)
        return output


class Model(TrainingMixin):
    """y_hat = f_L(...f_1(X)); trained by loss + regularization and the spec's optimizer.

    ``network`` is the keras.Model. The model wraps it in the harness contract rather
    than being one, because the contract's ``parameters()``, ``fit``, ``evaluate`` and
    ``predict`` would clash with keras.Model's.
    """

    def __init__(self, spec, params, dtype="float64", mode="exact"):
        dtype = check_dtype(dtype)
        check_mode(mode)
        set_threads()
        keep_float_order()
        self.spec, self.mode = spec, mode
        self.dtype = tf.as_dtype(dtype)
        self.np_dtype = np.dtype(dtype)
        check_settings(spec, self.np_dtype)
        # Native mode is Keras's arithmetic, which impl_numpy implements as variant "keras".
        self.variant = spec.variant if mode == "exact" else "keras"
        params = weights.check(spec, params, dtype=self.np_dtype)
        # one stream for every dropout layer's own masks, as impl_numpy's rng and impl_torch's
        # generator (a generator per layer, seeded alike, would draw the same numbers in each)
        self.seed_generator = keras.random.SeedGenerator(spec.training.seed)
        self.network = Network([(layer.name, self._make_layer(layer)) for layer in spec.layers],
                               dtype)
        self.variables = dict(self._named_variables())
        self.regularizers = [regularizer for layer in self.network.stack
                             if isinstance(layer, layers.Dense)
                             for regularizer in (layer.kernel_regularizer, layer.bias_regularizer)]
        # (Keras 3 builds every penalty again each time network.losses is read)
        self.regularized = any(regularizer is not None for regularizer in self.regularizers)
        self.set_parameters(params)
        self.loss_function = make_loss(spec, mode, dtype)
        self.takes_logits = spec.loss == "categorical_crossentropy" or (
            spec.loss == "binary_crossentropy" and self.variant == "keras")
        with floatx(dtype):
            self.optimizer = make_optimizer(spec, mode, dtype)
            self.optimizer.build(list(self.variables.values()))
        # One trace per input structure and batch size (then generalized to any size).
        self._forward_fn = _compile(self._forward)
        self._loss_fn = _compile(self._total_loss)
        self._backward_fn = _compile(self._backward)
        self._step_fn = _compile(self._step)
        self._epoch_fn = _compile(self._epoch)
        self._epoch_functions = {}  # its concrete functions, by the arguments' dtypes and ranks

    def _make_layer(self, layer):
        dtype = self.np_dtype.name
        if layer.type == "dense":
            n_inputs = self.spec.parameter_shapes()[f"{layer.name}.weight"][0]
            return layers.Dense(n_inputs, layer, self.variant, dtype)
        if layer.type == "dropout":
            return layers.Dropout(layer.rate, self.seed_generator, dtype=dtype, name=layer.name)
        if layer.type == "leaky_relu":
            return activations.LeakyReLU(layer.alpha, dtype=dtype, name=layer.name)
        if layer.type == "sigmoid":
            return activations.Sigmoid(exact=self.mode == "exact", dtype=dtype, name=layer.name)
        if layer.type == "softmax":
            return activations.Softmax(exact=self.mode == "exact", dtype=dtype, name=layer.name)
        return ACTIVATIONS[layer.type](dtype=dtype, name=layer.name)

    def _named_variables(self):
        for name, layer in zip(self.network.names, self.network.stack):
            if isinstance(layer, layers.Dense):
                yield f"{name}.weight", layer.kernel
                yield f"{name}.bias", layer.bias

    def forward(self, X, training=False, dropout_masks=None):
        """Output activations for X; dropout uses ``dropout_masks`` (or fresh ones) when training."""
        training = check_flag("training", training)
        X = check_inputs(self.spec, X, dtype=self.np_dtype)
        masks = check_masks(self.spec, dropout_masks, len(X))
        masks = self._masks(masks) if training else {}
        return self._forward_fn(self._tensor(X), masks, bool(training)).numpy()

    def _forward(self, X, masks, training):
        return self.network(X, masks, training=training)

    def _data_loss(self, X, y, masks):
        return self.loss_function(y, self.network(X, masks, logits=self.takes_logits))

    def regularization_loss(self):
        """Sum of every Dense layer's L1/L2 penalties (Keras collects them in ``network.losses``)."""
        return sum(self.network.losses)

    def _total_loss(self, X, y, masks):
        loss = self._data_loss(X, y, masks)
        return loss + self.regularization_loss() if self.regularized else loss

    def _tensor(self, array):
        return tf.convert_to_tensor(np.asarray(array, dtype=self.np_dtype))

    def _masks(self, masks):
        return {name: self._tensor(mask) for name, mask in masks.items()}

    def _targets(self, y):
        # Cross-entropy takes class indices: one-hot rows become their argmax.
        if self.spec.loss == "categorical_crossentropy":
            return tf.convert_to_tensor(np.argmax(y, axis=1) if y.ndim == 2 else y.astype(np.int64))
        return self._tensor(y)

    def _checked(self, X, y, dropout_masks):
        X = check_inputs(self.spec, X, dtype=self.np_dtype)
        y = check_targets(self.spec, y, len(X), dtype=self.np_dtype)
        masks = check_masks(self.spec, dropout_masks, len(X))
        return self._tensor(X), self._targets(y), self._masks(masks)

    def loss(self, X, y, dropout_masks=None):
        """Mean data loss plus regularization; dropout active only where masks are given."""
        return float(self._loss_fn(*self._checked(X, y, dropout_masks)))

    def _backward(self, X, y, masks):
        # (loss, gradients): the tape returns the gradients, where impl_numpy and impl_torch
        # write them into the model's gradient buffers.
        variables = list(self.variables.values())
        if self.mode == "native":
            with tf.GradientTape() as tape:
                loss = self._total_loss(X, y, masks)
            return loss, tape.gradient(loss, variables)
        with tf.GradientTape() as tape:
            loss = self._data_loss(X, y, masks)
        grads = tape.gradient(loss, variables)
        if self.regularized:  # added to the data gradients as impl_numpy adds them
            loss = loss + self.regularization_loss()
            grads = [g if r is None else r.add_penalty_gradients(g, v)
                     for g, v, r in zip(grads, variables, self.regularizers)]
        return loss, grads

    def gradients(self, X, y, dropout_masks=None):
        """d(loss)/d(parameter) by canonical name, in canonical layout."""
        _, grads = self._backward_fn(*self._checked(X, y, dropout_masks))
        return {name: grad.numpy() for name, grad in zip(self.variables, grads)}

    def step(self, X, y, dropout_masks=None):
        """One optimizer update (clipping, decay, formula variant); returns the loss before it."""
        return float(self._step_fn(*self._checked(X, y, dropout_masks)))

    def _step(self, X, y, masks):
        loss, grads = self._backward(X, y, masks)
        o = self.spec.optimizer
        if o.clip_value or o.clip_norm:
            grads = self._clip(grads, o.clip_value, o.clip_norm)
        self.optimizer.apply(grads, list(self.variables.values()))
        return loss

    def _clip(self, grads, clip_value, clip_norm):
        if self.mode == "exact":
            return optimizers.clip_gradients(grads, clip_value, clip_norm, self.spec.variant)
        # native: the Keras optimizer clips (clipvalue or global_clipnorm, see make_optimizer);
        # it takes only one of them, so with both the values are clipped here first
        if clip_value and clip_norm:
            return [keras.ops.clip(g, -clip_value, clip_value) for g in grads]
        return grads

    def _epoch(self, X, y, indices, masks):
        """Steps on the batches X[indices[i]] (equal sizes), all inside one graph; returns their losses."""
        losses = tf.TensorArray(self.dtype, size=tf.shape(indices)[0])
        for i in tf.range(tf.shape(indices)[0]):
            batch = indices[i]
            loss = self._step(tf.gather(X, batch), tf.gather(y, batch),
                              {name: mask[i] for name, mask in masks.items()})
            losses = losses.write(i, loss)
        return losses.stack()

    def train_epoch(self, X, y, batches, masks):
        """Unchecked steps, one per batch: an epoch's, or fit's epochs up to its next evaluation.

        One graph call per run of equal-size batches (an epoch's last may be shorter)."""
        X, y = self._tensor(X), self._targets(y)
        losses, start = [], 0
        while start < len(batches):
            end = start
            while end < len(batches) and len(batches[end]) == len(batches[start]):
                end += 1
            indices = tf.convert_to_tensor(np.stack(batches[start:end]))
            run_masks = {name: self._tensor(np.stack([m[name] for m in masks[start:end]]))
                         for name in masks[start]}
            losses.extend(self._run_epoch(X, y, indices, run_masks).numpy().tolist())
            start = end
        return losses

    def _run_epoch(self, *arguments):
        # _epoch_fn traced once with every dimension unknown, and called as that concrete
        # function: tf.function's dispatch costs ~0.3 ms a call (a spiral epoch: 0.5 ms), and a
        # new run length (fit's last group of epochs) would trace the graph again (160 ms).
        key = tuple((t.dtype, t.shape.rank) for t in tf.nest.flatten(arguments)) + tuple(
            arguments[-1])
        if key not in self._epoch_functions:
            self._epoch_functions[key] = self._epoch_fn.get_concrete_function(
                *tf.nest.map_structure(_any_shape, arguments))
        return self._epoch_functions[key](*arguments)

    def parameters(self):
        """Current parameters by canonical name, in canonical layout (copies)."""
        return {name: variable.numpy().copy() for name, variable in self.variables.items()}

    def set_parameters(self, params):
        """Overwrite the parameters (names and shapes checked against the spec)."""
        for name, value in weights.check(self.spec, params, dtype=self.np_dtype).items():
            self.variables[name].assign(value.astype(self.np_dtype))

    def save(self, path):
        """Write the parameters to a safetensors file (float64, canonical names)."""
        weights.save(path, {k: v.astype(np.float64) for k, v in self.parameters().items()})

    def load(self, path):
        """Read parameters from a safetensors file written by any implementation."""
        self.set_parameters(weights.load(path, self.spec, self.np_dtype))
