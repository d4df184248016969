"""Step 9: a whole untrained network on the spiral data, forward only.

spiral_data(samples=100, classes=5) gives 100 points per class, 500 in all.
The network is the tutorial's: Dense(2 -> 5), ReLU, Dense(5 -> 5), softmax, with
nnfs's initial weights 0.01 * randn and zero biases. With weights that small every
score is close to 0, so softmax gives every class about 1/5 and the loss is about
-log(1/5) = ln 5 = 1.609: the loss of a network that knows nothing yet.

From here on the weights are stored as nnfs stores them, one column per neuron: shape
(n_inputs, n_neurons), so ``inputs @ weights`` needs no transpose. Steps 2-6 used the
tutorial's layout, one row per neuron, (n_neurons, n_inputs): hence the ``weights.T``
of steps 5 and 6. The project's canonical layout (``shared.weights``) is the nnfs one.

We seed NumPy's global generator with 0, as ``nnfs.init()`` does, but never call
``nnfs.init()`` itself (it changes NumPy for the whole process) and so compute in
float64 rather than float32.
"""
import math

import numpy as np
from nnfs.datasets import spiral_data

# What the tutorial printed: the shape of its ReLU excerpt, the loss and the accuracy,
# and the number of points it said spiral_data(samples=320, classes=5) makes.
TUTORIAL = {"relu_columns": 3, "loss": 1.6094379, "accuracy": 0.2, "points_320": 320}


def dense(inputs, n_neurons):
    """An nnfs Layer_Dense forward pass with fresh weights: inputs . (0.01 * randn) + 0."""
    weights = 0.01 * np.random.randn(inputs.shape[1], n_neurons)
    biases = np.zeros((1, n_neurons))
    return np.dot(inputs, weights) + biases


def run() -> dict:
    np.random.seed(0)
    X, y = spiral_data(samples=100, classes=5)
    print(f"X has shape {X.shape}, y has shape {y.shape}: 100 samples for each of 5 classes.")

    hidden = np.maximum(0, dense(X, 5))
    scores = dense(hidden, 5)
    exp_values = np.exp(scores - np.max(scores, axis=1, keepdims=True))
    probabilities = exp_values / np.sum(exp_values, axis=1, keepdims=True)

    clipped = np.clip(probabilities, 1e-7, 1 - 1e-7)
    loss = np.mean(-np.log(clipped[np.arange(len(y)), y]))
    accuracy = np.mean(np.argmax(probabilities, axis=1) == y)
    ln5 = math.log(5)

    with np.printoptions(linewidth=100):
        print("\nReLU outputs of the first layer, first 5 samples (5 neurons, so 5 columns):")
        print(hidden[:5])
        print("Softmax outputs, first 5 samples:")
        print(probabilities[:5])
    print("(The first sample is the point (0, 0), so its scores are all 0: exactly 1/5 each.)")
    print(f"\nloss: {loss:.10f}   ln 5 = {ln5:.10f}   difference: {loss - ln5:.2e}")
    print(f"accuracy: {accuracy}  (chance for 5 classes: 0.2)")
    print(f"The tutorial printed loss {TUTORIAL['loss']} (ln 5 to 7 decimals) and accuracy "
          f"{TUTORIAL['accuracy']}; with this seed the results are {loss:.7f} and {accuracy}. "
          f"Both depend on the random draw; with weights this small the loss stays close to ln 5.")
    print(f"The tutorial showed {TUTORIAL['relu_columns']} columns of ReLU output for "
          f"Dense(2, 5); it has {hidden.shape[1]} (the first 5 rows are {hidden[:5].shape}, "
          f"the whole layer {hidden.shape}).")

    points_320 = len(spiral_data(samples=320, classes=5)[0])
    print(f"The tutorial said spiral_data(samples=320, classes=5) makes {TUTORIAL['points_320']} "
          f"points; it makes {points_320} (samples is per class).")
    return {"n_points": len(X), "relu_first5": hidden[:5], "softmax_first5": probabilities[:5],
            "loss": loss, "ln5": ln5, "accuracy": accuracy, "points_320": points_320}


if __name__ == "__main__":
    run()
