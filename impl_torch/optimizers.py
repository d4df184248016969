"""Optimizers of the PyTorch implementation in exact mode: torch.optim.Optimizer subclasses with the reference's arithmetic.

Each class computes impl_numpy's formula for its ``variant`` ("nnfs", "torch" or "keras"),
operation for operation in the same order and in place, so that equal gradients give
bit-equal updates. torch's built-ins compute the torch variant (for Adagrad, RMSprop and Adam
the nnfs formulas, but for Adagrad's decay by division) in another order: Adam's m by lerp,
sqrt(v)/sqrt(1 - b2^t) instead of sqrt(v/(1 - b2^t)), and fused multiply-adds in addcdiv_
and addcmul_.

The learning rate decays as impl_numpy's, lr_t = lr * (1 / (1 + decay * t)) with t
counting updates from 0 (variant keras, and torch's Adagrad: lr / (1 + decay * t)).
``step()`` is torch.optim's interface; ``update()`` is the same
arithmetic without the hooks and profiler wrapper torch.optim puts around ``step``, which
cost more than the update itself on small nets (the model's training loop calls it).
Native mode uses torch's built-in classes and a LambdaLR scheduler (see model.make_optimizer).

Mirrors: impl_numpy/optimizers.py, impl_pure/optimizers.py, impl_tf/optimizers.py.
"""

import numpy as np
import torch


class Optimizer(torch.optim.Optimizer):
    """A torch optimizer with impl_numpy's in-place arithmetic and decay, lr_t = lr * (1 / (1 + decay * t)); Keras (and torch's Adagrad): lr / (1 + decay * t)."""

    torch_divides = False  # torch's Adagrad decays its own rate, by a division

    def _state(self, param, key, fill=0.0):
        state = self.state[param]
        if key not in state:
            state[key] = torch.full_like(param, fill)
        return state[key]

    def _constants(self, param, *values):
        """The values as 0-d tensors of param's dtype, made once: an op given a Python float
        converts it to such a tensor on every call, which costs more than the op on small nets."""
        constants = self.state[param].setdefault("constants", {})
        for value in values:
            if value not in constants:
                constants[value] = torch.tensor(value, dtype=param.dtype)
        return [constants[value] for value in values]

    def _scalars(self, param, *values):
        """Per-step values (lr, 1 - b^t) as 0-d tensors of param's dtype: written into one tensor
        made once, through its NumPy view, for the same reason as ``_constants``."""
        state, key = self.state[param], f"scalars{len(values)}"
        if key not in state:
            scalars = torch.empty(len(values), dtype=param.dtype)
            state[key] = scalars.numpy(), scalars.unbind()
        array, tensors = state[key]
        array[:] = values  # rounded to param's dtype, as torch rounds a Python float operand
        return tensors

    @torch.no_grad()
    def step(self, closure=None):
        loss = _evaluate(closure)
        self.update()
        return loss

    def update(self):
        """One update of every parameter with a gradient (call under torch.no_grad)."""
        raise NotImplementedError

    def _updates(self):
        """(group, param, grad, t, lr) per parameter with a gradient; t counts its updates from 1."""
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad is None:
                    continue
                state = self.state[param]
                t = state["step"] = state.get("step", 0) + 1
                lr, decay, variant = group["lr"], group["decay"], group["variant"]
                if decay and variant == "keras":  # InverseTimeDecay, in the dtype as Keras does
                    k = _scalar_type(param)
                    lr = k(lr) / (1 + k(decay) * k(t - 1))
                elif decay and variant == "torch" and self.torch_divides:
                    lr = lr / (1.0 + decay * (t - 1))
                elif decay:  # impl_numpy's arithmetic, its t counting from 0
                    lr = lr * (1.0 / (1.0 + decay * (t - 1)))
                yield group, param, param.grad, t, lr

    def _scaled_step(self, param, grad, cache, lr, eps, eps_inside_root):
        """w -= lr*g / (sqrt(c) + eps), or lr*g / sqrt(c + eps) with eps inside the root."""
        root = self._state(param, "scratch")
        if eps_inside_root:
            _sqrt(torch.add(cache, eps, out=root))
        else:
            _sqrt(cache, out=root).add_(eps)
        param.sub_(torch.mul(grad, lr, out=self._state(param, "scratch2")).div_(root))


class SGD(Optimizer):
    """nnfs/Keras: v = mu*v - lr*g; w += v.  torch: b = mu*b + g; w -= lr*b.  Nesterov: w += mu*v - lr*g; torch w -= lr*(g + mu*b)."""

    def __init__(self, params, lr=1.0, decay=0.0, momentum=0.0, nesterov=False, variant="nnfs"):
        super().__init__(params, dict(lr=lr, decay=decay, momentum=momentum, nesterov=nesterov,
                                      variant=variant))

    def update(self):
        for group, param, grad, _, lr in self._updates():
            mu = group["momentum"]
            scratch = self._state(param, "scratch")
            if not mu:
                param.sub_(torch.mul(grad, lr, out=scratch))
                continue
            v = self._state(param, "momentum")
            v.mul_(mu)
            if group["variant"] == "torch":  # b = mu*b + g; w -= lr*b, or lr*(g + mu*b) (Nesterov)
                v.add_(grad)
                if group["nesterov"]:
                    torch.mul(v, mu, out=scratch).add_(grad).mul_(lr)
                else:
                    torch.mul(v, lr, out=scratch)
                param.sub_(scratch)
            else:  # v = mu*v - lr*g; w += v, or w += mu*v - lr*g (Nesterov)
                lr_g = torch.mul(grad, lr, out=scratch)
                v.sub_(lr_g)
                if group["nesterov"]:
                    param.add_(torch.mul(v, mu, out=self._state(param, "scratch2")).sub_(lr_g))
                else:
                    param.add_(v)


class Adagrad(Optimizer):
    """nnfs/torch: c += g^2; w -= lr*g / (sqrt(c) + eps).  Keras: c starts at initial_accumulator (0.1) and eps goes inside the root."""

    torch_divides = True

    def __init__(self, params, lr=1.0, decay=0.0, eps=1e-7, initial_accumulator=0.1,
                 variant="nnfs"):
        super().__init__(params, dict(lr=lr, decay=decay, eps=eps,
                                      initial_accumulator=initial_accumulator, variant=variant))

    def update(self):
        for group, param, grad, _, lr in self._updates():
            keras = group["variant"] == "keras"
            cache = self._state(param, "cache", group["initial_accumulator"] if keras else 0.0)
            cache.add_(torch.mul(grad, grad, out=self._state(param, "scratch")))
            self._scaled_step(param, grad, cache, lr, group["eps"], keras)


class RMSprop(Optimizer):
    """c = rho*c + (1 - rho)*g^2; w -= lr*g / (sqrt(c) + eps).  Keras: eps inside the root."""

    def __init__(self, params, lr=0.001, decay=0.0, eps=1e-7, rho=0.9, variant="nnfs"):
        super().__init__(params, dict(lr=lr, decay=decay, eps=eps, rho=rho, variant=variant))

    def update(self):
        for group, param, grad, _, lr in self._updates():
            rho = group["rho"]
            cache = self._state(param, "cache")
            cache.mul_(rho)
            cache.add_(torch.mul(grad, grad, out=self._state(param, "scratch")).mul_(1 - rho))
            self._scaled_step(param, grad, cache, lr, group["eps"], group["variant"] == "keras")


class Adam(Optimizer):
    """m_hat = m / (1 - b1^t), v_hat = v / (1 - b2^t); w -= lr*m_hat / (sqrt(v_hat) + eps).  Keras: w -= lr*sqrt(1 - b2^t)/(1 - b1^t) * m / (sqrt(v) + eps)."""

    def __init__(self, params, lr=0.001, decay=0.0, eps=1e-7, beta_1=0.9, beta_2=0.999,
                 variant="nnfs"):
        super().__init__(params, dict(lr=lr, decay=decay, eps=eps, beta_1=beta_1, beta_2=beta_2,
                                      variant=variant))

    def update(self):
        for group, param, grad, t, lr in self._updates():
            eps, b1, b2 = group["eps"], group["beta_1"], group["beta_2"]
            m, v = self._state(param, "momentum"), self._state(param, "cache")
            scratch, scratch2 = self._state(param, "scratch"), self._state(param, "scratch2")
            if group["variant"] == "keras":
                # m += (g - m)(1 - b1); v += (g^2 - v)(1 - b2); w -= m*alpha / (sqrt(v) + eps),
                # alpha = lr*sqrt(1 - b2^t)/(1 - b1^t) computed in the dtype, as Keras does
                k = _scalar_type(param)
                alpha = k(lr) * np.sqrt(1 - k(b2) ** k(t)) / (1 - k(b1) ** k(t))
                (alpha,) = self._scalars(param, alpha)
                m.add_(torch.sub(grad, m, out=scratch).mul_(1 - b1))
                v.add_(torch.mul(grad, grad, out=scratch).sub_(v).mul_(1 - b2))
                _sqrt(v, out=scratch).add_(eps)
                param.sub_(torch.mul(m, alpha, out=scratch2).div_(scratch))
                continue
            # m = b1*m + (1 - b1)*g; v = b2*v + (1 - b2)*g^2; w -= lr*m_hat / (sqrt(v_hat) + eps)
            b1_, b2_, eps_, one_minus_b1, one_minus_b2 = self._constants(
                param, b1, b2, eps, 1 - b1, 1 - b2)
            correction_1, correction_2, lr_ = self._scalars(param, 1 - b1 ** t, 1 - b2 ** t, lr)
            m.mul_(b1_).add_(torch.mul(grad, one_minus_b1, out=scratch))
            v.mul_(b2_).add_(torch.mul(grad, grad, out=scratch).mul_(one_minus_b2))
            _sqrt(torch.div(v, correction_2, out=scratch)).add_(eps_)  # sqrt(v_hat) + eps
            param.sub_(torch.div(m, correction_1, out=scratch2).mul_(lr_).div_(scratch))


_SCALAR_TYPES = {torch.float32: np.float32, torch.float64: np.float64}


def _scalar_type(tensor):
    """The NumPy scalar type of the tensor's dtype (np.float32 for torch.float32)."""
    return _SCALAR_TYPES[tensor.dtype]


def _sqrt(tensor, out=None):
    """sqrt, correctly rounded as IEEE 754 asks: torch's CPU kernel is one ulp off for 1.3% of
    float64 and 17% of float32 inputs (measured), NumPy's is exact. In place without ``out``."""
    out = tensor if out is None else out
    np.sqrt(tensor.numpy(), out=out.numpy())
    return out


def _evaluate(closure):
    if closure is None:
        return None
    with torch.enable_grad():
        return closure()


@torch.no_grad()
def clip_gradients(grads, clip_value=0.0, clip_norm=0.0, variant="nnfs", canonical=None):
    """Clip in place: each element to [-clip_value, clip_value], then the global L2 norm to clip_norm.

    ``canonical``: NumPy views of ``grads`` in canonical layout and order (impl_numpy's
    buffer), for the norm; without it the norm sums the buffer in its own order.
    """
    if clip_value:
        grads.clamp_(-clip_value, clip_value)
    if clip_norm:
        # The norm as NumPy sums it, pairwise, in impl_numpy's order: torch.sum adds in another
        # order, which moved the clipped gradients by an ulp in 11-28% of cases, and so did the
        # buffer's own order where a weight is stored (out, in) (5 of 40 MNIST cases).
        flat = grads.numpy() if canonical is None else np.concatenate(
            [g.ravel() for g in canonical])
        norm = torch.from_numpy(np.sqrt(np.sum(flat * flat, keepdims=True)))  # the buffer's dtype
        c, one = torch.tensor(clip_norm, dtype=grads.dtype), torch.ones((), dtype=grads.dtype)
        if variant == "torch":  # clip_grad_norm_: min(1 / (norm + 1e-6) * c, 1), always applied
            scale = torch.minimum(one / (norm + 1e-6) * c, one)
        elif variant == "keras":  # clip_by_global_norm: c * min(1 / norm, 1 / c), always applied
            # 1 / c divided in float64 and rounded to the dtype, as Keras does
            scale = c * torch.minimum(one / norm, torch.tensor(1 / clip_norm, dtype=grads.dtype))
            scale += norm - norm  # NaN for a norm of inf or NaN
        else:
            scale = torch.where(norm > c, c / norm, one)
        grads.mul_(scale)  # a factor of exactly 1 leaves grads unchanged
