"""Pure Python: the NumPy reference's formulas as loops over lists of floats, with the math module only.

Nothing here imports NumPy; shared/pure_adapter.py converts arrays at the harness boundary.

Mirrors: impl_numpy (NumPy), impl_torch (PyTorch), impl_tf (Keras 3 on TensorFlow).
"""
from impl_pure.model import Model, build

__all__ = ["Model", "build"]
