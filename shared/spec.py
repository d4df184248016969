"""Network specs: plain data that every implementation builds the same network from.

A spec is read from TOML (see ``shared/specs/*.toml``) by :func:`from_dict` and
validated on the way in, so a bad spec fails here with a message that names the
field, never deep inside a framework.
"""
from __future__ import annotations

import dataclasses
import math
import re
import sys
from dataclasses import dataclass, field

ACTIVATIONS = ("relu", "leaky_relu", "sigmoid", "tanh", "softmax", "linear", "step")
LAYER_TYPES = ("dense", "dropout") + ACTIVATIONS
LOSSES = ("categorical_crossentropy", "binary_crossentropy", "mse", "mae")
OPTIMIZERS = ("sgd", "adagrad", "rmsprop", "adam")
# the hyperparameters each optimizer's formula reads, besides learning_rate and decay
OPTIMIZER_HYPERPARAMETERS = {"sgd": ("momentum", "nesterov"),
                             "adagrad": ("epsilon", "initial_accumulator"),
                             "rmsprop": ("epsilon", "rho"), "adam": ("epsilon", "beta_1", "beta_2")}
# read by every optimizer
COMMON_HYPERPARAMETERS = ("learning_rate", "decay", "clip_value", "clip_norm")
INITIALIZERS = ("nnfs", "glorot_uniform", "he_normal")
# A formula family: the nnfs book's arithmetic, or what torch / Keras compute natively.
VARIANTS = ("nnfs", "torch", "keras")
METRICS = ("categorical", "binary", "regression")
SPEC_KEYS = {"name", "description", "inputs", "layers", "loss", "optimizer", "init", "metric",
             "variant", "dataset", "training"}  # a spec's top-level keys
MAX_EPOCHS = 1_000_000  # training.epochs (and compare.py --epochs): hours even for XOR
# The metric a spec gets when it names none: the one its loss is made for.
DEFAULT_METRICS = {"categorical_crossentropy": "categorical", "binary_crossentropy": "binary",
                   "mse": "regression", "mae": "regression"}
# Layer names become module, variable and scope names in the frameworks.
LAYER_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")

# Which output activations each loss accepts.
LOSS_OUTPUTS = {
    "categorical_crossentropy": ("softmax",),
    "binary_crossentropy": ("sigmoid",),
    "mse": ACTIVATIONS,
    "mae": ACTIVATIONS,
}

# nnfs book defaults (Ch19 Optimizer_* constructors), used where a spec is silent.
OPTIMIZER_DEFAULTS = {
    "sgd": {"learning_rate": 1.0},
    "adagrad": {"learning_rate": 1.0},
    "rmsprop": {"learning_rate": 0.001},
    "adam": {"learning_rate": 0.001},
}


# Each implementation keeps several float64 copies of the parameters (MNIST's net has 235,146).
MAX_PARAMETERS = 100_000_000
# An L1/L2 factor whose gradient term 2 * l2 * w stays finite for |w| <= 1.
MAX_PENALTY = sys.float_info.max / 2


class SpecError(ValueError):
    """A network spec that cannot be built; the message names the field and what was expected."""


def _floats(settings) -> None:
    """Turn integers given for ``settings``' float fields (TOML ``1``, ``2**64``) into floats.

    torch and TensorFlow refuse Python integers beyond 64 bits where they take a float; a
    value too large for a float is left for validate to refuse by name.
    """
    for f in dataclasses.fields(settings):
        value = getattr(settings, f.name)
        if (f.type == "float" and isinstance(value, int) and not isinstance(value, bool)
                and _finite(value)):
            object.__setattr__(settings, f.name, float(value))


@dataclass(frozen=True)
class Layer:
    """One entry of a spec's layer list: a dense layer, a dropout layer or an activation."""

    type: str
    name: str
    units: int = 0
    rate: float = 0.0
    alpha: float = 0.01  # leaky_relu slope for x < 0
    weight_l1: float = 0.0
    weight_l2: float = 0.0
    bias_l1: float = 0.0
    bias_l2: float = 0.0

    def __post_init__(self):
        _floats(self)

    @property
    def regularized(self) -> bool:
        return any((self.weight_l1, self.weight_l2, self.bias_l1, self.bias_l2))


@dataclass(frozen=True)
class Optimizer:
    """An optimizer and all its hyperparameters; ``decay`` is nnfs's lr / (1 + decay * t)."""

    type: str = "adam"
    learning_rate: float = 0.001
    decay: float = 0.0
    momentum: float = 0.0
    nesterov: bool = False
    epsilon: float = 1e-7
    rho: float = 0.9
    beta_1: float = 0.9
    beta_2: float = 0.999
    initial_accumulator: float = 0.1  # Keras Adagrad only (variant "keras")
    clip_value: float = 0.0  # 0 = no clipping by value
    clip_norm: float = 0.0  # 0 = no clipping by global norm

    def __post_init__(self):
        _floats(self)


@dataclass(frozen=True)
class Training:
    """Training settings: epochs, batch size (0 = full batch), seed and early stopping."""

    epochs: int = 100
    batch_size: int = 0
    seed: int = 0
    patience: int = 0  # 0 = no early stopping
    print_every: int = 100


@dataclass(frozen=True)
class Dataset:
    """Which data the network trains on, with the loader's keyword arguments."""

    name: str = "spiral"
    options: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Spec:
    """A whole network: inputs, layers, loss, optimizer, initializer, data and training."""

    name: str
    inputs: int
    layers: tuple[Layer, ...]
    loss: str
    optimizer: Optimizer = Optimizer()
    init: str = "nnfs"
    metric: str = "categorical"
    variant: str = "nnfs"
    dataset: Dataset = Dataset()
    training: Training = Training()
    description: str = ""

    def __post_init__(self):
        validate(self)  # a Spec built directly (not through from_dict) is checked too

    @property
    def dense_layers(self) -> tuple[Layer, ...]:
        return tuple(layer for layer in self.layers if layer.type == "dense")

    @property
    def dropout_layers(self) -> tuple[Layer, ...]:
        return tuple(layer for layer in self.layers if layer.type == "dropout")

    @property
    def outputs(self) -> int:
        return self.dense_layers[-1].units

    @property
    def output_activation(self) -> str:
        return self.layers[-1].type

    def parameter_shapes(self) -> dict[str, tuple[int, ...]]:
        """Canonical names and shapes: ``denseK.weight`` (n_inputs, n_neurons), ``denseK.bias`` (n_neurons,)."""
        shapes, n_in = {}, self.inputs
        for layer in self.dense_layers:
            shapes[f"{layer.name}.weight"] = (n_in, layer.units)
            shapes[f"{layer.name}.bias"] = (layer.units,)
            n_in = layer.units
        return shapes

    def replace(self, **changes) -> "Spec":
        """A copy with top-level fields changed; ``optimizer`` and ``training`` accept dicts of changes."""
        _known_keys(changes, {f.name for f in dataclasses.fields(self)}, "Spec.replace")
        for key in ("optimizer", "training"):
            if isinstance(changes.get(key), dict):
                current = getattr(self, key)
                _known_keys(changes[key], {f.name for f in dataclasses.fields(current)}, key)
                changes[key] = dataclasses.replace(current, **changes[key])
        return validate(dataclasses.replace(self, **changes))

    def to_dict(self) -> dict:
        """The spec as plain data (the TOML layout), for reports and JSON."""
        data = dataclasses.asdict(self)
        reads = ("type", *COMMON_HYPERPARAMETERS, *OPTIMIZER_HYPERPARAMETERS[self.optimizer.type])
        data["optimizer"] = {key: data["optimizer"][key] for key in reads}  # the others: unused
        data["layers"] = [_layer_to_dict(layer) for layer in self.layers]
        data["dataset"] = {"name": self.dataset.name, **self.dataset.options}
        return data


def _layer_to_dict(layer: Layer) -> dict:
    default = Layer(type=layer.type, name=layer.name)
    return {k: v for k, v in dataclasses.asdict(layer).items()
            if k in ("type", "name") or v != getattr(default, k)}


def _check(condition: bool, where: str, expected: str, got) -> None:
    if not condition:
        shown = repr(got)
        if len(shown) > 80:  # a 400-digit integer, say
            shown = f"{shown[:60]}... ({len(shown)} characters)"
        raise SpecError(f"{where}: expected {expected}, got {shown}")


def _finite(value) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer too large for a float (TOML integers have no limit)
        return False


def _number(value, where: str, low: float, high: float = math.inf, *,
            low_open: bool = False, high_open: bool = True) -> float:
    ok_type = isinstance(value, (int, float)) and not isinstance(value, bool)
    _check(ok_type and _finite(value), where, "a finite number", value)
    above = value > low if low_open else value >= low
    below = value < high if high_open else value <= high
    interval = f"{'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
    _check(above and below, where, f"a number in {interval}", value)
    return float(value)


def _penalty(value, where: str) -> float:
    value = _number(value, where, 0.0)
    _check(value <= MAX_PENALTY, where, f"a factor whose gradient term 2 * factor * w is finite "
           f"(at most {MAX_PENALTY:.3g})", value)
    return value


def _integer(value, where: str, low: int, high: int | None = None) -> int:
    bound = f">= {low}" if high is None else f"in [{low}, {high:,}]"
    _check(isinstance(value, int) and not isinstance(value, bool) and value >= low
           and (high is None or value <= high), where, f"an integer {bound}", value)
    return value


def _known_keys(data: dict, allowed, where: str) -> None:
    unknown = sorted(set(data) - set(allowed))
    _check(not unknown, where, f"only the keys {sorted(allowed)}", unknown)


def check_hyperparameters(optimizer_type: str, keys, where: str = "optimizer") -> None:
    """Refuse a hyperparameter that ``optimizer_type``'s formula does not read (it would be ignored)."""
    reads = OPTIMIZER_HYPERPARAMETERS[optimizer_type]
    for key in keys:
        if key not in reads and key not in COMMON_HYPERPARAMETERS and key != "type":
            raise SpecError(f"{where}.{key}: not used by {optimizer_type}, which reads "
                            f"{', '.join(reads)} (and {', '.join(COMMON_HYPERPARAMETERS)})")


def _table(data: dict, key: str, default: dict) -> dict:
    value = data.get(key, default)
    _check(isinstance(value, dict), key, "a table", value)
    return dict(value)


def _layers_from_list(items, inputs: int) -> tuple[Layer, ...]:
    _check(isinstance(items, list) and items, "layers", "a non-empty list of tables", items)
    layers, counts = [], {}
    layer_fields = {f.name for f in dataclasses.fields(Layer)} - {"name"}
    for i, item in enumerate(items):
        where = f"layers[{i}]"
        _check(isinstance(item, dict), where, "a table", item)
        kind = item.get("type")
        _check(kind in LAYER_TYPES, f"{where}.type", f"one of {LAYER_TYPES}", kind)
        misplaced = sorted(set(item) & (SPEC_KEYS - layer_fields - {"name"}))
        if misplaced:  # TOML gives a key after a [[layers]] header to that layer
            raise SpecError(f"{where}: {', '.join(map(repr, misplaced))} is a key of the spec, "
                            f"not of a layer: in TOML, put the spec's own keys before the first "
                            f"[[layers]] (a key after a table header belongs to that table)")
        _known_keys(item, layer_fields | {"name"}, where)
        values = {k: v for k, v in item.items() if k not in ("type", "name")}
        if kind == "dense":
            _integer(values.get("units"), f"{where}.units", 1)
            for key in ("weight_l1", "weight_l2", "bias_l1", "bias_l2"):
                values[key] = _penalty(values.get(key, 0.0), f"{where}.{key}")
        elif kind == "dropout":
            values["rate"] = _number(values.get("rate"), f"{where}.rate", 0.0, 1.0)
        elif kind == "leaky_relu":
            values["alpha"] = _number(values.get("alpha", 0.01), f"{where}.alpha", 0.0)
        extra = set(values) - ({"units", "weight_l1", "weight_l2", "bias_l1", "bias_l2"}
                               if kind == "dense" else {"rate"} if kind == "dropout"
                               else {"alpha"} if kind == "leaky_relu" else set())
        _check(not extra, where, f"no other keys for a {kind} layer", sorted(extra))
        counts[kind] = counts.get(kind, 0) + 1  # dense1, relu1, dropout1, dense2, ...
        name = item.get("name", f"{kind}{counts[kind]}")
        _check_layer_name(name, f"{where}.name")
        layers.append(Layer(type=kind, name=name, **values))
    return tuple(layers)


def _check_layer_name(name, where: str) -> None:
    _check(isinstance(name, str) and LAYER_NAME.fullmatch(name) is not None, where,
           "a name of ASCII letters, digits and '_' that starts with a letter", name)


def check_spec(spec) -> None:
    """Refuse what is not a Spec (a dict, say), naming the ways to make one."""
    if not isinstance(spec, Spec):
        raise TypeError(f"spec: expected a shared.spec.Spec (shared.networks.load, or "
                        f"shared.spec.from_dict for a dict), got {type(spec).__name__}")


def from_dict(data: dict, *, name: str = "custom") -> Spec:
    """Build and validate a :class:`Spec` from TOML-shaped data."""
    _check(isinstance(data, dict), "spec", "a table", type(data).__name__)
    _known_keys(data, SPEC_KEYS, "spec")
    inputs = _integer(data.get("inputs"), "inputs", 1)
    layers = _layers_from_list(data.get("layers"), inputs)

    opt = _table(data, "optimizer", {})
    _check(opt.get("type", "adam") in OPTIMIZERS, "optimizer.type", f"one of {OPTIMIZERS}",
           opt.get("type"))
    opt_type = opt.get("type", "adam")
    _known_keys(opt, {f.name for f in dataclasses.fields(Optimizer)}, "optimizer")
    defaults = {f.name: f.default for f in dataclasses.fields(Optimizer)}
    # a key at its default is harmless (and what a full dump, Spec.to_dict before it left
    # unused fields out, holds)
    check_hyperparameters(opt_type, [key for key in opt if opt[key] != defaults[key]])
    optimizer = Optimizer(**{**OPTIMIZER_DEFAULTS[opt_type], **opt})

    training = _table(data, "training", {})
    _known_keys(training, {f.name for f in dataclasses.fields(Training)}, "training")
    dataset = _table(data, "dataset", {"name": "spiral"})
    dataset_name = dataset.pop("name", "spiral")
    misplaced = sorted(set(dataset) & SPEC_KEYS)  # no loader takes one: it would be lost here
    if misplaced:  # TOML gives a key after a [dataset] header to that table
        raise SpecError(f"dataset: {', '.join(map(repr, misplaced))} is a key of the spec, not "
                        f"of the dataset: in TOML, put the spec's own keys before [dataset] (a "
                        f"key after a table header belongs to that table)")
    _check(isinstance(dataset_name, str), "dataset.name", "a string", dataset_name)
    loss = data.get("loss")
    _check(isinstance(loss, str) and loss in LOSSES, "loss", f"one of {LOSSES}", loss)

    spec = Spec(
        name=data.get("name", name),
        description=data.get("description", ""),
        inputs=inputs,
        layers=layers,
        loss=loss,
        optimizer=optimizer,
        init=data.get("init", "nnfs"),
        metric=data.get("metric", DEFAULT_METRICS[loss]),
        variant=data.get("variant", "nnfs"),
        dataset=Dataset(name=dataset_name, options=dataset),
        training=Training(**training),
    )
    return validate(spec)


def validate(spec: Spec) -> Spec:
    """Check every cross-field rule; return the spec unchanged or raise :class:`SpecError`."""
    _check(isinstance(spec.name, str), "name", "a string", spec.name)
    _check(isinstance(spec.description, str), "description", "a string", spec.description)
    _check(spec.loss in LOSSES, "loss", f"one of {LOSSES}", spec.loss)
    _check(spec.init in INITIALIZERS, "init", f"one of {INITIALIZERS}", spec.init)
    _check(spec.metric in METRICS, "metric", f"one of {METRICS}", spec.metric)
    _check(spec.variant in VARIANTS, "variant", f"one of {VARIANTS}", spec.variant)
    _integer(spec.inputs, "inputs", 1)
    _check(isinstance(spec.layers, tuple) and spec.layers, "layers", "a non-empty tuple of Layer",
           spec.layers)
    for i, layer in enumerate(spec.layers):
        _check(isinstance(layer, Layer), f"layers[{i}]", "a Layer", layer)
        _check(layer.type in LAYER_TYPES, f"layers[{i}].type", f"one of {LAYER_TYPES}", layer.type)
        _check_layer_name(layer.name, f"layers[{i}].name")
        if layer.type == "dense":
            _integer(layer.units, f"layers[{i}].units", 1)
            for key in ("weight_l1", "weight_l2", "bias_l1", "bias_l2"):
                _penalty(getattr(layer, key), f"layers[{i}].{key}")
        elif layer.type == "dropout":
            _number(layer.rate, f"layers[{i}].rate", 0.0, 1.0)
        elif layer.type == "leaky_relu":
            _number(layer.alpha, f"layers[{i}].alpha", 0.0)
    _check(bool(spec.dense_layers), "layers", "at least one dense layer", "none")
    sizes = {name: math.prod(shape) for name, shape in spec.parameter_shapes().items()}
    if sum(sizes.values()) > MAX_PARAMETERS:
        largest = max(sizes, key=sizes.get)
        raise SpecError(f"layers: expected at most {MAX_PARAMETERS:,} parameters in all (each "
                        f"implementation keeps several copies), got {sum(sizes.values()):,} "
                        f"({largest}: {sizes[largest]:,})")
    names = [layer.name for layer in spec.layers]
    _check(len(names) == len(set(names)), "layers", "unique layer names", names)
    _check(spec.layers[0].type == "dense", "layers[0]", "a dense layer first", spec.layers[0].type)
    last = spec.layers[-1].type
    last_dense = max(i for i, layer in enumerate(spec.layers) if layer.type == "dense")
    _check(all(layer.type in ACTIVATIONS for layer in spec.layers[last_dense + 1:]),
           "layers", "only activations after the last dense layer", names[last_dense + 1:])
    _check(last in ACTIVATIONS, "layers[-1]", "an output activation (add 'linear')", last)
    _check(last in LOSS_OUTPUTS[spec.loss], "loss",
           f"a {spec.loss} loss to follow one of {LOSS_OUTPUTS[spec.loss]}", last)
    _check(all(layer.type != "softmax" for layer in spec.layers[:-1]), "layers",
           "softmax only as the output activation", names)
    if spec.loss == "categorical_crossentropy":
        _check(spec.outputs >= 2, "layers", "at least 2 output units for categorical_crossentropy",
               spec.outputs)
        _check(spec.metric == "categorical", "metric",
               "'categorical' for categorical_crossentropy (class labels)", spec.metric)
    # a softmax over one unit is 1 whatever its input: nothing flows back through it
    _check(last != "softmax" or spec.outputs >= 2, "layers",
           "at least 2 units before a softmax (for one output, use 'sigmoid')", spec.outputs)
    if spec.metric == "categorical":  # an argmax over one output is always 0
        _check(spec.outputs >= 2, "metric", "'binary' or 'regression' for a single output "
               "('categorical' takes the argmax over the outputs)", spec.metric)

    o = spec.optimizer
    _check(isinstance(o, Optimizer), "optimizer", "an Optimizer", o)
    _check(o.type in OPTIMIZERS, "optimizer.type", f"one of {OPTIMIZERS}", o.type)
    _number(o.learning_rate, "optimizer.learning_rate", 0.0, low_open=True)
    _number(o.decay, "optimizer.decay", 0.0)
    _number(o.momentum, "optimizer.momentum", 0.0, 1.0)
    _number(o.epsilon, "optimizer.epsilon", 0.0, low_open=True)  # every formula divides by it
    _number(o.rho, "optimizer.rho", 0.0, 1.0)
    _number(o.beta_1, "optimizer.beta_1", 0.0, 1.0)
    _number(o.beta_2, "optimizer.beta_2", 0.0, 1.0)
    _number(o.initial_accumulator, "optimizer.initial_accumulator", 0.0)
    _number(o.clip_value, "optimizer.clip_value", 0.0)
    _number(o.clip_norm, "optimizer.clip_norm", 0.0)
    _check(isinstance(o.nesterov, bool), "optimizer.nesterov", "true or false", o.nesterov)
    check_hyperparameters(o.type, [f.name for f in dataclasses.fields(o)
                                   if getattr(o, f.name) != f.default])
    _check(not o.nesterov or (o.type == "sgd" and o.momentum > 0), "optimizer.nesterov",
           "nesterov only with sgd and momentum > 0", o.nesterov)

    t = spec.training
    _check(isinstance(t, Training), "training", "a Training", t)
    _check(isinstance(spec.dataset, Dataset), "dataset", "a Dataset", spec.dataset)
    _integer(t.epochs, "training.epochs", 1, MAX_EPOCHS)
    _integer(t.batch_size, "training.batch_size", 0)
    _integer(t.seed, "training.seed", 0)
    _check(t.seed < 2 ** 63, "training.seed", "an integer < 2**63 (TensorFlow's seeds are int64)",
           t.seed)
    _integer(t.patience, "training.patience", 0)
    _integer(t.print_every, "training.print_every", 0)
    return spec
