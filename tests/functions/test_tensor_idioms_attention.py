"""The tensor idioms attention code is written with (tril/triu, masked_fill, topk, multinomial, bmm, baddbmm,
einsum, GELU, chunk/split, where with numbers) against PyTorch's numbers, and their errors.

``fixtures/tensor_idioms.npz`` is written by ``fixtures/make_tensor_idioms_fixtures.py`` (run with PyTorch);
gradients there are those of ``sum(output * output_weights)``, computed in float64.
"""
from __future__ import annotations

import pathlib

import numpy as np
import pytest

import ember
import ember.nn as nn
import ember.nn.functional as F

FIXTURES = np.load(pathlib.Path(__file__).parent / "fixtures" / "tensor_idioms.npz")


def _inputs(prefix: str) -> list[np.ndarray]:
    count = sum(1 for name in FIXTURES.files if name.startswith(f"{prefix}/input"))
    return [FIXTURES[f"{prefix}/input{index}"] for index in range(count)]


def _check_against_pytorch(prefix: str, function) -> None:
    """Output and input gradients of ``function`` in float64 against PyTorch's."""
    tensors = [ember.tensor(a, requires_grad=a.dtype.kind == "f") for a in _inputs(prefix)]
    output = function(*tensors)
    np.testing.assert_allclose(output.numpy(), FIXTURES[f"{prefix}/output"], rtol=1e-10, atol=1e-12)
    finite = ember.where(output.isinf(), ember.zeros_like(output), output)  # as the script's nan_to_num
    (finite * ember.tensor(FIXTURES[f"{prefix}/output_weights"])).sum().backward()
    for index, tensor in enumerate(tensors):
        name = f"{prefix}/grad{index}"
        if name in FIXTURES.files:
            np.testing.assert_allclose(tensor.grad.numpy(), FIXTURES[name], rtol=1e-9, atol=1e-12, err_msg=name)


# ------------------------------------------------------------------------------------------- tril / triu
@pytest.mark.parametrize("diagonal", [-1, 0, 2])
def test_tril_triu_match_pytorch(diagonal):
    _check_against_pytorch(f"tril{diagonal}", lambda x: ember.tril(x, diagonal=diagonal))
    _check_against_pytorch(f"triu{diagonal}", lambda x: x.triu(diagonal))


def test_tril_triu_errors_and_dtypes():
    with pytest.raises(ValueError, match=r"tril: expected a tensor of at least 2 dimensions, received shape \(3,\)"):
        ember.tril(ember.ones(3))
    with pytest.raises(TypeError, match="triu: diagonal must be an int"):
        ember.triu(ember.ones(3, 3), 1.5)
    mask = ember.ones(3, 3, dtype=ember.bool).tril()
    assert mask.dtype == np.bool_ and mask.numpy().sum() == 6


# ------------------------------------------------------------------------------------------ masked_fill
def test_causal_masked_softmax_matches_pytorch():
    _check_against_pytorch("masked_softmax", lambda s, m: s.masked_fill(m, float("-inf")).softmax(-1))


def test_padding_mask_broadcast_matches_pytorch():
    _check_against_pytorch("masked_padding", lambda s, m: ember.masked_fill(s, m, -1e9))


def test_masked_fill_with_a_0d_tensor_value_gives_its_gradient():
    _check_against_pytorch("masked_tensor_value", lambda s, v, m: s.masked_fill(m, v))


def test_masked_fill_keeps_the_input_dtype_and_broadcasts_like_pytorch():
    x = ember.arange(3)
    filled = x.masked_fill(ember.tensor([True, False, True]), 1.7)
    assert filled.dtype == np.int64 and filled.tolist() == [1, 1, 1]
    grown = ember.zeros(3).masked_fill(ember.ones(2, 3, dtype=ember.bool), 1.0)
    assert grown.shape == (2, 3)
    half = ember.zeros(2, dtype=ember.float64).masked_fill(ember.tensor([True, False]), ember.tensor(2.0))
    assert half.dtype == np.float64 and half.tolist() == [2.0, 0.0]


def test_masked_fill_errors():
    x = ember.zeros(2, 3)
    with pytest.raises(TypeError, match="masked_fill: the mask must be a bool tensor, received dtype int64"):
        x.masked_fill(ember.tensor([1, 0, 1]), 0.0)
    with pytest.raises(ValueError, match=r"masked_fill: the value must be a number or a 0-d tensor, .*\(3,\)"):
        x.masked_fill(ember.tensor([True, False, True]), ember.ones(3))
    with pytest.raises(ValueError, match=r"masked_fill: mask of shape \(4,\) cannot be broadcast .* \(2, 3\)"):
        x.masked_fill(ember.ones(4, dtype=ember.bool), 0.0)


def test_masked_fill_in_place():
    x = ember.zeros(2, 3)
    result = x.masked_fill_(ember.tensor([True, False, True]), float("-inf"))
    assert result is x
    assert x.tolist() == [[float("-inf"), 0.0, float("-inf")]] * 2
    with pytest.raises(ValueError, match=r"masked_fill_: mask of shape \(4, 3\) cannot be broadcast to .*\(2, 3\)"):
        x.masked_fill_(ember.ones(4, 3, dtype=ember.bool), 1.0)
    leaf = ember.zeros(2, requires_grad=True)
    with pytest.raises(RuntimeError):
        leaf.masked_fill_(ember.tensor([True, False]), 1.0)


def test_bool_method():
    flags = ember.tensor([0.0, 2.0, -1.0]).bool()
    assert flags.dtype == np.bool_ and flags.tolist() == [False, True, True]


# ------------------------------------------------------------------------------------------------ topk
@pytest.mark.parametrize("k,largest", [(1, True), (3, True), (2, False), (4, False)])
def test_topk_with_ties_gives_pytorchs_values(k, largest):
    """Values equal PyTorch's; among equal values Ember takes the lower indices first (PyTorch's order among
    ties is unspecified and differs), so the indices are checked to select those values."""
    prefix = f"topk_ties_k{k}_{'largest' if largest else 'smallest'}"
    x = ember.tensor(FIXTURES[f"{prefix}/input"])
    values, indices = ember.topk(x, k, largest=largest)
    np.testing.assert_array_equal(values.numpy(), FIXTURES[f"{prefix}/values"])
    np.testing.assert_array_equal(np.take_along_axis(x.numpy(), indices.numpy(), -1), values.numpy())
    for row_indices, row in zip(indices.numpy(), x.numpy()):
        for position in range(1, k):  # equal values: lower index first
            if row[row_indices[position]] == row[row_indices[position - 1]]:
                assert row_indices[position] > row_indices[position - 1]


def test_topk_distinct_values_match_pytorch_with_gradients():
    _check_against_pytorch("topk_values_dim1", lambda x: ember.topk(x, 2, dim=1).values)
    _check_against_pytorch("topk_smallest_last", lambda x: x.topk(3, largest=False).values)
    x = ember.tensor(_inputs("topk_values_dim1")[0])
    np.testing.assert_array_equal(x.topk(2, dim=1).indices.numpy(), FIXTURES["topk_indices_dim1/indices"])
    np.testing.assert_array_equal(x.topk(3, largest=False).indices.numpy(),
                                  FIXTURES["topk_indices_smallest_last/indices"])


@pytest.mark.parametrize("dtype", [np.int64, np.float32, np.uint8])
@pytest.mark.parametrize("largest", [True, False])
def test_topk_of_a_few_among_many_keeps_the_tie_order(dtype, largest):
    """Small k of long rows take the partitioned path; its choice and order among ties are the full sort's."""
    rng = np.random.default_rng(0)
    data = rng.integers(0, 6, (3, 200, 4)).astype(dtype)  # many ties
    for k in (1, 7, 25):
        values, indices = ember.topk(ember.tensor(data), k, dim=1, largest=largest)
        key = -data.astype(np.float64) if largest else data
        expected = np.argsort(key, axis=1, kind="stable")[:, :k]
        np.testing.assert_array_equal(indices.numpy(), expected)
        np.testing.assert_array_equal(values.numpy(), np.take_along_axis(data, expected, 1))


def test_topk_result_forms_nan_integers_and_errors():
    result = ember.topk(ember.tensor([1.0, float("nan"), 3.0]), 2)
    values, indices = result
    assert result.values is values and result.indices is indices and indices.dtype == np.int64
    assert np.isnan(values.numpy()[0]) and indices.tolist() == [1, 2]  # NaN counts as the largest
    assert ember.topk(ember.tensor([1.0, float("nan"), 3.0]), 2, largest=False).indices.tolist() == [0, 2]
    big = np.iinfo(np.int64)
    ints = ember.tensor(np.array([big.min, 0, big.max, 0], dtype=np.int64))
    assert ember.topk(ints, 3).indices.tolist() == [2, 1, 3]
    assert ember.topk(ember.ones(2, 3), 0).values.shape == (2, 0)
    scalar = ember.topk(ember.tensor(3.0), 1)
    assert scalar.values.item() == 3.0 and scalar.indices.shape == () and scalar.indices.item() == 0
    with pytest.raises(ValueError, match=r"topk: k must be an int in \[0, 3\] for dim -1 of shape \(2, 3\)"):
        ember.topk(ember.ones(2, 3), 4)
    with pytest.raises(IndexError, match="topk: dim 2 is out of range"):
        ember.topk(ember.ones(2, 3), 1, dim=2)


# ----------------------------------------------------------------------------------------- multinomial
def test_multinomial_draw_frequencies_match_pytorch():
    """Without replacement, the category frequencies at each draw position (first, second, third) are those
    of PyTorch's weighted draws; with replacement, the weights themselves. 40000 draws a row: the standard
    error of a frequency is at most 0.0025, the tolerance 0.015."""
    weights = ember.tensor(FIXTURES["multinomial/weights"])
    draws = int(FIXTURES["multinomial/draws"])
    ember.manual_seed(0)
    without = ember.multinomial(ember.tensor(np.repeat(weights.numpy(), draws, axis=0)), 3)
    samples = without.numpy().reshape(2, draws, 3)
    frequencies = np.stack([np.stack([np.bincount(samples[row, :, position], minlength=5) / draws
                                      for position in range(3)]) for row in range(2)])
    np.testing.assert_allclose(frequencies, FIXTURES["multinomial/without_replacement_frequencies"], atol=0.015)
    with_replacement = ember.multinomial(weights, draws, replacement=True).numpy()
    frequencies = np.stack([np.bincount(row, minlength=5) / draws for row in with_replacement])
    np.testing.assert_allclose(frequencies, FIXTURES["multinomial/with_replacement_frequencies"], atol=0.015)


def test_multinomial_shapes_dtype_and_no_repeats():
    ember.manual_seed(1)
    one_row = ember.multinomial(ember.tensor([0.1, 0.2, 0.3, 0.4]), 4)
    assert one_row.shape == (4,) and one_row.dtype == np.int64 and sorted(one_row.tolist()) == [0, 1, 2, 3]
    rows = ember.multinomial(ember.rand(5, 7) + 0.01, 6)
    assert rows.shape == (5, 6) and all(len(set(row)) == 6 for row in rows.tolist())
    zero_weight = ember.multinomial(ember.tensor([[0.0, 1.0, 0.0, 3.0]]), 1000, replacement=True)
    assert set(zero_weight.numpy().ravel().tolist()) <= {1, 3}
    assert ember.rand(3, 4).multinomial(2).shape == (3, 2)


def test_multinomial_generator_is_reproducible_and_separate():
    weights = ember.tensor([[1.0, 2.0, 3.0, 4.0]] * 3)
    ember.manual_seed(5)
    state = ember.get_rng_state()
    first = ember.multinomial(weights, 2, generator=ember.Generator().manual_seed(7))
    second = ember.multinomial(weights, 2, generator=ember.Generator().manual_seed(7))
    assert first.tolist() == second.tolist()
    assert ember.get_rng_state() == state  # the global generator did not move


def test_multinomial_errors():
    with pytest.raises(ValueError, match="cannot draw 3 samples without replacement from a row with 2 categories"):
        ember.multinomial(ember.tensor([1.0, 0.0, 1.0]), 3)
    with pytest.raises(ValueError, match="multinomial: weights must be finite and non-negative"):
        ember.multinomial(ember.tensor([1.0, -1.0]), 1)
    with pytest.raises(ValueError, match="every row of weights needs a positive sum"):
        ember.multinomial(ember.tensor([[1.0, 1.0], [0.0, 0.0]]), 1)
    with pytest.raises(ValueError, match=r"expected weights of shape \(C,\) or \(N, C\) with C > 0, received \(2, 2"):
        ember.multinomial(ember.ones(2, 2, 2), 1)
    with pytest.raises(ValueError, match="num_samples must be a positive int"):
        ember.multinomial(ember.ones(3), 0)
    with pytest.raises(TypeError, match=r"multinomial: generator must be an ember\.Generator"):
        ember.multinomial(ember.ones(3), 1, generator=7)


# ------------------------------------------------------------------------------------ bmm, baddbmm, einsum
def test_bmm_and_baddbmm_match_pytorch():
    _check_against_pytorch("bmm", ember.bmm)
    _check_against_pytorch("baddbmm", lambda c, a, b: ember.baddbmm(c, a, b, beta=0.5, alpha=-2.0))


def test_baddbmm_beta_zero_ignores_the_input_and_errors():
    nan_input = ember.full((2, 3, 5), float("nan"))
    result = ember.baddbmm(nan_input, ember.ones(2, 3, 4), ember.ones(2, 4, 5), beta=0)
    assert np.all(result.numpy() == 4.0)
    with pytest.raises(ValueError, match=r"baddbmm: expected batch1 \(B, n, k\) and batch2 \(B, k, m\)"):
        ember.baddbmm(ember.ones(3, 5), ember.ones(2, 3, 4), ember.ones(2, 3, 5))
    with pytest.raises(ValueError, match=r"baddbmm: input of shape \(4,\) does not broadcast to .*\(2, 3, 5\)"):
        ember.baddbmm(ember.ones(4), ember.ones(2, 3, 4), ember.ones(2, 4, 5))
    with pytest.raises(ValueError, match=r"bmm: expected \(B, n, k\) and \(B, k, m\) tensors"):
        ember.bmm(ember.ones(3, 4), ember.ones(4, 5))


@pytest.mark.parametrize("number", range(12))
def test_einsum_matches_pytorch(number):
    prefix = f"einsum{number}"
    equation = str(FIXTURES[f"{prefix}/equation"])
    _check_against_pytorch(prefix, lambda *operands: ember.einsum(equation, *operands))


def test_einsum_attention_contraction_runs_as_one_gemm_with_the_reference_numbers():
    rng = np.random.default_rng(0)
    q, k = (rng.standard_normal((2, 4, 16, 8)).astype(np.float32) for _ in range(2))
    fast = ember.einsum("bhqd,bhkd->bhqk", ember.tensor(q), ember.tensor(k))
    assert ember.config.paths()["Einsum.forward"] == "forward_matmul"
    with ember.config.override(fast_paths=False):
        reference = ember.einsum("bhqd,bhkd->bhqk", ember.tensor(q), ember.tensor(k))
    assert ember.config.paths()["Einsum.forward"] == "forward"
    np.testing.assert_allclose(fast.numpy(), reference.numpy(), rtol=1e-5, atol=1e-5)
    ember.einsum("ii->i", ember.ones(3, 3))  # a diagonal: the fast path declines
    assert ember.config.paths()["Einsum.forward"] == "forward"


def test_einsum_forms_and_errors():
    a, b = ember.ones(2, 3), ember.ones(3, 4)
    assert ember.einsum("ij,jk", a, b).shape == (2, 4)  # implicit output: letters used once, sorted
    assert ember.einsum("ba", a).shape == (3, 2)
    assert ember.einsum("ij,jk->ik", [a, b]).shape == (2, 4)
    assert ember.einsum("ij,jk->ik", a, ember.ones(3, 4, dtype=ember.float64)).dtype == np.float64
    with pytest.raises(ValueError, match="einsum: the equation 'ij,jk->ik' names 2 operands, received 1"):
        ember.einsum("ij,jk->ik", a)
    with pytest.raises(ValueError, match=r"einsum: subscript 'j' of 'ij,jk->ik' has sizes 3 and 5"):
        ember.einsum("ij,jk->ik", a, ember.ones(5, 4))
    with pytest.raises(ValueError, match=r"einsum: subscript 'ijk' does not match an operand of shape \(2, 3\)"):
        ember.einsum("ijk->i", a)
    with pytest.raises(ValueError, match="einsum: the output subscript of 'ij->ii' repeats 'i'"):
        ember.einsum("ij->ii", a)
    with pytest.raises(ValueError, match="einsum: the output subscript 'k' of 'ij->k' is in no operand"):
        ember.einsum("ij->k", a)
    with pytest.raises(ValueError, match="subscripts must be letters"):
        ember.einsum("i1->i", a)
    with pytest.raises(TypeError, match="einsum: operand 0 is a ndarray, expected a Tensor"):
        ember.einsum("ij->i", np.ones((2, 3)))


# -------------------------------------------------------------------------------------------------- GELU
@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_matches_pytorch(approximate):
    _check_against_pytorch(f"gelu_{approximate}", lambda x: F.gelu(x, approximate=approximate))
    _check_against_pytorch(f"gelu_{approximate}", nn.GELU(approximate=approximate))


def test_gelu_rejects_unknown_approximations():
    with pytest.raises(ValueError, match="GELU: approximate must be 'none' or 'tanh', received 'fast'"):
        nn.GELU(approximate="fast")
    with pytest.raises(ValueError, match="gelu: approximate must be 'none' or 'tanh', received True"):
        F.gelu(ember.ones(2), approximate=True)
    assert repr(nn.GELU(approximate="tanh")) == "GELU(approximate='tanh')"


# ------------------------------------------------------------------------------------------ chunk, split
def test_chunk_piece_sizes_match_pytorch():
    for n, chunks, *sizes in FIXTURES["chunk/table"].tolist():
        expected = [size for size in sizes if size >= 0]
        assert [len(piece) for piece in ember.arange(n).chunk(chunks)] == expected, (n, chunks)


def test_split_piece_sizes_match_pytorch():
    for n, size, *sizes in FIXTURES["split/table"].tolist():
        expected = [s for s in sizes if s >= 0]
        assert [len(piece) for piece in ember.split(ember.arange(n), size)] == expected, (n, size)


def test_split_sections_and_chunk_of_heads():
    x = ember.arange(24.0).reshape(2, 3, 4)
    pieces = x.split([1, 3], dim=-1)
    assert [p.shape for p in pieces] == [(2, 3, 1), (2, 3, 3)]
    q, k, v = ember.arange(18.0).reshape(2, 9).chunk(3, dim=-1)
    assert q.tolist() == [[0, 1, 2], [9, 10, 11]] and k.tolist() == [[3, 4, 5], [12, 13, 14]] and v.shape == (2, 3)
    with pytest.raises(ValueError, match=r"split: sections \[1, 1\] must be non-negative and add up to dim 2"):
        x.split([1, 1], dim=2)


# ----------------------------------------------------------------------------------- where with numbers
def test_where_with_number_branches_follows_pytorch_dtypes():
    mask = ember.tensor([True, False])
    both_floats = ember.where(mask, 1.0, 0.0)
    assert both_floats.dtype == np.float32 and both_floats.tolist() == [1.0, 0.0]
    assert ember.where(mask, 1, 0).dtype == np.int64
    assert ember.where(mask, ember.tensor([1, 2]), 0.5).dtype == np.float32
    scores = ember.ones(2, 2, requires_grad=True)
    ember.where(ember.tensor([[True, False], [True, True]]), scores, float("-inf")).sum().backward()
    assert scores.grad.tolist() == [[1.0, 0.0], [1.0, 1.0]]
    with pytest.raises(TypeError, match="where: the branches must be Tensors or numbers, received str"):
        ember.where(mask, "a", 0.0)
