"""The shared training loop: shuffling, batches, dropout masks, accuracy, history, early stopping
and divergence, checked on a recording stub model and on impl_numpy."""
import numpy as np
import pytest

import impl_numpy
from shared import networks, weights
from shared.checks import InputError
from shared.spec import from_dict
from shared.training import (TrainingDiverged, TrainingMixin, accuracy, batch_indices,
                             epoch_masks, epoch_permutation)

HISTORY_KEYS = {"epoch", "loss", "accuracy", "val_loss", "val_accuracy", "seconds"}

REGRESSION = from_dict({"name": "reg", "inputs": 1, "loss": "mse", "metric": "regression",
                        "layers": [{"type": "dense", "units": 4}, {"type": "linear"},
                                   {"type": "dense", "units": 1}, {"type": "linear"}],
                        "optimizer": {"type": "sgd", "learning_rate": 0.01},
                        "training": {"epochs": 5, "batch_size": 10, "seed": 4}})


class Recorder(TrainingMixin):
    """A model that records every step's rows and masks and reports scripted losses."""

    def __init__(self, spec, losses=None):
        self.spec, self.calls, self.losses = spec, [], list(losses or [])

    def forward(self, X, training=False, dropout_masks=None):
        return np.zeros((len(X), self.spec.outputs))

    def loss(self, X, y, dropout_masks=None):
        return self.losses.pop(0) if self.losses else 1.0

    def step(self, X, y, dropout_masks=None):
        self.calls.append((X[:, 0].copy(), dropout_masks))
        return 1.0

    def parameters(self):
        return {"w": np.ones(2)}


def test_epoch_permutation_is_deterministic_and_differs_per_epoch_and_seed():
    a = epoch_permutation(7, 0, 100)
    assert np.array_equal(np.sort(a), np.arange(100))
    assert np.array_equal(a, epoch_permutation(7, 0, 100))
    others = [epoch_permutation(7, e, 100) for e in range(1, 6)] + [epoch_permutation(8, 0, 100)]
    assert all(not np.array_equal(a, b) for b in others)
    assert not np.array_equal(a, np.arange(100))
    # The stream is numpy's Generator seeded by (seed, epoch): reproducible across implementations.
    assert np.array_equal(a, np.random.default_rng([7, 0]).permutation(100))


@pytest.mark.parametrize("n, batch_size", [(10, 3), (64, 64), (65, 64), (100, 7), (5, 1)])
def test_batch_indices_cover_every_sample_exactly_once(n, batch_size):
    for epoch in range(3):
        batches = batch_indices(n, batch_size, seed=1, epoch=epoch)
        sizes = [len(b) for b in batches]
        expected_batches = -(-n // batch_size)
        assert len(batches) == expected_batches
        assert sizes[:-1] == [batch_size] * (expected_batches - 1)
        assert 1 <= sizes[-1] <= batch_size
        assert np.array_equal(np.sort(np.concatenate(batches)), np.arange(n))
        if batch_size < n:
            assert np.array_equal(np.concatenate(batches), epoch_permutation(1, epoch, n))


def test_batch_indices_full_batch_and_no_shuffle():
    for size in (0, 10, 11):
        batches = batch_indices(10, size, seed=0, epoch=3)
        assert len(batches) == 1 and np.array_equal(batches[0], np.arange(10))
    ordered = batch_indices(10, 4, seed=0, epoch=3, shuffle=False)
    assert [b.tolist() for b in ordered] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


def test_epoch_masks_rates_shapes_and_determinism():
    spec = networks.load("mnist")  # dropout1 after 256 units, dropout2 after 128, both rate 0.2
    masks = epoch_masks(spec, seed=0, epoch=0, batch_sizes=[64, 64, 8])
    assert len(masks) == 3
    assert [m["dropout1"].shape for m in masks] == [(64, 256), (64, 256), (8, 256)]
    assert [m["dropout2"].shape for m in masks] == [(64, 128), (64, 128), (8, 128)]
    kept = np.concatenate([m["dropout1"].ravel() for m in masks] +
                          [m["dropout2"].ravel() for m in masks])
    assert kept.dtype == np.bool_ and kept.any() and not kept.all()
    # 52,000 Bernoulli(0.8) draws: sd of the mean is 0.0018.
    assert abs(kept.mean() - 0.8) < 0.01
    again = epoch_masks(spec, seed=0, epoch=0, batch_sizes=[64, 64, 8])
    assert all(np.array_equal(m[k], a[k]) for m, a in zip(masks, again) for k in m)
    next_epoch = epoch_masks(spec, seed=0, epoch=1, batch_sizes=[64])
    assert not np.array_equal(next_epoch[0]["dropout1"], masks[0]["dropout1"])
    assert not np.array_equal(masks[0]["dropout1"], masks[1]["dropout1"])
    heavy = spec.replace(layers=tuple(
        layer if layer.type != "dropout" else type(layer)(**{**layer.__dict__, "rate": 0.7})
        for layer in spec.layers))
    rate = epoch_masks(heavy, seed=2, epoch=0, batch_sizes=[200])[0]["dropout2"].mean()
    assert abs(rate - 0.3) < 0.02
    assert epoch_masks(networks.load("spiral"), 0, 0, [3, 3]) == [{}, {}]


def test_epoch_masks_are_the_documented_stream():
    """The masks' stream, which every implementation receives: NumPy's Generator seeded by
    (seed, epoch, 1), uniform draws per batch and per dropout layer in order, kept where
    >= rate (the shuffle uses (seed, epoch): a stream of its own). Drawn here by hand."""
    spec = networks.load("mnist")  # dropout1 after 256 units, dropout2 after 128, rate 0.2
    rng = np.random.default_rng([3, 2, 1])
    expected = [{"dropout1": rng.random((rows, 256)) >= 0.2,
                 "dropout2": rng.random((rows, 128)) >= 0.2} for rows in (5, 4)]
    masks = epoch_masks(spec, 3, 2, [5, 4])
    assert all(np.array_equal(m[k], e[k]) for m, e in zip(masks, expected) for k in e)


def test_accuracy_metrics():
    scores = np.array([[0.1, 0.9, 0.0], [0.8, 0.1, 0.1], [0.2, 0.3, 0.5], [0.3, 0.4, 0.3]])
    labels = np.array([1, 0, 0, 1])
    assert accuracy("categorical", scores, labels) == 0.75
    assert accuracy("categorical", scores, np.eye(3)[labels]) == 0.75
    assert accuracy("binary", np.array([[0.2], [0.7], [0.51], [0.5]]),
                    np.array([[0], [1], [0], [1]])) == 0.5
    # nnfs Accuracy_Regression: |y_hat - y| < std(y) / 250.
    y = np.array([[0.0], [1.0], [2.0], [3.0]])  # std = sqrt(1.25), precision = 0.004472
    y_hat = y + np.array([[0.004], [-0.0044], [0.0045], [0.1]])
    assert accuracy("regression", y_hat, y) == 0.5


def test_fit_uses_the_shared_batches_and_masks():
    spec = networks.load("mnist").replace(training={"batch_size": 4, "seed": 3, "epochs": 2})
    model = Recorder(spec)
    X = np.zeros((10, 784))
    X[:, 0] = np.arange(10)
    history = model.fit(X, np.arange(10) % 10)
    assert history["epoch"] == [1, 2]
    for epoch in range(2):
        batches = batch_indices(10, 4, 3, epoch)
        masks = epoch_masks(spec, 3, epoch, [len(b) for b in batches])
        calls = model.calls[epoch * 3:(epoch + 1) * 3]
        for (rows, got), idx, want in zip(calls, batches, masks):
            assert np.array_equal(rows, idx)
            assert np.array_equal(got["dropout1"], want["dropout1"])
    assert len(model.calls) == 6
    unshuffled = Recorder(spec)
    unshuffled.fit(X, np.arange(10) % 10, epochs=1, shuffle=False)
    assert [rows.tolist() for rows, _ in unshuffled.calls] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


class CallCounter(Recorder):
    """A Recorder that also records the number of batches of each train_epoch call."""

    def train_epoch(self, X, y, batches, masks):
        self.epoch_calls = getattr(self, "epoch_calls", []) + [len(batches)]
        return super().train_epoch(X, y, batches, masks)


@pytest.mark.parametrize("epochs, eval_every, calls", [
    (10, 1, [3] * 10), (10, 4, [12, 12, 6]), (10, 10, [30]), (10, 20, [30])])
def test_fit_runs_the_epochs_between_evaluations_in_one_call(epochs, eval_every, calls):
    """The same steps, batches and masks as epoch by epoch, in one train_epoch call per
    evaluation (3 batches an epoch here); the history has the evaluated epochs only."""
    spec = networks.load("mnist").replace(training={"batch_size": 4, "seed": 3})
    X = np.zeros((10, 784))
    X[:, 0] = np.arange(10)
    one_by_one, fused = CallCounter(spec), CallCounter(spec)
    one_by_one.fit(X, np.arange(10) % 10, epochs=epochs)
    history = fused.fit(X, np.arange(10) % 10, epochs=epochs, eval_every=eval_every)
    assert fused.epoch_calls == calls
    assert history["epoch"] == [e for e in range(1, epochs + 1)
                                if e % eval_every == 0 or e == epochs]
    assert len(fused.calls) == len(one_by_one.calls) == 3 * epochs
    for (rows, masks), (rows_1, masks_1) in zip(fused.calls, one_by_one.calls):
        assert np.array_equal(rows, rows_1)
        assert np.array_equal(masks["dropout1"], masks_1["dropout1"])


@pytest.mark.parametrize("limit, value, calls", [("MAX_FUSED_BATCHES", 7, [6, 6, 3]),
                                                 ("MAX_FUSED_SAMPLES", 35, [9, 6])])
def test_fit_fuses_at_most_so_many_batches_and_samples_per_call(monkeypatch, limit, value, calls):
    """10 samples in 3 batches an epoch: 7 batches take 2 epochs a call, 35 samples 3."""
    from shared import training
    monkeypatch.setattr(training, limit, value)
    spec = networks.load("mnist").replace(training={"batch_size": 4, "seed": 3})
    model = CallCounter(spec)
    history = model.fit(np.zeros((10, 784)), np.arange(10) % 10, epochs=5, eval_every=5)
    assert model.epoch_calls == calls and history["epoch"] == [5]


class EpochSpy:
    """impl_tf's graph call for a run of batches, recording the number of batches of each call."""

    def __init__(self, function):
        self.function, self.batches = function, []

    def __call__(self, X, y, indices, masks):
        self.batches.append(int(indices.shape[0]))
        return self.function(X, y, indices, masks)


@pytest.mark.parametrize("impl", ["numpy", "pure", "torch", "tf"])
def test_fused_epochs_give_the_same_bits_as_one_epoch_at_a_time(impl):
    """fit(eval_every=5) against fit(eval_every=1) on mini-batches with dropout: the same losses
    at epochs 5 and 10, the same parameters. impl_tf runs each five epochs' 15 batches in one
    graph call (48 samples, 3 equal batches an epoch)."""
    from conftest import require
    from shared import implementations
    require(impl)
    spec = from_dict({"name": "fused", "inputs": 2, "loss": "categorical_crossentropy",
                      "layers": [{"type": "dense", "units": 8}, {"type": "relu"},
                                 {"type": "dropout", "rate": 0.25}, {"type": "dense", "units": 3},
                                 {"type": "softmax"}],
                      "optimizer": {"type": "adam", "learning_rate": 0.05},
                      "training": {"batch_size": 16, "seed": 2}})
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((48, 2)), rng.integers(0, 3, 48)
    params = weights.initial(spec, seed=0)
    models = [implementations.build(impl, spec, params) for _ in range(2)]
    every = models[0].fit(X, y, epochs=10)
    if impl == "tf":
        spy = EpochSpy(models[1]._run_epoch)
        models[1]._run_epoch = spy
    fused = models[1].fit(X, y, epochs=10, eval_every=5)
    assert impl != "tf" or spy.batches == [15, 15]
    assert fused["epoch"] == [5, 10]
    assert fused["loss"] == [every["loss"][4], every["loss"][9]]
    for name, value in models[0].parameters().items():
        assert np.array_equal(models[1].parameters()[name], value), name


@pytest.mark.parametrize("impl", ["numpy", "pure", "torch", "tf"])
def test_a_second_fit_goes_on_where_the_first_stopped(impl):
    """fit(3) twice trains as fit(6), bit for bit: a review found the second call replaying the
    first call's shuffled order and dropout masks while the optimizer's state went on (0.093
    apart from fit(6)). The history numbers each call's own epochs."""
    from conftest import require
    from shared import implementations
    require(impl)
    spec = from_dict({"name": "twice", "inputs": 2, "loss": "categorical_crossentropy",
                      "layers": [{"type": "dense", "units": 8}, {"type": "relu"},
                                 {"type": "dropout", "rate": 0.25}, {"type": "dense", "units": 3},
                                 {"type": "softmax"}],
                      "optimizer": {"type": "adam", "learning_rate": 0.05, "decay": 0.01},
                      "training": {"batch_size": 16, "seed": 2}})
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((48, 2)), rng.integers(0, 3, 48)
    params = weights.initial(spec, seed=0)
    once, twice = (implementations.build(impl, spec, params) for _ in range(2))
    whole = once.fit(X, y, epochs=6)
    first, second = twice.fit(X, y, epochs=3), twice.fit(X, y, epochs=3)
    assert second["epoch"] == [1, 2, 3] and twice.epochs_trained == once.epochs_trained == 6
    assert first["loss"] + second["loss"] == whole["loss"]
    for name, value in once.parameters().items():
        assert np.array_equal(twice.parameters()[name], value), name


@pytest.mark.parametrize("impl", ["numpy", "torch", "tf"])
def test_fit_converts_the_data_to_the_models_dtype_once(impl, monkeypatch):
    """A float32 model fitted on float64 data (as datasets.fashion_mnist gives it) cast the
    whole X in every train_epoch call and every evaluation: 60,000 x 784 twice an epoch. fit
    converts X, float targets and the validation data once, and trains the same bits as on
    data converted by the caller."""
    from conftest import require
    from shared import implementations
    require(impl)
    spec = from_dict({"name": "cast", "inputs": 2, "loss": "mse",
                      "layers": [{"type": "dense", "units": 4}, {"type": "tanh"},
                                 {"type": "dense", "units": 1}, {"type": "linear"}],
                      "optimizer": {"type": "adam", "learning_rate": 0.01},
                      "training": {"batch_size": 8, "seed": 1}})
    rng = np.random.default_rng(3)
    X, y = rng.standard_normal((24, 2)), rng.standard_normal((24, 1))
    params = weights.initial(spec, seed=0)
    given, converted = (implementations.build(impl, spec, params, "float32") for _ in range(2))
    seen = []
    for method in ("train_epoch", "forward", "loss"):
        real = getattr(given, method)

        def spy(X, y=None, *args, real=real, **kwargs):
            seen.append((np.asarray(X).dtype, None if y is None else np.asarray(y).dtype))
            return real(X, *([] if y is None else [y]), *args, **kwargs)
        monkeypatch.setattr(given, method, spy)
    history = given.fit(X, y, epochs=3, validation_data=(X[:5], y[:5]))
    assert seen and all(x == np.float32 and y in (None, np.float32) for x, y in seen), set(seen)
    expected = converted.fit(X.astype(np.float32), y.astype(np.float32), epochs=3,
                             validation_data=(X[:5].astype(np.float32), y[:5].astype(np.float32)))
    assert history["loss"] == expected["loss"] and history["val_loss"] == expected["val_loss"]
    for name, value in converted.parameters().items():
        assert np.array_equal(given.parameters()[name], value), name


def test_seconds_are_per_epoch_when_epochs_run_between_evaluations(monkeypatch):
    """history["seconds"] is the mean training time per epoch: with eval_every=3 it was the
    group's total in a review's mutant, and no test failed. On a fake clock each step takes
    1 s and an epoch has 2 batches, so every epoch takes 2 s; evaluations take none."""
    import shared.training

    clock = [0.0]
    monkeypatch.setattr(shared.training.time, "perf_counter", lambda: clock[0])

    class Timed(Recorder):
        def step(self, X, y, dropout_masks=None):
            clock[0] += 1.0
            return super().step(X, y, dropout_masks)

    history = Timed(REGRESSION).fit(np.zeros((20, 1)), np.zeros((20, 1)), epochs=7,
                                    eval_every=3)
    assert history["epoch"] == [3, 6, 7]
    assert history["seconds"] == [2.0, 2.0, 2.0]


def test_fit_seed_overrides_the_specs_for_the_order_and_the_masks():
    """fit(seed=11) on a spec seeded 3: the rows and masks of seed 11, not 3."""
    spec = networks.load("mnist").replace(training={"batch_size": 4, "seed": 3})
    model = Recorder(spec)
    X = np.zeros((10, 784))
    X[:, 0] = np.arange(10)
    model.fit(X, np.arange(10) % 10, epochs=1, seed=11)
    batches, masks = batch_indices(10, 4, 11, 0), epoch_masks(spec, 11, 0, [4, 4, 2])
    assert not np.array_equal(np.concatenate(batches), np.concatenate(batch_indices(10, 4, 3, 0)))
    for (rows, given), batch, mask in zip(model.calls, batches, masks, strict=True):
        assert np.array_equal(rows, batch)
        assert np.array_equal(given["dropout1"], mask["dropout1"])


def test_a_last_update_that_breaks_one_entry_is_a_divergence():
    """One NaN among a parameter's entries after the last update, the rest finite."""
    class Broken(Recorder):
        def parameters(self):
            return {"w": np.array([1.0, np.nan])}

    with pytest.raises(TrainingDiverged, match="the last update made w non-finite"):
        Broken(REGRESSION).fit(np.zeros((4, 1)), np.zeros((4, 1)), epochs=1, batch_size=0)


def test_seconds_are_per_epoch_when_a_fusion_cap_splits_the_group(monkeypatch):
    """Five epochs between evaluations, but at most 7 batches a call (3 an epoch): calls of
    2, 2 and 1 epochs. On a fake clock of 1 s a step each epoch takes 3 s, whatever the split."""
    import shared.training

    clock = [0.0]
    monkeypatch.setattr(shared.training.time, "perf_counter", lambda: clock[0])
    monkeypatch.setattr(shared.training, "MAX_FUSED_BATCHES", 7)

    class Timed(Recorder):
        def step(self, X, y, dropout_masks=None):
            clock[0] += 1.0
            return super().step(X, y, dropout_masks)

    history = Timed(REGRESSION).fit(np.zeros((10, 1)), np.zeros((10, 1)), epochs=5,
                                    eval_every=5, batch_size=4)
    assert history["epoch"] == [5] and history["seconds"] == [3.0]


def test_fit_history_keys_and_validation():
    spec = networks.load("spiral")
    model = impl_numpy.build(spec, weights.initial(spec))
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(30, 2)), rng.integers(0, 3, 30)
    seen = []
    history = model.fit(X, y, epochs=4, batch_size=8,
                        callback=lambda epoch, h: seen.append(epoch))
    assert set(history) == HISTORY_KEYS
    assert history["epoch"] == [1, 2, 3, 4] and seen == [0, 1, 2, 3]
    assert len(history["loss"]) == len(history["accuracy"]) == len(history["seconds"]) == 4
    assert history["val_loss"] == [] and history["val_accuracy"] == []
    assert all(0 <= a <= 1 for a in history["accuracy"])
    assert history["accuracy"][-1] == accuracy("categorical", model.predict(X), y)
    history = model.fit(X, y, epochs=5, validation_data=(X[:10], y[:10]), eval_every=2)
    assert history["epoch"] == [2, 4, 5]  # every second epoch, and always the last
    assert len(history["val_loss"]) == len(history["val_accuracy"]) == 3
    assert history["val_loss"][-1] == pytest.approx(model.evaluate(X[:10], y[:10])["loss"],
                                                    rel=1e-12)
    # with validation data the accuracy column is still the training data's (a mutant
    # recording the validation accuracy there survived the suite)
    assert history["accuracy"][-1] == accuracy("categorical", model.predict(X), y)
    assert history["val_accuracy"][-1] == accuracy("categorical", model.predict(X[:10]), y[:10])
    assert history["accuracy"][-1] != history["val_accuracy"][-1]


def test_verbose_prints_every_print_every_epochs(capsys):
    spec = networks.load("xor").replace(training={"print_every": 2, "epochs": 5})
    model = impl_numpy.build(spec, weights.initial(spec))
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
    model.fit(X, np.array([[0], [1], [1], [0]], dtype=float), verbose=True)
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split(":")[0] for line in lines] == ["epoch 2", "epoch 4"]
    assert "loss" in lines[0] and "accuracy" in lines[0]


@pytest.mark.parametrize("patience", [1, 3])
def test_patience_stops_when_the_monitored_loss_stops_improving(patience):
    spec = networks.load("spiral")
    X, y = np.zeros((6, 2)), np.arange(6) % 3
    # Validation losses per epoch: improves twice, then never again.
    losses = [5.0, 4.0, 4.0, 4.5, 4.0, 3.0, 2.0, 1.0]
    model = Recorder(spec, losses)
    history = model.fit(X, y, epochs=8, patience=patience, validation_data=(X, y))
    assert history["stopped_epoch"] == 2 + patience
    assert history["epoch"] == list(range(1, 3 + patience))
    assert history["val_loss"] == losses[:2 + patience]
    no_patience = Recorder(spec, losses).fit(X, y, epochs=8, patience=0, validation_data=(X, y))
    assert "stopped_epoch" not in no_patience and no_patience["epoch"][-1] == 8


def test_patience_from_spec_on_a_real_model_monitors_the_training_loss():
    spec = REGRESSION.replace(training={"patience": 2},
                              optimizer={"learning_rate": 0.3, "type": "sgd"})
    X = np.linspace(-1, 1, 40)[:, None]
    y = X ** 2  # a linear model cannot fit this: the loss plateaus, and noisy batches stop it
    model = impl_numpy.build(spec, weights.initial(spec, seed=1))
    history = model.fit(X, y, epochs=300)
    assert "stopped_epoch" in history and history["stopped_epoch"] < 300
    best = int(np.argmin(history["loss"]))
    assert len(history["loss"]) - 1 - best == 2  # stopped exactly `patience` epochs after the best


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("eval_every", [1, 20])  # 20: the epochs run in one train_epoch call
def test_divergence_names_epoch_and_step(eval_every):
    spec = REGRESSION.replace(optimizer={"learning_rate": 1e6})
    X = np.linspace(-3, 3, 50)[:, None]
    y = 5 * X + 2
    params = weights.initial(spec, seed=0, scheme="he_normal")
    with pytest.raises(TrainingDiverged) as caught:
        impl_numpy.build(spec, params).fit(X, y, epochs=20, eval_every=eval_every)
    # Replay the same batches step by step to find the first non-finite loss independently.
    replay = impl_numpy.build(spec, params)
    first = None
    for epoch in range(20):
        for step, idx in enumerate(batch_indices(50, 10, spec.training.seed, epoch), 1):
            if not np.isfinite(replay.step(X[idx], y[idx])):
                first = (epoch + 1, step)
                break
        if first:
            break
    assert first is not None and first != (1, 1)
    message = str(caught.value)
    assert f"at epoch {first[0]}, step {first[1]}" in message
    assert "learning_rate" in message


def test_batch_size_larger_than_the_data_is_refused():
    spec = REGRESSION
    model = impl_numpy.build(spec, weights.initial(spec))
    X, y = np.zeros((8, 1)), np.zeros((8, 1))
    with pytest.raises(ValueError,
                       match=r"batch_size: expected at most the 8 training samples.*got 9"):
        model.fit(X, y, batch_size=9, epochs=1)
    with pytest.raises(ValueError, match=r"batch_size: .*got -1"):
        model.fit(X, y, batch_size=-1, epochs=1)
    with pytest.raises(ValueError, match=r"epochs: expected an integer >= 1, got 0"):
        model.fit(X, y, epochs=0, batch_size=0)
    assert model.fit(X, y, batch_size=8, epochs=1)["epoch"] == [1]


def test_fit_checks_inputs_and_targets_first():
    model = impl_numpy.build(REGRESSION, weights.initial(REGRESSION))
    with pytest.raises(InputError, match=r"X: expected shape \(n, 1\)"):
        model.fit(np.zeros((8, 2)), np.zeros((8, 1)), epochs=1)
    with pytest.raises(InputError, match=r"reshape to \(8, 1\)"):
        model.fit(np.zeros((8, 1)), np.zeros(8), epochs=1)
    with pytest.raises(InputError, match=r"y: expected shape \(4, 1\)"):
        model.fit(np.zeros((8, 1)), np.zeros((8, 1)), validation_data=(np.zeros((4, 1)),
                                                                        np.zeros((3, 1))))


@pytest.mark.parametrize("arguments, message", [
    ({"epochs": 2.5}, r"epochs: expected an integer >= 1, got 2.5"),
    ({"epochs": "3"}, r"epochs: expected an integer >= 1, got '3'"),
    ({"epochs": True}, r"epochs: expected an integer >= 1, got True"),
    ({"batch_size": 2.5}, r"batch_size: expected an integer >= 0, got 2.5"),
    ({"seed": -1}, r"seed: expected an integer >= 0, got -1"),
    ({"patience": -1}, r"patience: expected an integer >= 0, got -1"),
    ({"patience": 0.5}, r"patience: expected an integer >= 0, got 0.5"),
    ({"eval_every": 1.5}, r"eval_every: expected an integer >= 1, got 1.5"),
    ({"eval_every": 0}, r"eval_every: expected an integer >= 1, got 0"),
    ({"validation_data": (np.zeros((4, 1)),)}, r"validation_data: expected a pair"),
    ({"validation_data": (np.zeros((4, 1)),) * 3}, r"validation_data: expected a pair"),
    ({"validation_data": {"X": 1}}, r"validation_data: expected a pair .*got dict"),
    ({"validation_data": (np.zeros((4, 2)), np.zeros((4, 1)))},
     r"validation_data X: expected shape \(n, 1\)"),
    ({"validation_data": (np.zeros((4, 1)), np.zeros((3, 1)))},
     r"validation_data y: expected shape \(4, 1\)"),
    # was a TypeError after the first epoch had already changed the weights
    ({"callback": "print", "batch_size": 0},
     r"callback: expected a function callback\(epoch, history\) or None, got str 'print'"),
])
def test_fit_refuses_bad_arguments_by_name(arguments, message):
    """Before, a negative or fractional patience silently stopped early, a float epoch count
    raised a bare TypeError, and a validation_data error named X or y as if training data."""
    model = impl_numpy.build(REGRESSION, weights.initial(REGRESSION))
    before = model.parameters()
    with pytest.raises((ValueError, TypeError, InputError), match=message):
        model.fit(np.zeros((8, 1)), np.zeros((8, 1)), **{"epochs": 2, **arguments})
    assert all(np.array_equal(before[k], v) for k, v in model.parameters().items())


def test_the_epoch_loss_is_the_mean_over_samples():
    """Batches of 3, 3 and 2 samples: the epoch's loss weighs each step's mean loss by its batch
    size (nnfs's accumulated loss, Keras's logs), so it is the mean over the 8 samples. Golden: the
    same steps taken one by one on a second model, averaged here by hand."""
    X = np.linspace(-1, 1, 8).reshape(-1, 1)
    y = 2 * X + 0.5
    params = weights.initial(REGRESSION, seed=1)
    history = impl_numpy.build(REGRESSION, params).fit(X, y, epochs=1, batch_size=3, seed=4)
    stepper = impl_numpy.build(REGRESSION, params)
    batches = batch_indices(8, 3, 4, 0)
    losses = [stepper.step(X[idx], y[idx]) for idx in batches]
    assert [len(b) for b in batches] == [3, 3, 2]
    expected = (3 * losses[0] + 3 * losses[1] + 2 * losses[2]) / 8
    assert history["loss"] == [pytest.approx(expected, rel=1e-15)]
    assert expected != pytest.approx(sum(losses) / 3, rel=1e-6)  # the two means differ here


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_divergence_in_the_last_update_or_the_validation_loss_is_caught():
    """Each step's loss comes before its update, so an update that breaks the parameters shows
    only in the next step's loss: after the last update fit used to return normally, with NaN
    parameters (and a NaN val_loss in the history). Found with SGD at lr 1e155."""
    spec = REGRESSION.replace(optimizer={"learning_rate": 1e308})
    X, y = np.ones((8, 1)) * 1e3, np.ones((8, 1))
    model = impl_numpy.build(spec, weights.initial(spec, seed=0))
    assert np.isfinite(model.loss(X, y))  # the one step's own loss is finite
    with pytest.raises(TrainingDiverged, match="the last update made dense1.weight") as caught:
        model.fit(X, y, epochs=1, batch_size=0)
    assert caught.value.history["epoch"] == [1]  # the epoch trained is kept
    model = impl_numpy.build(spec, weights.initial(spec, seed=0))
    with pytest.raises(TrainingDiverged, match="validation loss became (nan|inf) after epoch 1") \
            as caught:
        model.fit(X, y, epochs=3, batch_size=0, validation_data=(X, y))
    assert caught.value.history["epoch"] == []  # epoch 1 diverged: nothing to keep


@pytest.mark.parametrize("eval_every, evaluated", [(1, [1, 2]), (2, [2]), (5, [])])
def test_a_divergence_keeps_the_epochs_before_it(eval_every, evaluated):
    """TrainingDiverged names the epoch and step of the first non-finite loss, also inside a
    group of fused epochs (eval_every 2: epochs 3-4, 5: epochs 1-5), and its history holds
    every epoch evaluated before."""
    class Diverging(Recorder):
        def step(self, X, y, dropout_masks=None):
            super().step(X, y, dropout_masks)
            return 1.0 if len(self.calls) <= 12 else np.nan  # 5 steps an epoch: epoch 3, step 3

    model = Diverging(REGRESSION)
    with pytest.raises(TrainingDiverged, match="at epoch 3, step 3") as caught:
        model.fit(np.ones((50, 1)), np.ones((50, 1)), epochs=5, batch_size=10,
                  eval_every=eval_every)
    assert caught.value.history["epoch"] == evaluated
    assert caught.value.history["loss"] == [1.0] * len(evaluated)


def test_the_progress_bar_stops_when_training_fails(monkeypatch):
    """A diverging fit with progress=True used to leave rich's refresh thread running, redrawing
    over everything printed afterwards: the bar fit started is stopped (its Live no longer
    started, its refresh thread ended) when TrainingDiverged propagates."""
    import rich.progress

    bars = []

    class Recorded(rich.progress.Progress):
        def start(self):
            bars.append(self)
            super().start()
            self.refresher = self.live._refresh_thread

    monkeypatch.setattr(rich.progress, "Progress", Recorded)
    spec = REGRESSION.replace(optimizer={"learning_rate": 1e300})
    model = impl_numpy.build(spec, weights.initial(spec))
    with np.errstate(all="ignore"), pytest.raises(TrainingDiverged):
        model.fit(np.ones((8, 1)) * 1e3, np.ones((8, 1)), epochs=3, batch_size=0,
                  progress=True)
    assert len(bars) == 1 and not bars[0].live.is_started
    refresher = bars[0].refresher
    assert refresher is not None
    refresher.join(timeout=10)  # stop() sets its event; the thread wakes and ends at once
    assert not refresher.is_alive()


def test_the_progress_bar_counts_every_epoch_once(monkeypatch):
    """7 epochs evaluated every 3: the bar ends at 7 of 7 (epochs between evaluations advance
    it one by one, an evaluated one once more with the metrics)."""
    import rich.progress

    bars = []

    class Recorded(rich.progress.Progress):
        def start(self):
            bars.append(self)
            super().start()

    monkeypatch.setattr(rich.progress, "Progress", Recorded)
    Recorder(REGRESSION).fit(np.zeros((20, 1)), np.zeros((20, 1)), epochs=7, eval_every=3,
                             progress=True)
    (task,) = bars[0].tasks
    assert (task.completed, task.total) == (7, 7)


def test_evaluate_and_predict_run_without_dropout():
    spec = networks.load("mnist")
    model = impl_numpy.build(spec, weights.initial(spec))
    X = np.random.default_rng(1).uniform(0, 1, (16, 784))
    y = np.arange(16) % 10
    assert np.array_equal(model.predict(X), model.predict(X))  # no random masks at inference
    result = model.evaluate(X, y)
    assert set(result) == {"loss", "accuracy"}
    assert result["loss"] == pytest.approx(-np.mean(np.log(model.predict(X)[np.arange(16), y])),
                                           rel=1e-12)


def test_the_readme_contract_example_runs_as_written(tmp_path, monkeypatch):
    """The README's harness-contract block, executed as a user would paste it (in an empty
    folder: it writes w.safetensors), and its save/load round trip is bit-exact."""
    import re
    from pathlib import Path

    from conftest import require
    require("torch")
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## The harness contract"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert "model.save(" in code and "model.load(" in code
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(code, "README.md", "exec"), namespace)
    model = namespace["model"]
    assert type(model).__module__ == "impl_torch.model" and model.epochs_trained == 100
    saved = model.parameters()
    model.set_parameters(namespace["params"])
    model.load("w.safetensors")
    assert all(np.array_equal(model.parameters()[k], v) for k, v in saved.items())
