"""Saving Keras models: .keras archives (JSON config + safetensors), weights files, and corrupt files."""
from __future__ import annotations

import zipfile

import numpy as np
import pytest

import ember
from ember import keras

from ember.tutorials import mnist_codelab as codelab_models


def _trained(model, x, y):
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    return model


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    return rng.random((64, 784), dtype=np.float32), rng.integers(0, 10, 64)


def test_sequential_round_trip_predicts_identically(tmp_path, data):
    x, y = data
    model = _trained(codelab_models.batchnorm_convnet(), x, y)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in model.layers]
    assert loaded.loss is not None and type(loaded.optimizer).__name__ == "Adam"
    loaded.fit(x, y, epochs=1, verbose=0)  # compiled again from the archive


def test_functional_round_trip(tmp_path):
    inputs = keras.Input(shape=(5,))
    a = keras.layers.Dense(4, activation="relu")(inputs)
    b = keras.layers.Dense(4)(inputs)
    outputs = keras.layers.Dense(2, activation="softmax")(keras.layers.Add()([a, b]))
    model = keras.Model(inputs, outputs)
    model.save(tmp_path / "f.keras")
    loaded = keras.models.load_model(tmp_path / "f.keras")
    x = np.random.default_rng(0).standard_normal((3, 5)).astype(np.float32)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_archive_holds_json_and_safetensors_only(tmp_path):
    model = codelab_models.dense_softmax()  # compiled: the archive keeps the compile settings too
    model.save(tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as archive:
        assert sorted(archive.namelist()) == ["compile.json", "config.json", "model.weights.safetensors"]


def test_weights_files_round_trip(tmp_path, data):
    x, _ = data
    model = codelab_models.convnet()
    model.save_weights(tmp_path / "w.weights.safetensors")
    other = codelab_models.convnet()
    other.load_weights(tmp_path / "w.weights.safetensors")
    np.testing.assert_array_equal(other.predict(x[:4], verbose=0), model.predict(x[:4], verbose=0))
    with pytest.raises(ValueError, match="does not match"):
        codelab_models.dense_softmax().load_weights(tmp_path / "w.weights.safetensors")


def test_truncated_or_corrupt_files_raise_clear_errors(tmp_path):
    model = codelab_models.dense_softmax()
    path = tmp_path / "m.keras"
    model.save(path)
    payload = path.read_bytes()
    truncated = tmp_path / "truncated.keras"
    truncated.write_bytes(payload[: len(payload) // 2])
    with pytest.raises(ValueError, match="truncated.keras"):
        keras.models.load_model(truncated)
    garbage = tmp_path / "garbage.keras"
    garbage.write_bytes(b"not a zip at all")
    with pytest.raises(ValueError, match="not a valid .keras archive"):
        keras.models.load_model(garbage)
    model.save_weights(tmp_path / "w.weights.safetensors")
    weights = (tmp_path / "w.weights.safetensors").read_bytes()
    (tmp_path / "cut.weights.safetensors").write_bytes(weights[:-10])
    with pytest.raises(ValueError, match="cut.weights.safetensors.*truncated"):
        model.load_weights(tmp_path / "cut.weights.safetensors")


def test_save_refuses_other_extensions_and_unbuilt_models(tmp_path):
    with pytest.raises(ValueError, match=".keras"):
        codelab_models.dense_softmax().save(tmp_path / "m.h5")
    with pytest.raises(ValueError, match="not built"):
        keras.Sequential([keras.layers.Dense(2)]).save(tmp_path / "m.keras")


def test_custom_layer_needs_custom_objects(tmp_path):
    class Scale(keras.layers.Layer):
        def __init__(self, factor=2.0, **kwargs):
            super().__init__(**kwargs)
            self.factor = factor

        def call(self, inputs):
            return inputs * self.factor

        def get_config(self):
            return {**super().get_config(), "factor": self.factor}

    model = keras.Sequential([keras.Input(shape=(3,)), Scale(3.0), keras.layers.Dense(1)])
    model.save(tmp_path / "c.keras")
    with pytest.raises(ValueError, match="custom_objects"):
        keras.models.load_model(tmp_path / "c.keras")
    loaded = keras.models.load_model(tmp_path / "c.keras", custom_objects={"Scale": Scale})
    x = np.ones((2, 3), np.float32)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_ember_save_and_load_nested_state(tmp_path):
    model = ember.nn.Linear(3, 2)
    optimizer = ember.optim.Adam(model.parameters())
    model(ember.ones(1, 3)).sum().backward()
    optimizer.step()
    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": 3}
    ember.save(state, tmp_path / "checkpoint.safetensors")
    loaded = ember.load(tmp_path / "checkpoint.safetensors")
    assert loaded["epoch"] == 3
    np.testing.assert_array_equal(loaded["model"]["weight"].numpy(), model.weight.numpy())
    restored = ember.optim.Adam(ember.nn.Linear(3, 2).parameters())
    restored.load_state_dict(loaded["optimizer"])
    with pytest.raises(TypeError, match="cannot save a object"):
        ember.save({"bad": object()}, tmp_path / "bad.safetensors")


def test_compile_settings_keep_loss_weights_and_safe_mode_false_warns(tmp_path, data):
    x, y = data
    model = codelab_models.dense_softmax()
    model.compile("sgd", "sparse_categorical_crossentropy", loss_weights=0.5)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert loaded.loss_weight == 0.5
    assert loaded.evaluate(x, y, verbose=0) == pytest.approx(model.evaluate(x, y, verbose=0), rel=1e-6)
    with pytest.warns(UserWarning, match="load_model: safe_mode=False has no effect in Ember"):
        keras.models.load_model(tmp_path / "m.keras", safe_mode=False)


def test_ember_load_weights_only_false_warns(tmp_path):
    ember.save({"w": ember.ones(2)}, tmp_path / "state.safetensors")
    with pytest.warns(UserWarning, match="ember.load: weights_only=False has no effect in Ember"):
        state = ember.load(tmp_path / "state.safetensors", weights_only=False)
    np.testing.assert_array_equal(state["w"].numpy(), [1.0, 1.0])
