"""The walkthrough's numbers, each recomputed here another way.

Steps 1-6 are linear, so the tests compute them exactly with fractions of the
tutorial's decimals; steps 7-9 use other formulas (no max shift, log-sum-exp);
step 10 recomputes loss and accuracy from the model's outputs. Where a step says
the tutorial printed something else, the test checks that the printed value is
not even the correct value rounded to the digits the tutorial shows.
"""
import importlib.util
import math
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from nnfs.datasets import spiral_data

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


def test_01_single_neuron():
    module = step(1)
    result = module.run()
    three = exact_layer([2.5, 1.8, 0.7], [[0.6, -0.4, 1.2]], [0.8])[0]
    four = exact_layer([3.2, 1.5, 2.1, 0.9], [[0.3, -0.8, 0.5, 1.1]], [1.4])[0]
    assert three == Fraction("2.42") and four == Fraction("3.2")
    assert_close(result["three_inputs"], three)
    assert_close(result["four_inputs"], four)
    assert_not_a_rounding(module.TUTORIAL["three_inputs"], three, 2)
    assert_not_a_rounding(module.TUTORIAL["four_inputs"], four, 2)


@pytest.mark.parametrize("number", [2, 3])
def test_02_03_layer_by_hand_and_with_loops(number):
    module = step(number)
    result = module.run()
    expected = exact_layer(INPUTS, WEIGHTS, BIASES)
    assert_close(result["outputs"], expected)
    assert_not_a_rounding(module.TUTORIAL["outputs"], expected, 2)


def test_04_dot_product():
    module = step(4)
    result = module.run()
    expected = exact_layer(INPUTS, WEIGHTS, BIASES)
    assert_close(result["neuron"], exact_layer([2.5, 1.8, 0.7], [[0.6, -0.4, 1.2]], [0.8])[0])
    for key in ("layer_python", "layer_np_dot", "layer_matmul"):
        assert_close(result[key], expected)
    assert_not_a_rounding(module.TUTORIAL["layer_np_dot"], expected, 2)
    assert_not_a_rounding(module.TUTORIAL["layer_matmul"], expected, 2)


def test_05_batch():
    result = step(5).run()
    expected = [exact_layer(sample, WEIGHTS, BIASES) for sample in BATCH]
    assert np.shape(result["outputs"]) == (4, 3)
    assert_close(result["outputs"], expected)


def test_06_two_layers():
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


def test_07_relu_softmax():
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


def test_08_cross_entropy():
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


def test_09_spiral_forward(keep_global_rng):
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

    assert module.TUTORIAL["relu_columns"] != result["relu_first5"].shape[1] == 5
    assert result["points_320"] == 320 * 5 != module.TUTORIAL["points_320"]


def test_10_trained_networks_reach_high_accuracy(keep_global_rng):
    import impl_numpy
    from shared import networks, weights

    epochs = 1000  # about 0.5 s in NumPy; 200 epochs reach only ~0.84
    result = step(10).run(epochs=epochs, names=("numpy",))["numpy"]

    spec = networks.load("spiral")
    np.random.seed(0)
    X, y = spiral_data(samples=100, classes=3)
    np.random.seed(1)  # the validation spiral: the next seed
    X_val, y_val = spiral_data(samples=100, classes=3)
    model = impl_numpy.build(spec, weights.initial(spec, spec.training.seed))

    def loss_and_accuracy(X, y):
        p = model.forward(X)
        loss = np.mean(-np.log(np.clip(p[np.arange(len(y)), y], 1e-7, 1 - 1e-7)))
        return loss, np.mean(np.argmax(p, axis=1) == y)

    untrained, _ = loss_and_accuracy(X, y)
    assert_close(result["untrained_loss"], untrained, 1e-10)
    # 0.01 * randn weights give probabilities within 1e-3 of 1/3 (checked), so the loss
    # is within log(1 + 3e-3) < 3e-3 of ln 3.
    assert np.abs(model.forward(X) - 1 / 3).max() < 1e-3
    assert abs(result["untrained_loss"] - math.log(3)) < 3e-3

    model.fit(X, y, epochs=epochs)  # deterministic: the same run as the script's
    loss, accuracy = loss_and_accuracy(X, y)
    val_loss, val_accuracy = loss_and_accuracy(X_val, y_val)
    assert_close([result["loss"], result["val_loss"]], [loss, val_loss], 1e-10)
    assert result["accuracy"] == accuracy and result["val_accuracy"] == val_accuracy
    assert accuracy > 0.8
    assert val_accuracy > 0.7
    assert loss < 0.5 * math.log(3)


def test_readme_lists_every_step():
    readme = (WALKTHROUGH / "README.md").read_text(encoding="utf-8")
    assert len(SCRIPTS) == 10
    for script in SCRIPTS:
        assert script.name in readme


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.stem)
def test_script_runs(script):
    # Step 10 trains every available implementation; 2 epochs are enough to run the code.
    extra = ["--epochs", "2"] if script.name.startswith("10_") else []
    completed = subprocess.run([sys.executable, str(script), *extra], cwd=ROOT,
                               capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip()
