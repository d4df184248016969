"""PyTorch: nn.Module layers, autograd gradients and torch.optim optimizers, in exact and native modes.

Mirrors: impl_numpy (the NumPy reference), impl_pure (loops), impl_tf (Keras 3 on TensorFlow).
"""
from impl_torch.model import Model, build

__all__ = ["Model", "build"]
