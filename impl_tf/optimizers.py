"""Optimizers of the Keras implementation in exact mode: keras.optimizers.Optimizer subclasses with the reference's arithmetic.

Each class computes impl_numpy's formula for its ``variant`` ("nnfs", "torch" or "keras"),
operation for operation in the same order, so that equal gradients give bit-equal
updates. Every hyperparameter is a float64 constant (impl_numpy's Python floats) cast
to the variable's dtype where it meets the variable, as NumPy casts a Python float.
Keras runs ``update_step`` once per variable; TF variables cannot be views into one
flat buffer, and the arithmetic is elementwise, so this changes no bits. The learning
rate is the schedule below, evaluated at the update count before the update.
Native mode uses Keras's built-in classes instead (see model.make_optimizer).

Mirrors: impl_numpy/optimizers.py, impl_pure/optimizers.py, impl_torch/optimizers.py.
"""
import keras
import numpy as np
import tensorflow as tf


class InverseTimeDecay(keras.optimizers.schedules.LearningRateSchedule):
    """lr_t = lr * (1 / (1 + decay * t)), t counting updates from 0, in ``dtype``; ``divides``: lr / (1 + decay * t), as Keras's own."""

    def __init__(self, learning_rate, decay=0.0, divides=False, dtype="float64"):
        self.learning_rate = learning_rate
        self.decay = decay
        self.divides = divides
        self.dtype = dtype  # float64, or the variables' dtype for the keras variant, as Keras

    def __call__(self, step):
        learning_rate = tf.constant(self.learning_rate, self.dtype)
        if not self.decay:
            return learning_rate
        denominator = 1.0 + tf.constant(self.decay, self.dtype) * tf.cast(step, self.dtype)
        return learning_rate / denominator if self.divides else learning_rate * (
            1.0 / denominator)

    def get_config(self):
        return {"learning_rate": self.learning_rate, "decay": self.decay,
                "divides": self.divides, "dtype": self.dtype}


class Optimizer(keras.optimizers.Optimizer):
    """A Keras optimizer with impl_numpy's arithmetic and decay, lr_t = lr * (1 / (1 + decay * t)); Keras (and torch's Adagrad): lr / (1 + decay * t)."""

    torch_divides = False  # torch's Adagrad decays its own rate, by a division

    def __init__(self, learning_rate, decay=0.0, variant="nnfs", name=None):
        divides = variant == "keras" or (variant == "torch" and self.torch_divides)
        dtype = keras.config.floatx() if variant == "keras" else "float64"  # the model's dtype
        super().__init__(InverseTimeDecay(learning_rate, decay, divides, dtype), name=name)
        self.variant = variant

    def _slots(self, var_list, name, fill=0.0):
        initializer = keras.initializers.Constant(np.float64(fill)) if fill else "zeros"
        return [self.add_variable_from_reference(var, name, initializer=initializer)
                for var in var_list]

    def _slot(self, slots, variable):
        return slots[self._get_variable_index(variable)]

    @staticmethod
    def _constant(value, variable):
        """A Python float (or float64 tensor) in the variable's dtype, rounded once, as NumPy does."""
        return tf.cast(tf.constant(value, tf.float64) if isinstance(value, float) else value,
                       variable.dtype)

    def _step_count(self):
        """t, counting this update from 1, as a float64 scalar."""
        return tf.cast(self.iterations + 1, tf.float64)

    @staticmethod
    def _scaled_step(gradient, cache, lr, eps, eps_inside_root):
        """lr*g / (sqrt(c) + eps), or lr*g / sqrt(c + eps) with eps inside the root."""
        root = tf.sqrt(cache + eps) if eps_inside_root else tf.sqrt(cache) + eps
        return lr * gradient / root


class SGD(Optimizer):
    """nnfs/Keras: v = mu*v - lr*g; w += v.  torch: b = mu*b + g; w -= lr*b.  Nesterov: w += mu*v - lr*g; torch w -= lr*(g + mu*b)."""

    def __init__(self, learning_rate=1.0, decay=0.0, momentum=0.0, nesterov=False,
                 variant="nnfs"):
        super().__init__(learning_rate, decay, variant, name="SGD")
        self.momentum = momentum
        self.nesterov = nesterov

    def build(self, var_list):
        super().build(var_list)
        self.momentums = self._slots(var_list, "momentum") if self.momentum else None

    def update_step(self, gradient, variable, learning_rate):
        lr = self._constant(learning_rate, variable)
        if not self.momentum:
            self.assign_sub(variable, lr * gradient)
            return
        mu = self._constant(self.momentum, variable)
        v = self._slot(self.momentums, variable)
        self.assign(v, v * mu)
        if self.variant == "torch":
            self.assign_add(v, gradient)
            self.assign_sub(variable, lr * (gradient + mu * v) if self.nesterov else lr * v)
        else:
            lr_g = lr * gradient
            self.assign_sub(v, lr_g)
            self.assign_add(variable, mu * v - lr_g if self.nesterov else v)


class Adagrad(Optimizer):
    """nnfs/torch: c += g^2; w -= lr*g / (sqrt(c) + eps).  Keras: c starts at initial_accumulator (0.1) and eps goes inside the root."""

    torch_divides = True

    def __init__(self, learning_rate=1.0, decay=0.0, epsilon=1e-7, initial_accumulator=0.1,
                 variant="nnfs"):
        super().__init__(learning_rate, decay, variant, name="Adagrad")
        self.epsilon = epsilon
        self.initial_accumulator = initial_accumulator

    def build(self, var_list):
        super().build(var_list)
        start = self.initial_accumulator if self.variant == "keras" else 0.0
        self.caches = self._slots(var_list, "cache", start)

    def update_step(self, gradient, variable, learning_rate):
        cache = self._slot(self.caches, variable)
        self.assign_add(cache, gradient * gradient)
        step = self._scaled_step(gradient, cache, self._constant(learning_rate, variable),
                                 self._constant(self.epsilon, variable), self.variant == "keras")
        self.assign_sub(variable, step)


class RMSprop(Optimizer):
    """c = rho*c + (1 - rho)*g^2; w -= lr*g / (sqrt(c) + eps).  Keras: eps inside the root."""

    def __init__(self, learning_rate=0.001, decay=0.0, epsilon=1e-7, rho=0.9, variant="nnfs"):
        super().__init__(learning_rate, decay, variant, name="RMSprop")
        self.epsilon = epsilon
        self.rho = rho

    def build(self, var_list):
        super().build(var_list)
        self.caches = self._slots(var_list, "cache")

    def update_step(self, gradient, variable, learning_rate):
        cache = self._slot(self.caches, variable)
        self.assign(cache, cache * self._constant(self.rho, variable))
        self.assign_add(cache, self._constant(1 - self.rho, variable) * (gradient * gradient))
        step = self._scaled_step(gradient, cache, self._constant(learning_rate, variable),
                                 self._constant(self.epsilon, variable), self.variant == "keras")
        self.assign_sub(variable, step)


class Adam(Optimizer):
    """m_hat = m / (1 - b1^t), v_hat = v / (1 - b2^t); w -= lr*m_hat / (sqrt(v_hat) + eps).  Keras: w -= lr*sqrt(1 - b2^t)/(1 - b1^t) * m / (sqrt(v) + eps)."""

    def __init__(self, learning_rate=0.001, decay=0.0, epsilon=1e-7, beta_1=0.9, beta_2=0.999,
                 variant="nnfs"):
        super().__init__(learning_rate, decay, variant, name="Adam")
        self.epsilon = epsilon
        self.beta_1 = beta_1
        self.beta_2 = beta_2

    def build(self, var_list):
        super().build(var_list)
        self.momentums = self._slots(var_list, "momentum")
        self.caches = self._slots(var_list, "cache")

    def update_step(self, gradient, variable, learning_rate):
        b1, b2, t = self.beta_1, self.beta_2, self._step_count()
        m, v = self._slot(self.momentums, variable), self._slot(self.caches, variable)
        eps = self._constant(self.epsilon, variable)
        if self.variant == "keras":
            # m += (g - m)(1 - b1); v += (g^2 - v)(1 - b2); w -= m*alpha / (sqrt(v) + eps),
            # alpha = lr*sqrt(1 - b2^t)/(1 - b1^t) computed in the variable's dtype, as Keras does
            t = tf.cast(t, variable.dtype)
            power_1 = tf.pow(self._constant(b1, variable), t)
            power_2 = tf.pow(self._constant(b2, variable), t)
            alpha = self._constant(learning_rate, variable) * tf.sqrt(1 - power_2) / (1 - power_1)
            self.assign_add(m, (gradient - m) * self._constant(1 - b1, variable))
            self.assign_add(v, (gradient * gradient - v) * self._constant(1 - b2, variable))
            self.assign_sub(variable, m * alpha / (tf.sqrt(v) + eps))
            return
        # m = b1*m + (1 - b1)*g; v = b2*v + (1 - b2)*g^2; step = m / (1 - b1^t) * lr, the bias
        # corrections 1 - b^t in float64, as impl_numpy's Python floats
        correction_1 = 1.0 - tf.pow(tf.constant(b1, tf.float64), t)
        correction_2 = 1.0 - tf.pow(tf.constant(b2, tf.float64), t)
        self.assign(m, m * self._constant(b1, variable))
        self.assign_add(m, gradient * self._constant(1 - b1, variable))
        self.assign(v, v * self._constant(b2, variable))
        self.assign_add(v, gradient * gradient * self._constant(1 - b2, variable))
        denominator = tf.sqrt(v / self._constant(correction_2, variable)) + eps  # sqrt(v_hat) + eps
        step = m / self._constant(correction_1, variable) * self._constant(learning_rate, variable)
        self.assign_sub(variable, step / denominator)


def clip_gradients(grads, clip_value=0.0, clip_norm=0.0, variant="nnfs"):
    """Each element to [-clip_value, clip_value], then the global L2 norm to clip_norm (a new list)."""
    if clip_value:
        grads = [tf.clip_by_value(g, -clip_value, clip_value) for g in grads]
    if clip_norm:
        # The norm summed by NumPy, pairwise, in canonical order, from inside the graph:
        # reduce_sum and add_n add in other orders, which moved the clipped gradients by an ulp
        # in 51 of 200 fuzzed cases.
        flat = tf.concat([tf.reshape(g, [-1]) for g in grads], axis=0)
        norm = tf.numpy_function(_numpy_norm, [flat], flat.dtype, stateful=False)
        norm = tf.ensure_shape(norm, [])
        c, one = tf.constant(clip_norm, norm.dtype), tf.constant(1.0, norm.dtype)
        if variant == "torch":  # clip_grad_norm_: min(1 / (norm + 1e-6) * c, 1), always applied
            scale = tf.minimum(one / (norm + 1e-6) * c, one)
        elif variant == "keras":  # clip_by_global_norm: c * min(1 / norm, 1 / c), always applied
            # 1 / c divided in float64 and rounded to the dtype, as Keras does
            scale = c * tf.minimum(one / norm, tf.constant(1 / clip_norm, norm.dtype))
            scale += norm - norm  # NaN for a norm of inf or NaN
        else:
            scale = tf.where(norm > c, c / norm, one)
        grads = [g * scale for g in grads]  # a factor of exactly 1 leaves grads unchanged
    return grads


def _numpy_norm(flat):
    """sqrt(sum g^2) as impl_numpy computes it: np.sum's pairwise order, in the buffer's dtype."""
    return np.sqrt(np.sum(flat * flat))
