"""Same seed, same bits: training is bitwise reproducible in one process and across processes.

impl_numpy and impl_pure are checked in-process (two models, one process) and across two
fresh interpreters; torch and Keras across two fresh interpreters each, with the thread
settings the project sets (impl_torch: $ROSETTA_TORCH_THREADS, default 1; impl_tf: its
own). Each run trains with mini-batches, shuffling and dropout, then saves its parameters;
the saved float64 arrays must be identical to the last bit.
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import conftest
import mutants
from conftest import require
from shared import datasets, implementations, machine, weights
from shared.spec import from_dict

ROOT = Path(__file__).resolve().parent.parent
SPEC = {"inputs": 2, "loss": "categorical_crossentropy",
        "layers": [{"type": "dense", "units": 16, "weight_l2": 1e-4}, {"type": "relu"},
                   {"type": "dropout", "rate": 0.2}, {"type": "dense", "units": 3},
                   {"type": "softmax"}],
        "optimizer": {"type": "adam", "learning_rate": 0.02, "decay": 1e-3},
        "training": {"epochs": 3, "batch_size": 16, "seed": 5}}
SCRIPT = """
import sys
from shared import datasets, implementations, weights
from shared.spec import from_dict
spec = from_dict({spec!r}, name="determinism")
X, y = datasets.spiral(samples=20, classes=3, seed=1)
for name in sys.argv[2:]:
    model = implementations.build(name, spec, weights.initial(spec, seed=2))
    model.fit(X, y)
    model.save(f"{{sys.argv[1]}}/{{name}}.safetensors")
"""


def train(name):
    """Parameters after training SPEC in this process."""
    spec = from_dict(SPEC, name="determinism")
    X, y = datasets.spiral(samples=20, classes=3, seed=1)
    model = implementations.build(name, spec, weights.initial(spec, seed=2))
    history = model.fit(X, y)
    return model.parameters(), history


def assert_bitwise(a, b):
    assert list(a) == list(b)
    for key in a:
        assert a[key].dtype == b[key].dtype == np.float64
        assert a[key].tobytes() == b[key].tobytes(), f"{key} differs"


@pytest.mark.parametrize("name", ("numpy", "pure"))
def test_bitwise_in_one_process(name):
    require(name)
    (first, history_a), (second, history_b) = train(name), train(name)
    assert_bitwise(first, second)
    assert history_a["loss"] == history_b["loss"]
    start = weights.initial(from_dict(SPEC), seed=2)
    assert not np.array_equal(first["dense1.weight"], start["dense1.weight"])  # it trained


@pytest.mark.parametrize("name", implementations.IMPLEMENTATIONS)
def test_fresh_dropout_masks_are_seeded(name):
    """forward(training=True) without injected masks uses the spec seed: same in two models
    (impl_torch drew them from torch's global generator, unseeded)."""
    require(name)
    spec = from_dict(SPEC, name="determinism")
    X = np.random.default_rng(0).standard_normal((8, 2))
    params = weights.initial(spec, seed=2)
    a, b = (implementations.build(name, spec, params) for _ in range(2))
    outputs = [a.forward(X, training=True), b.forward(X, training=True)]
    assert outputs[0].tobytes() == outputs[1].tobytes()
    assert not np.array_equal(outputs[0], a.forward(X))  # dropout was active


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """implementation -> the parameters saved by two fresh interpreters (run concurrently, each
    training every implementation that imports, in turn)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    env.pop("ROSETTA_TORCH_THREADS", None)  # the project's default
    names = mutants.importable()
    folders = [tmp_path_factory.mktemp(f"run{i}") for i in (0, 1)]
    processes = [subprocess.Popen([sys.executable, "-c", SCRIPT.format(spec=SPEC), str(folder),
                                   *names], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE) for folder in folders]
    for i, process in enumerate(processes):
        _, err = process.communicate(timeout=400)
        assert process.returncode == 0, f"run {i} failed:\n{err.decode()[-2000:]}"
    spec = from_dict(SPEC, name="determinism")
    return {name: [weights.load(folder / f"{name}.safetensors", spec) for folder in folders]
            for name in names}


@pytest.mark.parametrize("name", implementations.IMPLEMENTATIONS)
def test_bitwise_across_processes(runs, name):
    require(name)
    if name not in runs:
        pytest.fail(f"{name} imports here but did not run in its subprocess")
    first, second = runs[name]
    assert_bitwise(first, second)


def test_processes_match_in_process_numpy(runs):
    """The subprocess ran the same computation as this process: the reference agrees bitwise."""
    assert_bitwise(runs["numpy"][0], train("numpy")[0])


# ------------------------------------------------------------------ pinned code paths (conftest)

ULP_SCRIPT = """
import json, math, sys
import numpy as np
rng = np.random.default_rng(0)
x = np.concatenate([rng.uniform(-745.0, 709.0, 20000), rng.uniform(-5.0, 5.0, 20000)])
worst = {}
for name, values in (("exp", x), ("log", np.abs(x) + 1e-300), ("log1p", np.abs(x) / 100)):
    got = getattr(np, name)(values)
    libm = np.array([getattr(math, name)(v) for v in values])
    ok = np.isfinite(libm) & (libm != 0)
    worst[name] = float(np.max(np.abs(got[ok] - libm[ok]) / np.spacing(np.abs(libm[ok]))))
print(json.dumps(worst))
"""


def _numpy_against_libm(env):
    out = subprocess.run([sys.executable, "-c", ULP_SCRIPT], capture_output=True, text=True,
                         env=env, timeout=120, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout)


def test_the_suite_runs_numpy_and_openblas_without_avx512():
    """Pinned (conftest, on hosts with AVX-512) or not (hosts without it), NumPy runs no AVX-512
    loops and OpenBLAS no AVX-512 kernels; pinned by conftest, OpenBLAS runs its Haswell
    kernels (a machine that sets OPENBLAS_CORETYPE itself, as some hosts do, keeps its own)."""
    from numpy._core._multiarray_umath import __cpu_features__
    from threadpoolctl import threadpool_info

    assert not any(__cpu_features__.get(f) for f in machine.AVX512_NUMPY_FEATURES)
    kernels = {lib["architecture"] for lib in threadpool_info()
               if lib["internal_api"] == "openblas"}
    assert kernels and not kernels & set(machine.AVX512_OPENBLAS_KERNELS), kernels
    if conftest.PINNED and "OPENBLAS_CORETYPE" not in conftest.PRESET:
        assert kernels == {"Haswell"}


@pytest.mark.skipif(platform.machine() != "x86_64", reason="x86-64 only")
def test_numpy_computes_exp_and_log_as_the_c_library_and_unpinned_within_one_ulp():
    """What the pins buy: in the suite's environment impl_pure's math.exp, math.log and
    math.log1p give NumPy's bits exactly; with the pins emptied, NumPy's own AVX-512 code
    (where the CPU has it) stays within one ulp."""
    assert _numpy_against_libm(os.environ.copy()) == {"exp": 0.0, "log": 0.0, "log1p": 0.0}
    unpinned = {**os.environ, **{variable: "" for variable in conftest.PINNED_CODE_PATHS}}
    assert all(ulps <= 1.0 for ulps in _numpy_against_libm(unpinned).values())


def test_the_suite_refuses_a_numpy_loaded_before_the_pins():
    """Where conftest pins (hosts with AVX-512), a NumPy imported before it has already chosen
    its code paths, so the suite stops with the reason; elsewhere it runs."""
    run = subprocess.run(
        [sys.executable, "-c", "import numpy, sys, pytest; sys.exit(pytest.main(['-q', '-p', "
         "'no:cacheprovider', 'tests/test_spec.py::test_base_is_valid']))"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    if conftest.PINNED:
        assert run.returncode != 0
        assert "NumPy was imported before tests/conftest.py could pin" in run.stdout + run.stderr
    else:
        assert run.returncode == 0, run.stdout[-2000:]
