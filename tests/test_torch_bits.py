"""Bit-level facts impl_torch's exact mode relies on, fuzzed over many random inputs.

- Dense's bias gradient: the bias enters as an outer product (x @ W.T + outer(1, b)), so
  autograd's backward sums the batch by BLAS, db = dy.T @ 1. That must round as impl_numpy's
  einsum("ij->j"), row after row (for one column einsum adds in another order, so there
  BLAS is checked against a plain row-after-row loop), and the forward must equal x @ W.T + b.
- softmax: given the same exps, the sums over (up to 4) classes and the divisions are impl_numpy's.
- Adam: the update of the flat buffer, with its constants held as 0-d tensors, equals
  impl_numpy's to the last bit for equal gradients.
"""
import numpy as np
import pytest

from conftest import importorskip  # noqa: E402

torch = importorskip("torch")

import impl_numpy.optimizers  # noqa: E402
from impl_torch import activations, layers, model, optimizers  # noqa: E402
from shared.spec import from_dict  # noqa: E402

DTYPES = [np.float32, np.float64]


def _rows_in_order(rows):
    total = rows[0].copy()
    for row in rows[1:]:
        total = total + row
    return total


@pytest.mark.parametrize("dtype", DTYPES)
def test_dense_bias_gradient_sums_rows_as_the_reference(dtype):
    model.set_threads()
    rng = np.random.default_rng(0)
    spec_layer = from_dict({"inputs": 3, "loss": "mse", "layers": [
        {"type": "dense", "units": 1}, {"type": "linear"}]}).layers[0]
    for trial in range(300):
        n, k = int(rng.integers(1, 700)), int(rng.choice([1, 2, 3, 10, 64, 256]))
        weight = torch.from_numpy(rng.standard_normal((k, 3)).astype(dtype))
        bias = torch.from_numpy(rng.standard_normal(k).astype(dtype))
        dense = layers.Dense(weight, bias, spec_layer)
        x = torch.from_numpy(rng.standard_normal((n, 3)).astype(dtype))
        dy = (rng.standard_normal((n, k)) * 10.0 ** rng.uniform(-3, 3)).astype(dtype)
        y = dense(x)
        with torch.no_grad():
            assert np.array_equal(y.numpy(), (x @ dense.weight.T + dense.bias).numpy())
        y.backward(torch.from_numpy(dy))
        expected = _rows_in_order(dy) if k == 1 else np.einsum("ij->j", dy)
        assert np.array_equal(dense.bias.grad.numpy(), expected), (n, k)


@pytest.mark.parametrize("dtype", DTYPES)
def test_adam_update_equals_the_reference_bit_for_bit(dtype):
    rng = np.random.default_rng(1)
    for trial in range(20):
        size = int(rng.integers(1, 5000))
        start = rng.standard_normal(size).astype(dtype)
        reference = impl_numpy.optimizers.Adam(0.05, decay=5e-7)
        expected = start.copy()
        param = torch.from_numpy(start.copy())
        param.grad = torch.zeros_like(param)
        adam = optimizers.Adam([param], 0.05, decay=5e-7)
        for step in range(5):
            grad = (rng.standard_normal(size) * 10.0 ** rng.uniform(-6, 2)).astype(dtype)
            reference.pre_update_params()
            reference.update_params(expected, grad)
            reference.post_update_params()
            param.grad.copy_(torch.from_numpy(grad))
            adam.step()
            assert np.array_equal(param.numpy(), expected), (trial, step)


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_sums_and_divides_as_the_reference(dtype):
    # torch's exp and NumPy's differ in the last bit for some inputs; given torch's exps,
    # the sums over up to 4 classes and the divisions must be impl_numpy's (for more
    # classes torch's sums on the transposed copy are only mostly NumPy's).
    model.set_threads()
    rng = np.random.default_rng(2)
    for trial in range(300):
        n, k = int(rng.integers(1, 400)), int(rng.integers(1, 5))
        logits = torch.from_numpy((rng.standard_normal((n, k)) * 10.0 ** rng.uniform(-1, 1.5)).astype(dtype))
        exps = torch.exp(logits - logits.amax(dim=1, keepdim=True)).numpy().T.copy()
        exps /= exps.sum(axis=0)  # impl_numpy's Softmax.forward, from the same exps
        assert np.array_equal(activations.softmax(logits).numpy(), exps.T), (n, k)
