"""Keras recurrent layers against a NumPy step loop of Keras's equations (float64), plus shapes, parameter
counts, masking, wrappers, gradients, training and input errors."""
import numpy as np
import pytest

import ember
from ember import keras
from ember.keras import layers

RNG = np.random.default_rng(0)


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _reference(kind, weights, x, units, mask=None, go_backwards=False, return_sequences=False,
               zero_output_for_mask=False, initial=None, reset_after=True):
    """Keras's equations, one step at a time: returns (output, states)."""
    kernel, recurrent = weights[0], weights[1]
    bias = weights[2] if len(weights) > 2 else None
    batch, steps, _ = x.shape
    count = 2 if kind == "lstm" else 1
    states = [np.zeros((batch, units)) for _ in range(count)] if initial is None else [s.copy() for s in initial]
    output = np.zeros((batch, units))
    outputs = []
    order = range(steps - 1, -1, -1) if go_backwards else range(steps)
    for t in order:
        x_t = x[:, t]
        h = states[0]
        if kind == "simple":
            new_h = np.tanh(x_t @ kernel + bias + h @ recurrent)
            new_states = [new_h]
        elif kind == "lstm":
            z = x_t @ kernel + h @ recurrent + bias
            i, f, c_hat, o = np.split(z, 4, axis=1)
            c = _sigmoid(f) * states[1] + _sigmoid(i) * np.tanh(c_hat)
            new_h = _sigmoid(o) * np.tanh(c)
            new_states = [new_h, c]
        elif reset_after:
            mx = x_t @ kernel + bias[0]
            mi = h @ recurrent + bias[1]
            xz, xr, xh = np.split(mx, 3, axis=1)
            iz, ir, ih = np.split(mi, 3, axis=1)
            z, r = _sigmoid(xz + iz), _sigmoid(xr + ir)
            new_h = z * h + (1 - z) * np.tanh(xh + r * ih)
            new_states = [new_h]
        else:
            xz, xr, xh = np.split(x_t @ kernel + bias, 3, axis=1)
            z = _sigmoid(xz + h @ recurrent[:, :units])
            r = _sigmoid(xr + h @ recurrent[:, units:2 * units])
            new_h = z * h + (1 - z) * np.tanh(xh + (r * h) @ recurrent[:, 2 * units:])
            new_states = [new_h]
        if mask is None:
            states, output = new_states, new_h
        else:
            keep = mask[:, t:t + 1]
            states = [np.where(keep, n, s) for n, s in zip(new_states, states)]
            output = np.where(keep, new_h, 0.0 if zero_output_for_mask else output)
        outputs.append(output)
    return (np.stack(outputs, axis=1) if return_sequences else output), states


LAYERS = {
    "simple": (layers.SimpleRNN, 1),
    "lstm": (layers.LSTM, 4),
    "gru": (layers.GRU, 3),
}


def _layer(kind, units, features, **options):
    cls, _ = LAYERS[kind]
    layer = cls(units, dtype="float64", **options)
    layer(ember.tensor(np.zeros((1, 2, features))))
    weights = [RNG.standard_normal(w.shape) * 0.5 for w in layer.get_weights()]
    layer.set_weights(weights)
    return layer, weights


def _np(tensor):
    return tensor.detach().numpy()


def _run(layer, x, **kwargs):
    result = layer(ember.tensor(x), **kwargs)
    return [_np(r) for r in result] if isinstance(result, list) else _np(result)


# ------------------------------------------------------------------------------------------ numbers
@pytest.mark.parametrize("kind", sorted(LAYERS))
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("return_sequences", [False, True])
def test_matches_numpy_reference(kind, go_backwards, return_sequences):
    x = RNG.standard_normal((3, 5, 4))
    layer, weights = _layer(kind, 6, 4, go_backwards=go_backwards, return_sequences=return_sequences,
                            return_state=True)
    output, *states = _run(layer, x)
    expected, expected_states = _reference(kind, weights, x, 6, go_backwards=go_backwards,
                                           return_sequences=return_sequences)
    assert output.dtype == np.float64
    np.testing.assert_allclose(output, expected, rtol=1e-10, atol=1e-12)
    for state, expected_state in zip(states, expected_states):
        np.testing.assert_allclose(state, expected_state, rtol=1e-10, atol=1e-12)


def test_gru_reset_before_matches_reference():
    x = RNG.standard_normal((2, 4, 3))
    layer, weights = _layer("gru", 5, 3, reset_after=False, return_sequences=True)
    expected, _ = _reference("gru", weights, x, 5, reset_after=False, return_sequences=True)
    np.testing.assert_allclose(_run(layer, x), expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_composed_path_equals_cell_path(kind):
    """A non-default activation object that computes tanh takes the composed path: same numbers."""
    x = RNG.standard_normal((2, 4, 3))
    layer, weights = _layer(kind, 5, 3, return_sequences=True)
    cls, _ = LAYERS[kind]
    other = cls(5, activation=lambda v: ember.tanh(v), dtype="float64", return_sequences=True)
    other(ember.tensor(x))
    other.set_weights(weights)
    np.testing.assert_allclose(_run(other, x), _run(layer, x), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kind", sorted(LAYERS))
@pytest.mark.parametrize("return_sequences", [False, True])
def test_mask_carries_state_forward(kind, return_sequences):
    x = RNG.standard_normal((3, 6, 4))
    mask = np.ones((3, 6), dtype=bool)
    mask[0, 4:] = False
    mask[1, 2] = False
    layer, weights = _layer(kind, 5, 4, return_sequences=return_sequences, return_state=True)
    output, *states = _run(layer, x, mask=mask)
    expected, expected_states = _reference(kind, weights, x, 5, mask=mask, return_sequences=return_sequences)
    np.testing.assert_allclose(output, expected, rtol=1e-10, atol=1e-12)
    for state, expected_state in zip(states, expected_states):
        np.testing.assert_allclose(state, expected_state, rtol=1e-10, atol=1e-12)


def test_embedding_mask_zero_flows_through_sequential():
    tokens = np.array([[3, 1, 4, 0, 0], [2, 7, 1, 8, 2]])
    model = keras.Sequential([keras.Input(shape=(5,)), layers.Embedding(10, 4, mask_zero=True),
                              layers.LSTM(6)])
    embedded = _np(model.layers[0](ember.tensor(tokens)))
    lstm = model.layers[1]
    expected, _ = _reference("lstm", [np.asarray(w, dtype=np.float64) for w in lstm.get_weights()],
                             embedded.astype(np.float64), 6, mask=tokens != 0)
    np.testing.assert_allclose(_np(model(ember.tensor(tokens))), expected, rtol=1e-4, atol=1e-5)
    # padding at the end does not change the last output
    short = _np(model(ember.tensor(tokens[:1, :3])))
    np.testing.assert_allclose(short, expected[:1], rtol=1e-4, atol=1e-5)


def test_masking_layer_in_functional_model():
    x = RNG.standard_normal((2, 5, 3)).astype(np.float32)
    x[0, 3:] = 0.0
    inputs = keras.Input(shape=(5, 3))
    outputs = layers.GRU(4, return_sequences=True)(layers.Masking(mask_value=0.0)(inputs))
    model = keras.Model(inputs, outputs)
    gru = model.layers[-1]
    result = _np(model(ember.tensor(x)))
    expected, _ = _reference("gru", [w.astype(np.float64) for w in gru.get_weights()], x.astype(np.float64), 4,
                             mask=np.any(x != 0, axis=-1), return_sequences=True)
    np.testing.assert_allclose(result, expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(result[0, 3:], result[0, 2:3].repeat(2, axis=0))  # previous output held


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave", None])
def test_bidirectional_merge_modes(merge_mode):
    x = RNG.standard_normal((2, 4, 3))
    mask = np.array([[True, True, True, False], [True, True, True, True]])
    layer = layers.Bidirectional(layers.LSTM(5, return_sequences=True, dtype="float64"), merge_mode=merge_mode)
    layer(ember.tensor(x))
    weights = [RNG.standard_normal(w.shape) * 0.5 for w in layer.get_weights()]
    layer.set_weights(weights)
    result = _run(layer, x, mask=mask)
    forward, _ = _reference("lstm", weights[:3], x, 5, mask=mask, return_sequences=True, zero_output_for_mask=True)
    backward, _ = _reference("lstm", weights[3:], x, 5, mask=mask, go_backwards=True, return_sequences=True,
                             zero_output_for_mask=True)
    backward = backward[:, ::-1]
    expected = {"concat": lambda: np.concatenate([forward, backward], -1), "sum": lambda: forward + backward,
                "mul": lambda: forward * backward, "ave": lambda: (forward + backward) / 2,
                None: lambda: [forward, backward]}[merge_mode]()
    if merge_mode is None:
        for got, want in zip(result, expected):
            np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    else:
        np.testing.assert_allclose(result, expected, rtol=1e-10, atol=1e-12)
    assert [w.name if hasattr(w, "name") else None for w in []] == []
    assert layer.forward_layer.name.startswith("forward_") and layer.backward_layer.name.startswith("backward_")


def test_bidirectional_shapes_and_states():
    inputs = keras.Input(shape=(7, 3))
    results = layers.Bidirectional(layers.GRU(4, return_state=True))(inputs)
    assert [r.shape for r in results] == [(None, 8), (None, 4), (None, 4)]
    model = keras.Model(inputs, results)
    values = model(ember.tensor(RNG.standard_normal((2, 7, 3)).astype(np.float32)))
    assert [tuple(v.shape) for v in values] == [(2, 8), (2, 4), (2, 4)]
    np.testing.assert_allclose(_np(values[0])[:, :4], _np(values[1]))


@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_stateful_keeps_state_between_calls(kind):
    x = RNG.standard_normal((2, 6, 3))
    layer, weights = _layer(kind, 4, 3, stateful=True)
    _run(layer, x[:, :3])
    second = _run(layer, x[:, 3:])
    expected, _ = _reference(kind, weights, x, 4)
    np.testing.assert_allclose(second, expected, rtol=1e-10, atol=1e-12)
    layer.reset_states()
    np.testing.assert_allclose(_run(layer, x[:, 3:]), _reference(kind, weights, x[:, 3:], 4)[0], rtol=1e-10)


def test_stateful_in_sequential_starts_from_zeros():
    model = keras.Sequential([keras.Input(shape=(3, 2)), layers.SimpleRNN(3, stateful=True,
                                                                          bias_initializer="ones")])
    assert model.layers[0].states is None
    model(ember.tensor(np.zeros((2, 3, 2), dtype=np.float32)))
    assert model.layers[0].states is not None
    model.layers[0].reset_state()
    assert model.layers[0].states is None


def test_dropout_only_in_training():
    x = RNG.standard_normal((4, 5, 3)).astype(np.float32)
    layer = layers.LSTM(6, dropout=0.5, recurrent_dropout=0.5)
    ember.manual_seed(0)
    inference = _np(layer(ember.tensor(x), training=False))
    layer.eval()
    np.testing.assert_array_equal(inference, _np(layer(ember.tensor(x))))
    assert not np.allclose(_np(layer(ember.tensor(x), training=True)), inference)
    gru = layers.GRU(6, recurrent_dropout=0.5)
    assert _np(gru(ember.tensor(x), training=True)).shape == (4, 6)


def test_time_distributed():
    x = RNG.standard_normal((2, 5, 3)).astype(np.float32)
    dense = layers.Dense(4)
    layer = layers.TimeDistributed(dense)
    result = _np(layer(ember.tensor(x)))
    kernel, bias = dense.get_weights()
    np.testing.assert_allclose(result, x @ kernel + bias, rtol=1e-5, atol=1e-6)
    model = keras.Sequential([keras.Input(shape=(5, 3)), layers.TimeDistributed(layers.Dense(4))])
    assert model.output_shape == (None, 5, 4)
    assert model.count_params() == 16


# --------------------------------------------------------------------------------- shapes and counts
@pytest.mark.parametrize("kind", sorted(LAYERS))
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("return_state", [False, True])
def test_output_shapes(kind, return_sequences, return_state):
    cls, _ = LAYERS[kind]
    inputs = keras.Input(shape=(7, 3))
    result = cls(4, return_sequences=return_sequences, return_state=return_state)(inputs)
    output_shape = (None, 7, 4) if return_sequences else (None, 4)
    states = 2 if kind == "lstm" else 1
    if return_state:
        assert [r.shape for r in result] == [output_shape] + [(None, 4)] * states
    else:
        assert result.shape == output_shape


@pytest.mark.parametrize("layer, expected", [
    (lambda: layers.LSTM(128), 4 * 128 * (28 + 128 + 1)),
    (lambda: layers.GRU(16), 3 * 16 * (28 + 16 + 2)),
    (lambda: layers.GRU(16, reset_after=False), 3 * 16 * (28 + 16 + 1)),
    (lambda: layers.SimpleRNN(10), 10 * (28 + 10 + 1)),
    (lambda: layers.LSTM(8, use_bias=False), 4 * 8 * (28 + 8)),
    (lambda: layers.Bidirectional(layers.LSTM(8)), 2 * 4 * 8 * (28 + 8 + 1)),
])
def test_parameter_counts(layer, expected):
    model = keras.Sequential([keras.Input(shape=(5, 28)), layer()])
    assert model.count_params() == expected
    assert model.layers[0].count_params() == expected


def test_weight_names_layouts_and_initialisers():
    lstm = layers.LSTM(3)
    lstm(ember.tensor(np.zeros((1, 2, 5), dtype=np.float32)))
    assert [n for n, _ in lstm.named_parameters()] == ["kernel", "recurrent_kernel", "bias"]
    bias = lstm.get_weights()[2]
    np.testing.assert_array_equal(bias, np.r_[np.zeros(3), np.ones(3), np.zeros(6)])
    recurrent = lstm.get_weights()[1]
    np.testing.assert_allclose(recurrent @ recurrent.T, np.eye(3), atol=1e-5)  # orthogonal rows
    gru = layers.GRU(3)
    gru(ember.tensor(np.zeros((1, 2, 5), dtype=np.float32)))
    assert [w.shape for w in gru.get_weights()] == [(5, 9), (3, 9), (2, 9)]


def test_embedding_and_masking_shapes():
    embedding = layers.Embedding(20, 6)
    assert tuple(embedding(ember.tensor(np.array([[1, 2, 3]]))).shape) == (1, 3, 6)
    assert embedding.count_params() == 120
    assert embedding.compute_mask(np.array([[1, 0]])) is None
    mask = layers.Embedding(20, 6, mask_zero=True).compute_mask(np.array([[1, 0]]))
    np.testing.assert_array_equal(mask, [[True, False]])
    masked = layers.Masking(mask_value=-1.0)
    x = np.array([[[1.0, 2.0], [-1.0, -1.0]]], dtype=np.float32)
    np.testing.assert_array_equal(_np(masked(ember.tensor(x))), [[[1.0, 2.0], [0.0, 0.0]]])
    np.testing.assert_array_equal(masked.compute_mask(ember.tensor(x)), [[True, False]])


# ---------------------------------------------------------------------------------- gradients, fit
@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_gradients_match_finite_differences(kind):
    x = RNG.standard_normal((2, 3, 2))
    layer, _ = _layer(kind, 3, 2, return_sequences=True)
    mask = np.array([[True, True, False], [True, True, True]])

    def loss():
        return (layer(ember.tensor(x), mask=mask) ** 2).sum()

    value = loss()
    value.backward()
    for weight in layer.weights:
        analytic = weight.grad.numpy().copy()
        numeric = np.zeros_like(analytic)
        array = weight.array
        for index in np.ndindex(array.shape):
            saved = array[index]
            array[index] = saved + 1e-6
            plus = float(loss().item())
            array[index] = saved - 1e-6
            minus = float(loss().item())
            array[index] = saved
            numeric[index] = (plus - minus) / 2e-6
        np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-7)


def test_fit_lstm_classifier_reduces_loss():
    ember.manual_seed(0)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((64, 6, 3)).astype(np.float32)
    y = (x[:, :, 0].sum(axis=1) > 0).astype(np.int64)
    model = keras.Sequential([keras.Input(shape=(6, 3)), layers.LSTM(8), layers.Dense(2)])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.02),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(x, y, batch_size=16, epochs=8, verbose=0)
    assert history.history["loss"][-1] < 0.7 * history.history["loss"][0]


# ---------------------------------------------------------------------------------------- errors
@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_bad_inputs_name_layer_and_shapes(kind):
    cls, _ = LAYERS[kind]
    layer = cls(4, name=f"my_{kind}")
    with pytest.raises(ValueError, match=rf"my_{kind}.*3-d.*\(2, 3\)"):
        layer(ember.zeros((2, 3)))
    layer(ember.zeros((2, 3, 5)))
    with pytest.raises(ValueError, match=rf"my_{kind}.*5 features.*\(2, 3, 6\)"):
        layer(ember.zeros((2, 3, 6)))


def test_bad_options():
    with pytest.raises(ValueError, match="merge_mode"):
        layers.Bidirectional(layers.LSTM(2), merge_mode="max")
    with pytest.raises(ValueError, match="units"):
        layers.GRU(0)
    with pytest.raises(ValueError, match="dropout"):
        layers.SimpleRNN(2, dropout=1.5)


# ----------------------------------------------------------------------------------- 1-d conv, pools
def _conv1d_reference(x, kernel, bias, stride, dilation, pads):
    x = np.pad(x, ((0, 0), pads, (0, 0)))
    span = (kernel.shape[0] - 1) * dilation + 1
    steps = (x.shape[1] - span) // stride + 1
    out = np.stack([sum(x[:, t * stride + k * dilation] @ kernel[k] for k in range(kernel.shape[0]))
                    for t in range(steps)], axis=1)
    return out + bias


@pytest.mark.parametrize("padding, stride, dilation", [("valid", 1, 1), ("same", 2, 1), ("causal", 1, 2),
                                                        ("same", 1, 2)])
def test_conv1d_matches_reference(padding, stride, dilation):
    x = RNG.standard_normal((2, 7, 3)).astype(np.float32)
    layer = layers.Conv1D(4, 3, strides=stride, padding=padding, dilation_rate=dilation)
    result = _np(layer(ember.tensor(x)))
    kernel, bias = layer.get_weights()
    assert kernel.shape == (3, 3, 4) and layer.count_params() == 3 * 3 * 4 + 4
    span = 2 * dilation
    pads = {"valid": (0, 0), "causal": (span, 0)}.get(padding)
    if pads is None:
        out = -(-7 // stride)
        total = max((out - 1) * stride + span + 1 - 7, 0)
        pads = (total // 2, total - total // 2)
    np.testing.assert_allclose(result, _conv1d_reference(x, kernel, bias, stride, dilation, pads), rtol=1e-5,
                               atol=1e-5)


def test_pooling_1d():
    x = RNG.standard_normal((2, 5, 3)).astype(np.float32)
    np.testing.assert_allclose(_np(layers.MaxPooling1D()(ember.tensor(x))),
                               np.maximum(x[:, 0:4:2], x[:, 1:5:2]))
    np.testing.assert_allclose(_np(layers.AveragePooling1D()(ember.tensor(x))), (x[:, 0:4:2] + x[:, 1:5:2]) / 2,
                               rtol=1e-6)
    same = _np(layers.AveragePooling1D(padding="same")(ember.tensor(x)))
    assert same.shape == (2, 3, 3)
    np.testing.assert_allclose(same[:, 2], x[:, 4], rtol=1e-6)
    np.testing.assert_allclose(_np(layers.GlobalAveragePooling1D()(ember.tensor(x))), x.mean(1), rtol=1e-6)
    np.testing.assert_allclose(_np(layers.GlobalMaxPooling1D()(ember.tensor(x))), x.max(1))
    mask = np.array([[True, True, False, False, False], [True] * 5])
    masked = _np(layers.GlobalAveragePooling1D()(ember.tensor(x), mask=mask))
    np.testing.assert_allclose(masked[0], x[0, :2].mean(0), rtol=1e-6)
    with pytest.raises(ValueError, match=r"Conv1D 'c1'.*3-d.*\(2, 5\)"):
        layers.Conv1D(2, 2, name="c1")(ember.zeros((2, 5)))


def test_text_classifier_summary_and_fit():
    model = keras.Sequential([keras.Input(shape=(6,)), layers.Embedding(12, 4, mask_zero=True),
                              layers.Conv1D(5, 3, padding="same"), layers.GlobalAveragePooling1D(),
                              layers.Dense(2)])
    assert model.count_params() == 12 * 4 + (3 * 4 * 5 + 5) + (5 * 2 + 2)
