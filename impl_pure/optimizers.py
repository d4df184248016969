"""Optimizers in pure Python (nnfs Optimizer_*), with the frameworks' variants.

Each optimizer updates the network's parameters in place, row by row: ``params`` and
``grads`` are parallel lists of rows (every weight row and every bias vector, which is
impl_numpy's one flat buffer cut into lists), and the state keeps one row per row.
``variant`` picks the formula: "nnfs" (the book), "torch" or "keras" (what those
frameworks compute natively). The arithmetic is impl_numpy's, operation for operation.

Mirrors: impl_numpy/optimizers.py, impl_torch/optimizers.py, impl_tf/optimizers.py.
"""
from math import inf, sqrt

from impl_pure.linalg import pairwise_sum, zeros_like


class Optimizer:
    """Learning-rate decay shared by all optimizers: lr_t = lr * (1 / (1 + decay * t)); Keras (and torch's Adagrad): lr / (1 + decay * t)."""

    torch_divides = False  # torch's Adagrad decays its own rate, by a division

    def __init__(self, learning_rate, decay=0.0, variant="nnfs"):
        self.learning_rate = learning_rate
        self.current_learning_rate = learning_rate
        self.decay = decay
        self.variant = variant
        self.iterations = 0

    def pre_update_params(self):
        if not self.decay:
            return
        if self.variant == "keras" or (self.variant == "torch" and self.torch_divides):
            self.current_learning_rate = self.learning_rate / (1.0 + self.decay * self.iterations)
        else:  # nnfs, and torch's LambdaLR scheduler: lr times the factor
            decayed = 1.0 / (1.0 + self.decay * self.iterations)
            self.current_learning_rate = self.learning_rate * decayed

    def post_update_params(self):
        self.iterations += 1


class SGD(Optimizer):
    """nnfs/Keras: v = mu*v - lr*g; w += v.  torch: b = mu*b + g; w -= lr*b.  Nesterov: w += mu*v - lr*g; torch w -= lr*(g + mu*b)."""

    def __init__(self, learning_rate=1.0, decay=0.0, momentum=0.0, nesterov=False, variant="nnfs"):
        super().__init__(learning_rate, decay, variant)
        self.momentum = momentum
        self.nesterov = nesterov
        self.momentums = None

    def update_params(self, params, grads):
        lr, mu = self.current_learning_rate, self.momentum
        if not mu:
            for w, g in zip(params, grads):
                w[:] = [w_i - lr * g_i for w_i, g_i in zip(w, g)]
            return
        if self.momentums is None:
            self.momentums = zeros_like(params)
        for w, g, v in zip(params, grads, self.momentums):
            if self.variant == "torch":
                v[:] = [v_i * mu + g_i for v_i, g_i in zip(v, g)]
                if self.nesterov:
                    w[:] = [w_i - lr * (g_i + mu * v_i) for w_i, g_i, v_i in zip(w, g, v)]
                else:
                    w[:] = [w_i - lr * v_i for w_i, v_i in zip(w, v)]
            else:
                v[:] = [v_i * mu - lr * g_i for v_i, g_i in zip(v, g)]
                if self.nesterov:
                    w[:] = [w_i + (mu * v_i - lr * g_i) for w_i, g_i, v_i in zip(w, g, v)]
                else:
                    w[:] = [w_i + v_i for w_i, v_i in zip(w, v)]


class Adagrad(Optimizer):
    """nnfs/torch: c += g^2; w -= lr*g / (sqrt(c) + eps).  Keras: c starts at initial_accumulator (0.1) and eps goes inside the root."""

    torch_divides = True

    def __init__(self, learning_rate=1.0, decay=0.0, epsilon=1e-7, initial_accumulator=0.1,
                 variant="nnfs"):
        super().__init__(learning_rate, decay, variant)
        self.epsilon = epsilon
        self.initial_accumulator = initial_accumulator
        self.cache = None

    def update_params(self, params, grads):
        if self.cache is None:
            start = self.initial_accumulator if self.variant == "keras" else 0.0
            self.cache = [[start] * len(row) for row in params]
        lr, eps = self.current_learning_rate, self.epsilon
        for w, g, c in zip(params, grads, self.cache):
            c[:] = [c_i + g_i * g_i for c_i, g_i in zip(c, g)]
            if self.variant == "keras":
                w[:] = [w_i - lr * g_i / sqrt(c_i + eps) for w_i, g_i, c_i in zip(w, g, c)]
            else:
                w[:] = [w_i - lr * g_i / (sqrt(c_i) + eps) for w_i, g_i, c_i in zip(w, g, c)]


class RMSprop(Optimizer):
    """c = rho*c + (1 - rho)*g^2; w -= lr*g / (sqrt(c) + eps).  Keras: eps inside the root."""

    def __init__(self, learning_rate=0.001, decay=0.0, epsilon=1e-7, rho=0.9, variant="nnfs"):
        super().__init__(learning_rate, decay, variant)
        self.epsilon = epsilon
        self.rho = rho
        self.cache = None

    def update_params(self, params, grads):
        if self.cache is None:
            self.cache = zeros_like(params)
        lr, eps, rho = self.current_learning_rate, self.epsilon, self.rho
        for w, g, c in zip(params, grads, self.cache):
            c[:] = [c_i * rho + (1 - rho) * (g_i * g_i) for c_i, g_i in zip(c, g)]
            if self.variant == "keras":
                w[:] = [w_i - lr * g_i / sqrt(c_i + eps) for w_i, g_i, c_i in zip(w, g, c)]
            else:
                w[:] = [w_i - lr * g_i / (sqrt(c_i) + eps) for w_i, g_i, c_i in zip(w, g, c)]


class Adam(Optimizer):
    """m_hat = m / (1 - b1^t), v_hat = v / (1 - b2^t); w -= lr*m_hat / (sqrt(v_hat) + eps).  Keras: w -= lr*sqrt(1 - b2^t)/(1 - b1^t) * m / (sqrt(v) + eps)."""

    def __init__(self, learning_rate=0.001, decay=0.0, epsilon=1e-7, beta_1=0.9, beta_2=0.999,
                 variant="nnfs"):
        super().__init__(learning_rate, decay, variant)
        self.epsilon = epsilon
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.momentums = self.cache = None

    def update_params(self, params, grads):
        if self.momentums is None:
            self.momentums = zeros_like(params)
            self.cache = zeros_like(params)
        b1, b2, t = self.beta_1, self.beta_2, self.iterations + 1
        lr, eps = self.current_learning_rate, self.epsilon
        one_minus_b1, one_minus_b2 = 1 - b1, 1 - b2  # once per step, not once per element
        if self.variant == "keras":
            # m += (g - m)(1 - b1); v += (g^2 - v)(1 - b2); w -= m*alpha / (sqrt(v) + eps)
            alpha = lr * sqrt(1 - b2 ** t) / (1 - b1 ** t)
            for w, g, m, v in zip(params, grads, self.momentums, self.cache):
                m[:] = [m_i + (g_i - m_i) * one_minus_b1 for m_i, g_i in zip(m, g)]
                v[:] = [v_i + (g_i * g_i - v_i) * one_minus_b2 for v_i, g_i in zip(v, g)]
                w[:] = [w_i - m_i * alpha / (sqrt(v_i) + eps) for w_i, m_i, v_i in zip(w, m, v)]
            return
        m_correction, v_correction = 1 - b1 ** t, 1 - b2 ** t
        for w, g, m, v in zip(params, grads, self.momentums, self.cache):
            m[:] = [m_i * b1 + one_minus_b1 * g_i for m_i, g_i in zip(m, g)]
            v[:] = [v_i * b2 + one_minus_b2 * (g_i * g_i) for v_i, g_i in zip(v, g)]
            w[:] = [w_i - lr * (m_i / m_correction) / (sqrt(v_i / v_correction) + eps)
                    for w_i, m_i, v_i in zip(w, m, v)]


def clip_gradients(grads, clip_value=0.0, clip_norm=0.0, variant="nnfs"):
    """Clip in place: each element to [-clip_value, clip_value], then the global L2 norm to clip_norm."""
    if clip_value:
        for row in grads:
            row[:] = [min(max(g, -clip_value), clip_value) for g in row]
    if clip_norm:
        norm = sqrt(pairwise_sum([g * g for row in grads for g in row]))
        if variant == "torch":  # clip_grad_norm_: min(1 / (norm + 1e-6) * c, 1), always applied
            scale = min(1 / (norm + 1e-6) * clip_norm, 1.0)
        elif variant == "keras":  # clip_by_global_norm: c * min(1 / norm, 1 / c), always applied
            scale = clip_norm * min(1 / norm if norm else inf, 1 / clip_norm) + (norm - norm)
        else:
            scale = clip_norm / norm if norm > clip_norm else 1.0
        if scale != 1:
            for row in grads:
                row[:] = [g * scale for g in row]
