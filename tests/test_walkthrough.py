"""The walkthrough's numbers, each recomputed here another way.

Steps 1-6 are linear, so the tests compute them exactly with fractions of the
tutorial's decimals; steps 7-9 use other formulas (no max shift, log-sum-exp); step
10's gradients and steps against impl_pure and the project's optimizers; step 11 is
checked against the book's training loop, written out here. The README's
table and figures are checked against the same computations. Where a step says
the tutorial printed something else, the test checks that the printed value is
not even the correct value rounded to the digits the tutorial shows. The lines a step
prints with its results are checked against the same computations, not only what run()
returns.
"""
import importlib.util
import math
import re
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from conftest import in_ci, require
from nnfs.datasets import spiral_data

from shared import machine

ROOT = Path(__file__).resolve().parent.parent
WALKTHROUGH = ROOT / "walkthrough"
SCRIPTS = sorted(WALKTHROUGH.glob("[0-9][0-9]_*.py"))

# The tutorial's data (inputs, not results).
INPUTS = [2.1, 1.7, 3.3, 0.8]
WEIGHTS = [[0.5, -0.2, 0.9, -0.3], [0.7, 0.4, -0.6, 0.8], [-0.1, 0.6, 0.2, -0.7]]
BIASES = [1.5, 2.2, 0.9]
WEIGHTS2 = [[0.3, -0.4, 0.6], [0.2, 0.5, -0.3], [0.8, -0.1, 0.4]]
BIASES2 = [0.7, 1.2, -0.5]
SCORES = [[1, 2, 3, 2.5], [2, 5, -1, 2], [-1.5, 2.7, 3.3, -0.8]]
BATCH = [INPUTS] + SCORES  # step 5's batch: the sample of steps 2-4, then the 3x4 array


def step(number):
    """Import walkthrough/NN_*.py (its name starts with a digit, so not with `import`)."""
    path, = WALKTHROUGH.glob(f"{number:02d}_*.py")
    spec = importlib.util.spec_from_file_location(f"walkthrough_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def exact(x):
    """A float typed as a decimal (0.1) as the exact fraction it stands for (1/10)."""
    return Fraction(str(x))


def exact_layer(inputs, weights, biases):
    return [sum(exact(x) * exact(w) for x, w in zip(inputs, row)) + exact(b)
            for row, b in zip(weights, biases)]


def assert_close(computed, expected, tol=1e-12):
    np.testing.assert_allclose(np.asarray(computed, dtype=float),
                               np.asarray(expected, dtype=float), rtol=tol, atol=tol)


def assert_not_a_rounding(printed, correct, decimals):
    """Each printed value differs from the correct one by more than rounding to ``decimals``."""
    error = np.abs(np.asarray(printed, dtype=float) - np.asarray(correct, dtype=float))
    assert np.all(error > 0.5 * 10.0 ** -decimals), (printed, correct)


@pytest.fixture
def keep_global_rng():
    """Steps 9 and 10 seed NumPy's global generator; leave it as other tests found it."""
    state = np.random.get_state()
    yield
    np.random.set_state(state)


def printed_lines(capsys, *lines):
    """Each of ``lines`` is a line (or a run of lines) of what the step printed."""
    out = capsys.readouterr().out
    for line in lines:
        assert f"\n{line}\n" in f"\n{out}", line


def test_01_single_neuron(capsys):
    module = step(1)
    result = module.run()
    three = exact_layer([2.5, 1.8, 0.7], [[0.6, -0.4, 1.2]], [0.8])[0]
    four = exact_layer([3.2, 1.5, 2.1, 0.9], [[0.3, -0.8, 0.5, 1.1]], [1.4])[0]
    assert three == Fraction("2.42") and four == Fraction("3.2")
    assert_close(result["three_inputs"], three)
    assert_close(result["four_inputs"], four)
    assert_not_a_rounding(module.TUTORIAL["three_inputs"], three, 2)
    assert_not_a_rounding(module.TUTORIAL["four_inputs"], four, 2)
    printed_lines(capsys, f"The tutorial printed 2.54; the correct result is {float(three):.2f}.",
                  f"The tutorial printed 2.89; the correct result is {float(four):.2f}.")


@pytest.mark.parametrize("number", [2, 3])
def test_02_03_layer_by_hand_and_with_loops(number, capsys):
    module = step(number)
    result = module.run()
    expected = exact_layer(INPUTS, WEIGHTS, BIASES)
    assert_close(result["outputs"], expected)
    assert_not_a_rounding(module.TUTORIAL["outputs"], expected, 2)
    printed_lines(capsys, f"The tutorial printed [4.67, 2.93, 1.19]; the correct result is "
                          f"{listed(expected, 3)}.")


def test_04_dot_product(capsys):
    module = step(4)
    result = module.run()
    expected = exact_layer(INPUTS, WEIGHTS, BIASES)
    assert_close(result["neuron"], exact_layer([2.5, 1.8, 0.7], [[0.6, -0.4, 1.2]], [0.8])[0])
    for key in ("layer_python", "layer_np_dot", "layer_matmul"):
        assert_close(result[key], expected)
    assert_not_a_rounding(module.TUTORIAL["layer_np_dot"], expected, 2)
    assert_not_a_rounding(module.TUTORIAL["layer_matmul"], expected, 2)
    # The loop's first value, added in Python's order, and NumPy's 8-decimal display of it.
    first = 0.0
    for x, w in zip(INPUTS, WEIGHTS[0]):
        first += x * w
    first += BIASES[0]
    out = capsys.readouterr().out
    assert f"{first!r} shows as {np.format_float_positional(first, precision=8)}." in out
    assert (f"The tutorial printed [4.67, 2.93, 1.19] for both; the correct result is "
            f"{listed(expected, 3)}.\n") in out


def test_05_batch():
    result = step(5).run()
    expected = [exact_layer(sample, WEIGHTS, BIASES) for sample in BATCH]
    assert np.shape(result["outputs"]) == (4, 3)
    assert_close(result["outputs"], expected)


def test_06_two_layers(capsys):
    module = step(6)
    result = module.run()
    layer1 = exact_layer(INPUTS, WEIGHTS, BIASES)
    layer2 = exact_layer(layer1, WEIGHTS2, BIASES2)
    assert_close(result["layer1"], layer1)
    assert_close(result["layer2"], layer2)
    assert_close(result["layer2_from_printed_layer1"],
                 exact_layer(module.TUTORIAL["layer1"], WEIGHTS2, BIASES2))
    assert_close(result["batch_layer2"],
                 [exact_layer(exact_layer(s, WEIGHTS, BIASES), WEIGHTS2, BIASES2) for s in BATCH])
    assert_not_a_rounding(module.TUTORIAL["layer1"], layer1, 2)
    assert_not_a_rounding(module.TUTORIAL["layer2"], layer2, 3)
    # Nor does the printed layer 2 follow from the printed layer 1.
    assert_not_a_rounding(module.TUTORIAL["layer2"],
                          exact_layer(module.TUTORIAL["layer1"], WEIGHTS2, BIASES2), 3)
    printed_lines(capsys, f"The tutorial printed [4.67, 2.93, 1.19] and [2.234, 3.185, 2.89]; "
                          f"the correct results are {listed(layer1, 3)} and {listed(layer2, 4)}.",
                  f"(Fed the tutorial's layer 1 numbers, layer 2 would give "
                  f"{listed(exact_layer(module.TUTORIAL['layer1'], WEIGHTS2, BIASES2), 4)}.)")


def test_07_relu_softmax(capsys):
    module = step(7)
    result = module.run()
    values = [0, 2, -1, 3.3, -2.7, 1.1, 2.2, -100]
    relu = [x if x > 0 else 0 for x in values]
    assert result["relu"] == relu
    assert_close(result["relu_numpy"], relu)

    # Softmax straight from the definition, without subtracting the maximum.
    softmax = [[math.exp(x) / math.fsum(math.exp(v) for v in row) for x in row]
               for row in SCORES]
    assert_close(result["softmax_row0"], softmax[0])
    assert_close(result["softmax"], softmax)
    assert_close(result["row_sums"], [1.0, 1.0, 1.0])

    printed = np.array(module.TUTORIAL["softmax"])
    wrong = np.abs(printed - np.array(softmax)) > 0.5e-8  # printed with 8 decimals
    claimed = {(0, 0), (1, 0), (1, 3), (2, 0), (2, 1), (2, 2)}  # as listed in the README
    assert set(zip(*map(list, np.nonzero(wrong)))) == claimed
    assert result["wrong_entries"] == len(claimed)
    # Row 1 scores 2 twice, so those two probabilities must be equal; the tutorial's are not.
    assert softmax[1][0] == pytest.approx(softmax[1][3], rel=1e-15)
    assert printed[1, 0] != printed[1, 3]
    printed_lines(capsys, f"The tutorial printed {len(claimed)} of these 12 probabilities wrongly:",
                  "\n".join(f"  row {i}, column {j}: the tutorial printed {printed[i, j]:.8f}; "
                            f"the correct result is {softmax[i][j]:.8f}."
                            for i, j in sorted(claimed)))


def test_08_cross_entropy(capsys):
    module = step(8)
    result = module.run()
    correct_class = [0.7, 0.5, 0.98]  # the target column of each row
    losses = [-math.log(p) for p in correct_class]
    loss = math.fsum(losses) / 3
    assert_close(result["per_sample"], losses)
    assert_close(result["loss_one_hot"], loss)
    assert_close(result["loss_indices"], loss)
    book = math.fsum(-math.log(p) for p in (0.7, 0.5, 0.9)) / 3
    assert_close(result["book_loss"], book)
    assert_close(result["clipped_loss"], 7 * math.log(10))  # -log(1e-7)
    assert_not_a_rounding(module.TUTORIAL["loss"], loss, 15)
    assert_not_a_rounding(module.TUTORIAL["loss"], book, 15)  # garbled digits, not the book's
    out = capsys.readouterr().out
    product = Fraction("0.7") * Fraction("0.5") * Fraction("0.98")
    assert product == Fraction("0.7") ** 3 and math.isclose(loss, -math.log(0.7), rel_tol=1e-15)
    assert f"0.7 x 0.5 x 0.98 = {float(product):.3f} = 0.7^3" in out
    assert f"-log 0.7 = {-math.log(0.7):.8f}.)" in out
    assert f"The tutorial printed 0.385068885216884; the correct result is {loss:.15f}.\n" in out
    assert f"give {book:.15f}.)\n" in out
    assert f"= -log(1e-7) = {7 * math.log(10):.4f}, not infinity." in out


def test_09_spiral_forward(keep_global_rng, capsys):
    module = step(9)
    result = module.run()

    np.random.seed(0)  # the same draws, in the same order, as the script
    X, y = spiral_data(samples=100, classes=5)
    hidden = np.maximum(0.0, X @ (0.01 * np.random.randn(2, 5)))
    scores = hidden @ (0.01 * np.random.randn(5, 5))
    # -log softmax(z)_y = logsumexp(z) - z_y; no clipping is needed, no p is near 0.
    per_sample = np.log(np.exp(scores).sum(axis=1)) - scores[np.arange(len(y)), y]
    loss = per_sample.mean()

    assert result["n_points"] == 100 * 5
    assert_close(result["relu_first5"], hidden[:5])
    assert_close(result["softmax_first5"],
                 np.exp(scores[:5]) / np.exp(scores[:5]).sum(axis=1, keepdims=True))
    assert_close(result["loss"], loss)
    assert result["ln5"] == math.log(5)
    assert result["accuracy"] == np.mean(np.argmax(scores, axis=1) == y)
    # Why loss ~ ln 5: logsumexp(z) lies between ln 5 + mean(z) and ln 5 + max(z), so each
    # sample's loss is within max(z) - min(z) of ln 5. The weights are 0.01 * randn and
    # |X| <= 1, so that spread is tiny; both facts are checked, not assumed.
    spread = (scores.max(axis=1) - scores.min(axis=1)).max()
    assert spread < 1e-3
    assert abs(result["loss"] - math.log(5)) <= spread
    # The first point is the origin, so all its scores are 0 and softmax gives exactly 1/5.
    assert np.all(X[0] == 0) and np.all(result["softmax_first5"][0] == 0.2)
    accuracy = np.mean(np.argmax(scores, axis=1) == y)
    out = capsys.readouterr().out
    assert (f"loss: {loss:.10f}   ln 5 = {math.log(5):.10f}   difference: "
            f"{loss - math.log(5):.2e}\n") in out
    assert f"accuracy: {accuracy}  (chance for 5 classes: 0.2)" in out
    assert f"with this seed the results are {loss:.7f} and {accuracy}." in out
    assert f"it has 5 (the first 5 rows are (5, 5), the whole layer ({len(X)}, 5))." in out
    assert f"makes 320 points; it makes {320 * 5} (samples is per class)." in out

    readme = (WALKTHROUGH / "README.md").read_text(encoding="utf-8")
    assert f"step 9 gets {loss:.7f} and\naccuracy {result['accuracy']:.3f}" in readme
    assert f"ln 5 = {math.log(5):.7f}" in readme
    assert readme_row("ReLU activation function: spiral excerpt")[1:3] == [
        f"{module.TUTORIAL['relu_columns']} columns", f"{hidden.shape[1]} columns"]
    points = result["points_320"]
    assert readme_row("Generating non-linear training data")[2] == f"{points} points"
    assert module.TUTORIAL["relu_columns"] != result["relu_first5"].shape[1] == 5
    assert result["points_320"] == 320 * 5 != module.TUTORIAL["points_320"]


def test_10_backward(keep_global_rng, capsys):
    # The step's hand-written gradients against impl_pure's backward (loops, its own code),
    # its finite differences and printed errors against ours with another h, its SGD step
    # against impl_pure's model and its Adam step against impl_numpy's optimizer.
    from shared import implementations

    module = step(10)
    r = module.run()
    out = capsys.readouterr().out
    pure = implementations.build("pure", module.SPEC, r["params"])
    for name, grad in pure.gradients(r["X"], r["y"]).items():
        assert_close(r["grads"][name], grad, 1e-14)

    def loss_at(moved):
        pure.set_parameters(moved)
        return pure.evaluate(r["X"], r["y"])["loss"]

    ours = {name: np.zeros_like(value) for name, value in r["params"].items()}
    for name, value in r["params"].items():
        for index in np.ndindex(value.shape):
            moved = {key: v.copy() for key, v in r["params"].items()}
            moved[name][index] += 1e-5
            above = loss_at(moved)
            moved[name][index] -= 2e-5
            ours[name][index] = (above - loss_at(moved)) / 2e-5
    for name, error in r["errors"].items():
        assert_close(r["grads"][name], ours[name], 1e-7)
        # The step's finite differences are finite differences: ours, to the error of either h.
        assert_close(r["numeric"][name], ours[name], 1e-7)
        # The printed relative error is the chain rule's against them: never 0 in floats.
        numeric = r["numeric"][name]
        assert error == np.max(np.abs(r["grads"][name] - numeric)) / np.max(np.abs(numeric))
        assert 0 < error < 1e-7, name
        assert f"  {name:14s} shape {str(numeric.shape):7} {error:.1e}\n" in out
    assert all(r["same_bits"].values())
    pure.set_parameters(r["params"])
    before = pure.step(r["X"], r["y"])
    after = pure.evaluate(r["X"], r["y"])["loss"]
    assert before == pytest.approx(r["loss_before"], rel=1e-14)
    assert after == pytest.approx(r["loss_after"], rel=1e-14)
    assert r["loss_after"] < r["loss_before"]
    adam = implementations.build("numpy", module.SPEC.replace(
        optimizer={"type": "adam", "learning_rate": module.LEARNING_RATE}), r["params"])
    adam.step(r["X"], r["y"])
    moved = r["params"]["dense1.weight"] - adam.parameters()["dense1.weight"]
    assert_close(r["adam_step"], moved, 1e-14)
    assert np.all(np.abs(np.abs(moved) - module.LEARNING_RATE) < 1e-3 * module.LEARNING_RATE)
    assert out.startswith(f"loss {before:.6f} on {len(r['X'])} points;")
    assert (f"One SGD step, w -= {module.LEARNING_RATE} * dL/dw: loss {before:.6f} -> "
            f"{after:.6f}\n") in out


def _book_training(X, y, params, epochs, lr=0.05, decay=5e-7, eps=1e-7, beta_1=0.9,
                   beta_2=0.999, after_each=None):
    """The spiral network trained as the nnfs book writes it (chapters 9-10), not with the
    project's code: 2-64-3 ReLU/softmax, the fused softmax/cross-entropy backward, Adam with
    lr decay, full batch. Returns the trained parameters [W1, b1, W2, b2]; ``after_each`` is
    called with them after every update."""
    W1, W2 = params["dense1.weight"].copy(), params["dense2.weight"].copy()
    b1, b2 = np.zeros((1, W1.shape[1])), np.zeros((1, W2.shape[1]))
    layers = [W1, b1, W2, b2]
    momentums = [np.zeros_like(p) for p in layers]
    caches = [np.zeros_like(p) for p in layers]
    for t in range(epochs):
        hidden = X @ W1 + b1
        relu = np.maximum(0, hidden)
        scores = relu @ W2 + b2
        exps = np.exp(scores - np.max(scores, axis=1, keepdims=True))
        probabilities = exps / np.sum(exps, axis=1, keepdims=True)
        dscores = probabilities.copy()
        dscores[range(len(y)), y] -= 1
        dscores = dscores / len(y)
        drelu = dscores @ W2.T
        drelu[hidden <= 0] = 0
        grads = [X.T @ drelu, np.sum(drelu, axis=0, keepdims=True),
                 relu.T @ dscores, np.sum(dscores, axis=0, keepdims=True)]
        current_lr = lr * (1.0 / (1.0 + decay * t))
        for param, grad, m, v in zip(layers, grads, momentums, caches):
            m[...] = beta_1 * m + (1 - beta_1) * grad
            v[...] = beta_2 * v + (1 - beta_2) * grad ** 2
            m_hat = m / (1 - beta_1 ** (t + 1))
            v_hat = v / (1 - beta_2 ** (t + 1))
            param += -current_lr * m_hat / (np.sqrt(v_hat) + eps)
        if after_each is not None:
            after_each(layers)
    return layers


def _book_evaluation(layers, X, y):
    """(loss, accuracy): the mean clipped cross-entropy and the argmax accuracy."""
    W1, b1, W2, b2 = layers
    scores = np.maximum(0, X @ W1 + b1) @ W2 + b2
    exps = np.exp(scores - np.max(scores, axis=1, keepdims=True))
    p = exps / np.sum(exps, axis=1, keepdims=True)
    loss = np.mean(-np.log(np.clip(p[np.arange(len(y)), y], 1e-7, 1 - 1e-7)))
    return loss, np.mean(np.argmax(p, axis=1) == y)


def _spirals():
    np.random.seed(0)
    X, y = spiral_data(samples=100, classes=3)
    np.random.seed(1)  # the validation spiral: the next seed
    X_val, y_val = spiral_data(samples=100, classes=3)
    return X, y, X_val, y_val


def _spiral_spec_and_params():
    from shared import networks, weights

    spec = networks.load("spiral")
    o = spec.optimizer  # the book's hyperparameters, which _book_training takes as defaults
    assert (o.type, o.learning_rate, o.decay, o.epsilon, o.beta_1, o.beta_2) == (
        "adam", 0.05, 5e-7, 1e-7, 0.9, 0.999)
    assert spec.training.batch_size == 0 and [layer.units for layer in spec.dense_layers] == [64, 3]
    return spec, weights.initial(spec, spec.training.seed)


def test_11_trained_networks_at_200_epochs(keep_global_rng, capsys):
    # The default run, every implementation, against the book's loop written out above: the
    # numbers the step's docstring states are the independent run's, rounded as printed.
    from shared import implementations

    require("torch", "tf")  # the docstring speaks for all four
    module = step(11)
    results = module.run()
    _, params = _spiral_spec_and_params()
    X, y, X_val, y_val = _spirals()
    untrained_layers = [params["dense1.weight"], 0.0, params["dense2.weight"], 0.0]
    untrained = _book_evaluation(untrained_layers, X, y)[0]
    trained = _book_training(X, y, params, module.DEFAULT_EPOCHS)
    loss, accuracy = _book_evaluation(trained, X, y)
    val_loss, val_accuracy = _book_evaluation(trained, X_val, y_val)
    assert set(results) == set(implementations.IMPLEMENTATIONS)
    tolerance = {"numpy": 1e-10, "pure": 1e-10, "torch": 1e-9, "tf": 1e-9}
    for name, result in results.items():
        assert_close([result["untrained_loss"], result["loss"], result["val_loss"]],
                     [untrained, loss, val_loss], tolerance[name])
        assert (result["accuracy"], result["val_accuracy"]) == (accuracy, val_accuracy), name
    printed_lines(capsys, *(f"{name:>5}: loss {untrained:.4f} untrained -> {loss:.4f}, accuracy "
                            f"{accuracy:.3f}; validation loss {val_loss:.4f}, accuracy "
                            f"{val_accuracy:.3f}" for name in implementations.IMPLEMENTATIONS))
    # "About ln 3": 0.01 * randn weights give probabilities within 1e-3 of 1/3, so each
    # sample's loss is within -log(1 - 3e-3) < 3.01e-3 of ln 3.
    scores = np.maximum(0, X @ params["dense1.weight"]) @ params["dense2.weight"]
    assert np.abs(np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True) - 1 / 3).max() < 1e-3
    assert abs(untrained - math.log(3)) < 3.01e-3
    assert f"ln 3 = {math.log(3):.3f}" in module.__doc__
    stated = (f"loss\n{loss:.4f}, accuracy {accuracy:.3f}; validation loss {val_loss:.4f}, "
              f"accuracy {val_accuracy:.3f}")
    assert stated in module.__doc__
    readme = (WALKTHROUGH / "README.md").read_text(encoding="utf-8")
    assert f"training accuracy of about\n  {accuracy:.2f}" in readme


def test_11_trained_networks_overfit_at_3000_epochs(keep_global_rng):
    # The docstring's 3000-epoch story, from the book's loop written out above; impl_numpy's
    # fit history against it (the same operations in the same order: equal here to 1e-12 and
    # measured bit for bit). torch and Keras add in other orders and part in the third digit:
    # to two digits everywhere, and in CI as the docstring states them for its host class.
    from shared import implementations

    require("torch", "tf")
    module = step(11)
    doc = " ".join(module.__doc__.split())
    spec, params = _spiral_spec_and_params()
    X, y, X_val, y_val = _spirals()
    validation = []
    trained = _book_training(X, y, params, 3000, after_each=lambda layers: validation.append(
        _book_evaluation(layers, X_val, y_val)))
    loss, accuracy = _book_evaluation(trained, X, y)
    val_loss, val_accuracy = (np.array(column) for column in zip(*validation))
    lowest = int(np.argmin(val_loss))
    stated = (f"(NumPy: {loss:.4f}, accuracy {accuracy:.3f}) while the validation loss, lowest "
              f"({val_loss[lowest]:.3f}) at epoch {lowest + 1}, climbs back to "
              f"{val_loss[-1]:.3f} and the validation accuracy wanders between "
              f"{val_accuracy[200:].min():.2f} and {val_accuracy[200:].max():.2f} after epoch "
              f"200")
    assert stated in doc
    # Overfitting, independently of the digits: the validation loss ends well above its lowest.
    assert val_loss[-1] > val_loss[lowest] + 0.2 and lowest < 1000

    model = implementations.build("numpy", spec, params)
    history = model.fit(X, y, epochs=3000, validation_data=(X_val, y_val))
    np.testing.assert_allclose(history["val_loss"], val_loss, rtol=1e-12, atol=0)
    assert history["val_accuracy"] == list(val_accuracy)
    assert model.evaluate(X, y)["loss"] == pytest.approx(loss, rel=1e-12)
    # The last bits of the start: every parameter one ulp up, and the spikes of both runs
    # (the largest training loss after epoch 1000).
    moved = implementations.build("numpy", spec, {k: np.nextafter(v, np.inf)
                                                  for k, v in params.items()})
    moved_history = moved.fit(X, y, epochs=3000)
    spikes = []
    for h in (history, moved_history):
        late = np.array(h["loss"][1000:])
        spikes.append(f"{late.max():.3f} at epoch {h['epoch'][1000 + int(np.argmax(late))]}")
    assert (f"one ulp up (np.nextafter(w, inf), which turns the zero biases into 5e-324) ends "
            f"at {moved.evaluate(X, y)['loss']:.4f}") in doc
    assert f"({spikes[0]} here, {spikes[1]} from the moved start)" in doc
    finals = []
    for name in ("torch", "tf"):
        other = implementations.build(name, spec, params)
        other.fit(X, y, epochs=3000, eval_every=3000)  # tf: one graph for the 3000 epochs
        finals.append(other.evaluate(X, y)["loss"])
        assert abs(finals[-1] - loss) < 0.01  # the same training, to two digits
    # torch's figures as measured on each CI host class, in the suite's environment (its MKL
    # adds in other orders on other CPUs; no MKL setting on the Intel Xeon gave the AMD hosts'
    # 0.1247): each is the same training to two digits, and CI's host must be one of them.
    # Keras's figure is the same on both.
    stated_torch = re.search(r"torch at (\d\.\d{4}) on the AMD EPYC CI hosts and at "
                             r"(\d\.\d{4}) on an Intel Xeon with the test suite's pins", doc)
    assert stated_torch and all(abs(float(v) - loss) < 0.01 for v in stated_torch.groups())
    if in_ci():
        assert f"{finals[0]:.4f}" in stated_torch.groups(), (
            f"torch ends at {finals[0]:.4f} on this CI host ({machine.cpu().model}): "
            "state it in the docstring")
        assert f"(Keras ends at {finals[1]:.4f}, torch at" in doc
    readme = (WALKTHROUGH / "README.md").read_text(encoding="utf-8")
    assert f"`--epochs 3000` reaches about {accuracy:.2f}" in readme


def readme_row(section):
    """The cells of the README's table row that starts with ``section``."""
    readme = (WALKTHROUGH / "README.md").read_text(encoding="utf-8")
    rows = [line for line in readme.splitlines() if line.startswith(f"| {section}")]
    assert len(rows) == 1, section
    return [cell.strip() for cell in rows[0].strip("|").split("|")]


def listed(values, digits):
    return "[" + ", ".join(f"{float(v):.{digits}g}" for v in values) + "]"


def test_readme_table_holds_the_computed_values():
    # Each "Correct" cell against this file's own computations (exact fractions, the softmax
    # definition, math.log), and each "Printed" cell against the step's TUTORIAL figures.
    three = exact_layer([2.5, 1.8, 0.7], [[0.6, -0.4, 1.2]], [0.8])[0]
    four_float = 3.2 * 0.3 + 1.5 * -0.8 + 2.1 * 0.5 + 0.9 * 1.1 + 1.4  # Python's left to right
    layer1 = exact_layer(INPUTS, WEIGHTS, BIASES)
    layer2 = exact_layer(layer1, WEIGHTS2, BIASES2)
    cells = readme_row("Coding our first neuron: 3 inputs")
    assert cells[1:3] == [str(step(1).TUTORIAL["three_inputs"]), f"{float(three):.2f}"]
    cells = readme_row("Coding our second neuron: 4 inputs")
    assert cells[1:3] == [str(step(1).TUTORIAL["four_inputs"]),
                          f"{four_float:.2f} (Python shows {four_float!r})"]
    cells = readme_row("Coding our first layer")
    assert cells[1:3] == [str(step(2).TUTORIAL["outputs"]), listed(layer1, 3)]
    printed_layer1 = step(6).TUTORIAL["layer1"]
    cells = readme_row("2 Layers and Batch of Data: layer 2")
    assert cells[1:3] == [str(step(6).TUTORIAL["layer2"]), listed(layer2, 4)]
    assert listed(exact_layer(printed_layer1, WEIGHTS2, BIASES2), 4) in cells[3]

    softmax = [[math.exp(x) / math.fsum(math.exp(v) for v in row) for x in row]
               for row in SCORES]
    claimed = [(0, 0), (1, 0), (1, 3), (2, 0), (2, 1), (2, 2)]  # the order the README lists
    printed = step(7).TUTORIAL["softmax"]
    cells = readme_row("Softmax activation function")
    assert cells[1] == ", ".join(f"{printed[i][j]:.8f}" for i, j in claimed)
    assert cells[2] == ", ".join(f"{softmax[i][j]:.8f}" for i, j in claimed)

    loss = math.fsum(-math.log(p) for p in (0.7, 0.5, 0.98)) / 3
    book = math.fsum(-math.log(p) for p in (0.7, 0.5, 0.9)) / 3
    cells = readme_row("Categorical cross-entropy loss")
    assert cells[1:3] == [str(step(8).TUTORIAL["loss"]), f"{loss:.15f}"]
    assert f"{book:.15f}" in cells[3]


def test_readme_lists_every_step():
    readme = (WALKTHROUGH / "README.md").read_text(encoding="utf-8")
    assert len(SCRIPTS) == 11
    for script in SCRIPTS:
        assert script.name in readme


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.stem)
def test_script_runs(script):
    # Step 11's command line, 2 epochs; test_11_trained_networks_at_200_epochs runs all four
    # implementations in-process (here torch and TF would add 15 s of imports).
    extra = ["--epochs", "2", "--impls", "numpy", "pure"] if script.name.startswith("11_") else []
    completed = subprocess.run([sys.executable, str(script), *extra], cwd=ROOT,
                               capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip()
    assert completed.stderr == ""  # no warning either
