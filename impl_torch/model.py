"""The PyTorch model: a spec's layers as an nn.Module, its loss, autograd and a torch.optim optimizer.

Every parameter is a view into one flat buffer, and every gradient (``param.grad``) a
view into another that autograd accumulates into in place, so clipping and the optimizer
run once over the whole network (as impl_numpy does) instead of once per tensor.

Modes: "exact" computes impl_numpy's arithmetic for ``spec.variant``; "native" is what a
torch user would write (torch's losses, optimizers and clipping), which impl_numpy
reproduces as variant "torch" (shared.implementations.reference_spec).

Mirrors: impl_numpy/model.py, impl_pure/model.py, impl_tf/model.py.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from impl_torch import activations, layers, losses, optimizers
from shared import weights
from shared.checks import (check_dtype, check_flag, check_inputs, check_masks, check_settings,
                           check_targets)
from shared.implementations import check_mode, thread_count
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
# torch's own losses; nn.CrossEntropyLoss takes logits (the softmax is inside it).
NATIVE_LOSSES = {
    "categorical_crossentropy": nn.CrossEntropyLoss, "binary_crossentropy": nn.BCELoss,
    "mse": nn.MSELoss, "mae": nn.L1Loss,
}
DTYPES = {"float32": torch.float32, "float64": torch.float64}


def build(spec, params, dtype="float64", mode="exact"):
    """The harness entry point: a model of ``spec`` holding a copy of ``params``."""
    return Model(spec, params, dtype, mode)


def set_threads():
    """Use $ROSETTA_TORCH_THREADS intra-op threads (default 1: fastest for small nets, and reproducible)."""
    threads = thread_count("torch")
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


def make_optimizer(spec, params, mode="exact"):
    """(optimizer, scheduler or None) for ``spec``: impl_numpy's formulas (exact) or torch's built-ins (native)."""
    o = spec.optimizer
    lr, decay = o.learning_rate, o.decay
    if mode == "exact":  # impl_numpy's formulas, its learning-rate decay included
        variant = spec.variant
        if o.type == "sgd":
            return optimizers.SGD(params, lr, decay, o.momentum, o.nesterov, variant), None
        if o.type == "adagrad":
            return optimizers.Adagrad(params, lr, decay, o.epsilon, o.initial_accumulator,
                                      variant), None
        if o.type == "rmsprop":
            return optimizers.RMSprop(params, lr, decay, o.epsilon, o.rho, variant), None
        return optimizers.Adam(params, lr, decay, o.epsilon, o.beta_1, o.beta_2, variant), None
    if o.type == "sgd":
        optimizer = torch.optim.SGD(params, lr, momentum=o.momentum, nesterov=o.nesterov)
    elif o.type == "adagrad":  # Adagrad decays its own lr: lr / (1 + (t - 1) * lr_decay)
        return torch.optim.Adagrad(params, lr, lr_decay=decay, eps=o.epsilon), None
    elif o.type == "rmsprop":
        optimizer = torch.optim.RMSprop(params, lr, alpha=o.rho, eps=o.epsilon)
    else:
        optimizer = torch.optim.Adam(params, lr, betas=(o.beta_1, o.beta_2), eps=o.epsilon)
    if not decay:
        return optimizer, None
    # lr_t = lr * (1 / (1 + decay * t)), t counting updates from 0: impl_numpy's arithmetic.
    return optimizer, torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda t: 1.0 / (1.0 + decay * t))


def make_loss(spec, mode="exact"):
    """The data loss: impl_numpy's formulas (exact) or torch's own; categorical cross-entropy
    (after softmax: the spec is validated), and binary for variant keras, take logits."""
    if mode == "native":
        return NATIVE_LOSSES[spec.loss]()
    if spec.loss == "categorical_crossentropy":
        return losses.SoftmaxCategoricalCrossentropy(spec.variant)
    if spec.loss == "binary_crossentropy" and spec.variant == "keras":
        return losses.SigmoidBinaryCrossentropy(spec.variant)  # Keras's BCE on logits
    return LOSSES[spec.loss](spec.variant)


class Network(nn.Module):
    """y_hat = f_L(...f_1(X)): the spec's layers in order, by name (dense1, relu1, dropout1, ...)."""

    def __init__(self, named_layers):
        super().__init__()
        # A ModuleList and the names beside it, not an nn.ModuleDict: that refuses the names of
        # its own attributes ("type", "keys", "training"), which are fine layer names.
        self.names = list(named_layers)
        self.stack = nn.ModuleList(named_layers.values())
        self.by_name = dict(zip(self.names, self.stack))
        self.sequence = list(self.by_name.items())
        self.hidden = self.sequence[:-1]  # every layer but the output activation

    def forward(self, inputs, masks=None, logits=False):
        """Dropout layer ``name`` applies ``masks[name]`` when given; ``logits`` stops before the output activation."""
        masks = masks or {}
        output = inputs
        for name, layer in self.hidden if logits else self.sequence:
            output = layer(output, masks[name]) if name in masks else layer(output)
        return output


class Model(TrainingMixin):
    """y_hat = f_L(...f_1(X)); trained by loss + regularization and the spec's optimizer.

    ``network`` is the nn.Module. The model wraps it in the harness contract rather
    than being one, because the contract's ``parameters()`` (canonical NumPy arrays by
    name) would shadow nn.Module.parameters.
    """

    def __init__(self, spec, params, dtype="float64", mode="exact"):
        dtype = check_dtype(dtype)
        check_mode(mode)
        set_threads()
        self.spec, self.mode = spec, mode
        self.dtype = DTYPES[dtype]
        self.np_dtype = np.dtype(dtype)
        check_settings(spec, self.np_dtype)
        # Native mode is torch's arithmetic, which impl_numpy implements as variant "torch".
        self.variant = spec.variant if mode == "exact" else "torch"
        params = weights.check(spec, params, dtype=self.np_dtype)
        # torch layout: weight (n_neurons, n_inputs), the transpose of the canonical one.
        shapes = {name: shape[::-1] for name, shape in spec.parameter_shapes().items()}
        total = sum(int(np.prod(shape)) for shape in shapes.values())
        self.flat_params = torch.empty(total, dtype=self.dtype)
        self.flat_params.grad = torch.zeros(total, dtype=self.dtype)
        self.param_views, self.grad_views, offset = {}, {}, 0
        for name, shape in shapes.items():
            size = int(np.prod(shape))
            self.param_views[name] = _view(self.flat_params[offset:offset + size], shape)
            self.grad_views[name] = _view(self.flat_params.grad[offset:offset + size], shape)
            offset += size
        self.generator = torch.Generator().manual_seed(spec.training.seed)  # dropout's own masks
        self.network = Network({layer.name: self._make_layer(layer) for layer in spec.layers})
        self.network.eval()  # dropout draws its own masks only in forward(training=True)
        for name, param in self._named_parameters():
            param.grad = self.grad_views[name]
        self.set_parameters(params)
        self.regularized_layers = [self.network.by_name[layer.name]
                                   for layer in spec.dense_layers if layer.regularized]
        self.loss_function = make_loss(spec, mode)
        self.takes_logits = spec.loss == "categorical_crossentropy" or (
            spec.loss == "binary_crossentropy" and self.variant == "keras")
        self.optimizer, self.scheduler = make_optimizer(spec, [self.flat_params], mode)

    def _make_layer(self, layer):
        if layer.type == "dense":
            return layers.Dense(self.param_views[f"{layer.name}.weight"],
                                self.param_views[f"{layer.name}.bias"], layer, self.variant,
                                exact=self.mode == "exact")
        if layer.type == "dropout":
            return layers.Dropout(layer.rate, self.generator)
        if layer.type == "leaky_relu":
            return activations.LeakyReLU(layer.alpha)
        if layer.type == "sigmoid":
            return activations.Sigmoid(exact=self.mode == "exact")
        if layer.type == "softmax":
            return activations.Softmax(exact=self.mode == "exact")
        if layer.type == "tanh":
            return activations.Tanh(exact=self.mode == "exact")
        return ACTIVATIONS[layer.type]()

    def _named_parameters(self):
        for layer in self.spec.dense_layers:
            dense = self.network.by_name[layer.name]
            yield f"{layer.name}.weight", dense.weight
            yield f"{layer.name}.bias", dense.bias

    def forward(self, X, training=False, dropout_masks=None):
        """Output activations for X; dropout uses ``dropout_masks`` (or fresh ones) when training."""
        training = check_flag("training", training)
        X = self._tensor(check_inputs(self.spec, X, dtype=self.np_dtype))
        masks = check_masks(self.spec, dropout_masks, len(X))
        masks = self._masks(masks) if training else {}
        self.network.train(training)
        try:
            with torch.no_grad():
                return self.network(X, masks).numpy()
        finally:
            self.network.eval()

    def _data_loss(self, X, y, masks):
        return self.loss_function(self.network(X, masks, logits=self.takes_logits), y)

    def regularization_loss(self):
        """Sum of every Dense layer's L1/L2 penalties."""
        return sum(layer.regularization_loss() for layer in self.regularized_layers)

    def _total_loss(self, X, y, masks):
        loss = self._data_loss(X, y, masks)
        return loss + self.regularization_loss() if self.regularized_layers else loss

    def _tensor(self, array):
        # torch takes neither negative strides nor read-only memory: those arrays are copied
        return torch.from_numpy(np.require(array, self.np_dtype, ["C", "W"]))

    def _masks(self, masks):
        return {name: self._tensor(mask) for name, mask in masks.items()}

    def _targets(self, y):
        # Cross-entropy takes class indices: one-hot rows become their argmax.
        if self.spec.loss == "categorical_crossentropy":
            return torch.from_numpy(np.argmax(y, axis=1) if y.ndim == 2 else y.astype(np.int64))
        return self._tensor(y)

    def _checked(self, X, y, dropout_masks):
        X = check_inputs(self.spec, X, dtype=self.np_dtype)
        y = check_targets(self.spec, y, len(X), dtype=self.np_dtype)
        masks = check_masks(self.spec, dropout_masks, len(X))
        return self._tensor(X), self._targets(y), self._masks(masks)

    def loss(self, X, y, dropout_masks=None):
        """Mean data loss plus regularization; dropout active only where masks are given."""
        with torch.no_grad():
            return self._total_loss(*self._checked(X, y, dropout_masks)).item()

    def _backward(self, X, y, masks):
        # Autograd accumulates into the flat gradient buffer, in place.
        self.flat_params.grad.zero_()
        if self.mode == "native":
            loss = self._total_loss(X, y, masks)
            loss.backward()
            return loss.item()
        # The loss hands its gradient to autograd at the network's output (a fused loss: at
        # the logits), as impl_numpy's backward starts from the loss's dinputs: the same
        # gradient as loss.backward() through the loss's Function, without its Python
        # backward call (~10% of a spiral step).
        output = self.network(X, masks, logits=self.takes_logits)
        loss, doutput = self.loss_function.value_and_gradient(output, y)
        torch.autograd.backward(output, doutput)
        if self.regularized_layers:  # added to the data gradients as impl_numpy adds them
            with torch.no_grad():
                loss = loss + self.regularization_loss()
                for layer in self.regularized_layers:
                    layer.add_penalty_gradients()
        return loss.item()

    def gradients(self, X, y, dropout_masks=None):
        """d(loss)/d(parameter) by canonical name, in canonical layout."""
        self._backward(*self._checked(X, y, dropout_masks))
        return {name: _canonical(grad) for name, grad in self.grad_views.items()}

    def step(self, X, y, dropout_masks=None):
        """One optimizer update (clipping, decay, formula variant); returns the loss before it."""
        return self._step(*self._checked(X, y, dropout_masks))

    def _step(self, X, y, masks):
        loss = self._backward(X, y, masks)
        o = self.spec.optimizer
        if o.clip_value or o.clip_norm:
            self._clip(o.clip_value, o.clip_norm)
        if self.mode == "exact":
            with torch.no_grad():
                self.optimizer.update()  # step() without torch.optim's hooks and profiler wrapper
        else:
            self.optimizer.step()
        if self.scheduler is not None:
            self.scheduler.step()
        return loss

    def _clip(self, clip_value, clip_norm):
        if self.mode == "exact":
            canonical = [g.T.numpy() if g.ndim == 2 else g.numpy()
                         for g in self.grad_views.values()] if clip_norm else None
            optimizers.clip_gradients(self.flat_params.grad, clip_value, clip_norm,
                                      self.spec.variant, canonical)
            return
        if clip_value:
            nn.utils.clip_grad_value_([self.flat_params], clip_value)
        if clip_norm:
            nn.utils.clip_grad_norm_([self.flat_params], clip_norm)

    def train_epoch(self, X, y, batches, masks):
        """Unchecked steps, one per batch: an epoch's, or fit's epochs up to its next evaluation.

        X and y (checked by fit) are converted once, not once per batch."""
        X, y = np.asarray(X, dtype=self.np_dtype), self._targets(y).numpy()
        return [self._step(_gather(X, idx), _gather(y, idx), self._masks(mask))
                for idx, mask in zip(batches, masks)]

    def parameters(self):
        """Current parameters by canonical name, in canonical layout (copies)."""
        return {name: _canonical(param) for name, param in self.param_views.items()}

    def set_parameters(self, params):
        """Overwrite the parameters (names and shapes checked against the spec)."""
        with torch.no_grad():
            for name, value in weights.check(self.spec, params, dtype=self.np_dtype).items():
                self.param_views[name].copy_(torch.from_numpy(value.T))

    def save(self, path):
        """Write the parameters to a safetensors file (float64, canonical names)."""
        weights.save(path, {k: v.astype(np.float64) for k, v in self.parameters().items()})

    def load(self, path):
        """Read parameters from a safetensors file written by any implementation."""
        self.set_parameters(weights.load(path, self.spec, self.np_dtype))


def _view(flat, shape):
    """flat as a tensor of ``shape``; a widening layer's (out, in) weight is stored column-major.

    Autograd computes dW in the weight's own layout, and MKL's gemm for a (wide, narrow)
    row-major result over a long batch, dy.T @ x, takes 5x longer than x.T @ dy (for
    spiral's 2->64 layer the same bits; neither order is NumPy's sum over the batch).
    """
    if len(shape) == 2 and shape[0] > shape[1]:
        return flat.view(shape[::-1]).T
    return flat.view(shape)


def _gather(array, idx):
    """array[idx] as a tensor, gathered by NumPy (3x faster than torch's indexing at spiral's size)."""
    return torch.from_numpy(array.take(idx, axis=0))


def _canonical(tensor):
    """A NumPy copy in canonical layout: torch's (out, in) weight becomes (in, out)."""
    return tensor.detach().T.numpy().copy() if tensor.ndim == 2 else tensor.detach().numpy().copy()
