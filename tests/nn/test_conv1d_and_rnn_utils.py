"""Conv1d, the 1-d pools, Embedding's padding_idx and ``nn.utils.rnn`` against numbers recorded from PyTorch.

``fixtures/conv1d_and_rnn_utils.npz`` is written by ``fixtures/make_conv1d_fixtures.py`` (run with PyTorch);
the configurations below must match the tables there. Float32 results are compared with rtol 1e-5, atol 1e-6.
"""
from __future__ import annotations

import math
import pathlib

import numpy as np
import pytest

import ember
import ember.nn as nn
import ember.nn.functional as F
from ember.nn.utils import rnn

FIXTURES = np.load(pathlib.Path(__file__).parent / "fixtures" / "conv1d_and_rnn_utils.npz")
TOLERANCE = dict(rtol=1e-5, atol=1e-6)


def fixture(prefix: str) -> dict:
    return {key.split("/", 1)[1]: FIXTURES[key] for key in FIXTURES.files if key.startswith(prefix + "/")}


def assert_close(got, want):
    got = got.numpy() if isinstance(got, ember.Tensor) else np.asarray(got)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, **TOLERANCE)


def check_module(prefix: str, module: nn.Module) -> None:
    """Load PyTorch's parameters, run the recorded input, compare output, indices and gradients."""
    recorded = fixture(prefix)
    for name, parameter in module.named_parameters():
        assert parameter.shape == recorded[name].shape
        parameter.array[...] = recorded[name]
    x = ember.tensor(recorded["input"], requires_grad=True)
    result = module(x)
    output = result[0] if isinstance(result, tuple) else result
    assert output.dtype == np.float32
    assert_close(output, recorded["output"])
    if "indices" in recorded:
        assert result[1].dtype == np.int64
        np.testing.assert_array_equal(result[1].numpy(), recorded["indices"])
    (output * ember.tensor(recorded["output_weights"])).sum().backward()
    assert_close(x.grad, recorded["input_grad"])
    for name, parameter in module.named_parameters():
        assert_close(parameter.grad, recorded[f"{name}_grad"])


# the same tables as the fixture script's
CONV1D = {
    "conv1d_basic": dict(in_channels=3, out_channels=4, kernel_size=3),
    "conv1d_stride_padding_no_bias": dict(in_channels=2, out_channels=4, kernel_size=3, stride=2, padding=1,
                                          bias=False),
    "conv1d_groups_dilation": dict(in_channels=4, out_channels=6, kernel_size=3, dilation=2, padding=2, groups=2),
    "conv1d_same_even_kernel": dict(in_channels=3, out_channels=2, kernel_size=4, dilation=2, padding="same"),
    "conv1d_valid_unbatched": dict(in_channels=3, out_channels=2, kernel_size=2, padding="valid"),
    "conv1d_depthwise_reflect": dict(in_channels=3, out_channels=3, kernel_size=3, padding=2, groups=3,
                                     padding_mode="reflect"),
}
MAX_POOL1D = {
    "max_pool1d_basic": dict(kernel_size=2),
    "max_pool1d_padding_ceil_indices": dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, return_indices=True),
    "max_pool1d_dilation_indices": dict(kernel_size=2, stride=1, dilation=3, return_indices=True),
    "max_pool1d_unbatched": dict(kernel_size=3, stride=2),
}
AVG_POOL1D = {
    "avg_pool1d_basic": dict(kernel_size=2),
    "avg_pool1d_padding_include_pad": dict(kernel_size=3, stride=2, padding=1),
    "avg_pool1d_padding_exclude_pad": dict(kernel_size=3, stride=2, padding=1, count_include_pad=False),
    "avg_pool1d_ceil_include_pad": dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
    "avg_pool1d_ceil_exclude_pad": dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
    "avg_pool1d_unbatched": dict(kernel_size=3, stride=1),
}
ADAPTIVE_AVG_POOL1D = {
    "adaptive_avg_pool1d_non_divisible": dict(output_size=3),
    "adaptive_avg_pool1d_upsample": dict(output_size=5),
    "adaptive_avg_pool1d_unbatched": dict(output_size=2),
}


# ---------------------------------------------------------------------------------------------- Conv1d
@pytest.mark.parametrize("prefix", sorted(CONV1D))
def test_conv1d_matches_pytorch(prefix):
    check_module(prefix, nn.Conv1d(**CONV1D[prefix]))


@pytest.mark.parametrize("fast_paths", [True, False])
def test_conv1d_matches_pytorch_on_both_paths(fast_paths):
    with ember.config.override(fast_paths=fast_paths):
        check_module("conv1d_groups_dilation", nn.Conv1d(**CONV1D["conv1d_groups_dilation"]))


def test_conv1d_parameters_attributes_and_repr():
    layer = nn.Conv1d(4, 6, 3, stride=2, padding=1, groups=2)
    assert layer.weight.shape == (6, 2, 3) and layer.bias.shape == (6,)
    assert (layer.kernel_size, layer.stride, layer.padding, layer.dilation) == ((3,), (2,), (1,), (1,))
    assert repr(layer) == "Conv1d(4, 6, kernel_size=(3,), stride=(2,), padding=(1,), groups=2)"
    assert repr(nn.Conv1d(2, 3, 5, padding="same", bias=False)) == (
        "Conv1d(2, 3, kernel_size=(5,), stride=(1,), padding=same, bias=False)")
    assert [name for name, _ in nn.Conv1d(2, 3, 5, bias=False).named_parameters()] == ["weight"]


def test_conv1d_default_init_bound():
    layer = nn.Conv1d(8, 16, 5, groups=2)
    bound = 1 / math.sqrt(8 // 2 * 5)  # kaiming_uniform_(a=sqrt(5)) and the bias share it
    for parameter in (layer.weight, layer.bias):
        assert np.abs(parameter.numpy()).max() <= bound
        assert np.abs(parameter.numpy()).max() > 0.8 * bound


def test_conv1d_same_and_valid_lengths():
    x = ember.randn(2, 3, 10)
    assert nn.Conv1d(3, 4, 4, padding="same", dilation=3)(x).shape == (2, 4, 10)
    assert nn.Conv1d(3, 4, 4, padding="valid")(x).shape == (2, 4, 7)
    assert nn.Conv1d(3, 4, 3, stride=3, padding=1)(x).shape == (2, 4, 4)
    assert nn.Conv1d(3, 4, 3)(x[0]).shape == (4, 8)


@pytest.mark.parametrize("mode", ["replicate", "circular"])
def test_conv1d_padding_modes_pad_the_length(mode):
    layer = nn.Conv1d(2, 3, 3, padding=2, padding_mode=mode)
    x = ember.randn(2, 2, 6)
    numpy_mode = {"replicate": "edge", "circular": "wrap"}[mode]
    padded = ember.tensor(np.pad(x.numpy(), ((0, 0), (0, 0), (2, 2)), mode=numpy_mode))
    expected = F.conv1d(padded, layer.weight, layer.bias)
    np.testing.assert_allclose(layer(x).numpy(), expected.numpy(), **TOLERANCE)


def test_conv1d_errors_name_the_layer_and_shapes():
    layer = nn.Conv1d(3, 4, 3)
    with pytest.raises(ValueError, match=r"Conv1d\(3, 4\): expected input of shape \(N, 3, L\) or \(3, L\), "
                                         r"received shape \(2, 5, 9\)"):
        layer(ember.randn(2, 5, 9))
    with pytest.raises(ValueError, match=r"Conv1d\(3, 4\).*received shape \(2, 3, 4, 4\)"):
        layer(ember.randn(2, 3, 4, 4))
    with pytest.raises(ValueError, match=r"conv1d: kernel \(3,\).*input shape \(1, 3, 2\)"):
        layer(ember.randn(1, 3, 2))
    with pytest.raises(ValueError, match="Conv1d: in_channels .* divisible by groups"):
        nn.Conv1d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="Conv1d: padding='same' is not supported for strided"):
        nn.Conv1d(3, 4, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="Conv1d: expected kernel_size as an int or a 1-sequence"):
        nn.Conv1d(3, 4, (3, 3))
    with pytest.raises(ValueError, match="Conv1d: padding_mode must be one of"):
        nn.Conv1d(3, 4, 3, padding_mode="mirror")
    with pytest.raises(ValueError, match=r"Conv1d: padding_mode='reflect' needs padding smaller than the input "
                                         r"length 2"):
        nn.Conv1d(3, 4, 1, padding=2, padding_mode="reflect")(ember.randn(1, 3, 2))


# ------------------------------------------------------------------------------------------ 1-d pools
@pytest.mark.parametrize("prefix", sorted(MAX_POOL1D))
def test_max_pool1d_matches_pytorch(prefix):
    check_module(prefix, nn.MaxPool1d(**MAX_POOL1D[prefix]))


@pytest.mark.parametrize("prefix", sorted(AVG_POOL1D))
def test_avg_pool1d_matches_pytorch(prefix):
    check_module(prefix, nn.AvgPool1d(**AVG_POOL1D[prefix]))


@pytest.mark.parametrize("prefix", sorted(ADAPTIVE_AVG_POOL1D))
def test_adaptive_avg_pool1d_matches_pytorch(prefix):
    check_module(prefix, nn.AdaptiveAvgPool1d(**ADAPTIVE_AVG_POOL1D[prefix]))


def test_functional_pools_are_the_modules_numbers():
    x = ember.randn(2, 3, 9)
    y, indices = F.max_pool1d(x, 3, 2, 1, return_indices=True)
    module_y, module_indices = nn.MaxPool1d(3, 2, 1, return_indices=True)(x)
    np.testing.assert_array_equal(y.numpy(), module_y.numpy())
    np.testing.assert_array_equal(indices.numpy(), module_indices.numpy())
    np.testing.assert_array_equal(F.avg_pool1d(x, 3, 2, 1, count_include_pad=False).numpy(),
                                  nn.AvgPool1d(3, 2, 1, count_include_pad=False)(x).numpy())
    np.testing.assert_array_equal(F.adaptive_avg_pool1d(x, 4).numpy(), nn.AdaptiveAvgPool1d(4)(x).numpy())
    assert nn.AvgPool1d(3).kernel_size == (3,) and nn.AvgPool1d(3).stride == (3,)


def test_pool1d_errors_name_the_layer_and_shapes():
    with pytest.raises(ValueError, match=r"MaxPool1d: expected a 2-d \(C, L\) or 3-d \(N, C, L\) input, "
                                         r"received shape \(1, 2, 3, 4\)"):
        nn.MaxPool1d(2)(ember.randn(1, 2, 3, 4))
    with pytest.raises(ValueError, match=r"AvgPool1d: expected a 2-d .* received shape \(5,\)"):
        nn.AvgPool1d(2)(ember.randn(5))
    with pytest.raises(ValueError, match=r"AdaptiveAvgPool1d: expected .* received shape \(1, 2, 3, 4\)"):
        nn.AdaptiveAvgPool1d(2)(ember.randn(1, 2, 3, 4))
    with pytest.raises(ValueError, match=r"max_pool1d: input of shape \(1, 2, 3\) is too small for kernel_size "
                                         r"\(4,\)"):
        F.max_pool1d(ember.randn(1, 2, 3), 4)
    with pytest.raises(ValueError, match="avg_pool1d: padding should be at most half of kernel size"):
        F.avg_pool1d(ember.randn(1, 2, 8), 2, padding=2)
    with pytest.raises(ValueError, match=r"max_pool1d: kernel_size must be an int or a 1-sequence"):
        F.max_pool1d(ember.randn(1, 2, 8), (2, 2))
    with pytest.raises(ValueError, match="adaptive_avg_pool1d: output_size must be"):
        F.adaptive_avg_pool1d(ember.randn(1, 2, 8), 0)


# ------------------------------------------------------------------------------- Embedding padding_idx
@pytest.mark.parametrize("prefix, padding_idx", [("embedding_padding_idx", 2),
                                                 ("embedding_negative_padding_idx", -1)])
def test_embedding_padding_row_matches_pytorch(prefix, padding_idx):
    recorded = fixture(prefix)
    layer = nn.Embedding(7, 4, padding_idx=padding_idx)
    assert not layer.weight.numpy()[padding_idx].any()  # initialised to zeros, as PyTorch's
    assert not recorded["initial_weight"][padding_idx].any()
    layer.weight.array[...] = recorded["initial_weight"]
    output = layer(ember.tensor(recorded["indices"]))
    assert_close(output, recorded["output"])
    (output * ember.tensor(recorded["output_weights"])).sum().backward()
    assert_close(layer.weight.grad, recorded["weight_grad"])
    assert not layer.weight.grad.numpy()[padding_idx].any()


def test_functional_embedding_padding_idx_keeps_the_row_out_of_the_gradient():
    recorded = fixture("embedding_padding_idx")
    weight = ember.tensor(recorded["initial_weight"], requires_grad=True)
    output = F.embedding(ember.tensor(recorded["indices"]), weight, padding_idx=2)
    (output * ember.tensor(recorded["output_weights"])).sum().backward()
    assert_close(weight.grad, recorded["weight_grad"])
    weight.grad = None
    (F.embedding(ember.tensor(recorded["indices"]), weight, padding_idx=-5) * 3.0).sum().backward()
    assert not weight.grad.numpy()[2].any() and weight.grad.numpy()[0].any()


def test_embedding_padding_row_stays_fixed_under_training():
    layer = nn.Embedding(5, 3, padding_idx=0)
    optimizer = ember.optim.SGD(layer.parameters(), lr=0.5, momentum=0.9)
    indices = ember.tensor([[0, 1, 0, 4], [2, 0, 3, 0]])
    for _ in range(3):
        optimizer.zero_grad()
        layer(indices).square().sum().backward()
        optimizer.step()
    assert not layer.weight.numpy()[0].any() and layer.weight.numpy()[1:].all()


def test_embedding_padding_idx_out_of_range_is_an_error():
    with pytest.raises(ValueError, match=r"Embedding: padding_idx must be within \[-4, 4\), received 4"):
        nn.Embedding(4, 2, padding_idx=4)
    with pytest.raises(ValueError, match=r"embedding: padding_idx must be within \[-4, 4\) \(weight shape "
                                         r"\(4, 2\)\), received -5"):
        F.embedding(ember.tensor([0, 1]), ember.randn(4, 2), padding_idx=-5)


# ------------------------------------------------------------------------------------- nn.utils.rnn
def test_pack_padded_sequence_sorted_matches_pytorch():
    recorded = fixture("pack_sorted")
    padded = ember.tensor(recorded["padded"], requires_grad=True)
    packed = rnn.pack_padded_sequence(padded, recorded["lengths"].tolist())
    assert isinstance(packed, rnn.PackedSequence) and isinstance(packed, tuple)
    assert packed.sorted_indices is None and packed.unsorted_indices is None
    assert_close(packed.data, recorded["data"])
    assert packed.batch_sizes.dtype == np.int64
    np.testing.assert_array_equal(packed.batch_sizes.numpy(), recorded["batch_sizes"])
    (packed.data * ember.tensor(recorded["data_weights"])).sum().backward()
    assert_close(padded.grad, recorded["padded_grad"])  # zero where padded
    unpacked, lengths = rnn.pad_packed_sequence(packed)
    assert_close(unpacked, recorded["unpacked"])
    assert lengths.dtype == np.int64
    np.testing.assert_array_equal(lengths.numpy(), recorded["unpacked_lengths"])


def test_pack_padded_sequence_unsorted_batch_first_round_trip_matches_pytorch():
    recorded = fixture("pack_unsorted")
    padded = ember.tensor(recorded["padded"], requires_grad=True)
    packed = rnn.pack_padded_sequence(padded, ember.tensor(recorded["lengths"]), batch_first=True,
                                      enforce_sorted=False)
    data, batch_sizes, sorted_indices, unsorted_indices = packed  # a tuple of four, as PyTorch's
    assert_close(data, recorded["data"])
    for got, name in ((batch_sizes, "batch_sizes"), (sorted_indices, "sorted_indices"),
                      (unsorted_indices, "unsorted_indices")):
        assert got.dtype == np.int64
        np.testing.assert_array_equal(got.numpy(), recorded[name])
    unpacked, lengths = rnn.pad_packed_sequence(packed, batch_first=True, padding_value=-1.0, total_length=6)
    assert_close(unpacked, recorded["unpacked"])
    np.testing.assert_array_equal(lengths.numpy(), recorded["unpacked_lengths"])
    (unpacked * ember.tensor(recorded["unpacked_weights"])).sum().backward()
    assert_close(padded.grad, recorded["padded_grad"])


def test_pad_sequence_matches_pytorch():
    recorded = fixture("pad_sequence")
    sequences = [ember.tensor(value, requires_grad=True) for _, value in sorted(fixture("sequences").items())]
    for batch_first in (False, True):
        for side in ("right", "left"):
            result = rnn.pad_sequence(sequences, batch_first=batch_first, padding_value=0.5, padding_side=side)
            assert_close(result, recorded[f"{'batch_first' if batch_first else 'time_first'}_{side}"])
    result = rnn.pad_sequence(sequences)
    (result * ember.tensor(recorded["output_weights"])).sum().backward()
    for index, sequence in enumerate(sequences):
        assert_close(sequence.grad, recorded[f"sequence_{index}_grad"])


def test_pack_sequence_matches_pytorch():
    recorded = fixture("pack_sequence")
    sequences = [ember.tensor(value) for _, value in sorted(fixture("sequences").items())]
    packed = rnn.pack_sequence(sequences, enforce_sorted=False)
    assert_close(packed.data, recorded["data"])
    for name in ("batch_sizes", "sorted_indices", "unsorted_indices"):
        np.testing.assert_array_equal(getattr(packed, name).numpy(), recorded[name])
    padded, lengths = rnn.pad_packed_sequence(packed, batch_first=True)
    assert lengths.tolist() == [2, 4, 3]
    for index, sequence in enumerate(sequences):
        np.testing.assert_array_equal(padded.numpy()[index, :len(sequence)], sequence.numpy())


def test_packing_round_trip_is_the_identity_and_differentiable_in_float64():
    lengths = [3, 5, 1, 4]
    x = ember.tensor(np.random.default_rng(0).standard_normal((5, 4, 2)), requires_grad=True)
    mask = (np.arange(5)[:, None] < np.array(lengths)[None, :])[..., None]

    def round_trip(padded):
        packed = rnn.pack_padded_sequence(padded, lengths, enforce_sorted=False)
        return rnn.pad_packed_sequence(packed)[0]

    np.testing.assert_array_equal(round_trip(x).numpy(), x.numpy() * mask)
    assert ember.autograd.gradcheck(round_trip, (x,))


def test_packing_errors_name_the_shapes():
    x = ember.randn(4, 3, 2)
    with pytest.raises(ValueError, match=r"`lengths` array must be sorted in decreasing order when "
                                         r"`enforce_sorted` is True \(received \[2, 3, 1\]\)"):
        rnn.pack_padded_sequence(x, [2, 3, 1])
    with pytest.raises(ValueError, match=r"lengths must be at most the sequence length 4 of input shape "
                                         r"\(4, 3, 2\) \(T, B, \*\), received lengths \[5, 3, 1\]"):
        rnn.pack_padded_sequence(x, [5, 3, 1])
    with pytest.raises(ValueError, match=r"at most the sequence length 3 of input shape \(4, 3, 2\) \(B, T, \*\)"):
        rnn.pack_padded_sequence(x, [3, 4, 1, 1], batch_first=True, enforce_sorted=False)
    with pytest.raises(ValueError, match=r"got 2 \(batch_size=3 of input shape \(4, 3, 2\)"):
        rnn.pack_padded_sequence(x, [3, 2])
    with pytest.raises(ValueError, match="greater than 0"):
        rnn.pack_padded_sequence(x, [3, 0, 1], enforce_sorted=False)
    packed = rnn.pack_padded_sequence(x, [4, 3, 1])
    with pytest.raises(ValueError, match="total_length=2 and max sequence length being 4"):
        rnn.pad_packed_sequence(packed, total_length=2)
    with pytest.raises(ValueError, match=r"pad_sequence: expected sequences of shape \(L, 3\) like the first, "
                                         r"received shape \(2, 4\) for sequence 1"):
        rnn.pad_sequence([ember.zeros(2, 3), ember.zeros(2, 4)])
    with pytest.raises(ValueError, match="padding_side must be 'left' or 'right'"):
        rnn.pad_sequence([ember.zeros(2, 3)], padding_side="middle")


def test_packed_sequence_to_casts_data_and_keeps_batch_sizes():
    packed = rnn.pack_sequence([ember.randn(3, 2), ember.randn(1, 2)])
    converted = packed.to(ember.float64)
    assert converted.data.dtype == np.float64 and converted.batch_sizes is packed.batch_sizes
    assert packed.to("cpu") is packed
