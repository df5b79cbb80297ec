"""Ember's Keras recurrent, masking, TimeDistributed and 1-d convolution and pooling layers against real Keras
3: the same weights give the same outputs and gradients (float32, within 1e-5).

The reference arrays come from ``tests/keras/fixtures/make_keras_rnn_fixtures.py`` (run with Keras on its
PyTorch backend); each case's model is built here from the same JSON spec, with Ember's layers.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import ember
from ember import keras
from ember.keras import layers

FIXTURES = Path(__file__).parent / "fixtures" / "keras_rnn_fixtures.npz"


def _load():
    with np.load(FIXTURES) as stored:
        values, meta = stored["values"], json.loads(stored["spec"].tobytes().decode())
    arrays = {}
    for key, (offset, shape, dtype) in meta["index"].items():
        size = int(np.prod(shape, dtype=np.int64))
        arrays[key] = values[offset:offset + size].reshape(shape).astype(dtype)
    return meta, arrays


META, ARRAYS = _load()
CASES = META["cases"]
TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}


def _build_layer(spec):
    config = dict(spec["config"])
    if "backward_layer" in spec:
        config["backward_layer"] = _build_layer(spec["backward_layer"])
    if "layer" in spec:
        config["layer"] = _build_layer(spec["layer"])
    return getattr(layers, spec["class"])(**config)


def _build_model(spec):
    model_layers = [_build_layer(s) for s in spec["layers"]]
    inputs = keras.Input(tuple(spec["input_shape"]))
    if spec["model"] == "sequential":
        return keras.Sequential([inputs, *model_layers])
    outputs = inputs
    for layer in model_layers:
        outputs = layer(outputs)
    return keras.Model(inputs, outputs)


def _case_arrays(name, group):
    prefix = f"{name}/{group}/"
    count = sum(key.startswith(prefix) for key in ARRAYS)
    return [ARRAYS[f"{prefix}{i}"] for i in range(count)]


def _numpy(tensor):
    return tensor.detach().numpy()


def test_fixtures_come_from_keras_3_on_torch():
    assert META["keras"].startswith("3.") and META["backend"] == "torch"
    assert len(CASES) > 100


@pytest.mark.parametrize("fast_paths", [True, False], ids=["fast", "reference"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_outputs_and_gradients_match_keras(name, fast_paths):
    # fast paths on: one sequence node per layer where there is no mask; off: one cell (or Ember ops) per step
    with ember.config.override(fast_paths=fast_paths):
        _check_case(name)


def _check_case(name):
    spec = CASES[name]
    model = _build_model(spec)
    weights = _case_arrays(name, "weight")
    model.set_weights(weights)
    assert model.count_params() == META["params"][name]
    x = ARRAYS[f"{name}/x"]
    float_input = spec["inputs"] != "tokens"
    x_tensor = ember.tensor(x, requires_grad=float_input)
    outputs = model(x_tensor, training=False)
    outputs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
    expected_outputs, projections = _case_arrays(name, "output"), _case_arrays(name, "project")
    assert len(outputs) == len(expected_outputs)
    loss = None
    for output, expected, projection in zip(outputs, expected_outputs, projections):
        np.testing.assert_allclose(_numpy(output), expected, **TOLERANCE)
        term = (output * ember.tensor(projection)).sum()
        loss = term if loss is None else loss + term
    loss.backward()
    if float_input:
        np.testing.assert_allclose(x_tensor.grad.numpy(), ARRAYS[f"{name}/grad_x"], **TOLERANCE)
    for index, (weight, expected) in enumerate(zip(model.weights, _case_arrays(name, "grad_weight"))):
        gradient = np.zeros(weight.shape, np.float32) if weight.grad is None else weight.grad.numpy()
        np.testing.assert_allclose(gradient, expected, **TOLERANCE, err_msg=f"gradient of weight {index}")


@pytest.mark.parametrize("name", sorted(META["summaries"]))
def test_summary_parameter_counts_match_keras(name, capsys):
    model = _build_model(META["summaries"][name])
    expected = META["summary_params"][name]
    assert model.count_params() == expected
    model.summary()
    assert f"Total params: {expected:,}" in capsys.readouterr().out


@pytest.mark.parametrize("kind", ["SimpleRNN", "LSTM", "GRU"])
def test_stateful_and_reset_state_match_keras(kind):
    name = f"stateful_{kind.lower()}"
    layer = getattr(layers, kind)(3, stateful=True, return_sequences=True)
    first, second = ARRAYS[f"{name}/inputs"]
    layer(ember.tensor(first))
    layer.set_weights(_case_arrays(name, "weight"))
    layer.reset_state()
    outputs = [layer(ember.tensor(first)), layer(ember.tensor(second))]
    layer.reset_state()
    outputs.append(layer(ember.tensor(second)))
    for output, expected in zip(outputs, ARRAYS[f"{name}/outputs"]):
        np.testing.assert_allclose(_numpy(output), expected, **TOLERANCE)
    # the second call continued from the first call's states: not the same as starting from zeros
    assert not np.allclose(_numpy(outputs[1]), _numpy(outputs[2]), atol=1e-3)


@pytest.mark.parametrize("kind", ["simplernn", "lstm", "gru"])
def test_keras_carries_the_previous_output_at_masked_steps(kind):
    # what the fixtures record of real Keras 3 (and Ember matches above): sample 0 is masked at its last two
    # steps, sample 2 at its first two; a masked step repeats the previous output, zeros before any unmasked one
    name = f"masking_sequential_{kind}_seq1"
    x, output = ARRAYS[f"{name}/x"], ARRAYS[f"{name}/output/0"]
    assert not x[0, -2:].any() and not x[2, :2].any()
    np.testing.assert_array_equal(output[0, -2:], output[0, [-3, -3]])
    np.testing.assert_array_equal(output[2, :2], np.zeros((2, 3)))
    assert np.abs(output[0, -3]).min() > 0
    layer = getattr(layers, {"simplernn": "SimpleRNN", "lstm": "LSTM", "gru": "GRU"}[kind])(3, return_sequences=True)
    model = keras.Sequential([keras.Input((5, 4)), layers.Masking(), layer])
    model.set_weights(_case_arrays(name, "weight"))
    ember_output = _numpy(model(ember.tensor(x)))
    np.testing.assert_array_equal(ember_output[0, -2:], ember_output[0, [-3, -3]])


@pytest.mark.parametrize(("kind", "node"), [("SimpleRNN", "RNNSequence"), ("LSTM", "LSTMSequence"),
                                            ("GRU", "GRUSequence")])
def test_unmasked_layers_run_one_sequence_node_with_fast_paths(kind, node, monkeypatch):
    from ember.keras.layers import recurrent

    calls = []
    original = getattr(recurrent, node)

    class Counting(original):  # counts the nodes made (their forward may be a fast path)
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            calls.append(self.reverse)

    monkeypatch.setattr(recurrent, node, Counting)
    layer = getattr(layers, kind)(3, go_backwards=True)
    x = ember.tensor(np.ones((2, 4, 5), dtype=np.float32))
    layer(x)
    assert calls == [True]
    layer(x, mask=np.ones((2, 4), dtype=bool))  # a mask runs the step loop
    with ember.config.override(fast_paths=False):
        layer(x)
    assert calls == [True]
