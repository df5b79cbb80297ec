"""compile/fit/evaluate/predict: what Keras users rely on, and the logits path for softmax outputs."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import ember
from ember import keras


def _blobs(n=300, features=8, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((classes, features)) * 3
    labels = rng.integers(0, classes, n)
    x = (centres[labels] + rng.standard_normal((n, features))).astype(np.float32)
    return x, labels


def _model(classes=3):
    return keras.Sequential([keras.layers.Input(shape=(8,)), keras.layers.Dense(16, activation="relu"),
                             keras.layers.Dense(classes, activation="softmax")])


def test_fit_learns_and_history_holds_floats():
    x, y = _blobs()
    model = _model()
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(x, y, batch_size=32, epochs=8, validation_split=0.2, verbose=0)
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(isinstance(v, float) for values in history.history.values() for v in values)
    assert len(history.history["loss"]) == 8 and history.epoch == list(range(8))
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert history.history["val_accuracy"][-1] > 0.9
    loss, accuracy = model.evaluate(x, y, verbose=0)
    assert accuracy > 0.9 and loss < 0.5
    probabilities = model.predict(x, verbose=0)
    assert isinstance(probabilities, np.ndarray) and probabilities.shape == (300, 3)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    assert (np.argmax(probabilities, axis=1) == y).mean() == pytest.approx(accuracy, abs=1e-6)


def test_categorical_one_hot_labels_and_accuracy_choice():
    x, y = _blobs()
    model = _model()
    model.compile("adam", "categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, keras.utils.to_categorical(y, 3), epochs=2, verbose=0)
    assert type(model.metrics_objects[0]).__name__ == "CategoricalAccuracy"
    model = _model()
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["acc"])
    history = model.fit(x, y, epochs=1, verbose=0)
    assert "acc" in history.history


def test_softmax_output_trains_from_logits_without_overflow():
    """Huge logits: probabilities underflow to exactly 0 in float32, the loss must stay finite and exact."""
    model = keras.Sequential([keras.layers.Input(shape=(2,)), keras.layers.Dense(2, activation="softmax")])
    model.set_weights([np.array([[200.0, -200.0], [0.0, 0.0]], dtype=np.float32), np.zeros(2, np.float32)])
    model.compile(keras.optimizers.SGD(0.0), "sparse_categorical_crossentropy")
    x = np.array([[1.0, 0.0]], dtype=np.float32)
    loss = model.evaluate(x, np.array([1]), verbose=0)
    assert loss == pytest.approx(400.0, rel=1e-5)  # log-softmax of the logits: exactly 400, not -log(1e-7)
    explicit = keras.Sequential([keras.layers.Input(shape=(2,)), keras.layers.Dense(2)])
    explicit.set_weights(model.get_weights())
    explicit.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    assert explicit.evaluate(x, np.array([1]), verbose=0) == pytest.approx(400.0, rel=1e-5)


def test_fit_on_a_pipeline_and_a_dataloader():
    x, y = _blobs()
    model = _model()
    model.compile(keras.optimizers.Adam(0.02), "sparse_categorical_crossentropy", metrics=["accuracy"])
    dataset = ember.data.Dataset.from_tensor_slices((x, y)).shuffle(300).batch(32).repeat()
    history = model.fit(dataset, steps_per_epoch=10, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2
    loader = ember.data.DataLoader(ember.data.TensorDataset(ember.tensor(x), ember.tensor(y)), batch_size=50)
    history = model.fit(loader, epochs=3, verbose=0)
    assert len(history.history["loss"]) == 3
    assert history.history["accuracy"][-1] > 0.9


def test_train_and_test_on_batch_and_class_weight():
    x, y = _blobs(64)
    model = _model()
    model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
    loss, accuracy = model.train_on_batch(x, y)
    assert np.isfinite(loss) and 0.0 <= accuracy <= 1.0
    logs = model.test_on_batch(x, y, return_dict=True)
    assert set(logs) == {"loss", "accuracy"}
    model.fit(x, y, class_weight={0: 1.0, 1: 2.0, 2: 0.5}, epochs=1, verbose=0)


def test_verbose_output_formats(capsys):
    x, y = _blobs(64)
    model = _model()
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, batch_size=16, epochs=2, verbose=2)
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == "Epoch 1/2" and lines[2] == "Epoch 2/2"
    assert lines[1].startswith("4/4 - ") and "loss: " in lines[1] and "accuracy: " in lines[1]
    model.fit(x, y, batch_size=16, epochs=1, verbose=1)
    out = capsys.readouterr().out
    assert "4/4 [==============================]" in out


def test_compile_errors_and_optimizer_learning_rate():
    model = _model()
    with pytest.raises(RuntimeError, match="compile"):
        model.fit(np.zeros((4, 8), np.float32), np.zeros(4), verbose=0)
    with pytest.raises(ValueError, match="unknown optimizer"):
        model.compile("nadamax", "mse")
    model.compile(keras.optimizers.Adam(learning_rate=0.005), "mse")
    model.fit(np.zeros((4, 8), np.float32), np.zeros((4, 3), np.float32), verbose=0)
    model.optimizer.learning_rate = 0.001
    assert model.optimizer.inner.param_groups[0]["lr"] == 0.001


def test_stop_training_from_a_callback():
    class StopAfterTwo(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                self.model.stop_training = True

    x, y = _blobs(64)
    model = _model()
    model.compile("adam", "sparse_categorical_crossentropy")
    history = model.fit(x, y, epochs=10, callbacks=[StopAfterTwo()], verbose=0)
    assert len(history.history["loss"]) == 2


def test_regularizer_adds_to_the_loss():
    model = keras.Sequential([keras.layers.Input(shape=(2,)),
                              keras.layers.Dense(1, kernel_regularizer=keras.regularizers.l2(0.5))])
    model.set_weights([np.array([[1.0], [2.0]], np.float32), np.zeros(1, np.float32)])
    model.compile("sgd", "mse")
    loss = model.evaluate(np.zeros((1, 2), np.float32), np.zeros((1, 1), np.float32), verbose=0)
    assert loss == pytest.approx(0.5 * (1 + 4))


def test_large_inference_batches_run_in_chunks_with_the_same_results():
    x, y = _blobs(300)
    model = _model()
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    whole = model.evaluate(x, y, batch_size=300, verbose=0, return_dict=True)
    model.inference_chunk = 64
    chunked = model.evaluate(x, y, batch_size=300, verbose=0, return_dict=True)
    assert chunked["loss"] == pytest.approx(whole["loss"], rel=1e-5)
    assert chunked["accuracy"] == whole["accuracy"]
    np.testing.assert_allclose(model.predict(x, batch_size=300, verbose=0),
                               _model_predictions(model, x), rtol=1e-5, atol=1e-6)


def _model_predictions(model, x):
    return model(ember.tensor(x)).numpy()


def test_float64_and_uint8_inputs_train_in_float32():
    x, y = _blobs(64)
    model = _model()
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x.astype(np.float64), y, epochs=1, verbose=0)
    assert model.layers[0].kernel.dtype == np.float32
    assert model.predict(x.astype(np.float64), verbose=0).dtype == np.float32
    assert model.predict(np.clip(x, 0, 255).astype(np.uint8), verbose=0).dtype == np.float32


def test_device_setting_validates_and_defaults_to_the_cpu_without_a_gpu():
    assert keras.config.device() == "auto"
    with pytest.raises(ValueError, match="tpu"):
        keras.config.set_device("tpu")
    if not ember.cuda.is_available():
        assert str(keras.config.resolve_device()) == "cpu"
    keras.config.set_device("cpu")
    try:
        model = _model()
        model.compile("adam", "mse")
        assert str(model._device()) == "cpu"
    finally:
        keras.config.set_device("auto")


# ------------------------------------------------------------------ compile arguments that do something or warn
def test_compile_defaults_and_honoured_values_do_not_warn():
    model = _model()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.compile("sgd", "mse")
        model.compile("sgd", "mse", run_eagerly=True, steps_per_execution=1, jit_compile=False,
                      auto_scale_loss=False, loss_weights=1.0)
        model.compile("sgd", "mse", run_eagerly=None, steps_per_execution=None, jit_compile=None,
                      auto_scale_loss=None)


@pytest.mark.parametrize("argument, value", [("jit_compile", True), ("steps_per_execution", 8)])
def test_compile_arguments_without_effect_warn(argument, value):
    with pytest.warns(UserWarning, match=rf"compile: {argument}={value} has no effect in Ember"):
        _model().compile("sgd", "mse", **{argument: value})


@pytest.mark.parametrize("loss_weights", [0.25, [0.25], (0.25,), {"dense_1": 0.25}])
def test_loss_weights_scale_the_loss_and_its_gradient(loss_weights):
    x, y = _blobs(32)

    def trained(weights):
        ember.manual_seed(5)
        keras.backend.clear_session()
        model = _model()
        model.compile(keras.optimizers.SGD(0.1), "sparse_categorical_crossentropy", loss_weights=weights)
        before = model.evaluate(x, y, verbose=0)
        model.train_on_batch(x, y)
        return before, model.get_weights()

    plain_loss, _ = trained(None)
    weighted_loss, weighted_weights = trained(loss_weights)
    assert weighted_loss == pytest.approx(0.25 * plain_loss, rel=1e-6)
    ember.manual_seed(5)
    keras.backend.clear_session()
    reference = _model()
    reference.compile(keras.optimizers.SGD(0.1 * 0.25), "sparse_categorical_crossentropy")  # same step
    reference.train_on_batch(x, y)
    for got, expected in zip(weighted_weights, reference.get_weights()):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)


def test_loss_weights_leave_regularization_unscaled_and_reject_several_outputs():
    model = keras.Sequential([keras.layers.Input(shape=(2,)),
                              keras.layers.Dense(1, kernel_regularizer=keras.regularizers.l2(0.5))])
    model.set_weights([np.array([[1.0], [2.0]], np.float32), np.zeros(1, np.float32)])
    model.compile("sgd", "mse", loss_weights=3.0)
    x, target = np.array([[1.0, 0.0]], np.float32), np.zeros((1, 1), np.float32)
    assert model.evaluate(x, target, verbose=0) == pytest.approx(3.0 * 1.0 + 0.5 * (1 + 4))
    with pytest.raises(ValueError, match="one loss weight"):
        model.compile("sgd", "mse", loss_weights=[1.0, 2.0])
    with pytest.raises(TypeError, match="loss_weights must be a number"):
        model.compile("sgd", "mse", loss_weights="heavy")
    with pytest.raises(ValueError, match=r"names outputs \['dense_9'\]; the model's output is \['dense'\]"):
        model.compile("sgd", "mse", loss_weights={"dense_9": 1.0})


def test_predict_verbose_prints_keras_progress_line(capsys):
    x, _ = _blobs(64)
    model = _model()
    model.predict(x, batch_size=16, verbose=0)
    assert capsys.readouterr().out == ""
    model.predict(x, batch_size=16, verbose=2)
    line = capsys.readouterr().out
    assert line.startswith("4/4 - ") and line.endswith("ms/step\n") and "loss" not in line
    model.predict(x, batch_size=16)
    assert "4/4 [==============================]" in capsys.readouterr().out


def test_summary_and_save_warn_for_arguments_without_effect(tmp_path, capsys):
    model = _model()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.summary(expand_nested=False, show_trainable=False)
        model.save(tmp_path / "m.keras", include_optimizer=True, save_format=None)
    with pytest.warns(UserWarning, match="summary: show_trainable=True has no effect in Ember"):
        model.summary(show_trainable=True)
    with pytest.warns(UserWarning, match="save: save_traces=False has no effect in Ember"):
        model.save(tmp_path / "m.keras", save_traces=False)
    with pytest.raises(TypeError, match="unexpected keyword argument 'overwite'"):
        model.save(tmp_path / "m.keras", overwite=True)
    capsys.readouterr()


def test_shuffle_batch_shuffles_whole_blocks_and_keeps_the_partial_one_last():
    from ember.keras.data_adapters import make_adapter

    x = np.arange(11, dtype=np.float32)[:, None]
    ember.manual_seed(0)
    orders = []
    for _ in range(4):
        batches = [xb[:, 0].astype(int).tolist() for xb, _, _ in make_adapter(x, None, None, 3, "batch").epoch()]
        assert sorted(batches[:3]) == [[0, 1, 2], [3, 4, 5], [6, 7, 8]] and batches[3] == [9, 10]
        orders.append(batches)
    assert any(batches[:3] != [[0, 1, 2], [3, 4, 5], [6, 7, 8]] for batches in orders)
