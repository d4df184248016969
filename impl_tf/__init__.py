"""Keras 3 on TensorFlow: keras.Model layers, GradientTape in a tf.function, keras.optimizers, in exact and native modes.

The environment is set before TensorFlow is first imported: oneDNN off (its fused
kernels change float results), C++ logging quiet, Keras on the TensorFlow backend;
then the thread counts ($ROSETTA_TF_THREADS, default 1) before the first TF operation,
and the Grappler passes that reorder float arithmetic off (model.keep_float_order).

Mirrors: impl_numpy (the NumPy reference), impl_pure (loops), impl_torch (PyTorch).
"""
import os
import sys
import warnings

if "tensorflow" not in sys.modules:
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
elif os.environ.get("TF_ENABLE_ONEDNN_OPTS") != "0":  # too late: TF read it at its import
    warnings.warn("TF_ENABLE_ONEDNN_OPTS=0 not applied: TensorFlow was imported before impl_tf, "
                  "with oneDNN's fused kernels on, which change float results (import impl_tf "
                  "first, or set TF_ENABLE_ONEDNN_OPTS=0 before TensorFlow loads)",
                  RuntimeWarning, stacklevel=2)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from impl_tf.model import Model, build, keep_float_order, set_threads  # noqa: E402

set_threads()
keep_float_order()

__all__ = ["Model", "build"]
