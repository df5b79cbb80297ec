"""Recurrent layers on packed sequences and LSTM's proj_size against PyTorch's numbers
(fixtures/rnn_packed_fixtures.npz, written by fixtures/make_rnn_fixtures.py), one sequence node per layer and
direction, and the errors on bad input."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import ember
from ember import nn
from ember.nn.utils.rnn import PackedSequence, pack_padded_sequence, pack_sequence, pad_packed_sequence

FIXTURES = np.load(Path(__file__).parent / "fixtures" / "rnn_packed_fixtures.npz")
META = json.loads(str(FIXTURES["meta"]))
INPUT, HIDDEN = 3, 4


def _fixture(name: str, key: str) -> np.ndarray:
    return FIXTURES[f"{name}/{key}"]


def _module(name: str, dtype):
    spec = META[name]
    module = getattr(nn, spec["class"])(INPUT, HIDDEN, **spec["kwargs"], dtype=dtype)
    prefix = f"{name}/param/"
    state = {key[len(prefix):]: ember.tensor(FIXTURES[key].astype(dtype)) for key in FIXTURES.files
             if key.startswith(prefix)}
    assert list(state) == list(module.state_dict()), "parameter names and order differ from PyTorch's"
    module.load_state_dict(state)
    return module


def _packed_input(name: str, dtype) -> PackedSequence:
    """The fixture's padded input packed by Ember (checked against PyTorch's PackedSequence), its data a leaf."""
    spec = META[name]
    padded = ember.tensor(_fixture(name, "input").astype(dtype))
    packed = pack_padded_sequence(padded, _fixture(name, "lengths"), batch_first=spec["kwargs"].get("batch_first",
                                                                                                     False),
                                  enforce_sorted=spec["enforce_sorted"])
    np.testing.assert_array_equal(packed.data.numpy(), _fixture(name, "data").astype(dtype))
    np.testing.assert_array_equal(packed.batch_sizes.numpy(), _fixture(name, "batch_sizes"))
    for key in ("sorted_indices", "unsorted_indices"):
        value = getattr(packed, key)
        if spec["enforce_sorted"]:
            assert value is None
        else:
            np.testing.assert_array_equal(value.numpy(), _fixture(name, key))
    data = ember.tensor(packed.data.numpy(), requires_grad=True)
    return PackedSequence(data, packed.batch_sizes, packed.sorted_indices, packed.unsorted_indices)


TOLERANCES = {"float64": {"rtol": 1e-10, "atol": 1e-12}, "float32": {"rtol": 1e-5, "atol": 1e-5}}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("fast_paths", [True, False], ids=["fast", "reference"])
@pytest.mark.parametrize("name", sorted(META))
def test_packed_outputs_and_gradients_match_pytorch(name, fast_paths, dtype):
    module = _module(name, dtype)
    spec = META[name]
    packed = _packed_input(name, dtype)
    count = sum(key.startswith(f"{name}/state") and not key.endswith("_grad") for key in FIXTURES.files)
    states = [ember.tensor(_fixture(name, f"state{i}").astype(dtype), requires_grad=True) for i in range(count)]
    is_lstm = spec["class"] == "LSTM"
    hx = None if not states else (tuple(states) if is_lstm else states[0])
    with ember.config.override(fast_paths=fast_paths):
        output, last = module(packed, hx)
        assert isinstance(output, PackedSequence)
        assert output.batch_sizes is packed.batch_sizes
        assert output.sorted_indices is packed.sorted_indices
        assert output.unsorted_indices is packed.unsorted_indices
        outputs = [output.data, *(last if is_lstm else [last])]
        loss = sum((out * ember.tensor(_fixture(name, f"upstream{i}").astype(dtype))).sum()
                   for i, out in enumerate(outputs))
        loss.backward()
    tolerance = TOLERANCES[dtype]

    def check(got, key, what):
        np.testing.assert_allclose(got.numpy(), _fixture(name, key), **tolerance, err_msg=f"{name}: {what}")

    for index, out in enumerate(outputs):
        assert out.dtype == np.dtype(dtype)
        check(out, f"output{index}", f"output {index}")
    check(packed.data.grad, "data_grad", "packed data gradient")
    for index, state in enumerate(states):
        check(state.grad, f"state{index}_grad", f"initial state {index} gradient")
    for key, parameter in module.named_parameters():
        check(parameter.grad, f"grad/{key}", f"gradient of {key}")


def test_packed_fixtures_cover_layers_and_options():
    assert {spec["class"] for spec in META.values()} == {"RNN", "LSTM", "GRU"}
    assert {spec["enforce_sorted"] for spec in META.values()} == {True, False}
    assert {spec["with_state"] for spec in META.values()} == {True, False}
    options = {key for spec in META.values() for key in spec["kwargs"]}
    assert {"num_layers", "bidirectional", "batch_first", "nonlinearity", "proj_size"} <= options


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


@pytest.mark.parametrize("layer, kwargs, node", [
    ("RNN", {}, "RNNSequence"), ("GRU", {}, "GRUSequence"), ("LSTM", {}, "LSTMSequence"),
    ("LSTM", {"proj_size": 2}, "ProjectedLSTMSequence")])
def test_packed_input_runs_one_sequence_node_per_layer_and_direction(layer, kwargs, node):
    module = getattr(nn, layer)(3, 4, num_layers=2, bidirectional=True, **kwargs)
    sequences = [ember.randn(length, 3, requires_grad=True) for length in (2, 6, 4)]
    output, _ = module(pack_sequence(sequences, enforce_sorted=False))
    assert _count_nodes(output.data, node) == 4
    output.data.sum().backward()
    assert ember.config.paths()[f"{node}.backward"] == "backward_arrays"
    assert all(sequence.grad is not None for sequence in sequences)


@pytest.mark.parametrize("layer", ["RNN", "LSTM", "GRU"])
def test_packed_equals_each_sequence_run_alone(layer):
    """float32, longer sequences: every sequence of a packed batch gives what it gives alone (its output steps
    and its final state), in both directions."""
    ember.manual_seed(0)
    module = getattr(nn, layer)(5, 6, bidirectional=True, **({"proj_size": 3} if layer == "LSTM" else {}))
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal((length, 5)).astype(np.float32) for length in (7, 12, 3, 9)]
    output, last = module(pack_sequence([ember.tensor(a) for a in arrays], enforce_sorted=False))
    padded, lengths = pad_packed_sequence(output)
    np.testing.assert_array_equal(lengths.numpy(), [7, 12, 3, 9])
    for index, array in enumerate(arrays):
        alone, alone_last = module(ember.tensor(array[:, None, :]))
        np.testing.assert_allclose(padded.numpy()[:len(array), index], alone.numpy()[:, 0], rtol=1e-5, atol=1e-6)
        assert np.all(padded.numpy()[len(array):, index] == 0)
        for state, alone_state in zip(last if layer == "LSTM" else [last],
                                      alone_last if layer == "LSTM" else [alone_last]):
            np.testing.assert_allclose(state.numpy()[:, index], alone_state.numpy()[:, 0], rtol=1e-5, atol=1e-6)


def test_float32_packed_sequence_path_gives_the_per_step_numbers():
    ember.manual_seed(0)
    module = nn.LSTM(5, 8, num_layers=2, bidirectional=True, proj_size=3)
    rng = np.random.default_rng(1)
    arrays = [rng.standard_normal((length, 5)).astype(np.float32) for length in (4, 11, 8)]

    def run():
        module.zero_grad()
        sequences = [ember.tensor(a, requires_grad=True) for a in arrays]
        output, (h_n, c_n) = module(pack_sequence(sequences, enforce_sorted=False))
        ((output.data * output.data).sum() + (h_n * 0.5).sum() + (c_n * 0.25).sum()).backward()
        return [output.data.numpy(), h_n.numpy(), c_n.numpy(), *(s.grad.numpy() for s in sequences),
                *(p.grad.numpy() for p in module.parameters())]

    fast = run()
    with ember.config.override(fast_paths=False):
        reference = run()
    for got, want in zip(fast, reference):
        np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-6)


def test_proj_size_shapes_init_and_repr():
    module = nn.LSTM(3, 5, num_layers=2, bidirectional=True, proj_size=2, batch_first=True)
    shapes = {key: tuple(value.shape) for key, value in module.state_dict().items()}
    assert list(shapes)[:5] == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0", "weight_hr_l0"]
    assert shapes["weight_hh_l0"] == (20, 2) and shapes["weight_hr_l1_reverse"] == (2, 5)
    assert shapes["weight_ih_l1"] == (20, 4)
    bound = 1 / np.sqrt(5)
    assert all(np.all(np.abs(p.numpy()) <= bound) and p.dtype == np.float32 for p in module.parameters())
    assert repr(module) == "LSTM(3, 5, proj_size=2, num_layers=2, batch_first=True, bidirectional=True)"
    output, (h_n, c_n) = module(ember.randn(4, 6, 3))
    assert output.shape == (4, 6, 4) and h_n.shape == (4, 4, 2) and c_n.shape == (4, 4, 5)


def test_proj_size_errors_as_pytorch():
    with pytest.raises(ValueError, match=r"LSTM: proj_size has to be smaller than hidden_size.*proj_size=4.*=4"):
        nn.LSTM(3, 4, proj_size=4)
    with pytest.raises(ValueError, match=r"LSTM: proj_size should be a positive integer or zero.*-1"):
        nn.LSTM(3, 4, proj_size=-1)
    with pytest.raises(TypeError, match="LSTM: expected proj_size to be an int"):
        nn.LSTM(3, 4, proj_size=1.5)
    for layer in (nn.RNN, nn.GRU):
        with pytest.raises(ValueError, match=f"{layer.__name__}: proj_size argument is only supported for LSTM"):
            layer(3, 4, proj_size=2)
        with pytest.raises(ValueError, match="only supported for LSTM"):
            layer(3, 4, proj_size=0)


def test_proj_size_state_of_the_wrong_shape():
    module = nn.LSTM(3, 4, proj_size=2)
    with pytest.raises(ValueError, match=r"LSTM: expected h0 of shape \(1, 2, 2\), received \(1, 2, 4\)"):
        module(ember.randn(5, 2, 3), (ember.zeros(1, 2, 4), ember.zeros(1, 2, 4)))
    with pytest.raises(ValueError, match=r"LSTM: expected c0 of shape \(1, 2, 4\), received \(1, 2, 2\)"):
        module(ember.randn(5, 2, 3), (ember.zeros(1, 2, 2), ember.zeros(1, 2, 2)))


@pytest.mark.parametrize("layer", ["RNN", "LSTM", "GRU"])
def test_packed_bad_input(layer):
    module = getattr(nn, layer)(3, 4, num_layers=2)
    packed = pack_sequence([ember.randn(4, 3), ember.randn(2, 3)])
    states = (ember.zeros(2, 3, 4), ember.zeros(2, 2, 4)) if layer == "LSTM" else ember.zeros(2, 3, 4)
    with pytest.raises(ValueError, match=rf"{layer}: expected h0 of shape \(2, 2, 4\), received \(2, 3, 4\)"):
        module(packed, states)
    with pytest.raises(ValueError, match=rf"{layer}: expected PackedSequence data of shape \(6, 3\).*\(6, 5\)"):
        module(pack_sequence([ember.randn(4, 5), ember.randn(2, 5)]))
    with pytest.raises(ValueError, match=rf"{layer}: expected PackedSequence batch_sizes as a non-increasing"):
        module(PackedSequence(ember.randn(6, 3), ember.tensor(np.array([2, 3, 1]))))
    with pytest.raises(ValueError, match=rf"{layer}: expected PackedSequence data of shape \(6, H_in\).*\(5, 3\)"):
        module(PackedSequence(ember.randn(5, 3), ember.tensor(np.array([2, 2, 1, 1]))))
    with pytest.raises(TypeError, match=f"{layer}: expected input of dtype float32"):
        module(pack_sequence([ember.randn(4, 3, dtype=ember.float64)]))


def test_packing_errors_name_the_function_and_lengths():
    with pytest.raises(ValueError, match=r"pack_padded_sequence: lengths must be at most the sequence length 4 .*"
                                         r"\(4, 2, 3\).*\[5, 2\]"):
        pack_padded_sequence(ember.randn(4, 2, 3), [5, 2])
    with pytest.raises(ValueError, match=r"pack_padded_sequence: `lengths` array must be sorted in decreasing order "
                                         r"when `enforce_sorted` is True \(received \[2, 4\]\)"):
        pack_padded_sequence(ember.randn(4, 2, 3), [2, 4])


def test_sorted_indices_alone_give_the_inverse_permutation_as_pytorch():
    module = nn.GRU(3, 4, bidirectional=True)
    packed = pack_sequence([ember.randn(2, 3), ember.randn(5, 3), ember.randn(3, 3)], enforce_sorted=False)
    h0 = ember.randn(2, 3, 4)
    _, full = module(packed, h0)
    _, derived = module(PackedSequence(packed.data, packed.batch_sizes, packed.sorted_indices, None), h0)
    np.testing.assert_array_equal(derived.numpy(), full.numpy())


def test_dropout_between_layers_on_packed_input_only_in_training():
    ember.manual_seed(0)
    module = nn.LSTM(3, 4, num_layers=2, dropout=0.5)
    packed = pack_sequence([ember.randn(5, 3), ember.randn(3, 3)])
    module.eval()
    first, _ = module(packed)
    second, _ = module(packed)
    np.testing.assert_array_equal(first.data.numpy(), second.data.numpy())
    module.train()
    trained, _ = module(packed)
    assert not np.allclose(trained.data.numpy(), first.data.numpy())


def test_sequence_nodes_check_their_batch_sizes():
    from ember.functions import recurrent

    with pytest.raises(ValueError, match=r"RNNSequence: expected batch_sizes as a non-empty, non-increasing.*\[1, 2\]"):
        recurrent.RNNSequence("tanh", False, np.array([1, 2]))
    node = recurrent.LSTMSequence(True, np.array([3, 2]))
    x, h0, c0, weight = ember.zeros(2, 2, 16), ember.zeros(2, 4), ember.zeros(2, 4), ember.zeros(16, 4)
    with pytest.raises(ValueError, match=r"LSTMSequence: batch_sizes \[3, 2\] do not fit an input of 2 steps and "
                                         r"batch 2 \(expected 2 sizes, the first 2\)"):
        node(x, h0, c0, weight)
