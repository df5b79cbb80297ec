"""scaled_dot_product_attention against PyTorch's numbers (fixtures/sdpa_fixtures.npz, written by
fixtures/make_sdpa_fixtures.py), its fast paths, dropout, fully masked rows and errors on bad input."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import ember
import ember.nn.functional as F
from ember.autograd import gradcheck
from ember.backend import threads

FIXTURES = np.load(Path(__file__).parent / "fixtures" / "sdpa_fixtures.npz")
CONFIGS = sorted({key.split("/")[0] for key in FIXTURES.files})


@pytest.mark.parametrize("fast_paths", [True, False], ids=["fast", "reference"])
@pytest.mark.parametrize("name", CONFIGS)
def test_outputs_and_gradients_match_pytorch(name, fast_paths):
    arrays = {key[len(name) + 1:]: FIXTURES[key] for key in FIXTURES.files if key.startswith(name + "/")}
    kwargs = json.loads(str(arrays["kwargs"]))
    inputs = {key: ember.tensor(arrays[key], requires_grad=arrays[key].dtype.kind == "f")
              for key in ("query", "key", "value", "mask") if key in arrays}
    with ember.config.override(fast_paths=fast_paths):
        output = F.scaled_dot_product_attention(inputs["query"], inputs["key"], inputs["value"],
                                                attn_mask=inputs.get("mask"), **kwargs)
        (output * ember.tensor(arrays["g"])).sum().backward()
    np.testing.assert_allclose(output.numpy(), arrays["output"], rtol=1e-10, atol=1e-12)
    for key, tensor in inputs.items():
        if f"grad/{key}" in arrays:
            np.testing.assert_allclose(tensor.grad.numpy(), arrays[f"grad/{key}"], rtol=1e-9, atol=1e-11,
                                       err_msg=key)


def _run(q_np, k_np, v_np, mask_np=None, **kwargs):
    q, k, v = (ember.tensor(a, requires_grad=True) for a in (q_np, k_np, v_np))
    mask = None if mask_np is None else ember.tensor(mask_np, requires_grad=mask_np.dtype.kind == "f")
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, **kwargs)
    out.backward(ember.ones_like(out))
    grads = [t.grad.numpy() for t in (q, k, v)] + ([mask.grad.numpy()] if mask is not None and mask.requires_grad
                                                    else [])
    return [out.numpy()] + grads


@pytest.mark.parametrize("mask_kind", [None, "causal", "bool", "float"])
def test_split_forward_runs_and_gives_the_reference_numbers(mask_kind):
    ember.config.set(num_threads=2)  # the suite restores every setting after each test
    if threads.claim_cores() == 1:
        pytest.skip("NumPy here does not use an OpenBLAS that Ember can set to one thread")
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal((3, 4, 16, 8)).astype(np.float32) for _ in range(3))
    kwargs, mask = {}, None
    if mask_kind == "causal":
        kwargs["is_causal"] = True
    elif mask_kind == "bool":
        mask = rng.random((3, 4, 16, 16)) < 0.5
        mask[..., 0] = True
    elif mask_kind == "float":
        mask = rng.standard_normal((16, 16)).astype(np.float32)
    with ember.config.override(parallel_numbers=1):
        fast = _run(q, k, v, mask, **kwargs)
    paths = ember.config.paths()
    assert paths["ScaledDotProductAttention.forward"] == "forward_split"
    assert paths["ScaledDotProductAttention.backward"] == "backward_arrays"
    with ember.config.override(fast_paths=False):
        reference = _run(q, k, v, mask, **kwargs)
    assert ember.config.paths()["ScaledDotProductAttention.forward"] == "forward"
    for got, want in zip(fast, reference):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("mask_kind", [None, "causal", "bool", "bool_per_head", "float", "blocked_row"])
def test_compiled_softmax_runs_and_gives_the_reference_numbers(kernels, mask_kind):
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal((3, 4, 16, 8)).astype(np.float32) for _ in range(3))
    kwargs, mask = {}, None
    if mask_kind == "causal":
        kwargs["is_causal"] = True
    elif mask_kind in ("bool", "blocked_row"):
        mask = rng.random((16, 16)) < 0.5
        mask[:, 0] = True
        if mask_kind == "blocked_row":
            mask[5] = False  # a row that hides every position: zeros
    elif mask_kind == "bool_per_head":
        mask = rng.random((3, 4, 16, 16)) < 0.5
    elif mask_kind == "float":
        mask = rng.standard_normal((16, 16)).astype(np.float32)
        mask[2, 3] = -np.inf
    fast = _run(q, k, v, mask, **kwargs)
    assert ember.config.paths()["ScaledDotProductAttention.forward"] == "forward_compiled"
    with ember.config.override(fast_paths=False):
        reference = _run(q, k, v, mask, **kwargs)
    for got, want in zip(fast, reference):
        assert np.isfinite(got).all()
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_heads_split_from_one_projection_give_the_reference_numbers(kernels):
    """q, k and v as a GPT makes them: transposed views of one (B, T, 3C) projection; their gradients come
    back laid out as those views (no copies on the way back through the transposes)."""
    rng = np.random.default_rng(2)
    qkv_np = rng.standard_normal((3, 16, 3 * 32)).astype(np.float32)
    grad_np = rng.standard_normal((3, 16, 32)).astype(np.float32)

    def run():
        qkv = ember.tensor(qkv_np, requires_grad=True)
        q, k, v = (t.view(3, 16, 4, 8).transpose(1, 2) for t in qkv.split(32, dim=2))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        y = y.transpose(1, 2).contiguous().view(3, 16, 32)
        y.backward(ember.tensor(grad_np))
        return y.numpy(), qkv.grad.numpy()

    fast = run()
    assert ember.config.paths()["ScaledDotProductAttention.forward"] == "forward_compiled"
    assert ember.config.paths()["ScaledDotProductAttention.backward"] == "backward_arrays"
    with ember.config.override(fast_paths=False):
        reference = run()
    for got, want in zip(fast, reference):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("fast_paths", [True, False], ids=["fast", "reference"])
def test_fully_masked_rows_give_zeros_and_no_nan(fast_paths):
    rng = np.random.default_rng(1)
    q, k, v = (rng.standard_normal((2, 4, 3)).astype(np.float32) for _ in range(3))
    mask = np.ones((4, 4), dtype=bool)
    mask[1] = False
    with ember.config.override(fast_paths=fast_paths):
        out, grad_q, grad_k, grad_v = _run(q, k, v, mask)
    assert np.isfinite(grad_v).all()
    assert np.isfinite(out).all() and np.isfinite(grad_q).all() and np.isfinite(grad_k).all()
    np.testing.assert_array_equal(out[:, 1], 0)
    np.testing.assert_array_equal(grad_q[:, 1], 0)
    float_mask = np.where(mask, 0.0, -np.inf).astype(np.float32)
    with ember.config.override(fast_paths=fast_paths):
        out_float = _run(q, k, v, float_mask)[0]
    np.testing.assert_allclose(out_float, out, rtol=1e-6)


def test_dropout_with_a_fixed_seed_is_differentiable_and_scales_kept_weights():
    rng = np.random.default_rng(2)
    q, k, v = (ember.tensor(rng.standard_normal((2, 5, 3)), requires_grad=True) for _ in range(3))

    def attention(q, k, v):
        ember.manual_seed(7)  # the same dropout mask at every evaluation
        return F.scaled_dot_product_attention(q, k, v, dropout_p=0.4, is_causal=True)

    assert gradcheck(attention, [q, k, v])
    dropped = attention(q, k, v).numpy()
    plain = F.scaled_dot_product_attention(q, k, v, is_causal=True).numpy()
    assert not np.allclose(dropped, plain)
    np.testing.assert_array_equal(F.scaled_dot_product_attention(q, k, v, dropout_p=1.0).numpy(), 0)


def test_default_scale_is_one_over_sqrt_of_e():
    rng = np.random.default_rng(3)
    q, k, v = (ember.tensor(rng.standard_normal((4, 9)).astype(np.float32)) for _ in range(3))
    np.testing.assert_allclose(F.scaled_dot_product_attention(q, k, v).numpy(),
                               F.scaled_dot_product_attention(q, k, v, scale=1 / 3).numpy())


def test_bad_arguments_give_clear_errors():
    q, k, v = ember.randn(2, 4, 3), ember.randn(2, 5, 3), ember.randn(2, 5, 6)
    sdpa = F.scaled_dot_product_attention
    with pytest.raises(ValueError, match=r"attn_mask or is_causal"):
        sdpa(q, k, v, attn_mask=ember.ones(4, 5, dtype=ember.bool), is_causal=True)
    with pytest.raises(ValueError, match=r"attn_mask of shape \(4, 4\) cannot be broadcast .*\(2, 4, 5\)"):
        sdpa(q, k, v, attn_mask=ember.ones(4, 4, dtype=ember.bool))
    with pytest.raises(TypeError, match=r"bool attn_mask or one of the query's dtype float32, received dtype int64"):
        sdpa(q, k, v, attn_mask=ember.ones(4, 5, dtype=ember.int64))
    with pytest.raises(TypeError, match=r"float64"):
        sdpa(q, k, v, attn_mask=ember.ones(4, 5, dtype=ember.float64))
    with pytest.raises(ValueError, match=r"same last dim E.*\(2, 4, 3\) and \(2, 5, 2\)"):
        sdpa(q, ember.randn(2, 5, 2), v)
    with pytest.raises(ValueError, match=r"same length S"):
        sdpa(q, k, ember.randn(2, 6, 6))
    with pytest.raises(ValueError, match=r"cannot be broadcast together"):
        sdpa(q, ember.randn(3, 5, 3), ember.randn(3, 5, 6))
    with pytest.raises(ValueError, match=r"at least 2 dims"):
        sdpa(ember.randn(3), k, v)
    with pytest.raises(TypeError, match=r"one dtype"):
        sdpa(q.double(), k, v)
    with pytest.raises(ValueError, match=r"dropout_p must be in \[0, 1\]"):
        sdpa(q, k, v, dropout_p=1.5)
