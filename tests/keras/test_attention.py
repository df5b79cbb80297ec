"""keras.layers.MultiHeadAttention against Keras 3.15's numbers (fixtures/keras_attention.npz, written by
fixtures/make_keras_attention_fixtures.py): outputs, attention scores, gradients with respect to the inputs
and every weight, parameter counts; plus masks, errors, the functional API and Identity."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import ember
from ember import keras
from ember.keras.summary import summary_text

FIXTURES = np.load(Path(__file__).parent / "fixtures" / "keras_attention.npz")
META = json.loads(str(FIXTURES["meta"]))
CASES = [name for name, value in META.items() if isinstance(value, dict) and "layer" in value]
TOLERANCE = dict(rtol=1e-5, atol=1e-5)


def _fixture(case, key):
    return FIXTURES[f"{case}/{key}"]


def _weights(case):
    count = sum(1 for key in FIXTURES.files if key.startswith(f"{case}/weight/"))
    return [_fixture(case, f"weight/{index}") for index in range(count)]


def _layer(case):
    layer_kwargs = dict(META[case]["layer"])
    if isinstance(layer_kwargs.get("output_shape"), list):
        layer_kwargs["output_shape"] = tuple(layer_kwargs["output_shape"])
    return keras.layers.MultiHeadAttention(**layer_kwargs)


def _inputs(case):
    return {role: ember.tensor(_fixture(case, role), requires_grad=True) for role in META[case]["roles"]}


def _call_kwargs(case):
    kwargs = dict(META[case]["call"])
    if f"{case}/attention_mask" in FIXTURES.files:
        kwargs["attention_mask"] = _fixture(case, "attention_mask")
    return kwargs


def _check_gradients(case, layer, output, inputs):
    (output * ember.tensor(_fixture(case, "upstream"))).sum().backward()
    for role, tensor in inputs.items():
        np.testing.assert_allclose(tensor.grad.numpy(), _fixture(case, f"grad/{role}"), **TOLERANCE,
                                   err_msg=f"{case}: gradient of {role}")
    for index, weight in enumerate(layer.weights):
        np.testing.assert_allclose(weight.grad.numpy(), _fixture(case, f"grad/weight/{index}"), **TOLERANCE,
                                   err_msg=f"{case}: gradient of weight {index}")


@pytest.mark.parametrize("case", [c for c in CASES if not META[c]["masked_tokens"]])
def test_matches_keras_outputs_scores_and_gradients(case):
    layer = _layer(case)
    inputs = _inputs(case)
    kwargs = _call_kwargs(case)
    output, scores = layer(inputs["query"], inputs["value"], key=inputs.get("key"), return_attention_scores=True,
                           **kwargs)
    assert output.dtype == ember.float32
    # built on the first call with Keras's weight shapes and order; then load Keras's weights and recompute
    assert [tuple(w.shape) for w in layer.weights] == [w.shape for w in _weights(case)]
    layer.set_weights(_weights(case))
    output, scores = layer(inputs["query"], inputs["value"], key=inputs.get("key"), return_attention_scores=True,
                           **kwargs)
    np.testing.assert_allclose(output.numpy(), _fixture(case, "output"), **TOLERANCE)
    np.testing.assert_allclose(scores.numpy(), _fixture(case, "scores"), **TOLERANCE)
    assert not np.isnan(output.numpy()).any()
    assert layer.count_params() == META[case]["count_params"]
    _check_gradients(case, layer, output, inputs)


@pytest.mark.parametrize("case", [c for c in CASES if not META[c]["masked_tokens"]])
def test_default_call_returns_the_output_alone(case):
    layer = _layer(case)
    inputs = _inputs(case)
    layer(inputs["query"], inputs["value"], key=inputs.get("key"), **_call_kwargs(case))
    layer.set_weights(_weights(case))
    output = layer(inputs["query"], inputs["value"], key=inputs.get("key"), **_call_kwargs(case))
    np.testing.assert_allclose(output.numpy(), _fixture(case, "output"), **TOLERANCE)


def test_weight_names_follow_keras():
    layer = _layer("self")
    inputs = _inputs("self")
    layer(inputs["query"], inputs["value"])
    names = [name.split("/", 1)[1] for name in META["self"]["weight_names"]]
    assert [(child.name, weight_name) for child in layer.children() for weight_name in child._weight_names] == [
        tuple(name.split("/")) for name in names]
    assert layer.query_dense.kernel.shape == (8, 2, 4) and layer.output_dense.kernel.shape == (2, 4, 8)


def test_fully_masked_rows_give_zero_weights_and_the_output_bias_never_nan():
    case = "attention_mask"
    mask = _fixture(case, "attention_mask")
    assert not mask[0, 1].any()
    scores = _fixture(case, "scores")
    np.testing.assert_array_equal(scores[0, :, 1], 0.0)  # what Keras's explicit-scores path gives
    layer = _layer(case)
    inputs = _inputs(case)
    layer(inputs["query"], inputs["value"], attention_mask=mask)
    weights = _weights(case)
    weights[-1] = np.arange(weights[-1].size, dtype=np.float32)  # a nonzero output bias to see it come through
    layer.set_weights(weights)
    output = layer(inputs["query"], inputs["value"], attention_mask=mask).numpy()
    np.testing.assert_allclose(output[0, 1], weights[-1], **TOLERANCE)
    assert np.isfinite(output).all()
    # the same mask as a boolean Tensor, and as 0/1 floats (Keras keeps positions above 0.5)
    for given in (ember.tensor(mask), mask.astype(np.float32)):
        np.testing.assert_array_equal(layer(inputs["query"], inputs["value"], attention_mask=given).numpy(), output)
    # a (T, S) mask broadcasts over the batch
    shared = layer(inputs["query"], inputs["value"], attention_mask=mask[0]).numpy()
    np.testing.assert_array_equal(shared[0], output[0])


def _masked_token_model(case):
    vocabulary, dim = _fixture(case, "embeddings").shape
    query_ids = keras.Input(shape=(None,))
    value_ids = keras.Input(shape=(None,))
    embedding = keras.layers.Embedding(vocabulary, dim, mask_zero=True)
    attention = _layer(case)
    output = attention(embedding(query_ids), embedding(value_ids))
    model = keras.Model([query_ids, value_ids], output)
    return model, embedding, attention


def test_masks_from_mask_zero_embeddings_match_keras():
    case = "mask_zero"
    model, embedding, attention = _masked_token_model(case)
    embedding.set_weights([_fixture(case, "embeddings")])
    attention.set_weights(_weights(case))
    tokens = [ember.tensor(_fixture(case, "tokens/query")), ember.tensor(_fixture(case, "tokens/value"))]
    output = model(tokens)
    np.testing.assert_allclose(output.numpy(), _fixture(case, "output"), **TOLERANCE)
    (output * ember.tensor(_fixture(case, "upstream"))).sum().backward()
    np.testing.assert_allclose(embedding.embeddings.grad.numpy(), _fixture(case, "grad/embeddings"), **TOLERANCE)
    for index, weight in enumerate(attention.weights):
        np.testing.assert_allclose(weight.grad.numpy(), _fixture(case, f"grad/weight/{index}"), **TOLERANCE)
    assert attention.count_params() == META[case]["count_params"]
    # the same masks given by hand to a direct call
    query_ids, value_ids = _fixture(case, "tokens/query"), _fixture(case, "tokens/value")
    table = ember.tensor(_fixture(case, "embeddings"))
    direct = attention(table[ember.tensor(query_ids)], table[ember.tensor(value_ids)], query_mask=query_ids != 0,
                       value_mask=value_ids != 0)
    np.testing.assert_allclose(direct.numpy(), _fixture(case, "output"), **TOLERANCE)


def test_output_keeps_the_query_mask_in_a_model():
    ids = keras.Input(shape=(4,))
    embedded = keras.layers.Embedding(5, 6, mask_zero=True)(ids)
    attended = keras.layers.MultiHeadAttention(num_heads=2, key_dim=3)(embedded, embedded)
    pooled = keras.layers.GlobalAveragePooling1D()(attended)
    model = keras.Model(ids, [attended, pooled])
    tokens = np.array([[1, 2, 0, 0], [3, 1, 4, 0]])
    sequence, mean = model(ember.tensor(tokens))
    # the pooling after attention averages only the steps the query's mask keeps
    expected = [sequence.numpy()[row, tokens[row] != 0].mean(axis=0) for row in range(2)]
    np.testing.assert_allclose(mean.numpy(), expected, rtol=1e-6, atol=1e-6)


def test_summary_parameter_counts_equal_keras():
    query = keras.Input(shape=(4, 8))
    value = keras.Input(shape=(6, 5))
    key = keras.Input(shape=(6, 7))
    output = keras.layers.MultiHeadAttention(num_heads=3, key_dim=4)(query, value, key=key)
    model = keras.Model([query, value, key], output)
    assert output.shape == (None, 4, 8)
    text = summary_text(model)
    assert f"Total params: {META['cross_key']['count_params']:,}" in text
    assert model.count_params() == META["cross_key"]["count_params"]


def test_functional_model_with_causal_mask_and_scores():
    case = "causal"
    query, value = keras.Input(shape=(5, 6)), keras.Input(shape=(5, 6))
    output, scores = _layer(case)(query=query, value=value, use_causal_mask=True, return_attention_scores=True)
    assert output.shape == (None, 5, 6) and scores.shape == (None, 2, 5, 5)
    model = keras.Model([query, value], [output, scores])
    model.get_layer(output.layer.name).set_weights(_weights(case))
    result, weights = model([ember.tensor(_fixture(case, "query")), ember.tensor(_fixture(case, "value"))])
    np.testing.assert_allclose(result.numpy(), _fixture(case, "output"), **TOLERANCE)
    np.testing.assert_allclose(weights.numpy(), _fixture(case, "scores"), **TOLERANCE)
    assert np.allclose(np.triu(weights.numpy()[0, 0], 1), 0.0)


def test_functional_model_with_attention_survives_save_and_load(tmp_path):
    case = "causal"
    query, value = keras.Input(shape=(5, 6)), keras.Input(shape=(5, 6))
    attention = _layer(case)
    model = keras.Model([query, value], attention(query, value, use_causal_mask=True))
    attention.set_weights(_weights(case))
    model.save(tmp_path / "attention.keras")
    restored = keras.models.load_model(tmp_path / "attention.keras")
    inputs = [ember.tensor(_fixture(case, "query")), ember.tensor(_fixture(case, "value"))]
    np.testing.assert_allclose(restored(inputs).numpy(), _fixture(case, "output"), **TOLERANCE)


def _attention_regressor(seed):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input(shape=(5, 4))
    attended = keras.layers.MultiHeadAttention(num_heads=2, key_dim=3)(inputs, inputs, use_causal_mask=True)
    model = keras.Model(inputs, keras.layers.Dense(1)(keras.layers.GlobalAveragePooling1D()(attended)))
    schedule = keras.optimizers.schedules.ExponentialDecay(0.05, decay_steps=2, decay_rate=0.7)
    model.compile(optimizer=keras.optimizers.SGD(schedule, momentum=0.9), loss="mse")
    return model


def test_resume_from_a_saved_model_is_bit_exact(tmp_path):
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal((12, 5, 4)).astype(np.float32), rng.standard_normal((12, 1)).astype(np.float32)
    reference = _attention_regressor(0)
    reference.fit(x, y, batch_size=4, epochs=4, shuffle=False, verbose=0)
    model = _attention_regressor(0)
    model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    model.save(tmp_path / "model.keras")
    resumed = keras.models.load_model(tmp_path / "model.keras")
    resumed.fit(x, y, batch_size=4, epochs=4, initial_epoch=2, shuffle=False, verbose=0)
    for resumed_weight, weight in zip(resumed.get_weights(), reference.get_weights()):
        np.testing.assert_array_equal(resumed_weight, weight)
    assert resumed.optimizer.iterations == reference.optimizer.iterations == 12


def test_trains_inside_a_model_with_fit():
    ember.manual_seed(0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 5, 4)).astype(np.float32)
    y = x.mean(axis=1).sum(axis=-1, keepdims=True).astype(np.float32)
    inputs = keras.Input(shape=(5, 4))
    attended = keras.layers.MultiHeadAttention(num_heads=2, key_dim=4, dropout=0.1)(inputs, inputs)
    pooled = keras.layers.GlobalAveragePooling1D()(attended)
    model = keras.Model(inputs, keras.layers.Dense(1)(pooled))
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    history = model.fit(x, y, epochs=15, batch_size=8, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]


def test_dropout_acts_on_the_scores_only_in_training():
    ember.manual_seed(1)
    layer = keras.layers.MultiHeadAttention(num_heads=2, key_dim=4, dropout=0.5)
    x = ember.tensor(np.random.default_rng(1).standard_normal((2, 6, 4)).astype(np.float32))
    inference = layer(x, x, training=False, return_attention_scores=True)
    again = layer(x, x, training=False)
    np.testing.assert_array_equal(inference[0].numpy(), again.numpy())
    trained_a = layer(x, x, training=True).numpy()
    trained_b = layer(x, x, training=True).numpy()
    assert not np.allclose(trained_a, trained_b)
    assert not np.allclose(trained_a, inference[0].numpy())
    # the returned scores are the weights before dropout: rows sum to one
    np.testing.assert_allclose(inference[1].numpy().sum(-1), 1.0, rtol=1e-6)


def test_bad_inputs_name_the_layer_and_the_shapes():
    layer = keras.layers.MultiHeadAttention(num_heads=2, key_dim=4, name="attn")
    x = ember.tensor(np.zeros((2, 5, 8), np.float32))
    layer(x, x)
    with pytest.raises(ValueError, match=r"MultiHeadAttention 'attn'.*query with last dim 8.*\(2, 5, 7\)"):
        layer(ember.tensor(np.zeros((2, 5, 7), np.float32)), x)
    with pytest.raises(ValueError, match=r"'attn'.*value and key.*\(2, 5, 8\).*\(2, 4, 8\)"):
        layer(x, x, key=ember.tensor(np.zeros((2, 4, 8), np.float32)))
    with pytest.raises(ValueError, match=r"'attn'.*batch size.*\(3, 5, 8\)"):
        layer(x, ember.tensor(np.zeros((3, 5, 8), np.float32)))
    with pytest.raises(ValueError, match=r"'attn'.*\(2, 2, 5, 5\).*mask of shape \(2, 5, 4\)"):
        layer(x, x, attention_mask=np.ones((2, 5, 4), bool))
    with pytest.raises(ValueError, match=r"MultiHeadAttention.*at least 3 dims.*\(2, 8\)"):
        keras.layers.MultiHeadAttention(num_heads=2, key_dim=4)(ember.zeros((2, 8)), ember.zeros((2, 8)))
    with pytest.raises(TypeError, match="missing the value"):
        layer(x)
    with pytest.raises(ValueError, match="num_heads must be a positive integer"):
        keras.layers.MultiHeadAttention(num_heads=0, key_dim=4)
    with pytest.raises(ValueError, match=r"attention_axes \(3,\) do not fit.*\(2, 5, 8\)"):
        keras.layers.MultiHeadAttention(num_heads=2, key_dim=4, attention_axes=3)(x, x)


def test_config_round_trip():
    layer = keras.layers.MultiHeadAttention(num_heads=2, key_dim=3, value_dim=5, output_shape=4,
                                            attention_axes=(1,), use_bias=False)
    clone = keras.layers.MultiHeadAttention.from_config(layer.get_config())
    x = ember.tensor(np.random.default_rng(2).standard_normal((2, 3, 6)).astype(np.float32))
    layer(x, x)
    clone(x, x)
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(clone(x, x).numpy(), layer(x, x).numpy())
    assert clone(x, x).shape == (2, 3, 4)


def test_identity_returns_its_input_and_keeps_the_mask():
    layer = keras.layers.Identity()
    x = ember.tensor(np.arange(6, dtype=np.float32).reshape(2, 3), requires_grad=True)
    assert layer(x) is x
    assert layer.count_params() == 0 and layer.get_weights() == []
    mask = np.array([True, False])
    assert layer.compute_mask(x, mask) is mask
    model = keras.Sequential([keras.Input((3,)), keras.layers.Identity(), keras.layers.Dense(2)])
    assert model(x).shape == (2, 2)
    with pytest.raises(TypeError, match="Identity"):
        layer(x, 3)


def test_a_training_step_stays_float32(monkeypatch):
    from ember.autograd.function import Function

    seen = []
    original = Function._finish

    def recording_finish(self, raw, record):
        result = original(self, raw, record)
        seen.extend((type(self).__name__, out.dtype) for out in (result if isinstance(result, tuple) else (result,)))
        return result

    monkeypatch.setattr(Function, "_finish", recording_finish)
    layer = keras.layers.MultiHeadAttention(num_heads=2, key_dim=3, dropout=0.2)
    x = ember.tensor(np.random.default_rng(5).standard_normal((2, 4, 6)).astype(np.float32), requires_grad=True)
    mask = np.tril(np.ones((4, 4), bool))
    output, scores = layer(x, x, attention_mask=mask, training=True, return_attention_scores=True)
    (output.sum() + scores.sum()).backward()
    assert len(seen) > 10  # the recording saw the step's ops
    assert not sorted({name for name, dtype in seen if dtype == np.float64})
    assert output.dtype == scores.dtype == x.grad.dtype == ember.float32
    assert all(weight.grad.dtype == ember.float32 for weight in layer.weights)
