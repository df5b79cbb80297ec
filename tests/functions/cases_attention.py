"""Op-table cases: scaled_dot_product_attention (no mask, bool and float masks, causal, broadcast batch dims,
L != S, Ev != E, a custom scale, fully masked rows).

The reference is the definition in NumPy float64: ``softmax(q @ k^T * scale + mask) @ v``, rows with every
position masked giving zeros.
"""
import numpy as np

import ember.nn.functional as F

from .op_table import OpCase


def _attention_ref(q, k, v, mask=None, is_causal=False, scale=None):
    scale = 1 / np.sqrt(q.shape[-1]) if scale is None else scale
    scores = q @ np.swapaxes(k, -1, -2) * scale
    allowed = np.ones(scores.shape, dtype=bool)
    if is_causal:
        allowed &= np.tril(np.ones(scores.shape[-2:], dtype=bool))
    if mask is not None and mask.dtype == np.bool_:
        allowed &= mask
    elif mask is not None:
        scores = scores + mask
        allowed &= np.isfinite(mask)
    scores = np.where(allowed, scores, -np.inf)
    row_max = scores.max(axis=-1, keepdims=True)
    row_max = np.where(np.isfinite(row_max), row_max, 0)
    weights = np.exp(scores - row_max)
    total = weights.sum(axis=-1, keepdims=True)
    return (weights / np.where(total == 0, 1, total)) @ v


def _qkv(q_shape, k_shape, v_shape, *extra):
    def make(rng):
        return [rng.standard_normal(q_shape), rng.standard_normal(k_shape), rng.standard_normal(v_shape),
                *[maker(rng) for maker in extra]]

    return make


def _bool_mask(shape, fully_masked_row=None):
    def make(rng):
        mask = rng.random(shape) < 0.7
        mask[..., 0] = True  # every row keeps a position unless one is emptied below
        if fully_masked_row is not None:
            mask[..., fully_masked_row, :] = False
        return mask

    return make


def _float_mask(shape, with_minus_inf=False):
    def make(rng):
        mask = rng.standard_normal(shape)
        if with_minus_inf:
            mask[..., 1:, -1] = -np.inf  # a key hidden from every row but the first
            mask[..., 0, :] = -np.inf  # and a fully masked row
        return mask

    return make


def _sdpa(**kwargs):
    return lambda q, k, v, *mask: F.scaled_dot_product_attention(q, k, v, *mask, **kwargs)


def _ref(**kwargs):
    return lambda q, k, v, *mask: _attention_ref(q, k, v, *mask, **kwargs)


CASES = [
    OpCase("sdpa_plain", _sdpa(), _ref(), _qkv((2, 3, 5, 4), (2, 3, 6, 4), (2, 3, 6, 4))),
    OpCase("sdpa_causal", _sdpa(is_causal=True), _ref(is_causal=True), _qkv((2, 2, 6, 4), (2, 2, 6, 4), (2, 2, 6, 4))),
    OpCase("sdpa_causal_l_ne_s_ev_ne_e", _sdpa(is_causal=True), _ref(is_causal=True),
           _qkv((2, 4, 3), (2, 6, 3), (2, 6, 5))),
    OpCase("sdpa_bool_mask", _sdpa(), _ref(), _qkv((2, 3, 5, 4), (2, 3, 7, 4), (2, 3, 7, 2), _bool_mask((5, 7)))),
    OpCase("sdpa_bool_mask_per_head_fully_masked_row", _sdpa(), _ref(),
           _qkv((2, 3, 5, 4), (2, 3, 5, 4), (2, 3, 5, 4), _bool_mask((2, 3, 5, 5), fully_masked_row=2))),
    OpCase("sdpa_float_mask", _sdpa(), _ref(), _qkv((2, 3, 4, 4), (2, 3, 5, 4), (2, 3, 5, 3), _float_mask((4, 5)))),
    OpCase("sdpa_float_mask_broadcast_heads_with_minus_inf", _sdpa(), _ref(),
           _qkv((2, 3, 4, 4), (2, 3, 5, 4), (2, 3, 5, 3), _float_mask((2, 1, 4, 5), with_minus_inf=True)),
           grad_inputs=(0, 1, 2)),  # no finite differences at -inf: the mask's gradient is sdpa_float_mask's
    OpCase("sdpa_broadcast_batch_dims", _sdpa(), _ref(), _qkv((2, 3, 4, 5), (1, 3, 6, 5), (2, 1, 6, 2))),
    OpCase("sdpa_unbatched_query_batched_key", _sdpa(scale=0.3), _ref(scale=0.3), _qkv((4, 3), (2, 5, 3), (5, 6))),
]
