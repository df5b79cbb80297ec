"""Keras callbacks: learning-rate schedules, early stopping, checkpoints, CSV logs, overfitting reports, plots.

Most behaviour is checked by driving the hooks with crafted logs (exact expectations), and once through
``fit`` on a tiny softmax model.
"""
from __future__ import annotations

import csv
import os
import warnings

import numpy as np
import pytest

from ember import keras
from ember.keras import callbacks as cbks


def _data(n=64, features=4, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, features)).astype(np.float32)
    y = (x @ rng.standard_normal((features, classes))).argmax(axis=1).astype(np.int64)
    return x, y


def _model(learning_rate=0.1, optimizer="sgd"):
    model = keras.Sequential([keras.layers.Input(shape=(4,)), keras.layers.Dense(3, activation="softmax")])
    opt = keras.optimizers.SGD(learning_rate) if optimizer == "sgd" else keras.optimizers.Adam(learning_rate)
    model.compile(optimizer=opt, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _attach(callback, model):
    callback.set_model(model)
    callback.set_params({"epochs": 10, "steps": 4, "verbose": 0})
    return callback


def _drive(callback, values, key="val_loss", model=None, extra=None):
    """Run on_train_begin, then on_epoch_begin/end for each value; returns the logs dicts."""
    if model is not None:
        _attach(callback, model)
    callback.on_train_begin({})
    all_logs = []
    for epoch, value in enumerate(values):
        callback.on_epoch_begin(epoch, {})
        logs = {key: value, **(extra(epoch) if extra else {})}
        callback.on_epoch_end(epoch, logs)
        all_logs.append(logs)
    return all_logs


class _WeightsRecorder(cbks.Callback):
    """Snapshot of the weights at the end of every epoch (listed before the callback under test)."""

    def __init__(self):
        super().__init__()
        self.weights = []

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append(self.model.get_weights())


def _assert_weights_equal(actual, expected):
    assert len(actual) == len(expected)
    for a, b in zip(actual, expected):
        np.testing.assert_array_equal(a, b)


# --------------------------------------------------------------------------------- LearningRateScheduler
def test_learning_rate_scheduler_sets_the_rate_of_every_epoch():
    x, y = _data()
    model = _model(learning_rate=0.1)
    seen = []
    # the optimizer binds to the parameters at the first step: read both rates after it
    probe = cbks.LambdaCallback(on_train_batch_end=lambda batch, logs: seen.append(
        (model.optimizer.learning_rate, model.optimizer.inner.param_groups[0]["lr"])) if batch == 0 else None)
    scheduler = cbks.LearningRateScheduler(lambda epoch, lr: lr if epoch == 0 else lr * 0.5)
    history = model.fit(x, y, batch_size=16, epochs=4, verbose=0, callbacks=[scheduler, probe])
    expected = [0.1, 0.05, 0.025, 0.0125]
    assert [rate for rate, _ in seen] == pytest.approx(expected)
    assert [inner for _, inner in seen] == pytest.approx(expected)
    assert history.history["learning_rate"] == pytest.approx(expected)
    assert model.optimizer.learning_rate == pytest.approx(0.0125)


def test_learning_rate_scheduler_one_argument_schedule_and_zero_rate_freezes_weights():
    x, y = _data()
    model = _model(learning_rate=0.5)
    recorder = _WeightsRecorder()
    scheduler = cbks.LearningRateScheduler(lambda epoch: 0.5 if epoch == 0 else 0.0)
    history = model.fit(x, y, batch_size=16, epochs=3, verbose=0, callbacks=[scheduler, recorder])
    assert history.history["learning_rate"] == [0.5, 0.0, 0.0]
    _assert_weights_equal(recorder.weights[2], recorder.weights[0])  # the optimizer really got lr=0


def test_learning_rate_scheduler_verbose_message(capsys):
    scheduler = _attach(cbks.LearningRateScheduler(lambda epoch, lr: 0.0012, verbose=1), _model())
    scheduler.on_epoch_begin(4)
    assert capsys.readouterr().out.strip() == "Epoch 00005: LearningRateScheduler setting learning rate to 0.0012."


def test_learning_rate_scheduler_does_not_hide_errors_inside_the_schedule():
    def broken(epoch, lr):
        raise TypeError("bug inside the schedule")

    scheduler = _attach(cbks.LearningRateScheduler(broken), _model())
    with pytest.raises(TypeError, match="bug inside the schedule"):
        scheduler.on_epoch_begin(0)
    bad = _attach(cbks.LearningRateScheduler(lambda epoch: "fast"), _model())
    with pytest.raises(ValueError, match="LearningRateScheduler.*float.*'fast'"):
        bad.on_epoch_begin(0)
    negative = _attach(cbks.LearningRateScheduler(lambda epoch: -1.0), _model())
    with pytest.raises(ValueError, match="non-negative.*-1.0"):
        negative.on_epoch_begin(0)
    with pytest.raises(TypeError, match="callable"):
        cbks.LearningRateScheduler(0.1)


# -------------------------------------------------------------------------------------- EarlyStopping
def test_early_stopping_patience_on_a_crafted_sequence():
    model = _model()
    stopper = cbks.EarlyStopping(patience=2)
    _drive(stopper, [1.0, 0.8, 0.9, 0.85], model=model)
    assert model.stop_training is True
    assert (stopper.stopped_epoch, stopper.best_epoch, stopper.best) == (3, 1, 0.8)

    model.stop_training = False
    _drive(stopper, [1.0, 0.8, 0.9, 0.7, 0.75], model=model)  # improvement at epoch 3 restarts the count
    assert model.stop_training is False and stopper.best_epoch == 3 and stopper.wait == 1


def test_early_stopping_min_delta_mode_baseline_and_start_epoch():
    model = _model()
    stopper = cbks.EarlyStopping(min_delta=0.1, patience=1)
    _drive(stopper, [1.0, 0.95], model=model)  # 0.05 better is not better by more than 0.1
    assert model.stop_training and stopper.stopped_epoch == 1

    model.stop_training = False
    accuracy = cbks.EarlyStopping(monitor="val_accuracy", patience=1)  # auto mode maximises accuracies
    _drive(accuracy, [0.5, 0.6, 0.7], key="val_accuracy", model=model)
    assert not model.stop_training and accuracy.best == 0.7
    _drive(accuracy, [0.5, 0.4], key="val_accuracy", model=model)
    assert model.stop_training and accuracy.best_epoch == 0
    assert cbks.EarlyStopping(monitor="val_auc").direction == "max"
    assert cbks.EarlyStopping(monitor="val_accuracy", mode="min").direction == "min"

    model.stop_training = False
    baseline = cbks.EarlyStopping(patience=2, baseline=0.5)  # never beats the baseline
    _drive(baseline, [0.9, 0.95], model=model)
    assert model.stop_training and baseline.stopped_epoch == 1

    model.stop_training = False
    warm = cbks.EarlyStopping(patience=0, start_from_epoch=2)
    _drive(warm, [0.1, 0.5, 0.9, 0.95], model=model)
    assert model.stop_training and warm.best_epoch == 2 and warm.stopped_epoch == 3


def test_early_stopping_warns_once_when_the_monitored_key_is_missing():
    model = _model()
    stopper = cbks.EarlyStopping(monitor="val_loss", patience=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _drive(stopper, [1.0, 2.0, 3.0], key="loss", model=model)
    messages = [str(w.message) for w in caught]
    assert len(messages) == 1 and "'val_loss'" in messages[0] and "loss" in messages[0]
    assert model.stop_training is False


def test_early_stopping_restore_best_weights_by_hooks():
    model = _model()
    stopper = _attach(cbks.EarlyStopping(patience=2, restore_best_weights=True), model)
    shapes = [w.shape for w in model.get_weights()]
    stopper.on_train_begin()
    for epoch, value in enumerate([1.0, 0.5, 0.7, 0.9]):
        model.set_weights([np.full(shape, float(epoch), dtype=np.float32) for shape in shapes])
        stopper.on_epoch_end(epoch, {"val_loss": value})
    stopper.on_train_end()
    assert all(np.all(w == 1.0) for w in model.get_weights())


def test_early_stopping_through_fit_restores_the_best_epoch(capsys):
    x, y = _data()
    model = _model(learning_rate=0.5)
    recorder = _WeightsRecorder()
    # min_delta so large that only the first epoch counts as an improvement
    stopper = cbks.EarlyStopping(patience=1, min_delta=100.0, restore_best_weights=True, verbose=1)
    history = model.fit(x, y, batch_size=16, epochs=10, validation_data=(x, y), verbose=0,
                        callbacks=[recorder, stopper])
    assert len(history.history["loss"]) == 2 and stopper.stopped_epoch == 1 and stopper.best_epoch == 0
    _assert_weights_equal(model.get_weights(), recorder.weights[0])
    assert not np.array_equal(recorder.weights[0][0], recorder.weights[1][0])
    out = capsys.readouterr().out
    assert "Epoch 2: early stopping" in out and "best epoch: 1." in out


# ------------------------------------------------------------------------------------- ModelCheckpoint
def test_model_checkpoint_save_best_only_formats_names_and_loads(tmp_path):
    x, y = _data()
    model = _model()
    model.fit(x, y, epochs=1, verbose=0)
    checkpoint = _attach(cbks.ModelCheckpoint(str(tmp_path / "m-{epoch:02d}-{val_loss:.2f}.keras"),
                                              save_best_only=True), model)
    checkpoint.on_train_begin()
    expected_predictions = {}
    for epoch, value in enumerate([0.5, 0.6, 0.4, 0.45]):
        model.set_weights([w + np.float32(0.1) for w in model.get_weights()])
        expected_predictions[epoch] = model.predict(x[:5], verbose=0)
        checkpoint.on_epoch_begin(epoch)
        checkpoint.on_epoch_end(epoch, {"loss": 1.0, "val_loss": value})
    assert sorted(os.listdir(tmp_path)) == ["m-01-0.50.keras", "m-03-0.40.keras"]
    restored = keras.models.load_model(tmp_path / "m-03-0.40.keras")
    np.testing.assert_allclose(restored.predict(x[:5], verbose=0), expected_predictions[2], rtol=1e-6)


def test_model_checkpoint_rewrites_one_file_only_on_improvement(tmp_path):
    model = _model()
    model.build((None, 4))
    path = tmp_path / "best.keras"
    checkpoint = _attach(cbks.ModelCheckpoint(path, monitor="val_accuracy", save_best_only=True), model)
    checkpoint.on_train_begin()
    identities = []
    for epoch, accuracy in enumerate([0.5, 0.4, 0.7, 0.7, 0.8]):
        checkpoint.on_epoch_end(epoch, {"val_accuracy": accuracy})
        stat = os.stat(path)
        identities.append((stat.st_ino, stat.st_mtime_ns))
    # an atomic save replaces the file (a new inode); no save leaves it untouched
    assert identities[1] == identities[0] and identities[3] == identities[2]
    assert identities[2][0] != identities[0][0] and identities[4][0] != identities[2][0]
    assert os.listdir(tmp_path) == ["best.keras"]


def test_model_checkpoint_initial_value_threshold_and_every_epoch(tmp_path):
    model = _model()
    model.build((None, 4))
    guarded = _attach(cbks.ModelCheckpoint(tmp_path / "g.keras", save_best_only=True,
                                           initial_value_threshold=0.3), model)
    _drive(guarded, [0.5, 0.4])
    assert not (tmp_path / "g.keras").exists()
    every = _attach(cbks.ModelCheckpoint(tmp_path / "e{epoch}.keras"), model)
    _drive(every, [0.5, 0.9, 0.7])
    assert sorted(p for p in os.listdir(tmp_path)) == ["e1.keras", "e2.keras", "e3.keras"]


def test_model_checkpoint_weights_only_and_batch_frequency(tmp_path):
    x, y = _data()
    model = _model()
    checkpoint = cbks.ModelCheckpoint(tmp_path / "w-{epoch}-{batch}.weights.safetensors", save_freq=3)
    model.fit(x, y, batch_size=16, epochs=2, verbose=0, callbacks=[checkpoint])  # 4 batches per epoch
    assert sorted(os.listdir(tmp_path)) == ["w-1-3.weights.safetensors", "w-2-2.weights.safetensors"]
    final = model.get_weights()
    fresh = _model()
    fresh.build((None, 4))
    fresh.load_weights(tmp_path / "w-2-2.weights.safetensors")
    assert not np.array_equal(fresh.get_weights()[0], final[0])  # saved mid-epoch, before the last steps

    weights_only = cbks.ModelCheckpoint(tmp_path / "last.weights.safetensors", save_weights_only=True)
    model.fit(x, y, batch_size=16, epochs=1, verbose=0, callbacks=[weights_only])
    fresh.load_weights(tmp_path / "last.weights.safetensors")
    _assert_weights_equal(fresh.get_weights(), model.get_weights())


def test_model_checkpoint_validates_arguments(tmp_path):
    with pytest.raises(ValueError, match="must end in '.keras'.*'m.h5'"):
        cbks.ModelCheckpoint("m.h5")
    with pytest.raises(ValueError, match="save_weights_only=True.*.weights.safetensors"):
        cbks.ModelCheckpoint("m.keras", save_weights_only=True)
    with pytest.raises(ValueError, match="save_freq"):
        cbks.ModelCheckpoint("m.keras", save_freq="batch")
    with pytest.raises(ValueError, match="mode"):
        cbks.ModelCheckpoint("m.keras", mode="lowest")
    model = _model()
    model.build((None, 4))
    checkpoint = _attach(cbks.ModelCheckpoint(tmp_path / "m-{val_acc:.2f}.keras"), model)
    with pytest.raises(KeyError, match="val_acc"):
        _drive(checkpoint, [0.5])


def test_model_checkpoint_interrupted_write_keeps_the_previous_file(tmp_path, monkeypatch):
    x, _ = _data()
    model = _model()
    model.build((None, 4))
    path = tmp_path / "best.keras"
    checkpoint = _attach(cbks.ModelCheckpoint(path, save_best_only=True), model)
    checkpoint.on_train_begin()
    checkpoint.on_epoch_end(0, {"val_loss": 1.0})
    saved = path.read_bytes()
    expected = model.predict(x[:4], verbose=0)
    model.set_weights([w * np.float32(2.0) for w in model.get_weights()])

    def disk_full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)  # the save dies after writing part of the data
    with pytest.raises(OSError, match="No space left"):
        checkpoint.on_epoch_end(1, {"val_loss": 0.5})
    monkeypatch.undo()
    assert path.read_bytes() == saved and os.listdir(tmp_path) == ["best.keras"]
    np.testing.assert_allclose(keras.models.load_model(path).predict(x[:4], verbose=0), expected, rtol=1e-6)


# ------------------------------------------------------------------------------------------ CSVLogger
def _read_csv(path, separator=","):
    with open(path, newline="", encoding="utf-8") as stream:
        return list(csv.reader(stream, delimiter=separator))


def test_csv_logger_writes_header_and_one_flushed_row_per_epoch(tmp_path):
    x, y = _data()
    model = _model()
    path = tmp_path / "log.csv"
    rows_seen_during_training = []
    logger = cbks.CSVLogger(path)
    reader = cbks.LambdaCallback(on_epoch_end=lambda epoch, logs: rows_seen_during_training.append(
        len(_read_csv(path))))
    history = model.fit(x, y, batch_size=16, epochs=3, validation_data=(x[:32], y[:32]), verbose=0,
                        callbacks=[logger, reader])
    rows = _read_csv(path)
    assert rows[0] == ["epoch", "accuracy", "loss", "val_accuracy", "val_loss"]
    assert [row[0] for row in rows[1:]] == ["0", "1", "2"]
    for column, key in enumerate(rows[0][1:], start=1):
        assert [float(row[column]) for row in rows[1:]] == history.history[key]
    assert rows_seen_during_training == [2, 3, 4]  # header + rows so far: each row is flushed

    model.fit(x, y, batch_size=16, epochs=2, validation_data=(x[:32], y[:32]), verbose=0,
              callbacks=[cbks.CSVLogger(path, append=True)])
    rows = _read_csv(path)
    assert len(rows) == 6 and rows[0][0] == "epoch" and [row[0] for row in rows[4:]] == ["0", "1"]


def test_csv_logger_separator_and_missing_validation(tmp_path):
    x, y = _data()
    model = _model()
    path = tmp_path / "log.csv"
    model.fit(x, y, batch_size=32, epochs=2, verbose=0, callbacks=[cbks.CSVLogger(path, separator=";")])
    rows = _read_csv(path, ";")
    assert rows[0] == ["epoch", "accuracy", "loss", "val_accuracy", "val_loss"]
    assert all(row[3:] == ["NA", "NA"] for row in rows[1:]) and len(rows) == 3
    with pytest.raises(ValueError, match="separator"):
        cbks.CSVLogger(path, separator=";;")


# ------------------------------------------------------------------------------------ ReduceLROnPlateau
def test_reduce_lr_on_plateau_factor_patience_cooldown_and_floor():
    model = _model(learning_rate=1.0)
    reducer = _attach(cbks.ReduceLROnPlateau(factor=0.5, patience=2, cooldown=1, min_lr=0.2), model)
    reducer.on_train_begin()
    logged, after = [], []
    for epoch in range(9):
        logs = {"val_loss": 1.0}
        reducer.on_epoch_end(epoch, logs)
        logged.append(logs["learning_rate"])
        after.append(model.optimizer.learning_rate)
    assert after == pytest.approx([1.0, 1.0, 0.5, 0.5, 0.25, 0.25, 0.2, 0.2, 0.2])
    assert logged == pytest.approx([1.0, 1.0, 1.0, 0.5, 0.5, 0.25, 0.25, 0.2, 0.2])


def test_reduce_lr_on_plateau_min_delta_improvements_and_fit(capsys):
    model = _model(learning_rate=1.0)
    reducer = _attach(cbks.ReduceLROnPlateau(factor=0.1, patience=1, verbose=1), model)
    _drive(reducer, [1.0, 0.5, 0.49995])  # the last change is below min_delta=1e-4: no improvement
    assert model.optimizer.learning_rate == pytest.approx(0.1)
    assert "Epoch 3: ReduceLROnPlateau reducing learning rate to 0.1" in capsys.readouterr().out
    with pytest.raises(ValueError, match="factor"):
        cbks.ReduceLROnPlateau(factor=1.0)

    x, y = _data()
    model = _model(learning_rate=0.1)
    history = model.fit(x, y, batch_size=16, epochs=3, verbose=0,
                        callbacks=[cbks.ReduceLROnPlateau(monitor="loss", patience=0, min_delta=100.0)])
    # each epoch logs the rate it trained with; the reduction applies from the next epoch
    assert history.history["learning_rate"] == pytest.approx([0.1, 0.1, 0.01])
    assert model.optimizer.inner.param_groups[0]["lr"] == pytest.approx(0.001)


# ----------------------------------------------------------------------------- TerminateOnNaN, Lambda
def test_terminate_on_nan_stops_after_the_first_bad_batch(capsys):
    x, y = _data()
    x[:16] = np.nan
    model = _model()
    batches = []
    counter = cbks.LambdaCallback(on_train_batch_end=lambda batch, logs: batches.append(batch))
    history = model.fit(x, y, batch_size=16, epochs=5, shuffle=False, verbose=0,
                        callbacks=[cbks.TerminateOnNaN(), counter])
    assert batches == [0] and len(history.history["loss"]) == 1
    assert "Batch 0: Invalid loss, terminating training" in capsys.readouterr().out

    guard = _attach(cbks.TerminateOnNaN(), model)
    model.stop_training = False
    guard.on_train_batch_end(0, {"loss": 0.3})
    assert model.stop_training is False
    guard.on_train_batch_end(1, {"loss": float("inf")})
    assert model.stop_training is True


def test_lambda_callback_calls_each_hook():
    x, y = _data()
    model = _model()
    calls = []
    callback = cbks.LambdaCallback(
        on_train_begin=lambda logs: calls.append("train_begin"),
        on_epoch_begin=lambda epoch, logs: calls.append(f"epoch_begin {epoch}"),
        on_train_batch_begin=lambda batch, logs: calls.append(f"batch_begin {batch}"),
        on_train_batch_end=lambda batch, logs: calls.append(f"batch_end {batch} {sorted(logs)}"),
        on_epoch_end=lambda epoch, logs: calls.append(f"epoch_end {epoch} {logs['loss']:.3f}"),
        on_train_end=lambda logs: calls.append("train_end"),
        on_test_begin=lambda logs: calls.append("test_begin"),
    )
    history = model.fit(x, y, batch_size=32, epochs=2, verbose=0, callbacks=[callback])
    losses = history.history["loss"]
    assert calls == [
        "train_begin",
        "epoch_begin 0", "batch_begin 0", "batch_end 0 ['accuracy', 'loss']", "batch_begin 1",
        "batch_end 1 ['accuracy', 'loss']", f"epoch_end 0 {losses[0]:.3f}",
        "epoch_begin 1", "batch_begin 0", "batch_end 0 ['accuracy', 'loss']", "batch_begin 1",
        "batch_end 1 ['accuracy', 'loss']", f"epoch_end 1 {losses[1]:.3f}",
        "train_end",
    ]
    model.evaluate(x, y, verbose=0, callbacks=[callback])
    assert calls[-1] == "test_begin"
    with pytest.raises(TypeError, match="unknown hooks.*on_epoch_finish"):
        cbks.LambdaCallback(on_epoch_finish=print)
    with pytest.raises(TypeError, match="on_epoch_end must be callable"):
        cbks.LambdaCallback(on_epoch_end=3)


# ---------------------------------------------------------------------------------- OverfittingMonitor
def _falling_loss(epoch):
    return {"loss": 1.0 - 0.05 * epoch}


def test_overfitting_monitor_fires_once_per_episode(capsys):
    model = _model()
    monitor = cbks.OverfittingMonitor()
    _drive(monitor, [1.0, 0.8, 0.7, 0.75, 0.8, 0.9, 0.6, 0.65, 0.7], model=model, extra=_falling_loss)
    assert monitor.overfitting_epochs == [4, 8]
    assert monitor.best_epoch == 6 and monitor.best == 0.6
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines == [
        "OverfittingMonitor: val_loss has risen for 2 epochs while loss kept falling; best epoch was 3 "
        "(val_loss 0.7000)",
        "OverfittingMonitor: val_loss has risen for 2 epochs while loss kept falling; best epoch was 7 "
        "(val_loss 0.6000)",
    ]
    assert model.stop_training is False


def test_overfitting_monitor_stays_quiet_otherwise(capsys):
    model = _model()
    both_rise = cbks.OverfittingMonitor()
    _drive(both_rise, [1.0, 1.1, 1.2, 1.3], model=model, extra=lambda epoch: {"loss": 1.0 + 0.1 * epoch})
    one_rise = cbks.OverfittingMonitor()
    _drive(one_rise, [1.0, 0.9, 1.0, 0.8, 0.85, 0.7], model=model, extra=_falling_loss)
    flat_train = cbks.OverfittingMonitor(patience=1)
    _drive(flat_train, [1.0, 1.1], model=model, extra=lambda epoch: {"loss": 0.5})
    assert both_rise.overfitting_epochs == one_rise.overfitting_epochs == flat_train.overfitting_epochs == []
    assert capsys.readouterr().out == ""
    quiet = cbks.OverfittingMonitor(patience=1, verbose=0)
    _drive(quiet, [1.0, 1.1], model=model, extra=_falling_loss)
    assert quiet.overfitting_epochs == [1] and capsys.readouterr().out == ""


def test_overfitting_monitor_accuracy_direction_and_missing_keys(capsys):
    model = _model()
    monitor = cbks.OverfittingMonitor(monitor="val_accuracy", train_monitor="accuracy", patience=1)
    _drive(monitor, [0.8, 0.9, 0.85], key="val_accuracy", model=model,
           extra=lambda epoch: {"accuracy": 0.7 + 0.1 * epoch})
    assert monitor.overfitting_epochs == [2] and monitor.best_epoch == 1
    assert capsys.readouterr().out.strip() == (
        "OverfittingMonitor: val_accuracy has fallen for 1 epochs while accuracy kept rising; best epoch was 2 "
        "(val_accuracy 0.9000)")
    missing = cbks.OverfittingMonitor()
    with pytest.warns(UserWarning, match="'val_loss' is not in the logs") as caught:
        _drive(missing, [1.0, 2.0, 3.0], key="loss", model=model)
    assert len(caught) == 1 and missing.overfitting_epochs == [] and missing.best_epoch is None
    with pytest.raises(ValueError, match="patience"):
        cbks.OverfittingMonitor(patience=0)


# -------------------------------------------------------------------------------------- PlotTraining
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_plot_training_writes_png_and_marks_the_monitor_best_epoch(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    from matplotlib.image import imread

    from ember import plot

    calls = []
    real = plot.training_curves

    def spy(history, path, **kwargs):
        calls.append((dict(history.history), kwargs["best_epoch"]))
        return real(history, path, **kwargs)

    monkeypatch.setattr(plot, "training_curves", spy)
    x, y = _data()
    model = _model(learning_rate=0.5)
    monitor = cbks.OverfittingMonitor(verbose=0)
    path = tmp_path / "curves.png"
    plotter = cbks.PlotTraining(path, overfitting_monitor=monitor)
    history = model.fit(x, y, batch_size=32, epochs=2, validation_data=(x[:32], y[:32]), verbose=0,
                        callbacks=[monitor, plotter])
    assert len(calls) == 3  # after each epoch and at the end
    assert calls[-1][0] == history.history and calls[-1][1] == monitor.best_epoch is not None
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    assert imread(path).shape[:2] == (360, 960)  # two panels (loss, accuracy) of 4.8 x 3.6 inches at 100 dpi
    assert os.listdir(tmp_path) == ["curves.png"]

    calls.clear()
    quiet = cbks.PlotTraining(tmp_path / "end.png", metrics=["loss"], every_epoch=False)
    model.fit(x, y, batch_size=32, epochs=2, verbose=0, callbacks=[quiet])
    assert len(calls) == 1 and calls[0][1] is None
    assert imread(tmp_path / "end.png").shape[:2] == (360, 480)


def test_plot_training_validates_arguments():
    pytest.importorskip("matplotlib")
    with pytest.raises(ValueError, match="PlotTraining.*.png.*curves.jpg"):
        cbks.PlotTraining("curves.jpg")
    with pytest.raises(TypeError, match="OverfittingMonitor"):
        cbks.PlotTraining(overfitting_monitor=cbks.EarlyStopping())
