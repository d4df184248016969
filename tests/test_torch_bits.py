"""Bit-level facts impl_torch's exact mode relies on, fuzzed over many random inputs.

- Dense's bias gradient: the bias enters as an outer product (x @ W.T + outer(1, b)), so
  autograd's backward sums the batch by BLAS, db = dy.T @ 1. That must round as impl_numpy's
  einsum("ij->j"), row after row (for one column einsum adds in another order, so there
  BLAS is checked against a plain row-after-row loop), and the forward must equal x @ W.T + b.
- softmax: given the same exps, the sums over (up to 4) classes and the divisions are impl_numpy's.
- every optimizer: the update of the flat buffer, with its constants held as 0-d tensors,
  equals impl_numpy's to the last bit for equal gradients; so does the norm clipping.
"""
import numpy as np
import pytest

from conftest import importorskip  # noqa: E402

torch = importorskip("torch")

import impl_numpy.optimizers  # noqa: E402
from impl_torch import activations, layers, model, optimizers  # noqa: E402
from shared.spec import from_dict  # noqa: E402

DTYPES = [np.float32, np.float64]
DTORCH = {np.float32: torch.float32, np.float64: torch.float64}


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


# Every optimizer with every hyperparameter off its default: (class name, positional arguments
# after the parameters: learning rate, decay, then the optimizer's own, in both signatures).
OPTIMIZER_CASES = {
    "sgd": ("SGD", (0.3, 1e-3)),
    "momentum": ("SGD", (0.3, 1e-3, 0.8)),
    "nesterov": ("SGD", (0.3, 1e-3, 0.8, True)),
    "adagrad": ("Adagrad", (0.4, 1e-3, 1e-6, 0.2)),
    "rmsprop": ("RMSprop", (0.01, 1e-3, 1e-6, 0.95)),
    "adam": ("Adam", (0.05, 5e-7, 1e-6, 0.85, 0.99)),
}


@pytest.mark.parametrize("variant", ["nnfs", "torch", "keras"])
@pytest.mark.parametrize("case", sorted(OPTIMIZER_CASES))
@pytest.mark.parametrize("dtype", DTYPES)
def test_optimizer_update_equals_the_reference_bit_for_bit(dtype, case, variant):
    """Equal gradients give bit-equal updates (the impl_torch/optimizers.py promise): every
    optimizer and formula variant, its constants held as 0-d tensors, against impl_numpy's."""
    name, args = OPTIMIZER_CASES[case]
    rng = np.random.default_rng(1)
    for trial in range(6):
        size = int(rng.integers(1, 5000))
        start = rng.standard_normal(size).astype(dtype)
        reference = getattr(impl_numpy.optimizers, name)(*args, variant=variant, dtype=dtype)
        expected = start.copy()
        param = torch.from_numpy(start.copy())
        param.grad = torch.zeros_like(param)
        optimizer = getattr(optimizers, name)([param], *args, variant=variant)
        for step in range(6):
            grad = (rng.standard_normal(size) * 10.0 ** rng.uniform(-6, 2)).astype(dtype)
            reference.pre_update_params()
            reference.update_params(expected, grad)
            reference.post_update_params()
            param.grad.copy_(torch.from_numpy(grad))
            optimizer.step()
            assert np.array_equal(param.numpy(), expected), (trial, step)


@pytest.mark.parametrize("variant", ["nnfs", "torch"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_clip_norm_equals_the_reference_bit_for_bit(dtype, variant):
    """clip_norm's norm is NumPy's pairwise sum of squares, as impl_numpy's: torch.sum adds in
    another order, and the clipped gradients then differed in the last bit in 11-28% of cases."""
    rng = np.random.default_rng(3)
    for trial in range(100):
        size = int(rng.integers(1, 5000))
        grads = (rng.standard_normal(size) * 10.0 ** rng.uniform(-3, 3)).astype(dtype)
        clip_norm = float(np.sqrt(np.sum(grads.astype(np.float64) ** 2)) * rng.uniform(0.1, 2))
        expected = grads.copy()
        impl_numpy.optimizers.clip_gradients(expected, 0.0, clip_norm, variant)
        clipped = torch.from_numpy(grads.copy())
        optimizers.clip_gradients(clipped, 0.0, clip_norm, variant)
        assert np.array_equal(clipped.numpy(), expected), (trial, size)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_models_clip_norm_sums_in_canonical_order(dtype):
    """The model's flat gradient buffer keeps a narrowing layer's weight as (out, in), so its own
    order is not impl_numpy's: the norm over it clipped 5 of 40 MNIST cases an ulp apart. The
    model takes the norm over the canonical views: every case equals impl_numpy's clip."""
    from shared import networks, weights
    spec = networks.load("mnist")  # 784-256-128-10: two narrowing layers
    net = model.build(spec, weights.initial(spec, seed=0), dtype)
    rng = np.random.default_rng(5)
    for trial in range(12):
        grads = {name: (rng.standard_normal(shape) * rng.uniform(0.1, 2)).astype(dtype)
                 for name, shape in spec.parameter_shapes().items()}
        expected = np.concatenate([g.ravel() for g in grads.values()])
        impl_numpy.optimizers.clip_gradients(expected, 0.0, 1.0, "nnfs")
        with torch.no_grad():
            for name, g in grads.items():
                net.grad_views[name].copy_(torch.from_numpy(g.T.copy()))
        net._clip(0.0, 1.0)
        got = np.concatenate([(g.T if g.ndim == 2 else g).numpy().ravel()
                              for g in net.grad_views.values()])
        assert np.array_equal(got, expected), trial


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


@pytest.mark.parametrize("dtype", DTYPES)
def test_tanh_gradient_is_the_references_formula_on_torchs_output(dtype):
    """Given torch's y = tanh(x), the gradient is impl_numpy's d * (1 - y*y) bit for bit: torch's
    own backward takes 1 - y*y with a fused multiply-add (1,678 of these 3,000 float64 elements
    differed, by up to 35,597 ulp where |y| is near 1). The model's exact Tanh layer is checked."""
    rng = np.random.default_rng(6)
    x = (rng.standard_normal(3000) * 2).astype(dtype)
    upstream = (rng.standard_normal(3000) * 0.01).astype(dtype)
    inputs = torch.from_numpy(x).requires_grad_(True)
    output = activations.Tanh()(inputs)
    output.backward(torch.from_numpy(upstream))
    y = output.detach().numpy()
    assert np.array_equal(y, torch.tanh(torch.from_numpy(x)).numpy())
    assert np.array_equal(inputs.grad.numpy(), upstream * (1 - y * y))


@pytest.mark.parametrize("variant", ["nnfs", "torch", "keras"])
def test_a_fused_loss_called_with_autograd_gives_its_own_value_and_gradient(variant):
    # The model hands value_and_gradient's dL/dz to autograd at the logits; a user who calls
    # the loss module and .backward() goes through its autograd Function: the same bits, and
    # the upstream gradient (3 here, from 3 * loss) multiplies them.
    from impl_torch import losses

    rng = np.random.default_rng(3)
    logits = rng.standard_normal((50, 3)) * 4
    cases = [(losses.SoftmaxCategoricalCrossentropy(variant), torch.from_numpy(
        rng.integers(0, 3, 50)))]
    if variant == "keras":
        cases.append((losses.SigmoidBinaryCrossentropy(variant),
                      torch.from_numpy(rng.integers(0, 2, (50, 3)).astype(float))))
    for loss_function, y in cases:
        z = torch.tensor(logits, requires_grad=True)
        loss = loss_function(z, y)
        (3 * loss).backward()
        value, gradient = loss_function.value_and_gradient(torch.tensor(logits), y)
        assert loss.item() == value.item()
        assert np.array_equal(z.grad.numpy(), 3 * gradient.numpy())
        assert np.abs(gradient.numpy()).max() > 0



# Adagrad's root is exact here (the squares add up to squares: 3, 5, 13, 85, 157, 12325,
# 75952813), and eps too small to move it: torch's sqrt is not correctly rounded elsewhere.
ADAGRAD_GRADIENTS = [3.0, 4.0, 12.0, 84.0, 132.0, 12324.0, 75952812.0]


def test_the_torch_variant_decays_adagrad_as_torch_bit_for_bit():
    """torch's Adagrad decays its own rate as lr / (1 + (t - 1) d), a division; impl_numpy's
    torch variant took lr * (1 / ...), which failed here. The oracle is torch's own Adagrad,
    as impl_torch's native mode builds it."""
    spec = from_dict({"name": "one", "inputs": 1, "loss": "mse", "variant": "torch",
                      "layers": [{"type": "dense", "units": 1}, {"type": "linear"}],
                      "optimizer": {"type": "adagrad", "learning_rate": 0.05, "decay": 0.3,
                                    "epsilon": 1e-300}})
    param = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
    torch_optimizer, _ = model.make_optimizer(spec, [param], "native")
    reference = impl_numpy.model.make_optimizer(spec)
    for step, g in enumerate(ADAGRAD_GRADIENTS, 1):
        with torch.no_grad():  # from 0 at every step: the update is -lr_t g / sqrt(sum g^2)
            param.zero_()
        params = np.zeros(1)
        param.grad = torch.tensor([g], dtype=torch.float64)
        torch_optimizer.step()
        reference.pre_update_params()
        reference.update_params(params, np.array([g]))
        reference.post_update_params()
        assert param.item() == params[0], (step, param.item(), params[0])


@pytest.mark.parametrize("dtype", DTYPES)
def test_the_torch_variant_clips_the_norm_as_clip_grad_norm_bit_for_bit(dtype):
    """clip_grad_norm_ scales by min(1 / (norm + 1e-6) * c, 1), the reciprocal first
    (impl_numpy's torch variant divided c by norm + 1e-6: 60 and 76 of these 400 differed, in
    float32 and float64). One
    element per case, so that torch's norm, sqrt(g^2), is NumPy's whatever the order."""
    rng = np.random.default_rng(8)
    for trial in range(400):
        g, c = rng.standard_normal(1).astype(dtype) * 3, float(rng.uniform(0.05, 3))
        ours, param = g.copy(), torch.nn.Parameter(torch.zeros(1, dtype=DTORCH[dtype]))
        param.grad = torch.from_numpy(g.copy())
        impl_numpy.optimizers.clip_gradients(ours, 0.0, c, "torch")
        torch.nn.utils.clip_grad_norm_([param], c)
        assert ours[0] == param.grad.numpy()[0], (trial, g, c)


def test_a_loss_called_directly_keeps_autograds_contract():
    """Called without a gradient wanted, a loss is its value (it computed the gradient too);
    with targets that require a gradient, they get autograd's (they got None, silently); a
    second derivative through the formula's gradient fails loudly."""
    from impl_torch import losses

    rng = np.random.default_rng(9)
    p = torch.tensor(rng.uniform(0.1, 0.9, (6, 3)))
    cases = [(losses.MeanSquaredError(), torch.tensor(rng.random((6, 3)))),
             (losses.BinaryCrossentropy(), torch.tensor(rng.integers(0, 2, (6, 3)) * 1.0)),
             (losses.SoftmaxCategoricalCrossentropy(), torch.tensor([0, 1, 2, 2, 1, 0]))]
    for loss, y in cases:
        with torch.no_grad():
            assert loss(p, y).item() == loss.value_and_gradient(p, y)[0].item()
    target = torch.tensor(rng.random((6, 3)), requires_grad=True)
    y_pred = p.clone().requires_grad_(True)
    losses.MeanSquaredError()(y_pred, target).backward()
    assert target.grad is not None and y_pred.grad is not None
    expected = torch.autograd.grad(torch.mean(torch.mean((target - p) ** 2, dim=-1)), target)[0]
    assert torch.equal(target.grad, expected)
    y_pred = p.clone().requires_grad_(True)
    (gradient,) = torch.autograd.grad(losses.MeanSquaredError()(y_pred, cases[0][1]), y_pred,
                                      create_graph=True)
    with pytest.raises(RuntimeError):
        gradient.sum().backward()
