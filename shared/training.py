"""The training loop every implementation shares: batches, dropout masks, metrics, history.

Every implementation draws its mini-batches and dropout masks from here, so that the
same seed gives every implementation the same data order and the same masks.
"""
from __future__ import annotations

import math
import time
from contextlib import contextmanager

import numpy as np

from shared.checks import check_flag, check_inputs, check_targets, dropout_widths
from shared.spec import Spec


# fit's most batches, and samples, per train_epoch call when it evaluates rarely: impl_tf
# stacks a call's dropout masks in one tensor (an MNIST epoch's take 92 MB in float32).
MAX_FUSED_BATCHES = 1024
MAX_FUSED_SAMPLES = 100_000


class TrainingDiverged(RuntimeError):
    """The loss or the parameters became NaN or infinite during training; ``history`` holds
    the epochs evaluated before."""

    def __init__(self, message: str, history: dict | None = None):
        super().__init__(message)
        self.history = history if history is not None else {}


def epoch_permutation(seed: int, epoch: int, n: int) -> np.ndarray:
    """The shuffling order of epoch ``epoch`` (from 0), the same for every implementation."""
    return np.random.default_rng([seed, epoch]).permutation(n)


def batch_indices(n: int, batch_size: int, seed: int, epoch: int, shuffle: bool = True) -> list:
    """Index arrays of one epoch's mini-batches; ``batch_size`` 0 (or >= n) is one full batch in order."""
    if batch_size <= 0 or batch_size >= n:
        return [np.arange(n)]
    order = epoch_permutation(seed, epoch, n) if shuffle else np.arange(n)
    return [order[start:start + batch_size] for start in range(0, n, batch_size)]


def epoch_masks(spec: Spec, seed: int, epoch: int, batch_sizes: list[int]) -> list[dict]:
    """One dict of bool dropout masks (True = kept) per batch, from one seeded stream per epoch.

    Bool rather than float64: an MNIST epoch of masks takes 23 MB instead of 184, and an
    MNIST f32 step at batch 256 took 2.7% less time in impl_numpy (1.7% in impl_torch), which
    convert the masks to their dtype on the way; the parameters stay bit-identical.
    """
    widths = dropout_widths(spec)
    if not widths:
        return [{} for _ in batch_sizes]
    rates = {layer.name: layer.rate for layer in spec.dropout_layers}
    rng = np.random.default_rng([seed, epoch, 1])
    return [{name: rng.random((rows, width)) >= rates[name] for name, width in widths.items()}
            for rows in batch_sizes]


def accuracy(metric: str, y_pred: np.ndarray, y_true: np.ndarray) -> float:
    """Categorical (argmax), binary (y_hat > 0.5) or nnfs regression accuracy (|y_hat - y| < std(y) / 250)."""
    y_pred, y_true = np.asarray(y_pred), np.asarray(y_true)
    if metric == "categorical":
        labels = np.argmax(y_true, axis=1) if y_true.ndim == 2 else y_true
        return float(np.mean(np.argmax(y_pred, axis=1) == labels))
    if metric == "binary":
        return float(np.mean((y_pred > 0.5) == (y_true > 0.5)))
    precision = np.std(y_true) / 250
    return float(np.mean(np.abs(y_pred - y_true) < precision))


class TrainingMixin:
    """``fit``/``evaluate``/``predict`` for any model with ``spec``, ``forward``, ``loss``, ``step`` and ``parameters``."""

    np_dtype = np.dtype(np.float64)  # the dtype the model computes in; models set their own
    epochs_trained = 0  # by fit, in all calls: the next call's data order and masks go on from it

    def train_epoch(self, X, y, batches, masks) -> list[float]:
        """Run a step per batch and return each step's loss (override to fuse them); fit passes one
        epoch's batches, or the batches of every epoch up to its next evaluation."""
        return [self.step(X[idx], y[idx], mask) for idx, mask in zip(batches, masks)]

    def fit(self, X, y, *, epochs=None, batch_size=None, seed=None, shuffle=True,
            validation_data=None, patience=None, eval_every=1, verbose=False, progress=False,
            callback=None) -> dict:
        """Train; settings default to ``spec.training``. Returns the history as lists per evaluated epoch.

        ``loss`` is the epoch's step losses (each before its update, dropout on) averaged over
        the samples; ``accuracy`` and the validation metrics are evaluated after the epoch,
        dropout off. With ``eval_every`` > 1 the epochs between evaluations go to train_epoch in
        one call (impl_tf runs them in one tf.function call), and ``seconds`` is their mean time
        per epoch. ``patience`` counts evaluations without a new best validation loss (training
        loss without validation data); training stops there and keeps its last weights.

        A second call goes on where the first stopped: the optimizer's state, and the shuffled
        order and dropout masks of the epochs after ``epochs_trained`` (fit(3) twice trains as
        fit(6)); the history numbers the call's own epochs from 1. set_parameters and load
        replace the weights only: for a fresh start, build a new model.

        Raises TrainingDiverged (with the history so far) when a step's loss, the validation
        loss or, after the last update, a parameter is NaN or infinite; the model is then as the
        failing train_epoch call left it (with ``eval_every`` > 1, after its fused epochs).
        """
        t = self.spec.training
        epochs = t.epochs if epochs is None else epochs
        batch_size = t.batch_size if batch_size is None else batch_size
        seed = t.seed if seed is None else seed
        patience = t.patience if patience is None else patience
        for name, value, low in (("epochs", epochs, 1), ("batch_size", batch_size, 0),
                                 ("seed", seed, 0), ("patience", patience, 0),
                                 ("eval_every", eval_every, 1)):
            _check_integer(name, value, low)
        for name, value in (("shuffle", shuffle), ("verbose", verbose), ("progress", progress)):
            check_flag(name, value)
        X, y = self._in_dtype(check_inputs(self.spec, X, dtype=self.np_dtype),
                              check_targets(self.spec, y, len(X), dtype=self.np_dtype))
        validation = None
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
                raise ValueError(f"validation_data: expected a pair (X_val, y_val), got "
                                 f"{type(validation_data).__name__} {validation_data!r:.60}")
            X_val = check_inputs(self.spec, validation_data[0], "validation_data X",
                                 self.np_dtype)
            validation = self._in_dtype(X_val, check_targets(
                self.spec, validation_data[1], len(X_val), "validation_data y", self.np_dtype))
        if batch_size > len(X):
            raise ValueError(f"batch_size: expected at most the {len(X)} training samples "
                             f"(or 0 for full batch), got {batch_size}")
        if callback is not None and not callable(callback):  # before the first update
            raise TypeError(f"callback: expected a function callback(epoch, history) or None, got "
                            f"{type(callback).__name__} {callback!r:.60}")
        with _progress_bar(progress, epochs, self.__class__.__module__) as bar:
            return self._fit_epochs(X, y, epochs, batch_size, seed, shuffle, patience,
                                    eval_every, validation, verbose, bar, callback)

    def _in_dtype(self, X, y):
        """X, and y where it holds floats, in the model's dtype: converted once per fit call,
        not by every train_epoch and evaluation (a float32 model cast float64 MNIST's 60,000
        x 784 inputs twice an epoch, ~5% of its time); the model's own cast is the same rounding."""
        return (X.astype(self.np_dtype, copy=False),
                y.astype(self.np_dtype, copy=False) if y.dtype.kind == "f" else y)

    def _fit_epochs(self, X, y, epochs, batch_size, seed, shuffle, patience, eval_every,
                    validation, verbose, bar, callback) -> dict:
        t = self.spec.training
        history = {key: [] for key in ("epoch", "loss", "accuracy", "val_loss", "val_accuracy",
                                       "seconds")}
        best, waited = math.inf, 0
        epoch, evaluated, start = 0, 0, time.perf_counter()
        while epoch < epochs:
            # The epochs up to the next evaluation run in one train_epoch call (impl_tf runs
            # them in one graph), at most MAX_FUSED_BATCHES batches and MAX_FUSED_SAMPLES.
            plan = self._epoch_plan(len(X), epoch, epochs, batch_size, seed, shuffle, eval_every)
            losses = self.train_epoch(X, y, [b for batches, _ in plan for b in batches],
                                      [m for _, masks in plan for m in masks])
            self.epochs_trained += len(plan)
            for batches, _ in plan:
                epoch_losses, losses = losses[:len(batches)], losses[len(batches):]
                _check_finite(epoch_losses, epoch, history)
                epoch += 1
                if epoch % eval_every and epoch != epochs:
                    _advance(bar)
            if epoch % eval_every and epoch != epochs:  # the group was cut short
                continue
            seconds = (time.perf_counter() - start) / (epoch - evaluated)  # training time only
            val = None if validation is None else self.evaluate(*validation)
            if val is not None and not math.isfinite(val["loss"]):
                raise TrainingDiverged(f"training diverged: the validation loss became "
                                       f"{val['loss']} after epoch {epoch}; {ADVICE}", history)
            history["epoch"].append(epoch)
            # the mean over samples, as nnfs and Keras report it: a short last batch weighs less
            history["loss"].append(float(np.average(epoch_losses,
                                                    weights=[len(b) for b in batches])))
            history["accuracy"].append(accuracy(self.spec.metric, self.predict(X), y))
            history["seconds"].append(seconds)
            monitored = history["loss"][-1]
            if val is not None:
                history["val_loss"].append(val["loss"])
                history["val_accuracy"].append(val["accuracy"])
                monitored = val["loss"]
            if verbose and epoch % max(t.print_every, 1) == 0:
                print(_summary_line(history))
            if callback is not None:
                callback(epoch - 1, history)
            _advance(bar, history)
            evaluated, start = epoch, time.perf_counter()
            if patience:
                best, waited = (monitored, 0) if monitored < best else (best, waited + 1)
                if waited >= patience:
                    history["stopped_epoch"] = epoch
                    break
        # Each step's loss is taken before its update: the last update is checked here.
        broken = [name for name, value in self.parameters().items()
                  if not np.all(np.isfinite(value))]
        if broken:
            raise TrainingDiverged(f"training diverged: the last update made {', '.join(broken)} "
                                   f"non-finite; {ADVICE}", history)
        return history

    def _epoch_plan(self, n, epoch, epochs, batch_size, seed, shuffle, eval_every) -> list:
        """(batches, masks) of each epoch from ``epoch`` to the next evaluated one, within the caps."""
        last = min(epochs, (epoch // eval_every + 1) * eval_every)  # evaluated after this one
        per_epoch = 1 if batch_size <= 0 or batch_size >= n else math.ceil(n / batch_size)
        count = max(1, min(last - epoch, MAX_FUSED_BATCHES // per_epoch, MAX_FUSED_SAMPLES // n))
        plan = []
        for e in range(self.epochs_trained, self.epochs_trained + count):  # of all fit calls
            batches = batch_indices(n, batch_size, seed, e, shuffle)
            plan.append((batches, epoch_masks(self.spec, seed, e, [len(b) for b in batches])))
        return plan

    def evaluate(self, X, y) -> dict:
        """Loss (data + regularization) and accuracy on (X, y), dropout off."""
        X = check_inputs(self.spec, X, dtype=self.np_dtype)
        y = check_targets(self.spec, y, len(X), dtype=self.np_dtype)
        return {"loss": float(self.loss(X, y)),
                "accuracy": accuracy(self.spec.metric, self.predict(X), y)}

    def predict(self, X) -> np.ndarray:
        """The network's outputs for X in inference mode (dropout off)."""
        return self.forward(X, training=False)


def _check_integer(name: str, value, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name}: expected an integer >= {low}, got {value!r}")


ADVICE = ("lower optimizer.learning_rate or clip the gradients (optimizer.clip_norm or "
          "optimizer.clip_value)")


def _check_finite(losses, epoch: int, history: dict) -> None:
    for step, value in enumerate(losses):
        if not math.isfinite(value):
            raise TrainingDiverged(f"training diverged: the loss became {value} at epoch "
                                   f"{epoch + 1}, step {step + 1}; {ADVICE}", history)


def _summary_line(history: dict) -> str:
    line = (f"epoch {history['epoch'][-1]}: loss {history['loss'][-1]:.6f}, "
            f"accuracy {history['accuracy'][-1]:.3f}")
    if history["val_loss"]:
        line += (f", val_loss {history['val_loss'][-1]:.6f}, "
                 f"val_accuracy {history['val_accuracy'][-1]:.3f}")
    return line


@contextmanager
def _progress_bar(enabled: bool, epochs: int, label: str):
    """(rich Progress, task) while training, or None; stopped however training ends."""
    if not enabled:
        yield None
        return
    from rich.progress import Progress

    bar = Progress(transient=False)
    task = bar.add_task(label.split(".")[0], total=epochs)
    bar.start()
    try:
        yield bar, task
    finally:
        bar.stop()


def _advance(bar, history=None) -> None:
    if bar is None:
        return
    description = None if history is None else _summary_line(history)
    bar[0].update(bar[1], advance=1, **({"description": description} if description else {}))
