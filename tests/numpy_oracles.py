"""Independent oracles for tests/test_numpy.py: central finite differences and the optimizer
formulas re-written as plain-Python scalar loops (from the nnfs book, Ch. 10-11, and the
frameworks' documented formulas),
sharing no code with impl_numpy."""
import math

import numpy as np

H = 1e-6  # central-difference step (shared.metrics.FINITE_DIFFERENCE_STEP)


def relative_error(analytic, numeric) -> float:
    """||a - n||_2 / (||a||_2 + ||n||_2), which shared.metrics bounds by 1e-6 (0 when both 0)."""
    a, n = np.ravel(analytic), np.ravel(numeric)
    scale = np.linalg.norm(a) + np.linalg.norm(n)
    return 0.0 if scale == 0 else float(np.linalg.norm(a - n) / scale)


def numeric_gradients(model, X, y, masks=None, coords=None, h=H) -> dict:
    """d loss / d parameter by central differences: (L(p + h) - L(p - h)) / 2h, one entry at a time.

    ``coords`` maps a name to the flat indices to perturb (default: all); the result holds
    the gradient at those indices only, in that order.
    """
    base = model.parameters()
    result = {}
    for name, value in base.items():
        indices = range(value.size) if coords is None else coords[name]
        grads = []
        for index in indices:
            values = []
            for delta in (h, -h):
                shifted = value.copy()
                shifted.flat[index] += delta
                model.set_parameters({**base, name: shifted})
                values.append(model.loss(X, y, dropout_masks=masks))
            grads.append((values[0] - values[1]) / (2 * h))
        result[name] = np.array(grads)
    model.set_parameters(base)
    return result


def numeric_input_gradient(function, x, h=H) -> np.ndarray:
    """d function(x) / dx for a scalar function of an array, by central differences."""
    grad = np.zeros_like(x)
    for index in range(x.size):
        plus, minus = x.copy(), x.copy()
        plus.flat[index] += h
        minus.flat[index] -= h
        grad.flat[index] = (function(plus) - function(minus)) / (2 * h)
    return grad


class ScalarOptimizer:
    """The spec's optimizer, one Python float at a time: clip, decay, then the variant's update."""

    def __init__(self, optimizer, variant):
        self.o, self.variant, self.t, self.state = optimizer, variant, 0, {}
        self.clipped = False  # set once clipping changed a gradient, so tests know it was active

    def step(self, params: dict, grads: dict) -> dict:
        """New parameters (name -> array) after one update from gradients ``grads``."""
        o = self.o
        names = list(params)
        g = [float(x) for name in names for x in np.ravel(grads[name])]
        w = [float(x) for name in names for x in np.ravel(params[name])]
        if o.clip_value:
            clipped = [min(max(x, -o.clip_value), o.clip_value) for x in g]
            self.clipped |= clipped != g
            g = clipped
        if o.clip_norm:
            norm = math.sqrt(sum(x * x for x in g))
            # torch.nn.utils.clip_grad_norm_: max_norm / (norm + 1e-6), applied when < 1.
            scale = (o.clip_norm / (norm + 1e-6) if self.variant == "torch"
                     else o.clip_norm / max(norm, o.clip_norm))
            if scale < 1:
                g = [x * scale for x in g]
                self.clipped = True
        lr = o.learning_rate / (1 + o.decay * self.t)  # nnfs: decay counts updates from 0
        self.t += 1
        update = getattr(self, o.type)
        new = [update(i, wi, gi, lr) for i, (wi, gi) in enumerate(zip(w, g))]
        out, offset = {}, 0
        for name in names:
            size = params[name].size
            out[name] = np.array(new[offset:offset + size]).reshape(params[name].shape)
            offset += size
        return out

    def _slot(self, i, key, start=0.0):
        return self.state.setdefault((i, key), start)

    def sgd(self, i, w, g, lr):
        mu = self.o.momentum
        if not mu:
            return w - lr * g
        if self.variant == "torch":  # buf = mu*buf + g; nesterov: g + mu*buf; w -= lr*(...)
            buf = mu * self._slot(i, "buf") + g
            self.state[(i, "buf")] = buf
            return w - lr * (g + mu * buf if self.o.nesterov else buf)
        v = mu * self._slot(i, "v") - lr * g  # nnfs / Keras: v = mu*v - lr*g
        self.state[(i, "v")] = v
        return w + (mu * v - lr * g if self.o.nesterov else v)  # Keras nesterov look-ahead

    def adagrad(self, i, w, g, lr):
        eps = self.o.epsilon
        if self.variant == "keras":  # accumulator starts at initial_accumulator, eps inside sqrt
            c = self._slot(i, "c", self.o.initial_accumulator) + g * g
            self.state[(i, "c")] = c
            return w - lr * g / math.sqrt(c + eps)
        c = self._slot(i, "c") + g * g
        self.state[(i, "c")] = c
        return w - lr * g / (math.sqrt(c) + eps)

    def rmsprop(self, i, w, g, lr):
        rho, eps = self.o.rho, self.o.epsilon
        c = rho * self._slot(i, "c") + (1 - rho) * g * g
        self.state[(i, "c")] = c
        if self.variant == "keras":
            return w - lr * g / math.sqrt(c + eps)
        return w - lr * g / (math.sqrt(c) + eps)

    def adam(self, i, w, g, lr):
        b1, b2, eps, t = self.o.beta_1, self.o.beta_2, self.o.epsilon, self.t
        m = b1 * self._slot(i, "m") + (1 - b1) * g
        v = b2 * self._slot(i, "v") + (1 - b2) * g * g
        self.state[(i, "m")], self.state[(i, "v")] = m, v
        if self.variant == "keras":  # "epsilon hat": the bias corrections folded into the rate
            alpha = lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t)
            return w - alpha * m / (math.sqrt(v) + eps)
        m_hat, v_hat = m / (1 - b1 ** t), v / (1 - b2 ** t)
        return w - lr * m_hat / (math.sqrt(v_hat) + eps)
