"""Optimizers of the NumPy reference (nnfs Optimizer_*), with the frameworks' variants.

Each optimizer updates one flat parameter array in place from the flat gradient array
(the model keeps every parameter as a view into one buffer); Adam goes through them in
cache-sized blocks where that is faster. ``variant`` picks the formula: "nnfs" (the book),
"torch" or "keras" (what those frameworks compute natively).

Mirrors: impl_pure/optimizers.py, impl_torch/optimizers.py, impl_tf/optimizers.py.
"""
import numpy as np

from shared import machine

# Adam's 14 passes over MNIST's 235,146 parameters (0.9 MB in float32, times the 6 arrays they
# read and write) run in blocks of this many bytes per array where that pays: on Intel Xeon
# hosts the blocks stay in a core's L2 cache; on AMD EPYC hosts, whose L3 streams the whole
# buffers fast enough, the extra ufunc calls cost more than that saves (README, Performance).
# 0: the whole buffers at once.
BLOCK_BYTES = 128 * 1024 if machine.cpu().vendor == "GenuineIntel" else 0


class Optimizer:
    """Learning-rate decay shared by all optimizers: lr_t = lr * (1 / (1 + decay * t)); Keras (and torch's Adagrad): lr / (1 + decay * t)."""

    torch_divides = False  # torch's Adagrad decays its own rate, by a division

    def __init__(self, learning_rate, decay=0.0, variant="nnfs", dtype="float64"):
        self.learning_rate = learning_rate
        self.current_learning_rate = learning_rate
        self.decay = decay
        self.variant = variant
        self.dtype = np.dtype(dtype)  # the parameters': Keras computes its scalars in it
        self.iterations = 0

    def pre_update_params(self):
        if not self.decay:
            return
        if self.variant == "keras":  # InverseTimeDecay, computed in the dtype as Keras does
            k = self.dtype.type
            denominator = 1 + k(self.decay) * k(self.iterations)
            self.current_learning_rate = k(self.learning_rate) / denominator
        elif self.variant == "torch" and self.torch_divides:
            self.current_learning_rate = self.learning_rate / (1.0 + self.decay * self.iterations)
        else:  # nnfs, and torch's LambdaLR scheduler: lr times the factor
            decayed = 1.0 / (1.0 + self.decay * self.iterations)
            self.current_learning_rate = self.learning_rate * decayed

    def post_update_params(self):
        self.iterations += 1


class SGD(Optimizer):
    """nnfs/Keras: v = mu*v - lr*g; w += v.  torch: b = mu*b + g; w -= lr*b.  Nesterov: w += mu*v - lr*g; torch w -= lr*(g + mu*b)."""

    def __init__(self, learning_rate=1.0, decay=0.0, momentum=0.0, nesterov=False, variant="nnfs",
                 dtype="float64"):
        super().__init__(learning_rate, decay, variant, dtype)
        self.momentum = momentum
        self.nesterov = nesterov
        self.momentums = None

    def update_params(self, params, grads):
        lr, mu = self.current_learning_rate, self.momentum
        if not mu:
            params -= lr * grads
            return
        if self.momentums is None:
            self.momentums = np.zeros_like(params)
        v = self.momentums
        if self.variant == "torch":
            v *= mu
            v += grads
            params -= lr * (grads + mu * v) if self.nesterov else lr * v
        else:
            v *= mu
            v -= lr * grads
            params += mu * v - lr * grads if self.nesterov else v


class Adagrad(Optimizer):
    """nnfs/torch: c += g^2; w -= lr*g / (sqrt(c) + eps).  Keras: c starts at initial_accumulator (0.1) and eps goes inside the root."""

    torch_divides = True

    def __init__(self, learning_rate=1.0, decay=0.0, epsilon=1e-7, initial_accumulator=0.1,
                 variant="nnfs", dtype="float64"):
        super().__init__(learning_rate, decay, variant, dtype)
        self.epsilon = epsilon
        self.initial_accumulator = initial_accumulator
        self.cache = None

    def update_params(self, params, grads):
        if self.cache is None:
            start = self.initial_accumulator if self.variant == "keras" else 0.0
            self.cache = np.full_like(params, start)
        self.cache += grads * grads
        if self.variant == "keras":
            params -= self.current_learning_rate * grads / np.sqrt(self.cache + self.epsilon)
        else:
            params -= self.current_learning_rate * grads / (np.sqrt(self.cache) + self.epsilon)


class RMSprop(Optimizer):
    """c = rho*c + (1 - rho)*g^2; w -= lr*g / (sqrt(c) + eps).  Keras: eps inside the root."""

    def __init__(self, learning_rate=0.001, decay=0.0, epsilon=1e-7, rho=0.9, variant="nnfs",
                 dtype="float64"):
        super().__init__(learning_rate, decay, variant, dtype)
        self.epsilon = epsilon
        self.rho = rho
        self.cache = None

    def update_params(self, params, grads):
        if self.cache is None:
            self.cache = np.zeros_like(params)
        self.cache *= self.rho
        self.cache += (1 - self.rho) * (grads * grads)
        if self.variant == "keras":
            params -= self.current_learning_rate * grads / np.sqrt(self.cache + self.epsilon)
        else:
            params -= self.current_learning_rate * grads / (np.sqrt(self.cache) + self.epsilon)


class Adam(Optimizer):
    """m_hat = m / (1 - b1^t), v_hat = v / (1 - b2^t); w -= lr*m_hat / (sqrt(v_hat) + eps).  Keras: w -= lr*sqrt(1 - b2^t)/(1 - b1^t) * m / (sqrt(v) + eps)."""

    def __init__(self, learning_rate=0.001, decay=0.0, epsilon=1e-7, beta_1=0.9, beta_2=0.999,
                 variant="nnfs", dtype="float64"):
        super().__init__(learning_rate, decay, variant, dtype)
        self.epsilon = epsilon
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.momentums = self.cache = self.scratch = None

    def update_params(self, params, grads):
        if self.momentums is None:
            self.momentums = np.zeros_like(params)
            self.cache = np.zeros_like(params)
            self.scratch = (np.empty_like(params), np.empty_like(params))
        b1, b2, t = self.beta_1, self.beta_2, self.iterations + 1
        lr, eps = self.current_learning_rate, self.epsilon
        if self.variant == "keras":  # alpha = lr*sqrt(1 - b2^t)/(1 - b1^t), in the dtype as Keras
            k = self.dtype.type
            alpha = k(lr) * np.sqrt(1 - k(b2) ** k(t)) / (1 - k(b1) ** k(t))
        else:
            m_correction, v_correction = 1 - b1 ** t, 1 - b2 ** t
        # In place, through two scratch buffers: the roundings of the formulas in the comments
        # below, block by block, so that the 14 passes over a block run in cache.
        for w, g, m, v, step, denominator in blocks(params, grads, self.momentums, self.cache,
                                                    *self.scratch):
            if self.variant == "keras":
                # m += (g - m)(1 - b1); v += (g^2 - v)(1 - b2); w -= m*alpha / (sqrt(v) + eps)
                np.subtract(g, m, out=step)
                step *= 1 - b1
                m += step
                np.multiply(g, g, out=step)
                step -= v
                step *= 1 - b2
                v += step
                np.sqrt(v, out=denominator)
                np.multiply(m, alpha, out=step)
            else:
                # m = b1*m + (1 - b1)*g; v = b2*v + (1 - b2)*g^2; step = m / (1 - b1^t) * lr
                m *= b1
                np.multiply(g, 1 - b1, out=step)
                m += step
                v *= b2
                np.multiply(g, g, out=step)
                step *= 1 - b2
                v += step
                np.divide(v, v_correction, out=denominator)
                np.sqrt(denominator, out=denominator)  # sqrt(v_hat)
                np.divide(m, m_correction, out=step)
                step *= lr
            denominator += eps
            step /= denominator
            w -= step


def blocks(*arrays):
    """The arrays' matching slices, BLOCK_BYTES of each at a time (for formulas taken element by element)."""
    if not BLOCK_BYTES:
        yield arrays
        return
    size = max(1, BLOCK_BYTES // arrays[0].itemsize)
    for start in range(0, len(arrays[0]), size):
        yield tuple(array[start:start + size] for array in arrays)


def clip_gradients(grads, clip_value=0.0, clip_norm=0.0, variant="nnfs"):
    """Clip in place: each element to [-clip_value, clip_value], then the global L2 norm to clip_norm."""
    if clip_value:
        np.clip(grads, -clip_value, clip_value, out=grads)
    if clip_norm:
        norm = np.sqrt(np.sum(grads * grads))  # a NumPy scalar: the scale in the grads' dtype
        if variant == "torch":  # clip_grad_norm_: min(1 / (norm + 1e-6) * c, 1), always applied
            scale = min(1 / (norm + 1e-6) * clip_norm, 1.0)
        elif variant == "keras":  # clip_by_global_norm: c * min(1 / norm, 1 / c), always applied
            k = norm.dtype.type  # c, and 1 / c divided in float64, rounded to it as Keras does
            with np.errstate(divide="ignore", invalid="ignore"):  # 1 / 0 = inf: the scale is 1
                scale = k(clip_norm) * min(1 / norm, k(1 / clip_norm))
                scale += norm - norm  # NaN for a norm of inf or NaN
        else:
            scale = clip_norm / norm if norm > clip_norm else 1.0
        if scale != 1:
            grads *= scale
