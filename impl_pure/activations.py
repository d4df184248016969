"""Activations in pure Python (nnfs Activation_*): lists of rows in, lists of rows out.

Mirrors: impl_numpy/activations.py, impl_torch/activations.py, impl_tf/activations.py.
"""
from math import exp, tanh

from impl_pure.linalg import dot, sum_in_order


class ReLU:
    """y = max(0, x); dy/dx = 1 where x > 0, else 0."""

    def forward(self, inputs, training=False, mask=None):
        self.inputs = inputs  # kept, as nnfs keeps it (the backward reads the output)
        # -0.0 and NaN pass through, as NumPy's max(0, x) passes them
        self.output = [[0.0 if x < 0.0 else x for x in row] for row in inputs]
        return self.output

    def backward(self, dvalues):
        # Read off y, as impl_numpy: y > 0 exactly where x > 0, and y is NaN where x is, which
        # passes the gradient ("not y <= 0" rather than "y > 0") as in impl_numpy; where it
        # stops it, 0.0 as nnfs assigns (impl_numpy's product: -0.0 for d < 0, NaN for d = inf).
        self.dinputs = [[0.0 if y <= 0.0 else d for d, y in zip(d_row, y_row)]
                        for d_row, y_row in zip(dvalues, self.output)]
        return self.dinputs


class LeakyReLU:
    """y = x where x > 0, else alpha * x; dy/dx = 1 where x > 0, else alpha."""

    def __init__(self, alpha=0.01):
        self.alpha = alpha

    def forward(self, inputs, training=False, mask=None):
        self.inputs = inputs
        alpha = self.alpha
        self.output = [[x if x > 0.0 else alpha * x for x in row] for row in inputs]
        return self.output

    def backward(self, dvalues):
        alpha = self.alpha
        self.dinputs = [[d if x > 0.0 else alpha * d for d, x in zip(d_row, x_row)]
                        for d_row, x_row in zip(dvalues, self.inputs)]
        return self.dinputs


def _sigmoid(x):
    try:
        return 1 / (1 + exp(-x))
    except OverflowError:  # exp(-x) > 1.8e308 below x = -709.78: impl_numpy's 1 / (1 + inf) = 0
        return 0.0


class Sigmoid:
    """y = 1 / (1 + exp(-x)); dy/dx = y * (1 - y)."""

    def forward(self, inputs, training=False, mask=None):
        self.output = [[_sigmoid(x) for x in row] for row in inputs]
        return self.output

    def backward(self, dvalues):
        self.dinputs = [[d * (1 - y) * y for d, y in zip(d_row, y_row)]
                        for d_row, y_row in zip(dvalues, self.output)]
        return self.dinputs


class Tanh:
    """y = tanh(x); dy/dx = 1 - y^2."""

    def forward(self, inputs, training=False, mask=None):
        self.output = [[tanh(x) for x in row] for row in inputs]
        return self.output

    def backward(self, dvalues):
        self.dinputs = [[d * (1 - y * y) for d, y in zip(d_row, y_row)]
                        for d_row, y_row in zip(dvalues, self.output)]
        return self.dinputs


class Softmax:
    """y_i = exp(x_i - max x) / sum_j exp(x_j - max x); backward through the full Jacobian."""

    def forward(self, inputs, training=False, mask=None):
        self.output = []
        for row in inputs:
            largest = max(row)
            exp_values = [exp(x - largest) for x in row]
            total = sum_in_order(exp_values)
            self.output.append([e / total for e in exp_values])
        return self.output

    def backward(self, dvalues):
        # One Jacobian per sample: J = diag(y) - y y^T, then dinputs = J @ dvalues.
        self.dinputs = []
        for y, d in zip(self.output, dvalues):
            jacobian = [[(y_i if i == j else 0.0) - y_i * y_j for j, y_j in enumerate(y)]
                        for i, y_i in enumerate(y)]
            self.dinputs.append([dot(row, d) for row in jacobian])
        return self.dinputs


class Linear:
    """y = x (nnfs Activation_Linear, the regression output)."""

    def forward(self, inputs, training=False, mask=None):
        self.output = inputs
        return self.output

    def backward(self, dvalues):
        self.dinputs = dvalues
        return self.dinputs


class Step:
    """y = 1 where x > 0, else 0; backward is straight-through, which with MAE is the perceptron rule."""

    def forward(self, inputs, training=False, mask=None):
        self.output = [[1.0 if x > 0.0 else 0.0 for x in row] for row in inputs]
        return self.output

    def backward(self, dvalues):
        self.dinputs = dvalues
        return self.dinputs
