"""Recurrent layers and cells against PyTorch's numbers (fixtures/rnn_fixtures.npz, written by
fixtures/make_rnn_fixtures.py), their parameters and layouts, and their errors on bad input."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import ember
from ember import nn

FIXTURES = np.load(Path(__file__).parent / "fixtures" / "rnn_fixtures.npz")
META = json.loads(str(FIXTURES["meta"]))
INPUT, HIDDEN = 3, 4


def _fixture(name: str, key: str) -> np.ndarray:
    return FIXTURES[f"{name}/{key}"]


def _module(name: str):
    spec = META[name]
    module = getattr(nn, spec["class"])(INPUT, HIDDEN, **spec["kwargs"], dtype=ember.float64)
    prefix = f"{name}/param/"
    state = {key[len(prefix):]: ember.tensor(FIXTURES[key]) for key in FIXTURES.files if key.startswith(prefix)}
    assert list(state) == list(module.state_dict()), "parameter names and order differ from PyTorch's"
    module.load_state_dict(state)
    return module


def _check(got, want, what):
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-10, atol=1e-12, err_msg=what)


@pytest.mark.parametrize("fast_paths", [True, False], ids=["fast", "reference"])
@pytest.mark.parametrize("name", sorted(META))
def test_outputs_and_gradients_match_pytorch(name, fast_paths):
    module = _module(name)
    spec = META[name]
    x = ember.tensor(_fixture(name, "input"), requires_grad=True)
    count = sum(key.startswith(f"{name}/state") and not key.endswith("_grad") for key in FIXTURES.files)
    states = [ember.tensor(_fixture(name, f"state{i}"), requires_grad=True) for i in range(count)]
    is_lstm = spec["class"] in ("LSTM", "LSTMCell")
    hx = None if not states else (tuple(states) if is_lstm else states[0])
    with ember.config.override(fast_paths=fast_paths):
        result = module(x, hx)
        if spec["class"].endswith("Cell"):
            outputs = list(result) if is_lstm else [result]
        else:
            output, last = result
            outputs = [output, *(last if is_lstm else [last])]
        loss = sum((out * ember.tensor(_fixture(name, f"upstream{i}"))).sum() for i, out in enumerate(outputs))
        loss.backward()
    for index, out in enumerate(outputs):
        assert out.dtype == np.float64
        _check(out.numpy(), _fixture(name, f"output{index}"), f"{name}: output {index}")
    _check(x.grad.numpy(), _fixture(name, "input_grad"), f"{name}: input gradient")
    for index, state in enumerate(states):
        _check(state.grad.numpy(), _fixture(name, f"state{index}_grad"), f"{name}: initial state {index} gradient")
    for key, parameter in module.named_parameters():
        _check(parameter.grad.numpy(), _fixture(name, f"grad/{key}"), f"{name}: gradient of {key}")


def test_fixtures_cover_every_layer_and_option():
    classes = {spec["class"] for spec in META.values()}
    assert classes == {"RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell"}
    options = {key for spec in META.values() for key in spec["kwargs"]}
    assert {"num_layers", "bidirectional", "batch_first", "bias", "nonlinearity", "proj_size"} <= options


@pytest.mark.parametrize("layer", [nn.RNN, nn.LSTM, nn.GRU])
def test_float32_by_default_and_pytorch_shapes(layer):
    module = layer(3, 5, num_layers=2, bidirectional=True, batch_first=True)
    gates = {nn.RNN: 1, nn.LSTM: 4, nn.GRU: 3}[layer]
    assert module.weight_ih_l0.shape == (gates * 5, 3)
    assert module.weight_ih_l1_reverse.shape == (gates * 5, 10)
    assert module.weight_hh_l1.shape == (gates * 5, 5)
    assert module.bias_hh_l0_reverse.shape == (gates * 5,)
    bound = 1 / np.sqrt(5)
    for parameter in module.parameters():
        assert parameter.dtype == np.float32
        assert np.all(np.abs(parameter.numpy()) <= bound)
    output, last = module(ember.randn(2, 7, 3))
    assert output.shape == (2, 7, 10) and output.dtype == np.float32
    h_n = last[0] if layer is nn.LSTM else last
    assert h_n.shape == (4, 2, 5)


def test_dropout_between_layers_only_in_training():
    ember.manual_seed(0)
    module = nn.GRU(3, 4, num_layers=2, dropout=0.5)
    x = ember.randn(5, 2, 3)
    module.eval()
    first, _ = module(x)
    second, _ = module(x)
    np.testing.assert_array_equal(first.numpy(), second.numpy())
    module.train()
    trained, _ = module(x)
    assert not np.allclose(trained.numpy(), first.numpy())


def _count_nodes(output, name: str) -> int:
    seen, pending, count = set(), [output.creator], 0
    while pending:
        node = pending.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        count += type(node).__name__ == name
        pending.extend(tensor.creator for tensor in node.inputs)
    return count


def test_one_sequence_node_per_layer_and_direction_or_one_cell_node_per_step():
    """The input projection is one node per layer and direction; with fast paths the recurrence is one sequence
    node per layer and direction, without them (the reference path) one cell node per step."""
    module = nn.LSTM(3, 4, num_layers=2, bidirectional=True)
    x = ember.randn(6, 2, 3, requires_grad=True)
    output, _ = module(x)
    assert _count_nodes(output, "LSTMSequence") == 4
    assert _count_nodes(output, "LSTMCell") == 0
    with ember.config.override(fast_paths=False):
        output, _ = module(x)
    assert _count_nodes(output, "LSTMSequence") == 0
    assert _count_nodes(output, "LSTMCell") == 6 * 4


@pytest.mark.parametrize("layer, node", [("RNN", "RNNSequence"), ("LSTM", "LSTMSequence"), ("GRU", "GRUSequence")])
def test_fast_sequence_path_is_taken(layer, node):
    module = getattr(nn, layer)(3, 4)
    output, _ = module(ember.randn(4, 2, 3, requires_grad=True))
    output.sum().backward()
    assert ember.config.paths()[f"{node}.backward"] == "backward_arrays"


@pytest.mark.parametrize("kwargs", [{}, {"num_layers": 2, "bidirectional": True}, {"bias": False},
                                    {"nonlinearity": "relu"}], ids=["plain", "2-layer-bidirectional", "no-bias",
                                                                    "relu"])
@pytest.mark.parametrize("layer", ["RNN", "LSTM", "GRU"])
def test_float32_sequence_path_gives_the_per_step_numbers(layer, kwargs):
    """float32, longer sequences: the sequence nodes against the per-step cells, within float32 rounding (the
    forward pass step for step; the weight gradient summed by one GEMM instead of one per step)."""
    if "nonlinearity" in kwargs and layer != "RNN":
        pytest.skip("nonlinearity is RNN's")
    ember.manual_seed(0)
    module = getattr(nn, layer)(5, 8, **kwargs)
    x_np = np.random.default_rng(0).standard_normal((12, 3, 5)).astype(np.float32)

    def run():
        module.zero_grad()
        x = ember.tensor(x_np, requires_grad=True)
        output, last = module(x)
        states = list(last) if layer == "LSTM" else [last]
        loss = (output * output).sum() + sum((state * 0.5).sum() for state in states)
        loss.backward()
        return [output.numpy(), *(state.numpy() for state in states), x.grad.numpy(),
                *(p.grad.numpy() for p in module.parameters())]

    fast = run()
    with ember.config.override(fast_paths=False):
        reference = run()
    for got, want in zip(fast, reference):
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-6)


@pytest.mark.parametrize("layer", ["RNN", "LSTM", "GRU"])
def test_bad_input_names_the_layer_expectation_and_shape(layer):
    module = getattr(nn, layer)(3, 4, num_layers=2)
    with pytest.raises(ValueError, match=rf"{layer}: expected input of shape \(L, N, H_in\).*3.*\(5, 2, 7\)"):
        module(ember.randn(5, 2, 7))
    with pytest.raises(ValueError, match=rf"{layer}: expected input.*\(5,\)"):
        module(ember.randn(5))
    states = (ember.zeros(2, 3, 4), ember.zeros(2, 2, 4)) if layer == "LSTM" else ember.zeros(2, 3, 4)
    with pytest.raises(ValueError, match=rf"{layer}: expected h0 of shape \(2, 2, 4\), received \(2, 3, 4\)"):
        module(ember.randn(5, 2, 3), states)
    if layer == "LSTM":
        with pytest.raises(ValueError, match=r"LSTM: expected c0 of shape \(2, 2, 4\), received \(1, 2, 4\)"):
            module(ember.randn(5, 2, 3), (ember.zeros(2, 2, 4), ember.zeros(1, 2, 4)))


def test_cell_bad_input():
    cell = nn.GRUCell(3, 4)
    with pytest.raises(ValueError, match=r"GRUCell: expected input of shape \(N, 3\) or \(3,\), received shape"):
        cell(ember.randn(2, 5))
    with pytest.raises(ValueError, match=r"GRUCell: expected hx of shape \(2, 4\), received \(3, 4\)"):
        cell(ember.randn(2, 3), ember.zeros(3, 4))


def test_dtype_mismatch_is_a_type_error():
    with pytest.raises(TypeError, match="LSTM: expected input of dtype float32"):
        nn.LSTM(3, 4)(ember.randn(5, 2, 3, dtype=ember.float64))
