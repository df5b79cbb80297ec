"""Recurrent layers through ONNX's own RNN, LSTM and GRU ops.

Ember's layers compute each layer's input projection ``x @ W_ih.T + b_ih`` for all steps with one Linear
(``Affine``), then run one sequence node per direction on that projection with ``W_hh`` and ``b_hh``
(``functions/recurrent.py``). The ONNX op takes the projection as its input X with a W that only reorders the
gates (a permutation matrix: exact), R = W_hh and B = [0, b_hh], gates reordered from PyTorch's order to
ONNX's: LSTM i,f,g,o -> i,o,f,c; GRU r,z,n -> z,r,h with ``linear_before_reset=1`` (PyTorch's GRU); RNN as is.
A reverse direction is an op with ``direction="reverse"``, whose outputs keep the input's time order, as
Ember's; stacked and bidirectional layers are several such ops joined by Concat, as Ember runs them. The
single-step cells (``nn.LSTMCell`` and friends) are the same ops over one step.
"""
from __future__ import annotations

import numpy as np

from ...functions import recurrent as ops
from . import converts

# for each ONNX gate, in ONNX's order, the index of the same gate in PyTorch's order
_GATE_ORDER = {"RNN": [0], "LSTM": [0, 3, 1, 2], "GRU": [1, 0, 2]}


def _rows(order: list[int], size: int) -> np.ndarray:
    return np.concatenate([np.arange(gate * size, (gate + 1) * size) for gate in order])


def _state(graph, value) -> str:
    """An initial state (N, H) as ONNX's (1, N, H), or "" (omitted, meaning zeros) for a constant of zeros."""
    if not value.dynamic and not np.any(value.array):
        return ""
    return graph.add("Unsqueeze", [graph.name_of(value), graph.ints([0])])


def _recurrent(node, graph, kind: str, x: str, states: list, weight, bias, reverse: bool, **attributes):
    """Emit one ONNX RNN/LSTM/GRU op; returns its outputs (Y, Y_h[, Y_c])."""
    if weight.dynamic or (bias is not None and bias.dynamic):
        raise graph.unsupported("recurrent weights computed from the inputs are not exported")
    weight_array = weight.array
    size = weight_array.shape[1]
    rows = _rows(_GATE_ORDER[kind], size)
    gate_width = len(rows)
    hint = (weight.name or f"{node.module_path}.weight_hh").replace("weight_hh", "{}")
    inputs = [
        x,
        graph.initializer(np.eye(gate_width, dtype=weight_array.dtype)[rows][None], hint.format("onnx_W")),
        graph.initializer(weight_array[rows][None], hint.format("onnx_R")),
    ]
    if bias is not None:
        joined = np.concatenate([np.zeros(gate_width, dtype=bias.array.dtype), bias.array[rows]])[None]
        inputs.append(graph.initializer(joined, hint.format("onnx_B")))
    else:
        inputs.append("")
    inputs.append("")  # sequence_lens: every sequence has the full length
    inputs.extend(_state(graph, value) for value in states)
    while inputs[-1] == "":
        inputs.pop()
    outputs = 3 if kind == "LSTM" else 2
    return graph.add(kind, inputs, outputs=outputs, hidden_size=int(size),
                     direction="reverse" if reverse else "forward", **attributes)


def _squeeze(graph, name: str, axis: int) -> str:
    return graph.add("Squeeze", [name, graph.ints([axis])])


def _split_inputs(node, state_count: int):
    x, *rest = node.inputs
    states, weight, bias = rest[:state_count], rest[state_count], (rest[state_count + 1:] or [None])[0]
    return x, states, weight, bias


def _rnn_attributes(node) -> dict:
    return {"activations": ["Tanh" if node.op.nonlinearity == "tanh" else "Relu"]}


@converts(ops.RNNSequence, ops.GRUSequence)
def rnn_or_gru_sequence(node, graph):
    kind = "GRU" if isinstance(node.op, ops.GRUSequence) else "RNN"
    x, states, weight, bias = _split_inputs(node, 1)
    attributes = {"linear_before_reset": 1} if kind == "GRU" else _rnn_attributes(node)
    y, _ = _recurrent(node, graph, kind, graph.name_of(x), states, weight, bias, node.op.reverse, **attributes)
    return _squeeze(graph, y, 1)


@converts(ops.LSTMSequence)
def lstm_sequence(node, graph):
    """Every step's h; of every step's c, ONNX gives only the last (Y_c), which is what the layer returns."""
    x, states, weight, bias = _split_inputs(node, 2)
    y, _, y_c = _recurrent(node, graph, "LSTM", graph.name_of(x), states, weight, bias, node.op.reverse)
    steps = x.array.shape[0]
    graph.final_states[id(node.outputs[1])] = (0 if node.op.reverse else steps - 1, steps, _squeeze(graph, y_c, 0))
    graph.unavailable[id(node.outputs[1])] = (
        f"ember.onnx.export: LSTMSequence in module '{node.module_path}': ONNX's LSTM gives the cell state of the "
        "last step only, and the exported graph uses it at other steps")
    return [_squeeze(graph, y, 1), None]


@converts(ops.RNNCell, ops.GRUCell, ops.LSTMCell)
def cell(node, graph):
    kind = {ops.RNNCell: "RNN", ops.GRUCell: "GRU", ops.LSTMCell: "LSTM"}[type(node.op)]
    x, states, weight, bias = _split_inputs(node, 2 if kind == "LSTM" else 1)
    attributes = {"RNN": _rnn_attributes, "GRU": lambda _: {"linear_before_reset": 1}, "LSTM": lambda _: {}}[kind]
    step = graph.add("Unsqueeze", [graph.name_of(x), graph.ints([0])])
    outputs = _recurrent(node, graph, kind, step, states, weight, bias, False, **attributes(node))
    finals = [_squeeze(graph, name, 0) for name in outputs[1:]]
    return finals if kind == "LSTM" else finals[0]
