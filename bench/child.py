"""One fresh interpreter per measurement: ``python -m bench.child {startup|xor} IMPL`` prints one JSON line.

startup: import time of the implementation (impl_pure: the package alone, without the NumPy
that the harness's adapter imports), the wall clock when it is imported (the parent takes the
start-up time from its own clock at the launch), peak memory after the import, then peak
memory after a few MNIST-net training steps (spiral for impl_pure, whose MNIST step takes seconds).
xor: the XOR network from import to trained model: build, then fit for spec.training.epochs
with one evaluation at the end (fit(eval_every=epochs)); the parent's wall clock runs from the
launch to this process's exit.
"""
import json
import resource
import sys
import time


def peak_mib() -> float:
    """Peak resident memory of this process so far, in MiB.

    Linux keeps ru_maxrss across exec, so a child of a big parent would report the parent's
    peak; /proc/self/status's VmHWM is this program's own. Elsewhere ru_maxrss it is.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # macOS: bytes, else KiB
    return maxrss / 1024 ** (2 if sys.platform == "darwin" else 1)


def startup(name: str) -> dict:
    start = time.perf_counter()
    if name == "pure":  # what a user of impl_pure imports: no NumPy
        import impl_pure  # noqa: F401
    else:
        from shared import implementations

        implementations.module(name)
    import_s, imported_at = time.perf_counter() - start, time.time()
    import_mib = peak_mib()
    import numpy as np

    from shared import implementations, networks, weights
    from shared.training import batch_indices, epoch_masks

    network = "spiral" if name == "pure" else "mnist"
    spec = networks.load(network)
    rng = np.random.default_rng(0)
    n, batch = (300, 0) if name == "pure" else (256, 64)
    X, y = rng.random((n, spec.inputs)), rng.integers(0, spec.outputs, n)
    model = implementations.build(name, spec, weights.initial(spec), "float64")
    batches = batch_indices(n, batch, 0, 0)
    model.train_epoch(X, y, batches, epoch_masks(spec, 0, 0, [len(b) for b in batches]))
    return {"import_s": import_s, "imported_at": imported_at, "import_peak_mib": import_mib,
            "train_network": network, "train_peak_mib": peak_mib()}


def xor(name: str) -> dict:
    start = time.perf_counter()
    from shared import datasets, implementations, networks, weights

    spec = networks.load("xor")
    data = datasets.load("xor")
    model = implementations.build(name, spec, weights.initial(spec, spec.training.seed))
    history = model.fit(data.X_train, data.y_train, eval_every=spec.training.epochs)
    return {"epochs": spec.training.epochs, "in_process_s": time.perf_counter() - start,
            "accuracy": history["accuracy"][-1], "loss": history["loss"][-1],
            "peak_mib": peak_mib()}


if __name__ == "__main__":
    mode, impl = sys.argv[1], sys.argv[2]
    print(json.dumps({"startup": startup, "xor": xor}[mode](impl)))
