"""Network specs: the built-ins load with the architectures the project defines, bad specs fail
with named errors, and a spec survives to_dict/from_dict, JSON and a TOML file of the user's own."""
import copy
import dataclasses
import json

import pytest

from shared import networks
from shared.spec import (ACTIVATIONS, INITIALIZERS, LOSS_OUTPUTS, LOSSES, OPTIMIZERS, Spec,
                         SpecError, from_dict)

# The architecture every built-in network must have (dense layer sizes, activations, loss).
BUILTIN_SHAPES = {
    "xor": (2, [4, 1], ["dense", "sigmoid", "dense", "sigmoid"], "mse"),
    "and": (2, [1], ["dense", "step"], "mae"),
    "or": (2, [1], ["dense", "step"], "mae"),
    "spiral": (2, [64, 3], ["dense", "relu", "dense", "softmax"], "categorical_crossentropy"),
    "sine": (1, [64, 64, 1], ["dense", "relu", "dense", "relu", "dense", "linear"], "mse"),
    "mnist": (784, [256, 128, 10], ["dense", "relu", "dropout", "dense", "relu", "dropout",
                                    "dense", "softmax"], "categorical_crossentropy"),
}


def base():
    """A small valid spec as TOML-shaped data; each error test breaks one field of a copy."""
    return {
        "name": "tiny", "inputs": 2, "loss": "categorical_crossentropy",
        "layers": [{"type": "dense", "units": 4}, {"type": "relu"},
                   {"type": "dropout", "rate": 0.1},
                   {"type": "dense", "units": 3}, {"type": "softmax"}],
        "optimizer": {"type": "adam", "learning_rate": 0.01},
        "training": {"epochs": 3},
    }


def broken(**changes):
    data = copy.deepcopy(base())
    for path, value in changes.items():
        target, *keys = path.split("__")
        node = data
        for key in [target, *keys][:-1]:
            node = node[int(key)] if isinstance(node, list) else node[key]
        last = [target, *keys][-1]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value
    return data


def test_base_is_valid():
    spec = from_dict(base())
    assert [layer.name for layer in spec.layers] == ["dense1", "relu1", "dropout1", "dense2",
                                                     "softmax1"]
    assert spec.parameter_shapes() == {"dense1.weight": (2, 4), "dense1.bias": (4,),
                                       "dense2.weight": (4, 3), "dense2.bias": (3,)}


@pytest.mark.parametrize("name", networks.BUILTINS)
def test_every_builtin_loads_as_guide_describes(name):
    spec = networks.load(name)
    inputs, units, types, loss = BUILTIN_SHAPES[name]
    assert spec.name == name
    assert spec.inputs == inputs
    assert [layer.units for layer in spec.dense_layers] == units
    assert [layer.type for layer in spec.layers] == types
    assert spec.loss == loss
    assert spec.description


def test_builtin_hyperparameters_follow_guide():
    spiral, sine, mnist = (networks.load(n) for n in ("spiral", "sine", "mnist"))
    assert (spiral.optimizer.type, spiral.optimizer.learning_rate, spiral.optimizer.decay) == (
        "adam", 0.05, 5e-7)
    assert (sine.optimizer.type, sine.optimizer.learning_rate, sine.optimizer.decay) == (
        "adam", 0.005, 1e-3)
    assert (mnist.optimizer.type, mnist.optimizer.learning_rate, mnist.training.batch_size) == (
        "adam", 1e-3, 64)
    assert [layer.rate for layer in mnist.dropout_layers] == [0.2, 0.2]


@pytest.mark.parametrize("name", networks.BUILTINS)
def test_round_trip_through_dict_and_json(name):
    spec = networks.load(name)
    assert from_dict(spec.to_dict()) == spec
    assert from_dict(json.loads(json.dumps(spec.to_dict()))) == spec


def test_toml_path_loading(tmp_path):
    path = tmp_path / "my_net.toml"
    path.write_text('inputs = 3\nloss = "mse"\n'
                    '[[layers]]\ntype = "dense"\nunits = 5\nweight_l2 = 0.001\n'
                    '[[layers]]\ntype = "tanh"\n'
                    '[[layers]]\ntype = "dense"\nunits = 2\n'
                    '[[layers]]\ntype = "linear"\n'
                    '[optimizer]\ntype = "sgd"\nlearning_rate = 0.1\nmomentum = 0.5\n')
    for given in (path, str(path)):
        spec = networks.load(given)
        assert spec.name == "my_net"  # the file's stem where the file gives no name
        assert spec.parameter_shapes() == {"dense1.weight": (3, 5), "dense1.bias": (5,),
                                           "dense2.weight": (5, 2), "dense2.bias": (2,)}
        assert spec.dense_layers[0].weight_l2 == 0.001
        assert (spec.optimizer.type, spec.optimizer.momentum) == ("sgd", 0.5)


def test_toml_errors_name_the_file(tmp_path):
    with pytest.raises(SpecError, match="no_such_net.*built-in name"):
        networks.load("no_such_net")
    bad = tmp_path / "bad.toml"
    bad.write_text("inputs = = 3\n")
    with pytest.raises(SpecError, match="bad.toml.*not valid TOML"):
        networks.load(bad)
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe inputs = 3\n")
    with pytest.raises(SpecError, match="binary.toml: not a UTF-8 text file"):
        networks.load(binary)
    wrong = tmp_path / "wrong.toml"
    wrong.write_text('inputs = 0\nloss = "mse"\n[[layers]]\ntype = "dense"\nunits = 1\n'
                     '[[layers]]\ntype = "linear"\n')
    with pytest.raises(SpecError, match=r"wrong.toml: inputs: expected an integer >= 1, got 0"):
        networks.load(wrong)
    bom = tmp_path / "bom.toml"
    bom.write_bytes(b"\xef\xbb\xbfinputs = 3\n")  # Windows Notepad's UTF-8
    with pytest.raises(SpecError, match=r"bom.toml: starts with a byte-order mark"):
        networks.load(bom)
    with pytest.raises(SpecError, match=r"a directory; expected a built-in name"):
        networks.load(tmp_path)
    with pytest.raises(SpecError, match=r"network: empty; expected a built-in name"):
        networks.load("")  # Path("") is the current folder: it said "a directory"


@pytest.mark.parametrize("nested", ["[" * 100_000 + "]" * 100_000,
                                    "{a = " * 100_000 + "1" + "}" * 100_000],
                         ids=["arrays", "inline tables"])
def test_toml_nested_too_deeply_is_named(tmp_path, nested):
    """tomllib recurses per level: this was a raw RecursionError (found by a review)."""
    deep = tmp_path / "deep.toml"
    deep.write_text(f"inputs = {nested}\n")
    with pytest.raises(SpecError, match=r"deep.toml: arrays or inline tables nested too deeply"):
        networks.load(deep)


def test_an_unreadable_toml_file_is_named(tmp_path, monkeypatch):
    """A file the user may not read was a PermissionError traceback (root reads anything, so the
    refusal is simulated)."""
    import pathlib

    path = tmp_path / "secret.toml"
    path.write_text('inputs = 2\n')

    def refuse(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(pathlib.Path, "read_text", refuse)
    with pytest.raises(SpecError, match=r"secret.toml: cannot read the file \(Permission denied\)"):
        networks.load(path)


@pytest.mark.parametrize("data, message", [
    (broken(layers__1__type="gelu"), r"layers\[1\].type: expected one of .*'relu'.*got 'gelu'"),
    (broken(loss="hinge"), r"loss: expected one of .*got 'hinge'"),
    (broken(optimizer__type="lbfgs"), r"optimizer.type: expected one of .*got 'lbfgs'"),
    (dict(base(), init="lecun"), r"init: expected one of .*got 'lecun'"),
    (dict(base(), variant="jax"), r"variant: expected one of .*got 'jax'"),
    (dict(base(), metric="f1"), r"metric: expected one of .*got 'f1'"),
    (broken(layers__0__units=0), r"layers\[0\].units: expected an integer >= 1, got 0"),
    (broken(layers__3__units=-2), r"layers\[3\].units: expected an integer >= 1, got -2"),
    (broken(layers__0__units=2.5), r"layers\[0\].units: expected an integer >= 1, got 2.5"),
    (broken(layers__2__rate=1.0), r"layers\[2\].rate: expected a number in \[0.0, 1.0\), got 1.0"),
    (broken(layers__2__rate=-0.1), r"layers\[2\].rate: expected a number in \[0.0, 1.0\)"),
    (broken(layers__2__rate=1.5), r"layers\[2\].rate"),
    (broken(optimizer__learning_rate=0), r"optimizer.learning_rate: expected a number in \(0.0"),
    (broken(optimizer__learning_rate=-0.1), r"optimizer.learning_rate"),
    (broken(optimizer__beta_1=1.0), r"optimizer.beta_1: expected a number in \[0.0, 1.0\)"),
    (broken(optimizer__beta_1=-0.5), r"optimizer.beta_1"),
    (broken(optimizer__beta_2=1.0), r"optimizer.beta_2: expected a number in \[0.0, 1.0\)"),
    (broken(optimizer={"type": "rmsprop", "rho": 1.2}), r"optimizer.rho: expected a number in"),
    (broken(optimizer={"type": "sgd", "momentum": 1.0}),
     r"optimizer.momentum: expected a number in"),
    (broken(optimizer__decay=-1e-3), r"optimizer.decay"),
    (broken(optimizer__epsilon=-1e-7), r"optimizer.epsilon"),
    (broken(optimizer__clip_norm=-1.0), r"optimizer.clip_norm"),
    (broken(layers__0={"type": "dense", "units": 4, "weight_l1": -0.1}),
     r"layers\[0\].weight_l1: expected a number in \[0.0, inf\)"),
    (broken(layers__0={"type": "dense", "units": 4, "weight_l2": -1e-4}), r"layers\[0\].weight_l2"),
    (broken(layers__0={"type": "dense", "units": 4, "bias_l1": -1.0}), r"layers\[0\].bias_l1"),
    (broken(layers__0={"type": "dense", "units": 4, "bias_l2": -1.0}), r"layers\[0\].bias_l2"),
    (broken(layers__0={"type": "dense", "units": 4, "weight_l2": float("nan")}),
     r"layers\[0\].weight_l2: expected a finite number"),
    (broken(layers__4={"type": "sigmoid"}),
     r"loss: expected a categorical_crossentropy loss to follow one of \('softmax',\), "
     r"got 'sigmoid'"),
    (dict(base(), loss="binary_crossentropy"), r"loss: expected a binary_crossentropy loss"),
    (broken(layers__0={"type": "dense", "units": 4, "rate": 0.5}),
     r"layers\[0\]: expected no other keys"),
    (broken(layers__1={"type": "relu", "unit": 4}), r"layers\[1\]: expected only the keys"),
    # a top-level key written after the last [[layers]] header lands in that layer's table
    (broken(layers__1={"type": "relu", "metric": "binary"}),
     r"layers\[1\]: 'metric' is a key of the spec, not of a layer: in TOML, put the spec's own "
     r"keys before the first \[\[layers\]\]"),
    # and one after a [dataset] header in the dataset's options, which the spec did not read
    (dict(base(), dataset={"name": "spiral", "samples": 50, "init": "he_normal"}),
     r"dataset: 'init' is a key of the spec, not of the dataset: in TOML, put the spec's own "
     r"keys before \[dataset\]"),
    (dict(base(), hidden=3), r"spec: expected only the keys"),
    (broken(optimizer__lr=0.1), r"optimizer: expected only the keys"),
    (broken(training__epoch=3), r"training: expected only the keys"),
    (broken(training__epochs=0), r"training.epochs: expected an integer in \[1, 1,000,000\]"),
    (broken(training__epochs=10**20), r"training.epochs: expected an integer in \[1, 1,000,000\]"),
    (broken(training__epochs=10**400), r"got 10{59}\.\.\. \(401 characters\)$"),
    (broken(training__batch_size=-1), r"training.batch_size: expected an integer >= 0"),
    (broken(optimizer={"type": "sgd", "nesterov": True}),
     r"optimizer.nesterov: expected nesterov only with sgd and momentum > 0"),
    (broken(optimizer__nesterov=True), r"optimizer.nesterov: not used by adam"),
    (dict(base(), inputs=0), r"inputs: expected an integer >= 1"),
    (dict(base(), layers=[]), r"layers: expected a non-empty list"),
    (dict(base(), layers=[{"type": "relu"}, {"type": "dense", "units": 3},
                          {"type": "softmax"}]), r"layers\[0\]: expected a dense layer first"),
    (dict(base(), layers=[{"type": "dense", "units": 3}]),
     r"layers\[-1\]: expected an output activation"),
    (dict(base(), layers=[{"type": "dense", "units": 3}, {"type": "softmax"},
                          {"type": "dense", "units": 3}, {"type": "softmax"}]),
     r"softmax only as the output activation"),
    (dict(base(), layers=[{"type": "dense", "units": 1}, {"type": "softmax"}]),
     r"at least 2 output units"),
    # a softmax over one unit is constantly 1: its gradient is rounding noise, which TF, torch
    # and NumPy round differently (TF float32 trained such a net 0.34 away in 10 steps)
    (dict(base(), loss="mse", metric="regression",
          layers=[{"type": "dense", "units": 1}, {"type": "softmax"}]),
     r"layers: expected at least 2 units before a softmax \(for one output, use 'sigmoid'\)"),
    (dict(base(), layers=[{"type": "dense", "units": 3}, {"type": "dropout", "rate": 0.1},
                          {"type": "softmax"}]), r"only activations after the last dense layer"),
    (dict(base(), layers=[{"type": "dense", "units": 3, "name": "a"}, {"type": "relu", "name": "a"},
                          {"type": "dense", "units": 3}, {"type": "softmax"}]),
     r"unique layer names"),
    (dict(base(), optimizer="adam"), r"optimizer: expected a table, got 'adam'"),
    (dict(base(), training=100), r"training: expected a table, got 100"),
    (dict(base(), dataset="mnist"), r"dataset: expected a table, got 'mnist'"),
    (broken(layers__1={"type": "relu", "name": ["r"]}), r"layers\[1\].name: expected a name of"),
    (broken(layers__0={"type": "dense", "units": 4, "name": "dense.1"}), r"layers\[0\].name"),
    # names the frameworks cannot take: TF scopes refuse '/', ' ', ':' and non-ASCII
    (broken(layers__0={"type": "dense", "units": 4, "name": "a/b"}), r"layers\[0\].name"),
    (broken(layers__0={"type": "dense", "units": 4, "name": "x y"}), r"layers\[0\].name"),
    (broken(layers__0={"type": "dense", "units": 4, "name": "d:0"}), r"layers\[0\].name"),
    (broken(layers__0={"type": "dense", "units": 4, "name": "\u00fc"}), r"layers\[0\].name"),
    (broken(layers__0={"type": "dense", "units": 4, "name": ""}), r"layers\[0\].name"),
    (broken(layers__0={"type": "dense", "units": 4, "name": "1st"}), r"layers\[0\].name"),
    (broken(optimizer__learning_rate=10 ** 400),
     r"optimizer.learning_rate: expected a finite number"),
    (broken(layers__0={"type": "dense", "units": 4, "weight_l2": 10 ** 309}),
     r"layers\[0\].weight_l2: expected a finite number"),
    (broken(optimizer__epsilon=0.0), r"optimizer.epsilon: expected a number in \(0.0"),
    (dict(base(), metric="binary"), r"metric: expected 'categorical' for categorical_crossentropy"),
    (dict(base(), metric="regression"), r"metric: expected 'categorical'"),
    (dict(base(), loss="mse", metric="categorical", layers=[{"type": "dense", "units": 1},
                                                            {"type": "linear"}]),
     r"metric: expected 'binary' or 'regression' for a single output"),
    (dict(base(), name=5), r"name: expected a string, got 5"),
    (broken(training__seed=2 ** 63), r"training.seed: expected an integer < 2\*\*63"),
    (dict(base(), description=["a"]), r"description: expected a string"),
    # found by a review: these were TypeErrors (an unhashable key), a 1.5 TiB allocation, NaN
    # gradients (2 * l2 * 0 with 2 * l2 = inf), or silently ignored hyperparameters
    (dict(base(), loss=["mse"]), r"loss: expected one of .*got \['mse'\]"),
    (dict(base(), loss={"a": 1}), r"loss: expected one of .*got \{'a': 1\}"),
    (dict(base(), dataset={"name": ["spiral"]}), r"dataset.name: expected a string, got \['spiral"),
    (dict(base(), inputs=10 ** 6, layers=[{"type": "dense", "units": 200}, {"type": "softmax"}]),
     r"layers: expected at most 100,000,000 parameters in all .*got 200,000,200 "
     r"\(dense1.weight: 200,000,000\)"),
    (broken(layers__0={"type": "dense", "units": 4, "weight_l2": 1e308}),
     r"layers\[0\].weight_l2: expected a factor whose gradient term 2 \* factor \* w is finite "
     r"\(at most 8.99e\+307\), got 1e\+308"),
    (broken(optimizer__momentum=0.9),
     r"optimizer.momentum: not used by adam, which reads epsilon, beta_1, beta_2 \(and "
     r"learning_rate, decay, clip_value, clip_norm\)"),
    (broken(optimizer={"type": "sgd", "beta_1": 0.5}), r"optimizer.beta_1: not used by sgd"),
    (broken(optimizer={"type": "rmsprop", "initial_accumulator": 5.0}),
     r"optimizer.initial_accumulator: not used by rmsprop"),
])
def test_bad_specs_raise_named_errors(data, message):
    with pytest.raises(SpecError, match=message):
        from_dict(data)


@pytest.mark.parametrize("rate", [0.0, 0.5, 0.999])
def test_dropout_rates_inside_the_interval_are_accepted(rate):
    assert from_dict(broken(layers__2__rate=rate)).dropout_layers[0].rate == rate


@pytest.mark.parametrize("beta", [0.0, 0.999999])
def test_betas_inside_the_interval_are_accepted(beta):
    spec = from_dict(broken(optimizer__beta_1=beta, optimizer__beta_2=beta))
    assert (spec.optimizer.beta_1, spec.optimizer.beta_2) == (beta, beta)


def test_a_hyperparameter_the_optimizer_does_not_read_is_refused_everywhere():
    """An Adam spec with momentum 0.9 trained as plain Adam, and to_dict reported the momentum."""
    spec = from_dict(base())
    with pytest.raises(SpecError, match=r"optimizer.momentum: not used by adam"):
        spec.replace(optimizer={"momentum": 0.9})
    assert set(spec.to_dict()["optimizer"]) == {"type", "learning_rate", "decay", "clip_value",
                                                "clip_norm", "epsilon", "beta_1", "beta_2"}
    sgd = spec.replace(optimizer={"type": "sgd", "momentum": 0.5})
    assert set(sgd.to_dict()["optimizer"]) == {"type", "learning_rate", "decay", "clip_value",
                                               "clip_norm", "momentum", "nesterov"}
    assert from_dict(sgd.to_dict()) == sgd
    # a key at its default is harmless: a full dump (all optimizer fields) still loads
    full = dict(spec.to_dict(), optimizer=dataclasses.asdict(spec.optimizer))
    assert "momentum" in full["optimizer"] and from_dict(full) == spec
    assert from_dict(broken(optimizer__momentum=0.0)) == spec


def test_every_loss_fits_exactly_its_output_activations():
    for loss in LOSSES:
        for activation in ACTIVATIONS:
            data = dict(base(), loss=loss,
                        layers=[{"type": "dense", "units": 3}, {"type": activation}])
            if activation in LOSS_OUTPUTS[loss]:
                assert from_dict(data).output_activation == activation
            else:
                with pytest.raises(SpecError, match=f"a {loss} loss to follow"):
                    from_dict(data)


def test_optimizer_defaults_are_the_nnfs_constructors():
    # nnfs Ch19: Optimizer_SGD(learning_rate=1.), Optimizer_Adagrad(learning_rate=1.),
    # Optimizer_RMSprop(learning_rate=0.001, rho=0.9), Optimizer_Adam(learning_rate=0.001,
    # beta_1=0.9, beta_2=0.999); epsilon 1e-7 everywhere.
    expected = {"sgd": 1.0, "adagrad": 1.0, "rmsprop": 0.001, "adam": 0.001}
    assert set(expected) == set(OPTIMIZERS)
    for kind, lr in expected.items():
        o = from_dict(dict(base(), optimizer={"type": kind})).optimizer
        assert (o.learning_rate, o.epsilon, o.rho, o.beta_1, o.beta_2) == (
            lr, 1e-7, 0.9, 0.9, 0.999)
    assert from_dict({k: v for k, v in base().items() if k != "optimizer"}).optimizer.type == "adam"
    assert set(INITIALIZERS) == {"nnfs", "glorot_uniform", "he_normal"}


def test_replace_validates_and_changes_only_what_it_names():
    spec = from_dict(base())
    other = spec.replace(variant="keras", optimizer={"learning_rate": 0.5})
    assert (other.variant, other.optimizer.learning_rate, other.optimizer.type) == ("keras", 0.5,
                                                                                   "adam")
    assert spec.optimizer.learning_rate == 0.01  # frozen: the original is untouched
    with pytest.raises(SpecError, match="optimizer.learning_rate"):
        spec.replace(optimizer={"learning_rate": 0.0})
    with pytest.raises(SpecError, match="loss"):
        spec.replace(loss="mae_typo")
    with pytest.raises(SpecError, match=r"optimizer: expected only the keys .*got \['lr'\]"):
        spec.replace(optimizer={"lr": 0.5})
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.name = "x"
    assert isinstance(other, Spec)


@pytest.mark.parametrize("loss, output, units, metric", [
    ("categorical_crossentropy", "softmax", 3, "categorical"),
    ("binary_crossentropy", "sigmoid", 1, "binary"), ("mse", "linear", 1, "regression"),
    ("mae", "linear", 2, "regression")])
def test_a_spec_without_a_metric_gets_the_one_its_loss_is_made_for(loss, output, units, metric):
    """Before, every spec defaulted to 'categorical', and an untrained 1-output regression net
    reported accuracy 1.0 (the argmax of one column is always 0)."""
    data = {"inputs": 2, "loss": loss,
            "layers": [{"type": "dense", "units": units}, {"type": output}]}
    assert from_dict(data).metric == metric


def test_leaky_relu_alpha_defaults_to_torchs_slope():
    """A leaky_relu layer without alpha gets 0.01, torch's default negative_slope (Keras's is
    0.3, which impl_tf does not take: its layer is given the spec's alpha)."""
    from conftest import require

    require("torch")
    import torch

    spec = from_dict({"inputs": 2, "loss": "mse", "metric": "regression",
                      "layers": [{"type": "dense", "units": 2}, {"type": "leaky_relu"},
                                 {"type": "dense", "units": 1}, {"type": "linear"}],
                      "optimizer": {"type": "sgd", "learning_rate": 0.1}})
    assert spec.layers[1].alpha == torch.nn.LeakyReLU().negative_slope == 0.01
