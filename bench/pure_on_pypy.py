"""impl_pure unchanged on PyPy and CPython: spiral 2-64-3, Adam (lr 0.05, decay 5e-7), full batch.

Needs nothing but the standard library (no NumPy, no TOML: PyPy 7.3 is Python 3.9), so the
spiral data is nnfs's formula drawn from ``random``. Run it under both and compare:

    pypy3 bench/pure_on_pypy.py 300; .venv/bin/python bench/pure_on_pypy.py 300

Each prints its epochs/s and the final loss, which must be bit-identical.
"""
import math
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import impl_pure  # noqa: E402
from shared.spec import from_dict  # noqa: E402

spec = from_dict({
    "name": "spiral", "inputs": 2, "loss": "categorical_crossentropy", "init": "nnfs",
    "layers": [{"type": "dense", "units": 64}, {"type": "relu"},
               {"type": "dense", "units": 3}, {"type": "softmax"}],
    "optimizer": {"type": "adam", "learning_rate": 0.05, "decay": 5e-7}})
rng = random.Random(0)
X, y = [], []
for c in range(3):  # nnfs spiral_data's formula, drawn from the stdlib's generator
    for i in range(100):
        r = i / 99
        t = c * 4 + 4 * r + rng.gauss(0, 0.2)
        X.append([r * math.sin(t * 2.5), r * math.cos(t * 2.5)])
        y.append(c)
params = {"dense1.weight": [[0.01 * rng.gauss(0, 1) for _ in range(64)] for _ in range(2)],
          "dense1.bias": [0.0] * 64,
          "dense2.weight": [[0.01 * rng.gauss(0, 1) for _ in range(3)] for _ in range(64)],
          "dense2.bias": [0.0] * 3}
model = impl_pure.build(spec, params)
epochs = max(int(sys.argv[1]) if len(sys.argv) > 1 else 300, 51)
for epoch in range(epochs):
    loss = model.step(X, y)
    if epoch == 49:  # PyPy's JIT warms up first
        warm = time.perf_counter()
seconds = time.perf_counter() - warm
loss = model.loss(X, y)  # after the last update (step returns the loss before it)
print(f"{sys.implementation.name} {sys.version.split()[0]}: "
      f"{(epochs - 50) / seconds:.2f} epochs/s after 50 warm-up epochs; final loss {loss!r}")
