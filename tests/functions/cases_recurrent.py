"""Op-table cases: the recurrent cells (RNN tanh/relu, LSTM, GRU) and sequences (plain, packed with batch_sizes,
the projected LSTM), with and without the hidden bias, against NumPy references written from PyTorch's
equations."""
import numpy as np

import ember
from ember.functions import recurrent

from .op_table import OpCase

BATCH, HIDDEN = 3, 4


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _rnn_reference(nonlinearity):
    def reference(x, h, weight, bias=0.0):
        pre = x + h @ weight.T + bias
        return np.tanh(pre) if nonlinearity == "tanh" else np.maximum(pre, 0)

    return reference


def _lstm_reference(x, h, c, weight, bias=0.0):
    i, f, g, o = np.split(x + h @ weight.T + bias, 4, axis=1)
    c_next = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
    return _sigmoid(o) * np.tanh(c_next), c_next


def _gru_reference(x, h, weight, bias=0.0):
    x_r, x_z, x_n = np.split(x, 3, axis=1)
    h_r, h_z, h_n = np.split(h @ weight.T + bias, 3, axis=1)
    r, z = _sigmoid(x_r + h_r), _sigmoid(x_z + h_z)
    n = np.tanh(x_n + r * h_n)
    return (1 - z) * n + z * h


def _inputs(gates, states, bias, scale=1.0):
    def make(rng):
        arrays = [rng.standard_normal((BATCH, gates * HIDDEN)) * scale]
        arrays += [rng.standard_normal((BATCH, HIDDEN)) for _ in range(states)]
        arrays.append(rng.standard_normal((gates * HIDDEN, HIDDEN)) * 0.5)
        if bias:
            arrays.append(rng.standard_normal(gates * HIDDEN) * 0.5)
        return arrays

    return make


def _relu_inputs(bias):
    """Inputs whose pre-activations stay away from relu's kink at 0."""
    make = _inputs(1, 1, bias)

    def adjusted(rng):
        arrays = make(rng)
        pre = arrays[1] @ arrays[2].T + (arrays[3] if bias else 0)
        target = np.where(np.abs(arrays[0] + pre) < 0.2, np.sign(arrays[0] + pre + 1e-12) * 0.4, arrays[0] + pre)
        arrays[0] = target - pre
        return arrays

    return adjusted


CASES = []
for bias in (True, False):
    suffix = "" if bias else "_no_bias"
    CASES += [
        OpCase(f"rnn_cell_tanh{suffix}", lambda *a: ember.rnn_cell(*a, nonlinearity="tanh"),
               _rnn_reference("tanh"), _inputs(1, 1, bias)),
        OpCase(f"rnn_cell_relu{suffix}", lambda *a: ember.rnn_cell(*a, nonlinearity="relu"),
               _rnn_reference("relu"), _relu_inputs(bias)),
        OpCase(f"lstm_cell{suffix}", ember.lstm_cell, _lstm_reference, _inputs(4, 2, bias)),
        OpCase(f"gru_cell{suffix}", ember.gru_cell, _gru_reference, _inputs(3, 1, bias)),
    ]


# ------------------------------------------------------------------------- whole sequences (one node each)
STEPS = 3


def _sequence_reference(step, states: int, reverse: bool):
    """Run a one-step reference over x (L, N, G*H), returning every step's h (and c) as (L, N, H) arrays."""
    def reference(x, *rest):
        state, parameters = list(rest[:states]), rest[states:]
        outputs = [[None] * len(x) for _ in range(states)]
        for t in (reversed(range(len(x))) if reverse else range(len(x))):
            result = step(x[t], *state, *parameters)
            state = list(result) if states == 2 else [result]
            for slot, value in zip(outputs, state):
                slot[t] = value
        stacked = tuple(np.stack(slot) for slot in outputs)
        return stacked if states == 2 else stacked[0]

    return reference


def _sequence_inputs(gates, states, bias):
    def make(rng):
        arrays = [rng.standard_normal((STEPS, BATCH, gates * HIDDEN))]
        arrays += [rng.standard_normal((BATCH, HIDDEN)) for _ in range(states)]
        arrays.append(rng.standard_normal((gates * HIDDEN, HIDDEN)) * 0.5)
        if bias:
            arrays.append(rng.standard_normal(gates * HIDDEN) * 0.5)
        return arrays

    return make


for bias in (True, False):
    for reverse in (False, True):
        suffix = ("" if bias else "_no_bias") + ("_reverse" if reverse else "")
        CASES += [
            OpCase(f"rnn_sequence_tanh{suffix}",
                   lambda *a, reverse=reverse: recurrent.RNNSequence("tanh", reverse)(*a),
                   _sequence_reference(_rnn_reference("tanh"), 1, reverse), _sequence_inputs(1, 1, bias)),
            OpCase(f"lstm_sequence{suffix}", lambda *a, reverse=reverse: recurrent.LSTMSequence(reverse)(*a),
                   _sequence_reference(_lstm_reference, 2, reverse), _sequence_inputs(4, 2, bias)),
            OpCase(f"gru_sequence{suffix}", lambda *a, reverse=reverse: recurrent.GRUSequence(reverse)(*a),
                   _sequence_reference(_gru_reference, 1, reverse), _sequence_inputs(3, 1, bias)),
        ]


# -------------------------------------------- packed batches (batch_sizes) and the projected LSTM (W_hr)
PACKED_BATCH = 4
BATCH_SIZES = [4, 3, 1]  # sequence lengths 3, 2, 2, 1


def _packed_reference(step, states: int, reverse: bool, batch_sizes, projected: bool = False):
    """Run a one-step reference over each step's active rows, the other rows carrying their state; outputs are
    zeros where rows did not run. With ``projected`` the inputs are x, h0, c0, W_hh, W_hr[, b_hh] and h is
    ``step``'s h times W_hr.T."""
    def reference(x, *rest):
        state = [np.array(value) for value in rest[:states]]
        parameters = list(rest[states:])
        weight_hr = parameters.pop(1) if projected else None
        outputs = [np.zeros(x.shape[:2] + (value.shape[1],)) for value in state]
        for t in (reversed(range(len(x))) if reverse else range(len(x))):
            rows = batch_sizes[t]
            result = step(x[t, :rows], *(value[:rows] for value in state), *parameters)
            result = list(result) if states == 2 else [result]
            if projected:
                result[0] = result[0] @ weight_hr.T
            for value, out, new in zip(state, outputs, result):
                value[:rows] = new
                out[t, :rows] = new
        return tuple(outputs) if states == 2 else outputs[0]

    return reference


def _packed_inputs(gates, states, bias, projection=None):
    """x (L, N, G*H), the states, W_hh[, W_hr][, b_hh]; with ``projection`` P, h0 is (N, P), W_hh (G*H, P)
    and W_hr (P, H)."""
    def make(rng):
        hidden = projection or HIDDEN
        arrays = [rng.standard_normal((len(BATCH_SIZES), PACKED_BATCH, gates * HIDDEN))]
        arrays += [rng.standard_normal((PACKED_BATCH, hidden if index == 0 else HIDDEN)) for index in range(states)]
        arrays.append(rng.standard_normal((gates * HIDDEN, hidden)) * 0.5)
        if projection:
            arrays.append(rng.standard_normal((projection, HIDDEN)) * 0.5)
        if bias:
            arrays.append(rng.standard_normal(gates * HIDDEN) * 0.5)
        return arrays

    return make


def _packed_relu_inputs(bias):
    """Packed RNN inputs whose pre-activations at every step stay away from relu's kink at 0."""
    make = _packed_inputs(1, 1, bias)

    def adjusted(rng):
        x, h0, weight, *rest = make(rng)
        h = h0.copy()
        for t, rows in enumerate(BATCH_SIZES):
            pre = x[t, :rows] + h[:rows] @ weight.T + (rest[0] if rest else 0)
            shifted = np.where(np.abs(pre) < 0.2, np.sign(pre + 1e-12) * 0.4, pre)
            x[t, :rows] += shifted - pre
            h[:rows] = np.maximum(shifted, 0)
        return [x, h0, weight, *rest]

    return adjusted


for bias in (True, False):
    for reverse in (False, True):
        suffix = ("" if bias else "_no_bias") + ("_reverse" if reverse else "")
        CASES += [
            OpCase(f"rnn_sequence_tanh_packed{suffix}",
                   lambda *a, reverse=reverse: recurrent.RNNSequence("tanh", reverse, np.array(BATCH_SIZES))(*a),
                   _packed_reference(_rnn_reference("tanh"), 1, reverse, BATCH_SIZES), _packed_inputs(1, 1, bias)),
            OpCase(f"lstm_sequence_packed{suffix}",
                   lambda *a, reverse=reverse: recurrent.LSTMSequence(reverse, np.array(BATCH_SIZES))(*a),
                   _packed_reference(_lstm_reference, 2, reverse, BATCH_SIZES), _packed_inputs(4, 2, bias)),
            OpCase(f"gru_sequence_packed{suffix}",
                   lambda *a, reverse=reverse: recurrent.GRUSequence(reverse, np.array(BATCH_SIZES))(*a),
                   _packed_reference(_gru_reference, 1, reverse, BATCH_SIZES), _packed_inputs(3, 1, bias)),
            OpCase(f"projected_lstm_sequence{suffix}",
                   lambda *a, reverse=reverse: recurrent.ProjectedLSTMSequence(reverse)(*a),
                   _packed_reference(_lstm_reference, 2, reverse, [PACKED_BATCH] * len(BATCH_SIZES), True),
                   _packed_inputs(4, 2, bias, projection=2)),
            OpCase(f"projected_lstm_sequence_packed{suffix}",
                   lambda *a, reverse=reverse: recurrent.ProjectedLSTMSequence(reverse, np.array(BATCH_SIZES))(*a),
                   _packed_reference(_lstm_reference, 2, reverse, BATCH_SIZES, True),
                   _packed_inputs(4, 2, bias, projection=2)),
        ]
    for reverse in (False, True):
        CASES.append(OpCase(
            f"rnn_sequence_relu_packed{'' if bias else '_no_bias'}{'_reverse' if reverse else ''}",
            lambda *a, reverse=reverse: recurrent.RNNSequence("relu", reverse, np.array(BATCH_SIZES))(*a),
            _packed_reference(_rnn_reference("relu"), 1, reverse, BATCH_SIZES), _packed_relu_inputs(bias)))


# ------------------------------------------ between packed rows and the padded layout of the sequence nodes
PACKED_POSITIONS = np.array([0, 1, 2, 3, 4, 5, 6, 8])  # (L, N) = (3, 4) with BATCH_SIZES: steps of 4, 3, 1 rows


def _pad_rows_reference(rows):
    padded = np.zeros((len(BATCH_SIZES) * PACKED_BATCH,) + rows.shape[1:])
    padded[PACKED_POSITIONS] = rows
    return padded


CASES += [
    OpCase("pack_rows", lambda source: recurrent.PackRows(PACKED_POSITIONS)(source),
           lambda source: source[PACKED_POSITIONS],
           lambda rng: [rng.standard_normal((len(BATCH_SIZES) * PACKED_BATCH, 5))]),
    OpCase("pack_rows_3d", lambda source: recurrent.PackRows(PACKED_POSITIONS)(source),
           lambda source: source[PACKED_POSITIONS],
           lambda rng: [rng.standard_normal((len(BATCH_SIZES) * PACKED_BATCH, 2, 3))]),
    OpCase("pad_rows", lambda rows: recurrent.PadRows(PACKED_POSITIONS, len(BATCH_SIZES) * PACKED_BATCH)(rows),
           _pad_rows_reference, lambda rng: [rng.standard_normal((len(PACKED_POSITIONS), 5))]),
]
