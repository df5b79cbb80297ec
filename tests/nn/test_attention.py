"""MultiheadAttention against PyTorch's numbers (fixtures/attention_fixtures.npz, written by
fixtures/make_attention_fixtures.py), its parameters, its fully masked rows and its errors on bad input."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

import ember
from ember import nn

FIXTURE_DIR = Path(__file__).parent / "fixtures"
RTOL, ATOL = 1e-5, 1e-5  # float32 against PyTorch's float32


def load_fixtures(filename: str):
    """The arrays and the per-case metadata of one fixture file."""
    arrays = np.load(FIXTURE_DIR / filename)
    return arrays, json.loads(arrays["meta"].item().decode())


def pytorch_state_dict(arrays, name: str, layout: list) -> dict:
    """The flattened ``<name>/params`` split back into PyTorch's state_dict, in PyTorch's key order."""
    return _split(arrays[f"{name}/params"], layout)


def _split(flat: np.ndarray, layout: list) -> dict:
    pieces, start = {}, 0
    for key, shape in layout:
        size = math.prod(shape)
        pieces[key] = flat[start:start + size].reshape(shape)
        start += size
    assert start == flat.size
    return pieces


def load_pytorch_weights(module: nn.Module, arrays, name: str, layout: list) -> None:
    state = pytorch_state_dict(arrays, name, layout)
    assert list(module.state_dict()) == list(state), "parameter names and order differ from PyTorch's"
    module.load_state_dict({key: ember.tensor(value) for key, value in state.items()})


def inputs_of(arrays, name: str) -> dict:
    """The forward's tensor arguments; floating ones require grad."""
    prefix = f"{name}/input/"
    return {key[len(prefix):]: ember.tensor(arrays[key], requires_grad=arrays[key].dtype.kind == "f")
            for key in arrays.files if key.startswith(prefix)}


def check_against_pytorch(arrays, name: str, layout: list, module: nn.Module, inputs: dict, outputs: list) -> None:
    """Backpropagate ``sum(output_i * upstream_i)`` and compare outputs and every gradient with PyTorch's."""
    loss = sum((output * ember.tensor(arrays[f"{name}/upstream{index}"])).sum() for index, output in enumerate(outputs))
    loss.backward()
    assert sum(key.startswith(f"{name}/output") for key in arrays.files) == len(outputs)
    for index, output in enumerate(outputs):
        assert output.dtype == np.float32
        np.testing.assert_allclose(output.numpy(), arrays[f"{name}/output{index}"], rtol=RTOL, atol=ATOL,
                                   err_msg=f"{name}: output {index}")
    for key, tensor in inputs.items():
        recorded = f"{name}/input_grad/{key}"
        if recorded in arrays.files:
            np.testing.assert_allclose(tensor.grad.numpy(), arrays[recorded], rtol=RTOL, atol=ATOL,
                                       err_msg=f"{name}: gradient of {key}")
    gradients = _split(arrays[f"{name}/grads"], layout)
    for key, parameter in module.named_parameters():
        np.testing.assert_allclose(parameter.grad.numpy(), gradients[key], rtol=RTOL, atol=ATOL,
                                   err_msg=f"{name}: gradient of {key}")


FIXTURES, META = load_fixtures("attention_fixtures.npz")


@pytest.mark.parametrize("fast_paths", [True, False], ids=["fast", "reference"])
@pytest.mark.parametrize("name", sorted(META))
def test_outputs_weights_and_gradients_match_pytorch(name, fast_paths):
    spec = META[name]
    module = nn.MultiheadAttention(**spec["kwargs"]).eval()
    load_pytorch_weights(module, FIXTURES, name, spec["params"])
    inputs = inputs_of(FIXTURES, name)
    arguments = dict(inputs)
    query = arguments.pop("query")
    key, value = (query, query) if spec["self_attention"] else (arguments.pop("key"), arguments.pop("value"))
    with ember.config.override(fast_paths=fast_paths):
        output, weights = module(query, key, value, **arguments, **spec["call"])
        assert (weights is None) == (spec["call"].get("need_weights") is False)
        check_against_pytorch(FIXTURES, name, spec["params"], module, inputs,
                              [output] if weights is None else [output, weights])


def test_fixtures_cover_every_option_and_mask():
    options = {key for spec in META.values() for key in spec["kwargs"]}
    assert {"kdim", "vdim", "bias", "add_bias_kv", "add_zero_attn", "batch_first"} <= options
    calls = {key for spec in META.values() for key in spec["call"]}
    assert {"need_weights", "average_attn_weights", "is_causal"} <= calls
    masks = {(key.split("/")[-1], FIXTURES[key].dtype.kind, FIXTURES[key].ndim) for key in FIXTURES.files
             if key.endswith("_mask")}
    for mask in ("attn_mask", "key_padding_mask"):
        assert {(mask, "b"), (mask, "f")} <= {(name, kind) for name, kind, _ in masks}
    assert {2, 3} <= {ndim for name, _, ndim in masks if name == "attn_mask"}
    assert any(FIXTURES[f"{name}/input/query"].ndim == 2 for name in META)  # unbatched


def test_parameters_follow_pytorch_names_shapes_and_initialisation():
    attention = nn.MultiheadAttention(16, 4)
    assert [(key, value.shape) for key, value in attention.state_dict().items()] == [
        ("in_proj_weight", (48, 16)), ("in_proj_bias", (48,)), ("out_proj.weight", (16, 16)),
        ("out_proj.bias", (16,))]
    bound = math.sqrt(6 / (16 + 48))  # xavier_uniform_ on (3E, E)
    weight = attention.in_proj_weight.numpy()
    assert weight.dtype == np.float32 and np.abs(weight).max() <= bound and np.abs(weight).max() > 0.8 * bound
    assert not attention.in_proj_bias.numpy().any() and not attention.out_proj.bias.numpy().any()
    assert attention.head_dim == 4 and attention.batch_first is False

    separate = nn.MultiheadAttention(8, 2, kdim=5, vdim=3, bias=False, add_bias_kv=True)
    assert [(key, value.shape) for key, value in separate.state_dict().items()] == [
        ("q_proj_weight", (8, 8)), ("k_proj_weight", (8, 5)), ("v_proj_weight", (8, 3)), ("bias_k", (1, 1, 8)),
        ("bias_v", (1, 1, 8)), ("out_proj.weight", (8, 8))]
    assert separate.in_proj_weight is None and separate.in_proj_bias is None and separate.out_proj.bias is None
    assert nn.MultiheadAttention(8, 2).bias_k is None


def _attention_case(rng, **kwargs):
    attention = nn.MultiheadAttention(8, 2, **kwargs).eval()
    query = ember.tensor(rng.standard_normal((4, 3, 8)).astype(np.float32), requires_grad=True)
    memory = ember.tensor(rng.standard_normal((5, 3, 8)).astype(np.float32), requires_grad=True)
    return attention, query, memory


@pytest.mark.parametrize("mask_kind", ["attn_mask_bool", "attn_mask_float", "key_padding_mask", "both_partly"])
@pytest.mark.parametrize("need_weights", [True, False])
def test_fully_masked_rows_give_zeros_not_nan(rng, mask_kind, need_weights):
    attention, query, memory = _attention_case(rng)
    attention.out_proj.bias.array[...] = rng.standard_normal(8).astype(np.float32)
    attn_mask = np.zeros((4, 5), dtype=bool)
    padding = np.zeros((3, 5), dtype=bool)
    attn_mask[1, [0, 2]] = True  # partly masked rows stay ordinary
    dead_query, dead_sample = 2, None
    if mask_kind in ("attn_mask_bool", "attn_mask_float"):
        attn_mask[dead_query] = True
    elif mask_kind == "key_padding_mask":
        dead_query, dead_sample = None, 1
        padding[dead_sample] = True
    else:  # neither mask alone covers the row: together they do
        attn_mask[dead_query, :3] = True
        padding[:, 3:] = True
    masks = {"attn_mask": ember.tensor(attn_mask), "key_padding_mask": ember.tensor(padding)}
    if mask_kind == "attn_mask_float":
        masks["attn_mask"] = ember.tensor(np.where(attn_mask, -np.inf, 0.0).astype(np.float32))
    output, weights = attention(query, memory, memory, need_weights=need_weights, **masks)
    output.sum().backward()
    dead = np.zeros((4, 3), dtype=bool)  # (query position, sample)
    if dead_query is not None:
        dead[dead_query, :] = True
    else:
        dead[:, dead_sample] = True
    assert np.isfinite(output.numpy()).all()
    np.testing.assert_array_equal(output.numpy()[dead], np.broadcast_to(attention.out_proj.bias.numpy(),
                                                                         (dead.sum(), 8)))
    for tensor in (query, memory, *attention.parameters()):
        assert np.isfinite(tensor.grad.numpy()).all()
    if need_weights:
        assert np.isfinite(weights.numpy()).all()
        np.testing.assert_array_equal(weights.numpy().transpose(1, 0, 2)[dead], 0)
        alive_rows = weights.numpy().transpose(1, 0, 2)[~dead]
        np.testing.assert_allclose(alive_rows.sum(-1), 1, rtol=1e-6)

    # every other row is what it is without the fully masked row's mask
    attn_mask[dead[:, 0]] = False
    padding[dead[0, :]] = False
    reference, _ = attention(query, memory, memory, attn_mask=ember.tensor(attn_mask),
                             key_padding_mask=ember.tensor(padding))
    np.testing.assert_allclose(output.numpy()[~dead], reference.numpy()[~dead], rtol=1e-6, atol=1e-6)


def test_gradients_of_inputs_parameters_and_float_masks_pass_a_float64_gradcheck(rng):
    attention = nn.MultiheadAttention(4, 2, kdim=3, add_bias_kv=True, dtype=ember.float64).eval()
    query = ember.tensor(rng.standard_normal((3, 2, 4)), requires_grad=True)
    key = ember.tensor(rng.standard_normal((5, 2, 3)), requires_grad=True)
    value = ember.tensor(rng.standard_normal((5, 2, 4)), requires_grad=True)
    attn_mask = rng.standard_normal((3, 5))
    attn_mask[1] = -np.inf  # a fully masked row, open only to bias_k's position
    attn_mask = ember.tensor(attn_mask, requires_grad=True)
    padding = ember.tensor(np.array([[False] * 4 + [True], [False] * 5]))
    weights = [attention.k_proj_weight, attention.in_proj_bias, attention.bias_v]

    def attend(query, key, value, k_proj_weight, in_proj_bias, bias_v):
        attention.k_proj_weight, attention.in_proj_bias, attention.bias_v = k_proj_weight, in_proj_bias, bias_v
        output, weights = attention(query, key, value, key_padding_mask=padding, attn_mask=attn_mask.detach(),
                                    average_attn_weights=False)
        return output.sum() + (weights * weights).sum()

    assert ember.autograd.gradcheck(attend, (query, key, value, *weights))

    finite = ember.tensor(np.where(np.isinf(attn_mask.numpy()), -3.0, attn_mask.numpy()), requires_grad=True)
    assert ember.autograd.gradcheck(
        lambda mask: attention(query, key, value, attn_mask=mask)[0].square().sum(), (finite,))


def test_fully_masked_rows_pass_a_float64_gradcheck(rng):
    attention = nn.MultiheadAttention(4, 2, dtype=ember.float64).eval()
    query = ember.tensor(rng.standard_normal((3, 2, 4)), requires_grad=True)
    memory = ember.tensor(rng.standard_normal((5, 2, 4)), requires_grad=True)
    padding = ember.tensor(np.array([[True] * 5, [False, False, True, False, True]]))

    def attend(query, memory):
        output, weights = attention(query, memory, memory, key_padding_mask=padding)
        return output.square().sum() + weights.square().sum()

    assert ember.autograd.gradcheck(attend, (query, memory))


def test_dropout_acts_on_the_weights_in_training_only(rng):
    attention, query, memory = _attention_case(rng, dropout=0.5)
    attention.train()
    _, weights = attention(query, memory, memory, average_attn_weights=False)
    values = weights.numpy()
    assert (values == 0).any()
    kept = values[values > 0]
    assert kept.max() > 1 / 5  # kept weights are scaled by 1 / (1 - p)
    attention.eval()
    first, weights = attention(query, memory, memory)
    second, _ = attention(query, memory, memory)
    np.testing.assert_array_equal(first.numpy(), second.numpy())
    np.testing.assert_allclose(weights.numpy().sum(-1), 1, rtol=1e-6)


def test_batch_first_and_unbatched_agree_with_the_sequence_first_layout(rng):
    attention, query, memory = _attention_case(rng)
    output, weights = attention(query, memory, memory)
    attention.batch_first = True
    first, first_weights = attention(query.transpose(0, 1), memory.transpose(0, 1), memory.transpose(0, 1))
    np.testing.assert_allclose(first.numpy(), output.numpy().transpose(1, 0, 2), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(first_weights.numpy(), weights.numpy(), rtol=1e-6, atol=1e-6)
    single, single_weights = attention(query[:, 1], memory[:, 1], memory[:, 1])  # unbatched ignores batch_first
    np.testing.assert_allclose(single.numpy(), output.numpy()[:, 1], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(single_weights.numpy(), weights.numpy()[1], rtol=1e-6, atol=1e-6)


def test_float64_masks_keep_float32_outputs(rng):
    attention, query, memory = _attention_case(rng)
    mask = ember.tensor(rng.standard_normal((4, 5)))
    output, weights = attention(query, memory, memory, attn_mask=mask,
                                key_padding_mask=ember.tensor(rng.standard_normal((3, 5))))
    assert output.dtype == np.float32 and weights.dtype == np.float32


def test_is_causal_needs_the_mask_and_the_mask_is_what_applies(rng):
    attention, query, _ = _attention_case(rng)
    with pytest.raises(ValueError, match=r"MultiheadAttention\(embed_dim=8, num_heads=2\): is_causal=True .* "
                                         r"needs attn_mask"):
        attention(query, query, query, is_causal=True)
    causal = nn.Transformer.generate_square_subsequent_mask(4)
    hinted, _ = attention(query, query, query, attn_mask=causal, is_causal=True, need_weights=False)
    plain, weights = attention(query, query, query, attn_mask=causal)
    # the fused op (compiled softmax) and the explicit weights agree within float32 rounding
    np.testing.assert_allclose(hinted.numpy(), plain.numpy(), rtol=1e-6, atol=1e-7)
    assert not np.triu(weights.numpy(), k=1).any()


def test_embed_dim_must_divide_into_heads():
    with pytest.raises(ValueError, match=r"MultiheadAttention: embed_dim must be divisible by num_heads, "
                                         r"received embed_dim=10 and num_heads=4"):
        nn.MultiheadAttention(10, 4)
    with pytest.raises(ValueError, match="MultiheadAttention: expected num_heads >= 1, received 0"):
        nn.MultiheadAttention(8, 0)
    with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\], received 1.5"):
        nn.MultiheadAttention(8, 2, dropout=1.5)


@pytest.mark.parametrize("shapes, message", [
    (((4, 3, 8), (5, 3, 8), (6, 3, 8)), r"expected key and value with the same leading dimensions .* received key "
                                        r"\(5, 3, 8\) and value \(6, 3, 8\)"),
    (((4, 3, 8), (5, 2, 8), (5, 2, 8)), r"expected query and key with the same batch size \(axis 1\), received query "
                                        r"\(4, 3, 8\) and key \(5, 2, 8\)"),
    (((4, 3, 6), (5, 3, 8), (5, 3, 8)), r"expected query with last dimension 8, received shape \(4, 3, 6\)"),
    (((4, 3, 8), (5, 3, 7), (5, 3, 8)), r"expected key with last dimension 8, received shape \(5, 3, 7\)"),
    (((4, 3, 8), (5, 8), (5, 8)), r"expected key and value with 3 dimensions like the query \(4, 3, 8\)"),
    (((2, 4, 3, 8), (5, 3, 8), (5, 3, 8)), r"expected query of 3 dimensions \(batched\) or 2 \(unbatched\)"),
])
def test_mismatched_query_key_value_are_named(shapes, message):
    attention = nn.MultiheadAttention(8, 2)
    query, key, value = (ember.zeros(*shape) for shape in shapes)
    with pytest.raises(ValueError, match=r"MultiheadAttention\(embed_dim=8, num_heads=2\): " + message):
        attention(query, key, value)


@pytest.mark.parametrize("masks, error, message", [
    ({"attn_mask": np.zeros((4, 4), bool)}, ValueError,
     r"expected attn_mask of shape \(4, 5\) \(L, S\) or \(6, 4, 5\) \(N \* num_heads, L, S\) .* received \(4, 4\)"),
    ({"attn_mask": np.zeros((3, 4, 5), bool)}, ValueError, r"expected attn_mask of shape .* received \(3, 4, 5\)"),
    ({"key_padding_mask": np.zeros((5, 3), bool)}, ValueError,
     r"expected key_padding_mask of shape \(3, 5\) \(N, S\) .* received \(5, 3\)"),
    ({"attn_mask": np.zeros((4, 5), np.int64)}, TypeError, "expected attn_mask of dtype bool or floating, "
                                                           "received int64"),
    ({"key_padding_mask": np.zeros((3, 5), np.int32)}, TypeError, "expected key_padding_mask of dtype bool or "
                                                                  "floating, received int32"),
])
def test_masks_of_the_wrong_shape_or_dtype_are_named(masks, error, message):
    attention = nn.MultiheadAttention(8, 2)
    query, memory = ember.zeros(4, 3, 8), ember.zeros(5, 3, 8)
    with pytest.raises(error, match=r"MultiheadAttention\(embed_dim=8, num_heads=2\): " + message):
        attention(query, memory, memory, **{key: ember.tensor(value) for key, value in masks.items()})


def test_unbatched_masks_have_unbatched_shapes():
    attention = nn.MultiheadAttention(8, 2)
    query, memory = ember.zeros(4, 8), ember.zeros(5, 8)
    output, weights = attention(query, memory, memory, key_padding_mask=ember.zeros(5, dtype=ember.bool),
                                attn_mask=ember.zeros(2, 4, 5, dtype=ember.bool), average_attn_weights=False)
    assert output.shape == (4, 8) and weights.shape == (2, 4, 5)
    with pytest.raises(ValueError, match=r"expected key_padding_mask of shape \(5,\)"):
        attention(query, memory, memory, key_padding_mask=ember.zeros(1, 5, dtype=ember.bool))


@pytest.mark.cuda
def test_masked_attention_on_cuda_matches_the_cpu(rng):
    attention, query, memory = _attention_case(rng, add_zero_attn=True)
    padding = np.zeros((3, 5), dtype=bool)
    padding[1] = True
    causal = nn.Transformer.generate_square_subsequent_mask(4)[:, :4]
    attn_mask = ember.cat([causal, ember.zeros(4, 1)], dim=1)
    expected, expected_weights = attention(query, memory, memory, key_padding_mask=ember.tensor(padding),
                                           attn_mask=attn_mask)
    attention.to("cuda")
    output, weights = attention(query.to("cuda"), memory.to("cuda"), memory.to("cuda"),
                                key_padding_mask=ember.tensor(padding).to("cuda"), attn_mask=attn_mask.to("cuda"))
    assert output.device.type == "cuda"
    np.testing.assert_allclose(output.cpu().numpy(), expected.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(weights.cpu().numpy(), expected_weights.numpy(), rtol=1e-5, atol=1e-6)
    output.sum().backward()
    assert all(parameter.grad.device.type == "cuda" for parameter in attention.parameters())


def test_second_derivatives_pass_a_float64_gradgradcheck(rng):
    attention = nn.MultiheadAttention(4, 2, dtype=ember.float64).eval()
    query = ember.tensor(rng.standard_normal((3, 2, 4)), requires_grad=True)
    memory = ember.tensor(rng.standard_normal((4, 2, 4)), requires_grad=True)
    padding = ember.tensor(np.array([[False, False, True, False], [True] * 4]))  # sample 1 fully masked

    def attend(query, memory):
        output, weights = attention(query, memory, memory, key_padding_mask=padding)
        return output, weights

    assert ember.autograd.gradgradcheck(attend, (query, memory))
