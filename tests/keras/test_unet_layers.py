"""Keras's Conv2DTranspose, UpSampling2D, GroupNormalization and optimizers' ``use_ema``, against Keras 3.

``fixtures/keras_unet.npz`` is written by ``fixtures/make_keras_unet_fixtures.py`` (Keras 3 on the torch
backend): each layer case's arguments, input, weights, output and gradients; each EMA run's gradients,
weights and moving averages step by step.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import ember
from ember import keras

FIXTURES = np.load(Path(__file__).parent / "fixtures" / "keras_unet.npz")
LAYER_CASES = sorted(key.split("/")[0] for key in FIXTURES.files if key.count("/") == 1 and key.endswith("/spec"))
EMA_RUNS = sorted(key.split("/")[1] for key in FIXTURES.files if key.startswith("ema/") and key.endswith("/spec"))


def stored(prefix: str, kind: str) -> list:
    count = sum(1 for key in FIXTURES.files if key.startswith(f"{prefix}/{kind}/"))
    return [FIXTURES[f"{prefix}/{kind}/{index}"] for index in range(count)]


def assert_close(got, want):
    got = got.numpy() if isinstance(got, ember.Tensor) else np.asarray(got)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * max(1.0, float(np.abs(want).max(initial=0))))


def make_layer(case: str):
    spec = json.loads(str(FIXTURES[f"{case}/spec"]))
    return getattr(keras.layers, spec["layer"])(**spec["kwargs"])


@pytest.mark.parametrize("case", LAYER_CASES)
def test_layer_matches_keras(case):
    layer = make_layer(case)
    x = ember.tensor(FIXTURES[f"{case}/input"], requires_grad=True)
    with ember.no_grad():
        layer(x)  # builds the weights
    weights = stored(case, "weight")
    assert [tuple(w.shape) for w in layer.get_weights()] == [w.shape for w in weights]
    layer.set_weights(weights)
    output = layer(x)
    assert output.dtype == np.float32
    assert_close(output, FIXTURES[f"{case}/output"])
    (output * ember.tensor(FIXTURES[f"{case}/upstream"])).sum().backward()
    assert_close(x.grad, FIXTURES[f"{case}/input_grad"])
    for weight, want in zip(layer.weights, stored(case, "grad")):
        assert_close(weight.grad, want)


def test_fixtures_cover_the_layers_and_options():
    specs = [json.loads(str(FIXTURES[f"{case}/spec"])) for case in LAYER_CASES]
    assert {"Conv2DTranspose", "UpSampling2D", "GroupNormalization"} == {spec["layer"] for spec in specs}
    assert {"same", "valid"} == {spec["kwargs"].get("padding", "valid") for spec in specs
                                 if spec["layer"] == "Conv2DTranspose"}
    assert len(EMA_RUNS) == 2


@pytest.mark.parametrize("run", EMA_RUNS)
def test_optimizer_ema_matches_keras(run):
    spec = json.loads(str(FIXTURES[f"ema/{run}/spec"]))
    layer = keras.layers.Dense(3)
    with ember.no_grad():
        layer(ember.zeros(1, 4))
    layer.set_weights(stored(f"ema/{run}", "initial/weight"))
    optimizer = getattr(keras.optimizers, spec["optimizer"])(**spec["kwargs"])
    parameters = list(layer.parameters())
    optimizer.build(parameters)
    step = 0
    while f"ema/{run}/step{step}/grad/0" in FIXTURES.files:
        for parameter, gradient in zip(parameters, stored(f"ema/{run}/step{step}", "grad")):
            parameter.grad = ember.tensor(gradient)
        optimizer.step()
        for parameter, want in zip(parameters, stored(f"ema/{run}/step{step}", "weight")):
            assert_close(parameter, want)
        averages = [optimizer._moving_averages[id(p)][1] for p in parameters]
        for average, want in zip(averages, stored(f"ema/{run}/step{step}", "average")):
            assert_close(average, want)
        step += 1
    assert step == 7
    optimizer.finalize_variable_values(parameters)
    for parameter, want in zip(parameters, stored(f"ema/{run}", "final/weight")):
        assert_close(parameter, want)


def test_fit_finalizes_the_weights_to_their_moving_average():
    ember.manual_seed(0)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.1, use_ema=True, ema_momentum=0.5), loss="mse")
    x = np.random.default_rng(0).standard_normal((64, 2)).astype(np.float32)
    y = x @ np.array([[1.0], [-2.0]], dtype=np.float32)
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    averages = [model.optimizer._moving_averages[id(p)][1] for p in model.parameters()]
    for parameter, average in zip(model.parameters(), averages):
        np.testing.assert_array_equal(parameter.numpy(), average)
    assert model.optimizer.get_config()["use_ema"] is True


def test_ema_argument_errors():
    with pytest.raises(ValueError, match=r"SGD: ema_momentum must be in the range \[0, 1\], received 1.5"):
        keras.optimizers.SGD(use_ema=True, ema_momentum=1.5)
    with pytest.raises(ValueError, match="Adam: ema_overwrite_frequency must be an integer >= 1 or None"):
        keras.optimizers.Adam(use_ema=True, ema_overwrite_frequency=0)


def test_layer_errors_name_the_layer_and_shapes():
    with pytest.raises(ValueError, match=r"Conv2DTranspose: each value of output_padding must be smaller than the "
                                         r"stride, received output_padding=\(2, 2\)"):
        keras.layers.Conv2DTranspose(2, 3, strides=2, output_padding=2)
    layer = keras.layers.Conv2DTranspose(2, 3)
    layer(ember.zeros(1, 4, 4, 3))
    with pytest.raises(ValueError, match=r"input with 3 channels on the last axis.*\(1, 4, 4, 5\)"):
        layer(ember.zeros(1, 4, 4, 5))
    with pytest.raises(ValueError, match="UpSampling2D: interpolation must be 'nearest' or 'bilinear'"):
        keras.layers.UpSampling2D(interpolation="bicubic")
    with pytest.raises(ValueError, match=r"GroupNormalization: the number of features on axis -1 \(6, input shape "
                                         r"\(2, 3, 6\)\) must be a multiple of groups \(4\)"):
        keras.layers.GroupNormalization(groups=4)(ember.zeros(2, 3, 6))
    norm = keras.layers.GroupNormalization(groups=2)
    norm(ember.zeros(2, 3, 4))
    with pytest.raises(ValueError, match=r"input with 4 features on axis -1.*\(2, 3, 6\)"):
        norm(ember.zeros(2, 3, 6))


def test_unet_decoder_trains_with_fit():
    """Conv2D down, Conv2DTranspose and UpSampling2D up, GroupNormalization between: fit lowers the loss."""
    ember.manual_seed(0)
    model = keras.Sequential([
        keras.Input((8, 8, 1)),
        keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="silu"),
        keras.layers.GroupNormalization(groups=4),
        keras.layers.Conv2DTranspose(8, 3, strides=2, padding="same", activation="silu"),
        keras.layers.UpSampling2D(interpolation="bilinear"),
        keras.layers.Conv2D(1, 3, strides=2, padding="same"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(3e-3, use_ema=True, ema_momentum=0.9), loss="mse")
    x = np.random.default_rng(1).standard_normal((32, 8, 8, 1)).astype(np.float32)
    history = model.fit(x, x, epochs=15, batch_size=8, verbose=0)
    assert model.predict(x, verbose=0).shape == x.shape
    assert history.history["loss"][-1] < 0.6 * history.history["loss"][0]


def test_moving_averages_are_saved_and_restored_with_the_optimizer_state():
    def trained_optimizer(steps):
        ember.manual_seed(0)
        layer = keras.layers.Dense(2)
        with ember.no_grad():
            layer(ember.zeros(1, 3))
        optimizer = keras.optimizers.SGD(0.1, use_ema=True, ema_momentum=0.7)
        parameters = list(layer.parameters())
        optimizer.build(parameters)
        rng = np.random.default_rng(0)
        for _ in range(steps):
            for parameter in parameters:
                parameter.grad = ember.tensor(rng.standard_normal(parameter.shape).astype(np.float32))
            optimizer.step()
        return optimizer, parameters

    trained, parameters = trained_optimizer(3)
    store: dict = {}
    trained.save_own_variables(store)
    assert {"0/average", "1/average"} <= set(store)
    fresh, fresh_parameters = trained_optimizer(0)
    fresh.load_own_variables(store)
    for parameter, fresh_parameter in zip(parameters, fresh_parameters):
        np.testing.assert_array_equal(fresh._moving_averages[id(fresh_parameter)][1],
                                      trained._moving_averages[id(parameter)][1])
    without_ema = keras.optimizers.SGD(0.1)
    without_ema.build(fresh_parameters)
    with pytest.raises(ValueError, match=r"SGD: state entry '0/average' .* is a moving average"):
        without_ema.load_own_variables(store)


def test_model_with_the_new_layers_saves_and_loads(tmp_path):
    model = keras.Sequential([
        keras.Input((4, 4, 2)),
        keras.layers.Conv2DTranspose(3, 3, strides=2, padding="same", output_padding=1),
        keras.layers.GroupNormalization(groups=3),
        keras.layers.UpSampling2D(interpolation="bilinear"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(use_ema=True, ema_overwrite_frequency=5), loss="mse")
    x = np.random.default_rng(0).random((2, 4, 4, 2)).astype(np.float32)
    model.fit(x, np.zeros((2, 16, 16, 3), np.float32), epochs=1, verbose=0)
    model.save(tmp_path / "unet.keras")
    restored = keras.models.load_model(tmp_path / "unet.keras")
    np.testing.assert_array_equal(restored.predict(x, verbose=0), model.predict(x, verbose=0))
    config = restored.optimizer.get_config()
    assert (config["use_ema"], config["ema_overwrite_frequency"]) == (True, 5)
    assert [type(layer).__name__ for layer in restored.layers] == ["Conv2DTranspose", "GroupNormalization",
                                                                   "UpSampling2D"]
