"""``model.export(path, format="onnx")`` on Keras models: the codelab's dense, convnet and batch-norm convnet,
and functional models; inputs named after the model's Inputs, the batch axis dynamic."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("onnx", reason='onnx is not installed: pip install "ember[onnx]"')
pytest.importorskip("onnxruntime", reason='onnxruntime is not installed: pip install "ember[onnx]"')

import ember
from ember import keras
from ember.tutorials import mnist_codelab

from .helpers import assert_matches, load_checked


def _randomize_batch_norm(model, rng):
    """Running statistics away from (0, 1), so that the test sees them used."""
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            for name, buffer in layer.named_buffers():
                size = buffer.shape
                buffer.array[...] = (rng.uniform(0.5, 2.0, size) if "var" in name else rng.normal(0, 0.5, size))


@pytest.mark.parametrize("make", [
    mnist_codelab.dense_softmax,
    lambda: mnist_codelab.dense_layers("relu", dropout=0.25),
    lambda: mnist_codelab.convnet(dropout=0.25),
    mnist_codelab.batchnorm_convnet,
], ids=["dense-softmax", "dense-relu-dropout", "convnet", "batchnorm-convnet"])
def test_codelab_models(tmp_path, rng, make, capsys):
    model = make()
    _randomize_batch_norm(model, rng)
    path = tmp_path / "codelab.onnx"
    model.export(path, format="onnx")
    assert "Saved artifact" in capsys.readouterr().out
    proto = load_checked(path)
    (graph_input,) = proto.graph.input
    assert graph_input.type.tensor_type.shape.dim[0].dim_param == "batch"
    images = rng.random((7, 784), dtype=np.float32)
    (probabilities,) = assert_matches(path, model, [images], [graph_input.name])
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_functional_model_with_two_inputs(tmp_path, rng):
    image = keras.Input(shape=(12, 12, 3), name="image")
    extra = keras.Input(shape=(5,), name="extra")
    x = keras.layers.Conv2D(4, 3, activation="relu")(image)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    joined = keras.layers.Concatenate()([x, keras.layers.Dense(3, activation="tanh")(extra)])
    logits = keras.layers.Dense(4)(keras.layers.LayerNormalization()(joined))
    scores = keras.layers.Activation("softmax")(logits)
    model = keras.Model(inputs=[image, extra], outputs=[scores, logits])
    _randomize_batch_norm(model, rng)
    path = tmp_path / "functional.onnx"
    model.export(path, format="onnx", verbose=False)
    proto = load_checked(path)
    assert [i.name for i in proto.graph.input] == ["image", "extra"]
    assert [o.name for o in proto.graph.output] == ["output_0", "output_1"]
    inputs = [rng.standard_normal((3, 12, 12, 3)).astype(np.float32), rng.standard_normal((3, 5)).astype(np.float32)]
    assert_matches(path, model, inputs, ["image", "extra"])


def test_sequential_recurrent_and_embedding(tmp_path, rng):
    model = keras.Sequential([
        keras.Input(shape=(6,), name="tokens"),  # float32, as every Ember Keras input
        keras.layers.Embedding(30, 8),
        keras.layers.LSTM(5, return_sequences=True),
        keras.layers.GRU(4),
        keras.layers.Dense(3, activation="softmax"),
    ]) if hasattr(keras.layers, "GRU") else pytest.skip("no Keras GRU layer")
    path = tmp_path / "recurrent.onnx"
    model.export(path, format="onnx", verbose=False)
    proto = load_checked(path)
    assert proto.graph.input[0].name == "tokens"
    assert_matches(path, model, [rng.integers(0, 30, (4, 6)).astype(np.float32)], ["tokens"])


def test_export_rejects_other_formats(tmp_path):
    model = mnist_codelab.dense_softmax()
    with pytest.raises(ValueError, match="format='onnx' only"):
        model.export(tmp_path / "m", format="tf_saved_model")


def test_unbuilt_model_is_named(tmp_path):
    model = keras.Sequential([keras.layers.Dense(3)])
    with pytest.raises(ValueError, match="not built"):
        model.export(tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()
    assert ember.onnx.DEFAULT_OPSET == 17


def test_keras_temporal_layers_and_merges(tmp_path, rng):
    inputs = keras.Input(shape=(10, 4), name="series")
    x = keras.layers.Conv1D(6, 3, padding="same", activation="gelu")(inputs)
    pooled = keras.layers.MaxPooling1D(2)(x)
    averaged = keras.layers.AveragePooling1D(2)(x)
    merged = keras.layers.Add()([pooled, keras.layers.Multiply()([averaged, pooled])])
    sequence = keras.layers.Bidirectional(keras.layers.LSTM(3, return_sequences=True))(merged)
    summary = keras.layers.GlobalMaxPooling1D()(sequence)
    recurrent = keras.layers.GRU(4)(keras.layers.SimpleRNN(5, return_sequences=True)(merged))
    outputs = keras.layers.Dense(2)(keras.layers.Concatenate()([summary, recurrent]))
    model = keras.Model(inputs, outputs)
    path = tmp_path / "temporal.onnx"
    model.export(path, format="onnx", verbose=False)
    assert_matches(path, model, [rng.standard_normal((3, 10, 4)).astype(np.float32)], ["series"])
