"""Step 11: train the spiral network in every implementation of this project.

Steps 1-9 ran the network forward and step 10 computed its gradients once. Training
repeats forward pass, loss, gradients (backpropagation) and an optimizer update, epoch
after epoch. Here each implementation
(NumPy, pure Python, PyTorch, Keras) trains the project's built-in "spiral"
network, 2-64-3 ReLU/softmax with Adam on spiral_data(samples=100, classes=3),
from the same initial weights, through the same API:

    spec = networks.load("spiral")                   # the network as data
    params = weights.initial(spec, seed)             # canonical name -> array
    impl = implementations.module("numpy")           # impl_numpy, impl_torch, ...
    model = impl.build(spec, params)
    model.fit(X, y, epochs=...); model.evaluate(X, y)

The initial weights are the book's scheme, 0.01 * a standard normal draw, but drawn from
NumPy's default_rng(seed) in float64, not from np.random.randn after nnfs.init() (float32):
the numbers below are this project's, not the book's. Untrained, the loss is about
ln 3 = 1.099 (step 9's argument with 3 classes).
After the default 200 epochs every implementation prints the same digits: loss
0.4673, accuracy 0.840; validation loss 0.6322, accuracy 0.740. Run
``--epochs 3000`` to see the training loss fall much further (NumPy: 0.1240,
accuracy 0.953) while the validation loss, lowest (0.591) at epoch 306, climbs
back to 0.855 and the validation accuracy wanders between 0.68 and 0.83 after
epoch 200: the network grows ever more confident on its 300 training points,
mistakes on new points included. That is overfitting. Over thousands of epochs the
implementations part in the third or fourth digit (Keras ends at 0.1215, torch at
0.1247 on the AMD EPYC CI hosts and at 0.1270 on an Intel Xeon with the test suite's
pins, whose MKL adds in yet another order): each adds in its own order, and
differences in the last bit grow as training goes on. So do the last bits of the start: NumPy from every parameter
one ulp up (np.nextafter(w, inf), which turns the zero biases into 5e-324) ends at
0.1250, and both runs have loss spikes well into training (0.949 at epoch 2287 here,
0.962 at epoch 1339 from the moved start), where Adam at lr 0.05 overshoots. On a CPU
with AVX-512, NumPy, OpenBLAS and MKL take other code paths unless pinned (see the README's
"What the tests show"), and the 3000-epoch figures move in the second or third digit:
unpinned, NumPy prints 0.1229 (validation loss 0.836) on the AMD EPYC Zen 4 and Intel Xeon
hosts, and torch 0.1187 on that Xeon. The figures above are the pinned ones, as the test
suite sets them on such a CPU:

    NPY_DISABLE_CPU_FEATURES="X86_V4 AVX512_ICL AVX512_SPR" OPENBLAS_CORETYPE=Haswell \
        python walkthrough/11_trained_networks.py --epochs 3000

(and MKL_CBWR=AVX2 on an Intel CPU). Numbers after thousands of epochs describe this run,
not the network.
An implementation whose framework is not installed is skipped.
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository root

from shared import datasets, implementations, networks, weights  # noqa: E402

DEFAULT_EPOCHS = 200


def build(name, spec):
    """An untrained model of ``spec`` in implementation ``name``, or None if it is unavailable."""
    try:
        impl = implementations.module(name)
    except ImportError as error:  # its framework is not installed
        print(f"{name:>5}: skipped ({error})")
        return None
    return impl.build(spec, weights.initial(spec, spec.training.seed))


def run(epochs=DEFAULT_EPOCHS, names=implementations.IMPLEMENTATIONS) -> dict:
    spec = networks.load("spiral")
    data = datasets.load(spec.dataset.name, **spec.dataset.options)
    print(f"{spec.description}\nTraining {epochs} epochs; the validation data is a second "
          f"spiral drawn with another seed.\n")
    results = {}
    for name in names:
        model = build(name, spec)
        if model is None:
            continue
        untrained = model.evaluate(data.X_train, data.y_train)
        model.fit(data.X_train, data.y_train, epochs=epochs)
        trained = model.evaluate(data.X_train, data.y_train)
        validation = model.evaluate(data.X_val, data.y_val)
        results[name] = {"untrained_loss": untrained["loss"], "loss": trained["loss"],
                         "accuracy": trained["accuracy"], "val_loss": validation["loss"],
                         "val_accuracy": validation["accuracy"]}
        print(f"{name:>5}: loss {untrained['loss']:.4f} untrained -> {trained['loss']:.4f}, "
              f"accuracy {trained['accuracy']:.3f}; validation loss {validation['loss']:.4f}, "
              f"accuracy {validation['accuracy']:.3f}")
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=DEFAULT_EPOCHS)
    parser.add_argument("--impls", nargs="+", default=list(implementations.IMPLEMENTATIONS),
                        choices=implementations.IMPLEMENTATIONS)
    args = parser.parse_args()
    if args.epochs < 1:
        parser.error(f"--epochs: expected an integer >= 1, got {args.epochs}")
    run(args.epochs, args.impls)
