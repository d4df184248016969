"""Step 10: backpropagation by hand, checked, and one optimizer step.

Training needs the gradient of the loss with respect to every weight and bias. The
chain rule gives it layer by layer, from the loss back to the inputs; each layer only
needs the gradient of what it output (``dvalues``) and what it saw going forward:

    softmax + cross-entropy:  dL/dz  = (softmax(z) - one_hot(y)) / n   (the fused form)
    Dense, y = x @ W + b:     dL/dW  = x.T @ dvalues,  dL/db = sum of dvalues over samples,
                              dL/dx  = dvalues @ W.T                   (for the layer below)
    ReLU, y = max(0, x):      dL/dx  = dvalues where x > 0, else 0

The fused form is short because the softmax's Jacobian and the loss's -1/p_y cancel: for
one sample, L = -log p_y with p = softmax(z) gives dL/dz_j = p_j - 1 for the true class j = y
and p_j for every other class; the mean over n samples divides by n.

Here a 2-4-3 network (Dense, ReLU, Dense, softmax) on 15 spiral points computes them with
those three lines, and each is checked against central finite differences,
(L(w + h) - L(w - h)) / 2h, which need no calculus. The same formulas are the
``backward`` methods of impl_numpy/layers.py, activations.py and losses.py, and
``diff impl_numpy/layers.py impl_pure/layers.py`` shows them written as loops; the
project's model computes the very same bits.

Then one step of each optimizer. Plain SGD moves every weight by -lr * gradient, and the
loss falls. Adam's first step (bias-corrected m_hat = g and v_hat = g^2) subtracts
lr * g / (|g| + eps): about lr in every coordinate, whatever the gradient's size (a
little less where |g| is small next to eps).
"""
import sys
from pathlib import Path

import numpy as np
from nnfs.datasets import spiral_data

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository root

from shared.spec import from_dict  # noqa: E402

LEARNING_RATE = 0.05


def forward(params, X):
    """(hidden pre-activation, hidden, probabilities) of the 2-4-3 network."""
    z1 = X @ params["dense1.weight"] + params["dense1.bias"]
    hidden = np.maximum(0, z1)
    z2 = hidden @ params["dense2.weight"] + params["dense2.bias"]
    exps = np.exp(z2 - z2.max(axis=1, keepdims=True))
    return z1, hidden, exps / exps.sum(axis=1, keepdims=True)


def loss(params, X, y):
    """Mean categorical cross-entropy (no clip is needed: no probability here is near 0)."""
    probabilities = forward(params, X)[2]
    return np.mean(-np.log(probabilities[np.arange(len(y)), y]))


def backward(params, X, y):
    """Every gradient, by the chain rule, from the loss back to the first layer."""
    z1, hidden, probabilities = forward(params, X)
    dz2 = (probabilities - np.eye(3)[y]) / len(y)
    dhidden = dz2 @ params["dense2.weight"].T
    dz1 = dhidden * (z1 > 0)
    return {"dense1.weight": X.T @ dz1, "dense1.bias": dz1.sum(axis=0),
            "dense2.weight": hidden.T @ dz2, "dense2.bias": dz2.sum(axis=0)}


def finite_differences(params, X, y, h=1e-6):
    """Every gradient again, one parameter at a time: (L(w + h) - L(w - h)) / 2h."""
    grads = {}
    for name, value in params.items():
        grads[name] = np.zeros_like(value)
        for index in np.ndindex(value.shape):
            moved = {key: v.copy() for key, v in params.items()}
            moved[name][index] = value[index] + h
            above = loss(moved, X, y)
            moved[name][index] = value[index] - h
            grads[name][index] = (above - loss(moved, X, y)) / (2 * h)
    return grads


SPEC = from_dict({"name": "walkthrough", "inputs": 2, "loss": "categorical_crossentropy",
                  "layers": [{"type": "dense", "units": 4}, {"type": "relu"},
                             {"type": "dense", "units": 3}, {"type": "softmax"}],
                  "optimizer": {"type": "sgd", "learning_rate": LEARNING_RATE}})


def run() -> dict:
    np.random.seed(0)
    X, y = spiral_data(samples=5, classes=3)  # 15 points, 5 of each class
    params = {"dense1.weight": 0.5 * np.random.randn(2, 4), "dense1.bias": np.full(4, 0.1),
              "dense2.weight": 0.5 * np.random.randn(4, 3), "dense2.bias": np.zeros(3)}
    grads = backward(params, X, y)
    numeric = finite_differences(params, X, y)
    errors = {name: float(np.max(np.abs(grads[name] - numeric[name]))
                          / np.max(np.abs(numeric[name]))) for name in params}
    print(f"loss {loss(params, X, y):.6f} on {len(X)} points; the gradients by the chain rule "
          f"against finite differences (h = 1e-6), relative error:")
    for name, error in errors.items():
        print(f"  {name:14s} shape {grads[name].shape!s:7} {error:.1e}")
    print("dense2.bias's gradient sums to 0 (up to rounding): each sample's softmax sums to 1, "
          f"its one-hot row too: {grads['dense2.bias']} sums to {grads['dense2.bias'].sum():.1e}")

    from impl_numpy import build  # the project's reference computes the very same bits
    same_bits = {name: bool(np.array_equal(grad, grads[name]))
                 for name, grad in build(SPEC, params).gradients(X, y).items()}
    print(f"impl_numpy's Model.gradients, the same bits: {same_bits}")

    before = loss(params, X, y)
    stepped = {name: value - LEARNING_RATE * grads[name] for name, value in params.items()}
    after = loss(stepped, X, y)
    print(f"\nOne SGD step, w -= {LEARNING_RATE} * dL/dw: loss {before:.6f} -> {after:.6f}")

    g = grads["dense1.weight"]
    m_hat, v_hat = g, g * g  # after one step: m = (1 - b1) g, over (1 - b1^1), the same for v
    adam_step = LEARNING_RATE * m_hat / (np.sqrt(v_hat) + 1e-7)
    print(f"Adam's first step on dense1.weight, w -= lr * m_hat / (sqrt(v_hat) + eps), for "
          f"gradients from {np.abs(g).min():.1e} to {np.abs(g).max():.1e} in size:")
    with np.printoptions(precision=6, suppress=True):
        print(adam_step)
    return {"X": X, "y": y, "params": params, "grads": grads, "numeric": numeric, "errors": errors,
            "same_bits": same_bits, "loss_before": before, "loss_after": after,
            "adam_step": adam_step}


if __name__ == "__main__":
    run()
