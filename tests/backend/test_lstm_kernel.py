"""The compiled LSTM kernels: one step (kernels/lstm.c, ``Kernels.lstm_forward_steps``/``lstm_backward_steps``)
and a whole sequence on a team of threads (kernels/lstm_sequence.c, ``Kernels.lstm_sequence_forward``/
``lstm_sequence_backward``): their numbers against NumPy's and the reference path's, their checks, and
``LSTMSequence`` taking them and declining them."""
from __future__ import annotations

import numpy as np
import pytest

import ember
from ember.backend import compiled
from ember.functions import recurrent

TOLERANCE = {np.float32: 4e-7, np.float64: 1e-15}  # absolute, on numbers of order 1: a few ulps of 1


def _sigmoid(x):
    return 0.5 * np.tanh(0.5 * x) + 0.5


def _forward_arrays(dtype, steps=3, batch=5, size=7, seed=0, scale=3.0):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((steps, batch, 4 * size)) * scale).astype(dtype)
    bias = rng.standard_normal(4 * size).astype(dtype)
    c0 = rng.standard_normal((batch, size)).astype(dtype)
    outputs = dict(gates=np.empty_like(x), cs=np.empty((steps, batch, size), dtype),
                   tanh_cs=np.empty((steps, batch, size), dtype), hs=np.empty((steps, batch, size), dtype))
    return rng, x, bias, c0, outputs


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_forward_step_matches_numpy(kernels, dtype):
    rng, x, bias, c0, out = _forward_arrays(dtype)
    steps, batch, width = x.shape
    size = width // 4
    step = kernels.lstm_forward_steps(x, bias, c0, out["gates"], out["cs"], out["tanh_cs"], out["hs"])
    c_prev = c0.astype(np.float64)
    for t in range(steps):
        hidden = (rng.standard_normal((batch, width)) * 3).astype(dtype)
        step(t, None if t == 0 else t - 1, hidden)
        pre = (hidden.astype(np.float64) + bias) + x[t]
        i, f, g, o = _sigmoid(pre[:, :size]), _sigmoid(pre[:, size:2 * size]), np.tanh(pre[:, 2 * size:3 * size]), \
            _sigmoid(pre[:, 3 * size:])
        c = f * c_prev + i * g
        np.testing.assert_allclose(out["gates"][t], np.concatenate([i, f, g, o], axis=1), rtol=0,
                                   atol=TOLERANCE[dtype])
        np.testing.assert_allclose(out["cs"][t], c, rtol=0, atol=8 * TOLERANCE[dtype])
        np.testing.assert_allclose(out["tanh_cs"][t], np.tanh(out["cs"][t].astype(np.float64)), rtol=0,
                                   atol=TOLERANCE[dtype])
        np.testing.assert_allclose(out["hs"][t], out["gates"][t, :, 3 * size:] * out["tanh_cs"][t], rtol=0,
                                   atol=TOLERANCE[dtype])
        c_prev = out["cs"][t].astype(np.float64)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_activations_saturate_and_propagate_nan(kernels, dtype):
    """Far outside exp's range the gates are 1 or -1 exactly, or within 1e-37 of 0; NaN stays NaN."""
    values = np.array([-np.inf, -1e30, -800.0, -100.0, 100.0, 800.0, 1e30, np.inf, np.nan, 0.0], dtype)
    batch, size = 1, values.size
    x = np.zeros((1, batch, 4 * size), dtype)
    for gate in range(4):
        x[0, 0, gate * size:(gate + 1) * size] = values
    _, _, _, _, out = _forward_arrays(dtype, steps=1, batch=batch, size=size)
    step = kernels.lstm_forward_steps(x, np.zeros(4 * size, dtype), np.zeros((batch, size), dtype), out["gates"],
                                      out["cs"], out["tanh_cs"], out["hs"])
    step(0, None, np.zeros((batch, 4 * size), dtype))
    sigmoid, tanh = out["gates"][0, 0, :size], out["gates"][0, 0, 2 * size:3 * size]
    # exp's argument is clamped to its range (float 87, double 708): sigmoid(-inf) is 1.6e-38 or 3.3e-308, not 0
    assert np.all((sigmoid[:4] >= 0) & (sigmoid[:4] < 1e-37)) and np.all(sigmoid[4:8] == 1)
    np.testing.assert_array_equal(tanh[:8], [-1, -1, -1, -1, 1, 1, 1, 1])
    assert np.isnan(sigmoid[8]) and np.isnan(tanh[8]) and sigmoid[9] == 0.5 and tanh[9] == 0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_activations_over_a_range_are_within_a_few_ulps(kernels, dtype):
    values = np.linspace(-30, 30, 4001).astype(dtype)
    size = values.size
    x = np.tile(values, 4).reshape(1, 1, 4 * size)
    _, _, _, _, out = _forward_arrays(dtype, steps=1, batch=1, size=size)
    step = kernels.lstm_forward_steps(x, np.zeros(4 * size, dtype), np.zeros((1, size), dtype), out["gates"],
                                      out["cs"], out["tanh_cs"], out["hs"])
    step(0, None, np.zeros((1, 4 * size), dtype))
    exact = values.astype(np.float64)
    np.testing.assert_allclose(out["gates"][0, 0, :size], 1 / (1 + np.exp(-exact)), rtol=4 * np.finfo(dtype).eps,
                               atol=1e-300)
    np.testing.assert_allclose(out["gates"][0, 0, 2 * size:3 * size], np.tanh(exact), rtol=0,
                               atol=2 * np.finfo(dtype).eps)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_backward_step_matches_numpy(kernels, dtype):
    rng = np.random.default_rng(1)
    steps, batch, size = 3, 4, 6
    gates = rng.uniform(0.05, 0.95, (steps, batch, 4 * size)).astype(dtype)
    gates[:, :, 2 * size:3 * size] = rng.uniform(-0.95, 0.95, (steps, batch, size))
    cs, tanh_cs, grad_hs, grad_cs = (rng.standard_normal((steps, batch, size)).astype(dtype) for _ in range(4))
    c0 = rng.standard_normal((batch, size)).astype(dtype)
    d_gates = np.empty_like(gates)
    carry_c = np.zeros((2, batch, size), dtype)
    step = kernels.lstm_backward_steps(grad_hs, grad_cs, gates, cs, c0, tanh_cs, d_gates, carry_c)
    parity, expected_carry_c = 0, np.zeros((batch, size))
    for t in reversed(range(steps)):
        carry_h = np.zeros((batch, size), dtype) if t == steps - 1 else rng.standard_normal((batch, size)).astype(dtype)
        step(t, None if t == 0 else t - 1, parity, None if t == steps - 1 else carry_h)
        g64 = gates[t].astype(np.float64)
        i, f, g, o = (g64[:, k * size:(k + 1) * size] for k in range(4))
        c_prev = (c0 if t == 0 else cs[t - 1]).astype(np.float64)
        dh = grad_hs[t] + carry_h.astype(np.float64)
        d_c = grad_cs[t] + expected_carry_c + dh * o * (1 - tanh_cs[t].astype(np.float64) ** 2)
        expected = np.concatenate([d_c * g * i * (1 - i), d_c * c_prev * f * (1 - f), d_c * i * (1 - g * g),
                                   dh * tanh_cs[t] * o * (1 - o)], axis=1)
        np.testing.assert_allclose(d_gates[t], expected, rtol=1e-5 if dtype == np.float32 else 1e-13, atol=1e-6
                                   if dtype == np.float32 else 1e-14)
        parity = 1 - parity
        np.testing.assert_allclose(carry_c[parity], d_c * f, rtol=1e-5 if dtype == np.float32 else 1e-13,
                                   atol=1e-6 if dtype == np.float32 else 1e-14)
        expected_carry_c = carry_c[parity].astype(np.float64)


def test_mismatched_or_strided_arrays_and_bad_steps_are_refused(kernels):
    _, x, bias, c0, out = _forward_arrays(np.float32)
    batch, width = x.shape[1:]
    hidden = np.empty((batch, width), np.float32)
    with pytest.raises(ValueError, match="lstm_forward"):
        kernels.lstm_forward_steps(x, bias[:-1], c0, out["gates"], out["cs"], out["tanh_cs"], out["hs"])
    with pytest.raises(ValueError, match="lstm_forward"):
        kernels.lstm_forward_steps(x, bias, np.asfortranarray(c0), out["gates"], out["cs"], out["tanh_cs"], out["hs"])
    with pytest.raises(ValueError, match="lstm_forward"):
        kernels.lstm_forward_steps(x.astype(np.float64), bias, c0, out["gates"], out["cs"], out["tanh_cs"], out["hs"])
    step = kernels.lstm_forward_steps(x, bias, c0, out["gates"], out["cs"], out["tanh_cs"], out["hs"])
    with pytest.raises(IndexError, match="lstm_forward"):
        step(x.shape[0], None, hidden)
    with pytest.raises(IndexError, match="lstm_forward"):
        step(0, -1, hidden)
    with pytest.raises(ValueError, match="lstm_forward"):
        step(0, None, hidden[:, :-1])
    with pytest.raises(ValueError, match="lstm_forward"):
        step(0, None, hidden.astype(np.float64))
    gates, states = out["gates"], out["cs"]
    with pytest.raises(ValueError, match="lstm_backward"):
        kernels.lstm_backward_steps(states, states, gates, states, c0, states, np.empty_like(gates),
                                    np.zeros(states.shape[1:], np.float32))
    backward = kernels.lstm_backward_steps(states, states, gates, states, c0, states, np.empty_like(gates),
                                           np.zeros((2, *states.shape[1:]), np.float32))
    with pytest.raises(IndexError, match="lstm_backward"):
        backward(0, None, 2, None)
    with pytest.raises(ValueError, match="lstm_backward"):
        backward(0, None, 0, np.zeros(states.shape[1:], np.float32).T)


def _sequence_tensors(dtype, bias=True, seed=0):
    rng = np.random.default_rng(seed)
    steps, batch, size = 4, 3, 5
    arrays = [rng.standard_normal((steps, batch, 4 * size)), rng.standard_normal((batch, size)),
              rng.standard_normal((batch, size)), rng.standard_normal((4 * size, size)) * 0.5]
    if bias:
        arrays.append(rng.standard_normal(4 * size) * 0.5)
    return [ember.tensor(a.astype(dtype), requires_grad=True) for a in arrays]


def _record_route(kernels, monkeypatch, names: tuple, route: str, dtype) -> list:
    """Record which of the kernels ``names`` run (into the returned list); for ``route`` 'steps', hide the CBLAS
    GEMM so that the per-step path runs; for 'sequence', skip where NumPy loads none."""
    calls: list = []
    for name in names:
        original = getattr(kernels, name)
        monkeypatch.setattr(kernels, name, lambda *a, _name=name, _original=original: (calls.append(_name),
                                                                                           _original(*a))[1])
    if route == "steps":
        monkeypatch.setattr(recurrent.threads, "openblas_gemm", lambda dtype: None)
    elif recurrent.threads.openblas_gemm(dtype) is None:
        pytest.skip("NumPy here loads no OpenBLAS with a CBLAS GEMM the sequence kernel can call")
    return calls


def _sequence_grads(reverse, dtype, upstream):
    tensors = _sequence_tensors(dtype)
    hs, cs = recurrent.LSTMSequence(reverse)(*tensors)
    (hs * ember.tensor(upstream[0]) + cs * cs * ember.tensor(upstream[1])).sum().backward()
    return [hs.numpy().copy(), cs.numpy().copy()] + [t.grad.numpy().copy() for t in tensors]


@pytest.mark.parametrize("route", ["sequence", "steps"])
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_lstm_sequence_takes_the_compiled_kernels_forward_and_backward(kernels, monkeypatch, route, reverse,
                                                                       dtype):
    """The whole sequence in C (kernels/lstm_sequence.c, where a CBLAS GEMM is found) or a NumPy GEMM and a
    compiled pass per step: both give the reference path's outputs and gradients."""
    names = ("lstm_sequence_forward", "lstm_sequence_backward", "lstm_forward_steps", "lstm_backward_steps")
    calls = _record_route(kernels, monkeypatch, names, route, dtype)
    upstream = np.random.default_rng(9).standard_normal((2, 4, 3, 5)).astype(dtype)
    results = _sequence_grads(reverse, dtype, upstream)
    assert calls == list(names[:2] if route == "sequence" else names[2:])
    with ember.config.override(fast_paths=False):
        expected = _sequence_grads(reverse, dtype, upstream)
    tolerance = dict(rtol=2e-5, atol=2e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-13)
    for value, reference in zip(results, expected):
        np.testing.assert_allclose(value, reference, **tolerance)


# H 5: the BLAS's GEMM each step; H 16 and 40 (and L >= 4): W_hh packed into panels (panel_gemm.c), the last
# panel narrower for H 40
SEQUENCE_SHAPES = [(6, 9, 5), (1, 3, 5), (3, 1, 2), (6, 9, 16), (5, 7, 40)]


@pytest.mark.parametrize("shape", SEQUENCE_SHAPES, ids=["L6N9H5", "one-step", "one-row", "L6N9H16", "L5N7H40"])
@pytest.mark.parametrize("threads", [1, 2, 3, 7])
@pytest.mark.parametrize("reverse", [False, True])
def test_lstm_sequence_kernel_shares_the_batch_between_its_threads(kernels, threads, reverse, shape):
    """Any team size (at most one thread per row of the batch), blocks of unequal size included, gives the
    single-thread numbers; the gradient of h0 comes only when asked for."""
    gemm = recurrent.threads.openblas_gemm(np.float64)
    if gemm is None:
        pytest.skip("NumPy here loads no OpenBLAS with a CBLAS GEMM the sequence kernel can call")
    rng = np.random.default_rng(3)
    steps, batch, size = shape
    x = rng.standard_normal((steps, batch, 4 * size))
    h0, c0 = rng.standard_normal((batch, size)), rng.standard_normal((batch, size))
    weight, bias = rng.standard_normal((4 * size, size)) * 0.5, rng.standard_normal(4 * size) * 0.5
    grad_hs, grad_cs = rng.standard_normal((steps, batch, size)), rng.standard_normal((steps, batch, size))

    def run(team, need_h0=True):
        gates = np.empty_like(x)
        cs, tanh_cs, hs = (np.empty((steps, batch, size)) for _ in range(3))
        ran = kernels.lstm_sequence_forward(x, bias, h0, c0, weight, gates, cs, tanh_cs, hs, reverse, team, gemm)
        d_gates, carry_h = np.empty_like(x), np.full((batch, size), np.nan)
        carry_c = np.zeros((2, batch, size))
        grad_weight, grad_bias = np.full_like(weight, np.nan), np.full_like(bias, np.nan)
        parity = kernels.lstm_sequence_backward(grad_hs, grad_cs, gates, cs, h0, c0, tanh_cs, hs, weight, d_gates,
                                                carry_h, carry_c, grad_weight, grad_bias, reverse, need_h0, team,
                                                gemm)
        return ran, [hs, cs, d_gates, carry_c[parity], grad_weight, grad_bias] + ([carry_h] if need_h0 else [])

    _, single = run(1)
    ran, shared = run(threads)
    assert ran == min(threads, batch)
    for value, expected in zip(shared, single):
        np.testing.assert_allclose(value, expected, rtol=1e-13, atol=1e-14)
    with ember.config.override(fast_paths=False):
        tensors = [ember.tensor(a, requires_grad=True) for a in (x, h0, c0, weight, bias)]
        hs_ref, cs_ref = recurrent.LSTMSequence(reverse)(*tensors)
        (hs_ref * ember.tensor(grad_hs) + cs_ref * ember.tensor(grad_cs)).sum().backward()
    x_t, h0_t, c0_t, weight_t, bias_t = tensors
    expected = [hs_ref.numpy(), cs_ref.numpy()] + [t.grad.numpy() for t in (x_t, c0_t, weight_t, bias_t, h0_t)]
    for value, reference in zip(shared, expected):  # hs, cs, d_gates, grad c0, grad W_hh, grad bias, grad h0
        np.testing.assert_allclose(value, reference, atol=1e-12)
    _, without_h0 = run(threads, need_h0=False)
    for value, expected in zip(without_h0, single[:6]):
        np.testing.assert_allclose(value, expected, rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("size", [16, 48])
@pytest.mark.parametrize("reverse", [False, True])
def test_lstm_sequence_on_packed_weights_matches_the_reference_in_float32(kernels, monkeypatch, reverse, size):
    """Float32 sequences long and wide enough for the packed products (kernels/panel_gemm.c) give the reference
    path's outputs and gradients."""
    calls = _record_route(kernels, monkeypatch, ("lstm_sequence_forward", "lstm_sequence_backward"), "sequence",
                          np.float32)
    rng = np.random.default_rng(size)
    steps, batch = 6, 9
    arrays = [rng.standard_normal((steps, batch, 4 * size)), rng.standard_normal((batch, size)),
              rng.standard_normal((batch, size)), rng.standard_normal((4 * size, size)) / np.sqrt(size),
              rng.standard_normal(4 * size) * 0.5]
    upstream = rng.standard_normal((2, steps, batch, size))

    def grads():
        tensors = [ember.tensor(a.astype(np.float32), requires_grad=True) for a in arrays]
        hs, cs = recurrent.LSTMSequence(reverse)(*tensors)
        (hs * ember.tensor(upstream[0].astype(np.float32)) + cs * ember.tensor(upstream[1].astype(np.float32))
         ).sum().backward()
        return [hs.numpy().copy(), cs.numpy().copy()] + [t.grad.numpy().copy() for t in tensors]

    results = grads()
    assert calls == ["lstm_sequence_forward", "lstm_sequence_backward"]
    with ember.config.override(fast_paths=False):
        expected = grads()
    for value, reference in zip(results, expected):
        np.testing.assert_allclose(value, reference, rtol=1e-4, atol=1e-4)


def test_lstm_sequence_kernel_refuses_mismatched_arrays(kernels):
    gemm = recurrent.threads.openblas_gemm(np.float32) or (0, True)  # never called: the check comes first
    x, h0, c0, weight, bias = (t.array for t in _sequence_tensors(np.float32))
    steps, batch, width = x.shape
    states = [np.empty((steps, batch, width // 4), np.float32) for _ in range(3)]
    with pytest.raises(ValueError, match="lstm_sequence_forward"):
        kernels.lstm_sequence_forward(x, bias, h0, c0, weight.T.copy(), np.empty_like(x), *states, False, 2, gemm)
    with pytest.raises(ValueError, match="lstm_sequence_forward"):
        kernels.lstm_sequence_forward(x, bias, h0, c0, weight, np.empty_like(x), *states, False, 0, gemm)
    with pytest.raises(ValueError, match="lstm_sequence_backward"):  # carry_c (N, H), not (2, N, H)
        kernels.lstm_sequence_backward(*states[:2], x, states[2], h0, c0, states[0], states[1], weight,
                                       np.empty_like(x), h0.copy(), np.zeros((batch, width // 4), np.float32), None,
                                       None, False, True, 2, gemm)
    with pytest.raises(ValueError, match="lstm_sequence_backward"):  # grad_weight transposed
        kernels.lstm_sequence_backward(*states[:2], x, states[2], h0, c0, states[0], states[1], weight,
                                       np.empty_like(x), h0.copy(), np.zeros((2, batch, width // 4), np.float32),
                                       np.empty_like(weight.T), None, False, True, 2, gemm)


def test_lstm_sequence_declines_packed_sequences_and_numpy_kernels(kernels, monkeypatch):
    calls = []
    monkeypatch.setattr(kernels, "lstm_forward_steps", lambda *a: calls.append(a))
    op = recurrent.LSTMSequence()
    op.batch_sizes = np.array([3, 3, 2, 1])  # a packed sequence: the reference path handles it
    assert op.forward_compiled(*[t.array for t in _sequence_tensors(np.float32)]) is None
    with ember.config.override(kernels="numpy"):
        assert recurrent.LSTMSequence().forward_compiled(*[t.array for t in _sequence_tensors(np.float32)]) is None
    assert calls == []


def test_lstm_layer_runs_the_compiled_step(kernels):
    """nn.LSTM (batch_first, two layers) takes the compiled path and agrees with the reference path."""
    rng = np.random.default_rng(2)
    model = ember.nn.LSTM(6, 8, num_layers=2, batch_first=True)
    x = rng.standard_normal((3, 5, 6)).astype(np.float32)
    results = {}
    for fast in (True, False):
        model.zero_grad()
        with ember.config.override(fast_paths=fast):
            output, (_, c) = model(ember.tensor(x))
            (output.sum() + c.sum()).backward()
            if fast:
                assert "LSTMSequence.forward: forward_compiled" in str(ember.config.describe())
        results[fast] = [output.numpy()] + [p.grad.numpy().copy() for p in model.parameters()]
    for value, expected in zip(results[True], results[False]):
        np.testing.assert_allclose(value, expected, rtol=1e-4, atol=1e-5)
    assert compiled.loaded()


# ------------------------------------------------------------------------------------------------- GRU
def _gru_tensors(dtype, bias=True, seed=0, size=5):
    rng = np.random.default_rng(seed)
    steps, batch = 4, 3
    arrays = [rng.standard_normal((steps, batch, 3 * size)), rng.standard_normal((batch, size)),
              rng.standard_normal((3 * size, size)) * (0.5 if size == 5 else 1 / np.sqrt(size))]
    if bias:
        arrays.append(rng.standard_normal(3 * size) * 0.5)
    return [ember.tensor(a.astype(dtype), requires_grad=True) for a in arrays]


@pytest.mark.parametrize("route", ["sequence", "steps"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("size", [5, 16], ids=["H5", "H16-packed"])
def test_gru_sequence_takes_the_compiled_kernels_and_matches_the_reference(kernels, monkeypatch, route, dtype,
                                                                           reverse, bias, size):
    """The whole sequence in C (kernels/gru_sequence.c, where a CBLAS GEMM is found; with H 16, W_hh packed for
    the steps' products) or a NumPy GEMM and a compiled pass per step: both give the reference path's outputs
    and gradients."""
    names = ("gru_sequence_forward", "gru_sequence_backward", "gru_forward_steps", "gru_backward_steps")
    calls = _record_route(kernels, monkeypatch, names, route, dtype)
    upstream = np.random.default_rng(5).standard_normal((4, 3, size)).astype(dtype)
    results = {}
    for fast in (True, False):
        tensors = _gru_tensors(dtype, bias, size=size)
        with ember.config.override(fast_paths=fast):
            hs = recurrent.GRUSequence(reverse)(*tensors)
            (hs * ember.tensor(upstream)).sum().backward()
        results[fast] = [hs.numpy()] + [t.grad.numpy() for t in tensors]
    assert calls == list(names[:2] if route == "sequence" else names[2:])
    tolerance = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-13)
    for value, expected in zip(results[True], results[False]):
        np.testing.assert_allclose(value, expected, **tolerance)


def test_gru_steps_refuse_mismatched_arrays_and_declines_packed_sequences(kernels):
    x, h0, weight, bias = (t.array for t in _gru_tensors(np.float32))
    steps, batch, width = x.shape
    size = width // 3
    states = [np.empty((steps, batch, size), np.float32) for _ in range(3)]
    with pytest.raises(ValueError, match="gru_forward"):
        kernels.gru_forward_steps(x, bias, h0, np.empty((steps, batch, 3 * size), np.float32), *states)
    step = kernels.gru_forward_steps(x, bias, h0, np.empty((steps, batch, 2 * size), np.float32), *states)
    with pytest.raises(IndexError, match="gru_forward"):
        step(steps, None, np.empty((batch, width), np.float32))
    with pytest.raises(ValueError, match="gru_forward"):
        step(0, None, np.empty((batch, size), np.float32))
    with pytest.raises(ValueError, match="gru_backward"):
        kernels.gru_backward_steps(states[0], np.empty((steps, batch, 2 * size), np.float32), *states, h0,
                                   np.empty((steps, batch, 3 * size), np.float32),
                                   np.empty((steps, batch, 3 * size), np.float32), np.zeros((batch, size), np.float32))
    op = recurrent.GRUSequence()
    op.batch_sizes = np.array([3, 3, 2, 1])
    assert op.forward_compiled(x, h0, weight, bias) is None


def test_lstm_sequence_team_stays_on_one_thread_for_short_steps():
    """A step of one row (sampling) runs on the calling thread; a large step on the threads Ember may use."""
    assert recurrent._sequence_team(1, 256) == 1
    with ember.config.override(parallel_gemm_flops=0):
        assert recurrent._sequence_team(1, 256) == recurrent.threads.claim_cores()
    with ember.config.override(parallel_gemm_flops=8.0 * 64 * 256 * 256):
        assert recurrent._sequence_team(64, 256) == recurrent.threads.claim_cores()
        assert recurrent._sequence_team(63, 256) == 1


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("reverse", [False, True])
def test_gru_sequence_kernel_shares_the_batch_between_its_threads(kernels, threads, reverse):
    """Teams of 1-3 threads on 4 rows give the reference path's outputs and every gradient (h0's included)."""
    gemm = recurrent.threads.openblas_gemm(np.float64)
    if gemm is None:
        pytest.skip("NumPy here loads no OpenBLAS with a CBLAS GEMM the sequence kernel can call")
    rng = np.random.default_rng(4)
    steps, batch, size = 5, 4, 3
    x, h0 = rng.standard_normal((steps, batch, 3 * size)), rng.standard_normal((batch, size))
    weight, bias = rng.standard_normal((3 * size, size)) * 0.5, rng.standard_normal(3 * size) * 0.5
    upstream = rng.standard_normal((steps, batch, size))
    gates, (ns, hidden_ns, hs) = np.empty((steps, batch, 2 * size)), (np.empty((steps, batch, size)) for _ in range(3))
    assert kernels.gru_sequence_forward(x, bias, h0, weight, gates, ns, hidden_ns, hs, reverse, threads,
                                        gemm) == threads
    d_x, d_hidden = np.empty_like(x), np.empty_like(x)
    carry_gemm, carry_z = np.empty((batch, size)), np.zeros((2, batch, size))
    grad_weight, grad_bias = np.empty_like(weight), np.empty_like(bias)
    parity = kernels.gru_sequence_backward(upstream, gates, ns, hidden_ns, hs, h0, weight, d_x, d_hidden,
                                           carry_gemm, carry_z, grad_weight, grad_bias, reverse, True, threads, gemm)
    with ember.config.override(fast_paths=False):
        tensors = [ember.tensor(a, requires_grad=True) for a in (x, h0, weight, bias)]
        hs_ref = recurrent.GRUSequence(reverse)(*tensors)
        (hs_ref * ember.tensor(upstream)).sum().backward()
    np.testing.assert_allclose(hs, hs_ref.numpy(), atol=1e-13)
    for value, tensor in zip((d_x, carry_gemm + carry_z[parity], grad_weight, grad_bias), tensors):
        np.testing.assert_allclose(value, tensor.grad.numpy(), atol=1e-12)
