"""The NumPy reference: the formulas of *Neural Networks from Scratch in Python* (nnfs), vectorised.

Mirrors: impl_pure (loops), impl_torch (PyTorch), impl_tf (Keras 3 on TensorFlow).
"""
from impl_numpy.model import Model, build

__all__ = ["Model", "build"]
