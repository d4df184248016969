"""The four implementations as mirrors: the same loss classes, each stating its formula.

Read from the sources (ast), so that no framework needs to be installed.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
IMPLS = ("impl_numpy", "impl_pure", "impl_torch", "impl_tf")
LOSSES = ("CategoricalCrossentropy", "SoftmaxCategoricalCrossentropy", "BinaryCrossentropy",
          "SigmoidBinaryCrossentropy", "MeanSquaredError", "MeanAbsoluteError")


def class_docstrings(impl: str, module: str) -> dict:
    tree = ast.parse((ROOT / impl / f"{module}.py").read_text())
    return {node.name: ast.get_docstring(node) or "" for node in tree.body
            if isinstance(node, ast.ClassDef)}


@pytest.mark.parametrize("impl", IMPLS)
def test_every_loss_class_states_its_value_and_its_gradient(impl):
    """Each loss's docstring states L and the gradient its backward computes, in every
    mirror (the cross-entropy's said only L: its backward, -one_hot(y) / p / n at the
    clipped p, was the one gradient left unstated)."""
    docs = class_docstrings(impl, "losses")
    missing = [name for name in LOSSES if name not in docs]
    assert not missing, f"{impl}/losses.py lacks {missing}"
    unstated = [name for name in LOSSES
                if ("L = " not in docs[name] and "L from" not in docs[name])
                or "dL/d" not in docs[name]]
    assert not unstated, f"{impl}/losses.py: no value or gradient formula in {unstated}"


def test_the_loss_classes_come_in_the_same_order_in_every_mirror():
    orders = {impl: [name for name in class_docstrings(impl, "losses") if name in LOSSES]
              for impl in IMPLS}
    assert all(order == list(LOSSES) for order in orders.values()), orders
