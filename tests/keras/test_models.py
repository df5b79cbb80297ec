"""Keras models: building, summary() parameter counts (Keras's rules), functional and subclassed models."""
from __future__ import annotations

import io
import warnings

import numpy as np
import pytest

import ember
from ember import keras

from ember.tutorials import mnist_codelab as codelab_models


def _counts(model):
    text = io.StringIO()
    model.summary(print_fn=lambda line: text.write(line + "\n"))
    lines = {line.split(":")[0]: line.split(":")[1].strip() for line in text.getvalue().splitlines() if "params:" in line}
    return {key: int(value.replace(",", "")) for key, value in lines.items()}, text.getvalue()


# Expected counts follow Keras's parameter rules: Dense in*out+out; Conv2D kh*kw*in*filters (+filters);
# BatchNormalization 4*C (gamma, beta trainable; moving mean/variance not), minus C without scale.
@pytest.mark.parametrize("builder, total, trainable", [
    (codelab_models.dense_softmax, 7_850, 7_850),
    (lambda: codelab_models.dense_layers("sigmoid", codelab_models.FIVE_LAYERS), 185_300, 185_300),
    (lambda: codelab_models.dense_layers("relu", dropout=0.25), 169_670, 169_670),
    (codelab_models.convnet, 354_002, 354_002),
    (codelab_models.batchnorm_convnet, 709_034, 708_362),
])
def test_summary_parameter_counts_match_keras(builder, total, trainable):
    counts, text = _counts(builder())
    assert counts == {"Total params": total, "Trainable params": trainable, "Non-trainable params": total - trainable}
    assert "Layer (type)" in text and "Output Shape" in text and "Param #" in text


def test_summary_rows_show_names_types_and_output_shapes():
    _, text = _counts(codelab_models.convnet())
    assert "conv2d (Conv2D)" in text and "(None, 28, 28, 12)" in text
    assert "conv2d_2 (Conv2D)" in text and "(None, 7, 7, 32)" in text
    assert "flatten (Flatten)" in text and "(None, 1568)" in text


def test_unbuilt_model_summary_explains():
    model = keras.Sequential([keras.layers.Dense(3)])
    with pytest.raises(ValueError, match="not been built"):
        model.summary()
    model(ember.zeros(2, 5))
    counts, _ = _counts(model)
    assert counts["Total params"] == 18


def test_sequential_add_pop_and_layers():
    model = keras.Sequential()
    model.add(keras.Input(shape=(4,)))
    model.add(keras.layers.Dense(8, activation="relu"))
    model.add(keras.layers.Dense(2))
    assert [layer.name for layer in model.layers] == ["dense", "dense_1"]
    assert model.output_shape == (None, 2)
    model.pop()
    assert len(model.layers) == 1


def test_layer_names_are_unique_and_snake_case():
    names = [keras.layers.Dense(2).name, keras.layers.Dense(2).name, keras.layers.BatchNormalization().name,
             keras.layers.MaxPooling2D().name, keras.layers.GlobalAveragePooling2D().name]
    assert names == ["dense", "dense_1", "batch_normalization", "max_pooling2d", "global_average_pooling2d"]


def test_bad_input_shape_gives_the_three_part_error():
    model = keras.Sequential([keras.layers.Dense(10, input_shape=(784,))])
    with pytest.raises(ValueError, match=r"Dense 'dense': expected input with last axis 784, received shape \(64, 28, 28, 1\)"):
        model(ember.zeros(64, 28, 28, 1))
    conv = keras.layers.Conv2D(4, 3)
    conv(ember.zeros(1, 8, 8, 3))
    with pytest.raises(ValueError, match="Conv2D 'conv2d'.*3 channels.*"):
        conv(ember.zeros(1, 8, 8, 1))


def test_dense_forward_matches_numpy():
    layer = keras.layers.Dense(3, activation="relu")
    x = np.random.default_rng(0).standard_normal((4, 5)).astype(np.float32)
    y = layer(ember.tensor(x))
    kernel, bias = layer.get_weights()
    assert kernel.shape == (5, 3) and bias.shape == (3,)
    np.testing.assert_allclose(y.numpy(), np.maximum(x @ kernel + bias, 0), rtol=1e-6)
    assert not bias.any(), "Keras biases start at zero"
    limit = np.sqrt(6 / (5 + 3))
    assert np.abs(kernel).max() <= limit


def test_conv2d_same_padding_matches_tensorflow_shapes_and_values():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 28, 28, 3)).astype(np.float32)
    for kernel, strides, expected in ((6, 1, 28), (5, 2, 14), (4, 2, 14)):
        layer = keras.layers.Conv2D(4, kernel, strides=strides, padding="same", use_bias=False)
        y = layer(ember.tensor(x))
        assert y.shape == (2, expected, expected, 4)


def test_conv2d_same_padding_value_reference():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((1, 9, 9, 2)).astype(np.float32)
    layer = keras.layers.Conv2D(3, 4, strides=2, padding="same", use_bias=False)
    y = layer(ember.tensor(x)).numpy()
    (w,) = layer.get_weights()
    # TensorFlow SAME: out = ceil(9/2) = 5, total pad = (5-1)*2 + 4 - 9 = 3 -> 1 before, 2 after
    padded = np.pad(x, ((0, 0), (1, 2), (1, 2), (0, 0)))
    reference = np.zeros((1, 5, 5, 3), dtype=np.float64)
    for i in range(5):
        for j in range(5):
            patch = padded[0, 2 * i:2 * i + 4, 2 * j:2 * j + 4, :]
            reference[0, i, j] = np.tensordot(patch, w, axes=([0, 1, 2], [0, 1, 2]))
    np.testing.assert_allclose(y, reference, rtol=1e-5, atol=1e-5)


def test_pooling_layers():
    x = ember.tensor(np.arange(2 * 4 * 4 * 3, dtype=np.float32).reshape(2, 4, 4, 3))
    y = keras.layers.MaxPooling2D()(x)
    assert y.shape == (2, 2, 2, 3)
    np.testing.assert_array_equal(y.numpy(), x.numpy().reshape(2, 2, 2, 2, 2, 3).max(axis=(2, 4)))
    average = keras.layers.AveragePooling2D()(x)
    np.testing.assert_allclose(average.numpy(), x.numpy().reshape(2, 2, 2, 2, 2, 3).mean(axis=(2, 4)))
    same = keras.layers.AveragePooling2D(pool_size=2, padding="same")(ember.ones(1, 3, 3, 1))
    np.testing.assert_allclose(same.numpy(), np.ones((1, 2, 2, 1)))  # padded cells are not counted
    pooled = keras.layers.GlobalAveragePooling2D()(x)
    np.testing.assert_allclose(pooled.numpy(), x.numpy().mean(axis=(1, 2)))


def test_batch_normalization_training_and_inference():
    layer = keras.layers.BatchNormalization(momentum=0.9)
    x = np.random.default_rng(0).standard_normal((32, 5)).astype(np.float32) * 3 + 2
    layer.train()
    y = layer(ember.tensor(x)).numpy()
    np.testing.assert_allclose(y.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(y.std(axis=0), 1, atol=1e-2)
    moving_mean = layer.moving_mean.numpy()
    np.testing.assert_allclose(moving_mean, 0.1 * x.mean(axis=0), rtol=1e-5)
    layer.eval()
    inference = layer(ember.tensor(x)).numpy()
    expected = (x - moving_mean) / np.sqrt(layer.moving_variance.numpy() + 1e-3)
    np.testing.assert_allclose(inference, expected, rtol=1e-4, atol=1e-5)
    assert [w.shape for w in layer.get_weights()] == [(5,)] * 4


def test_functional_model_with_shared_inputs():
    inputs = keras.Input(shape=(6,))
    left = keras.layers.Dense(4, activation="relu")(inputs)
    right = keras.layers.Dense(4, activation="tanh")(inputs)
    merged = keras.layers.Concatenate()([left, right])
    outputs = keras.layers.Dense(2)(merged)
    model = keras.Model(inputs, outputs)
    x = np.random.default_rng(0).standard_normal((3, 6)).astype(np.float32)
    y = model(ember.tensor(x)).numpy()
    d1, d2, d3 = model.get_layer("dense"), model.get_layer("dense_1"), model.get_layer("dense_2")
    hidden = np.concatenate([np.maximum(x @ d1.kernel.numpy(), 0), np.tanh(x @ d2.kernel.numpy())], axis=1)
    np.testing.assert_allclose(y, hidden @ d3.kernel.numpy() + d3.bias.numpy(), rtol=1e-5, atol=1e-6)
    assert model.output_shape == (None, 2)


def test_subclassed_model():
    class TwoLayer(keras.Model):
        def __init__(self):
            super().__init__()
            self.hidden = keras.layers.Dense(8, activation="relu")
            self.out = keras.layers.Dense(3)

        def call(self, inputs, training=None):
            return self.out(self.hidden(inputs))

    model = TwoLayer()
    assert model.name == "two_layer"
    y = model(ember.zeros(5, 4))
    assert y.shape == (5, 3)
    assert len(model.trainable_weights) == 4


def test_trainable_false_freezes_weights():
    layer = keras.layers.Dense(2)
    layer(ember.zeros(1, 3))
    layer.trainable = False
    assert layer.trainable_weights == [] and len(layer.non_trainable_weights) == 2


def test_set_weights_checks_shapes():
    layer = keras.layers.Dense(2)
    layer(ember.zeros(1, 3))
    with pytest.raises(ValueError, match=r"weight 0 has shape \(3, 2\).*\(2, 2\)"):
        layer.set_weights([np.zeros((2, 2)), np.zeros(2)])


def test_flatten_channels_first_flattens_in_channels_last_order():
    images = np.arange(2 * 3 * 2 * 2, dtype=np.float32).reshape(2, 3, 2, 2)  # (batch, channels, h, w)
    channels_first = keras.layers.Flatten(data_format="channels_first")(ember.tensor(images)).numpy()
    channels_last = keras.layers.Flatten()(ember.tensor(images.transpose(0, 2, 3, 1))).numpy()
    np.testing.assert_array_equal(channels_first, channels_last)
    np.testing.assert_array_equal(keras.layers.Flatten()(ember.tensor(images)).numpy(), images.reshape(2, -1))
    assert keras.layers.Flatten(data_format="channels_first").get_config()["data_format"] == "channels_first"
    with pytest.raises(ValueError, match="Flatten: data_format must be"):
        keras.layers.Flatten(data_format="nchw")


def test_dropout_seed_warns_that_it_has_no_effect():
    with pytest.warns(UserWarning, match="Dropout: seed=3 has no effect in Ember"):
        keras.layers.Dropout(0.5, seed=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        keras.layers.Dropout(0.5)


def test_input_dtype_other_than_float32_warns_at_the_callers_line():
    with pytest.warns(UserWarning, match="Input: dtype='int32' has no effect in Ember") as record:
        keras.Input(shape=(3,), dtype="int32")
    assert record[0].filename == __file__
    with pytest.warns(UserWarning, match="InputLayer: dtype='float64' has no effect in Ember") as record:
        keras.layers.InputLayer(input_shape=(3,), dtype="float64")
    assert record[0].filename == __file__
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        keras.Input(shape=(3,), dtype="float32")
        keras.layers.InputLayer(input_shape=(3,))


def test_subclassed_model_tracks_layers_held_in_a_list():
    class Stack(keras.Model):
        def __init__(self):
            super().__init__()
            self.blocks = [keras.layers.Dense(4), keras.layers.Dropout(0.5), keras.layers.Dense(2)]

        def call(self, x, training=None):
            for block in self.blocks:
                x = block(x, training=training)
            return x

    model = Stack()
    assert model(np.ones((3, 5), np.float32)).shape == (3, 2)
    assert [name for name, _ in model.named_parameters()] == [
        "blocks.0.kernel", "blocks.0.bias", "blocks.2.kernel", "blocks.2.bias"]
    assert len(model.trainable_weights) == 4 and len(model.blocks) == 3
    model.eval()
    assert not model.blocks[1].training  # train()/eval() reach the layers in the list
