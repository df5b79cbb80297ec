"""``MultiheadAttention``: scaled dot-product attention over several heads, with PyTorch's parameters and masks."""
from __future__ import annotations

import math

import numpy as np

from ...autograd.tensor import Tensor
from ...backend.device import get_array_module
from ...functions.elementwise import Where, to_dtype, where
from ...functions.shape import cat
from .. import functional as F
from .. import init
from ..parameter import Parameter
from ._utils import check_size, new_parameter
from .linear import Linear
from .module import Module


def _is_float_or_bool(mask: Tensor) -> bool:
    return mask.dtype == np.bool_ or mask.dtype.kind == "f"


def _additive_mask(mask: Tensor | None, dtype) -> Tensor | None:
    """A bool mask (True = not allowed) as a float mask of ``dtype`` (-inf where True, 0 elsewhere); a float mask
    in ``dtype`` (it is added to the scores, and keeps its graph)."""
    if mask is None:
        return None
    if mask.dtype == np.bool_:
        # the Where op on the mask tensor itself, so that a mask fed to the model stays a recorded input
        xp = get_array_module(mask.array)
        return Where()(mask, Tensor(xp.asarray(dtype.type(-np.inf))), Tensor(xp.asarray(dtype.type(0))))
    return mask if mask.dtype == dtype else to_dtype(mask, dtype)


def _masked_softmax(scores: Tensor, mask: Tensor | None) -> Tensor:
    """``softmax(scores + mask, -1)``, with zeros (not NaN) in every row whose keys are all masked (-inf).

    ``mask`` broadcasts against ``scores`` (..., L, S). A fully masked row gets weights of 0 and passes no
    gradient back; PyTorch gives NaN there.
    """
    if mask is None:
        return F.softmax(scores, dim=-1)
    xp = get_array_module(mask.array)
    fully_masked = xp.isneginf(mask.array).all(axis=-1, keepdims=True)
    if not fully_masked.any():
        return F.softmax(scores + mask, dim=-1)
    fully_masked = Tensor(fully_masked)
    # a finite row in place of the -inf one keeps softmax (and its gradient) free of NaN; its weights then go to 0
    weights = F.softmax(scores + where(fully_masked, 0.0, mask), dim=-1)
    return where(fully_masked, 0.0, weights)


class MultiheadAttention(Module):
    """Attention of ``num_heads`` heads over ``embed_dim`` features, as ``torch.nn.MultiheadAttention``.

    ``Attention(Q, K, V) = softmax(Q K^T / sqrt(head_dim) + mask) V`` in each head, with
    ``head_dim = embed_dim // num_heads``; the heads' outputs are joined and projected by ``out_proj``.

    Args:
        embed_dim: features of the query and of the output (E).
        num_heads: parallel heads; ``embed_dim`` must be divisible by it.
        dropout: probability of dropping an attention weight, in training only (default 0.0).
        bias: learn biases in the input and output projections (default True).
        add_bias_kv: learn ``bias_k`` and ``bias_v`` (1, 1, E), appended to the keys and values as one more
            position (default False).
        add_zero_attn: append a position of zeros to the keys and values (default False).
        kdim, vdim: features of the key and value (default ``embed_dim``).
        batch_first: inputs and outputs are (N, L, E) instead of (L, N, E) (default False).
        device, dtype: where and in which floating dtype to create the parameters.

    Parameters (PyTorch's names): ``in_proj_weight`` (3E, E) when ``kdim == vdim == embed_dim``, otherwise
    ``q_proj_weight`` (E, E), ``k_proj_weight`` (E, kdim), ``v_proj_weight`` (E, vdim), all xavier-uniform;
    ``in_proj_bias`` (3E,), zeros; ``out_proj.weight`` (E, E) as ``nn.Linear``, ``out_proj.bias`` zeros;
    ``bias_k``, ``bias_v`` (1, 1, E), xavier-normal.

    Shape (``forward``):
        query (L, N, E), key (S, N, kdim), value (S, N, vdim); (N, L, E) ... with ``batch_first``; unbatched
        (L, E), (S, kdim), (S, vdim). ``key_padding_mask`` (N, S) or (S,); ``attn_mask`` (L, S),
        (N * num_heads, L, S) or, unbatched, (num_heads, L, S). Output as the query with E features; weights
        (N, L, S) averaged over heads, (N, num_heads, L, S) with ``average_attn_weights=False``, without N
        when unbatched (S counts the extra positions of ``add_bias_kv`` and ``add_zero_attn``).

    Masks: bool (True = this key may not be attended to) or float (added to the scores, -inf forbids).
    A query whose keys are all masked gets an output of ``out_proj.bias`` (attention weights of 0) and no
    gradient through its scores, where PyTorch gives NaN.

    Example::

        attention = nn.MultiheadAttention(64, 8, batch_first=True)
        output, weights = attention(x, x, x, key_padding_mask=padding)  # x (N, L, 64), padding (N, L) bool
    """

    bias_k: Parameter | None
    bias_v: Parameter | None

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 add_bias_kv: bool = False, add_zero_attn: bool = False, kdim: int | None = None,
                 vdim: int | None = None, batch_first: bool = False, device=None, dtype=None):
        super().__init__()
        self.embed_dim = check_size(embed_dim, "embed_dim", "MultiheadAttention", minimum=1)
        self.num_heads = check_size(num_heads, "num_heads", "MultiheadAttention", minimum=1)
        if self.embed_dim % self.num_heads:
            raise ValueError(
                f"MultiheadAttention: embed_dim must be divisible by num_heads, received embed_dim={embed_dim} "
                f"and num_heads={num_heads}"
            )
        self.kdim = check_size(kdim, "kdim", "MultiheadAttention", minimum=1) if kdim is not None else embed_dim
        self.vdim = check_size(vdim, "vdim", "MultiheadAttention", minimum=1) if vdim is not None else embed_dim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        if not 0.0 <= dropout <= 1.0:
            raise ValueError(f"MultiheadAttention: dropout must be in [0, 1], received {dropout}")
        self.dropout = dropout
        self.batch_first = batch_first
        self.head_dim = embed_dim // num_heads
        if self._qkv_same_embed_dim:
            self.in_proj_weight = new_parameter((3 * embed_dim, embed_dim), device, dtype)
            for name in ("q_proj_weight", "k_proj_weight", "v_proj_weight"):
                self.register_parameter(name, None)
        else:
            self.q_proj_weight = new_parameter((embed_dim, embed_dim), device, dtype)
            self.k_proj_weight = new_parameter((embed_dim, self.kdim), device, dtype)
            self.v_proj_weight = new_parameter((embed_dim, self.vdim), device, dtype)
            self.register_parameter("in_proj_weight", None)
        if bias:
            self.in_proj_bias = new_parameter((3 * embed_dim,), device, dtype)
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = Linear(embed_dim, embed_dim, bias=bias, device=device, dtype=dtype)
        if add_bias_kv:
            self.bias_k = new_parameter((1, 1, embed_dim), device, dtype)
            self.bias_v = new_parameter((1, 1, embed_dim), device, dtype)
        else:
            self.bias_k = self.bias_v = None
        self.add_zero_attn = add_zero_attn
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        """PyTorch's: xavier_uniform_ in-projection, zero biases, xavier_normal_ ``bias_k``/``bias_v``
        (``out_proj.weight`` keeps ``nn.Linear``'s initialisation)."""
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            init.xavier_uniform_(self.q_proj_weight)
            init.xavier_uniform_(self.k_proj_weight)
            init.xavier_uniform_(self.v_proj_weight)
        if self.in_proj_bias is not None:
            init.constant_(self.in_proj_bias, 0.0)
            init.constant_(self.out_proj.bias, 0.0)
        if self.bias_k is not None and self.bias_v is not None:
            init.xavier_normal_(self.bias_k)
            init.xavier_normal_(self.bias_v)

    def _name(self) -> str:
        return f"MultiheadAttention(embed_dim={self.embed_dim}, num_heads={self.num_heads})"

    def _check_inputs(self, query, key, value, key_padding_mask, attn_mask) -> bool:
        """Validate shapes and mask dtypes; return whether the input is batched."""
        name = self._name()
        for label, tensor in (("query", query), ("key", key), ("value", value)):
            if not isinstance(tensor, Tensor):
                raise TypeError(f"{name}: expected {label} as a Tensor, received {type(tensor).__name__}")
        if query.ndim not in (2, 3):
            raise ValueError(f"{name}: expected query of 3 dimensions (batched) or 2 (unbatched), received shape "
                             f"{query.shape}")
        batched = query.ndim == 3
        if key.ndim != query.ndim or value.ndim != query.ndim:
            raise ValueError(f"{name}: expected key and value with {query.ndim} dimensions like the query "
                             f"{query.shape}, received key {key.shape} and value {value.shape}")
        for label, tensor, features in (("query", query, self.embed_dim), ("key", key, self.kdim),
                                        ("value", value, self.vdim)):
            if tensor.shape[-1] != features:
                raise ValueError(f"{name}: expected {label} with last dimension {features}, received shape "
                                 f"{tensor.shape}")
        if key.shape[:-1] != value.shape[:-1]:
            raise ValueError(f"{name}: expected key and value with the same leading dimensions (sequence and "
                             f"batch), received key {key.shape} and value {value.shape}")
        batch_axis = 0 if self.batch_first else 1
        if batched and query.shape[batch_axis] != key.shape[batch_axis]:
            raise ValueError(f"{name}: expected query and key with the same batch size (axis {batch_axis}), "
                             f"received query {query.shape} and key {key.shape}")
        seq_axis = (1 - batch_axis) if batched else 0
        target, source = query.shape[seq_axis], key.shape[seq_axis]
        batch = query.shape[batch_axis] if batched else 1
        for label, mask in (("key_padding_mask", key_padding_mask), ("attn_mask", attn_mask)):
            if mask is None:
                continue
            if not isinstance(mask, Tensor):
                raise TypeError(f"{name}: expected {label} as a Tensor, received {type(mask).__name__}")
            if not _is_float_or_bool(mask):
                raise TypeError(f"{name}: expected {label} of dtype bool or floating, received {mask.dtype}")
        if key_padding_mask is not None:
            expected, letters = ((batch, source), "(N, S)") if batched else ((source,), "(S,)")
            if tuple(key_padding_mask.shape) != expected:
                raise ValueError(f"{name}: expected key_padding_mask of shape {expected} {letters} for query "
                                 f"{query.shape} and key {key.shape}, received {key_padding_mask.shape}")
        if attn_mask is not None:
            heads = self.num_heads * batch
            allowed = [(target, source), (heads, target, source)]
            if tuple(attn_mask.shape) not in allowed:
                raise ValueError(f"{name}: expected attn_mask of shape {allowed[0]} (L, S) or {allowed[1]} "
                                 f"({'N * num_heads' if batched else 'num_heads'}, L, S) for query {query.shape} "
                                 f"and key {key.shape}, received {attn_mask.shape}")
        return batched

    def _project(self, query: Tensor, key: Tensor, value: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """The in-projections: one matmul for self-attention (query, key and value the same tensor)."""
        E, bias = self.embed_dim, self.in_proj_bias
        if self._qkv_same_embed_dim and query is key and key is value:
            q, k, v = F.linear(query, self.in_proj_weight, bias).chunk(3, dim=-1)
            return q, k, v
        b_q, b_k, b_v = (None, None, None) if bias is None else (bias[:E], bias[E:2 * E], bias[2 * E:])
        if self._qkv_same_embed_dim:
            weight = self.in_proj_weight
            w_q, w_k, w_v = weight[:E], weight[E:2 * E], weight[2 * E:]
        else:
            w_q, w_k, w_v = self.q_proj_weight, self.k_proj_weight, self.v_proj_weight
        return F.linear(query, w_q, b_q), F.linear(key, w_k, b_k), F.linear(value, w_v, b_v)

    def _split_heads(self, x: Tensor, batch_first: bool) -> Tensor:
        """(L, N, E), or (N, L, E) when ``batch_first``, to (N, num_heads, L, head_dim)."""
        if batch_first:
            batch, length = x.shape[0], x.shape[1]
            return x.reshape(batch, length, self.num_heads, self.head_dim).permute(0, 2, 1, 3)
        length, batch = x.shape[0], x.shape[1]
        return x.reshape(length, batch, self.num_heads, self.head_dim).permute(1, 2, 0, 3)

    def _combined_mask(self, key_padding_mask, attn_mask, batch: int, dtype) -> Tensor | None:
        """The two masks as one float mask broadcasting to the scores (N, num_heads, L, S + extra positions)."""
        attn_mask = _additive_mask(attn_mask, dtype)
        key_padding_mask = _additive_mask(key_padding_mask, dtype)
        if attn_mask is not None and attn_mask.ndim == 3:
            attn_mask = attn_mask.reshape(batch, self.num_heads, *attn_mask.shape[1:])
        if key_padding_mask is not None:
            key_padding_mask = key_padding_mask.reshape(batch, 1, 1, key_padding_mask.shape[-1])
        if attn_mask is None:
            mask = key_padding_mask
        elif key_padding_mask is None:
            mask = attn_mask
        else:
            mask = attn_mask + key_padding_mask
        extra_positions = int(self.bias_k is not None) + int(self.add_zero_attn)
        if mask is not None and extra_positions:
            mask = F.pad(mask, (0, extra_positions))  # the appended positions are never masked
        return mask

    def forward(self, query: Tensor, key: Tensor, value: Tensor, key_padding_mask: Tensor | None = None,
                need_weights: bool = True, attn_mask: Tensor | None = None, average_attn_weights: bool = True,
                is_causal: bool = False) -> tuple[Tensor, Tensor | None]:
        """Attend from ``query`` to ``key``/``value``; return ``(attn_output, attn_output_weights or None)``.

        ``is_causal=True`` is a hint that ``attn_mask`` is the causal mask (as in PyTorch, it requires
        ``attn_mask``); the mask given is what Ember applies.
        """
        batched = self._check_inputs(query, key, value, key_padding_mask, attn_mask)
        if is_causal and attn_mask is None:
            raise ValueError(f"{self._name()}: is_causal=True is a hint that attn_mask is the causal mask and "
                             "needs attn_mask; make one with nn.Transformer.generate_square_subsequent_mask(L)")
        batch_first = self.batch_first and batched
        if not batched:  # as a batch of one, sequence first
            same_input = query is key and key is value
            query = query.unsqueeze(1)
            key, value = (query, query) if same_input else (key.unsqueeze(1), value.unsqueeze(1))
            if key_padding_mask is not None:
                key_padding_mask = key_padding_mask.unsqueeze(0)
        target_length = query.shape[1 if batch_first else 0]
        batch = query.shape[0 if batch_first else 1]
        q, k, v = self._project(query, key, value)
        q, k, v = (self._split_heads(t, batch_first) for t in (q, k, v))
        if self.bias_k is not None and self.bias_v is not None:
            k = cat([k, self._split_heads(self.bias_k, True).expand(batch, -1, -1, -1)], dim=2)
            v = cat([v, self._split_heads(self.bias_v, True).expand(batch, -1, -1, -1)], dim=2)
        if self.add_zero_attn:
            xp = get_array_module(k.array)
            zeros = Tensor(xp.zeros((batch, self.num_heads, 1, self.head_dim), dtype=k.dtype))
            k, v = cat([k, zeros], dim=2), cat([v, zeros], dim=2)
        mask = self._combined_mask(key_padding_mask, attn_mask, batch, q.dtype)
        dropout = self.dropout if self.training else 0.0
        weights = None
        if need_weights:
            scores = (q * math.sqrt(1.0 / self.head_dim)) @ k.transpose(-2, -1)  # (N, H, L, S), scaled as PyTorch
            weights = _masked_softmax(scores, mask)
            if dropout > 0:  # the weights returned are the dropped-out ones, as PyTorch's
                weights = F.dropout(weights, dropout, training=True)
            heads = weights @ v
        else:  # as PyTorch: without weights to return, the fused op (one (L, S) matrix per head, zeros where all
            # keys are masked)
            heads = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout,
                                                   scale=math.sqrt(1.0 / self.head_dim))
        # heads: (N, H, L, head_dim)
        if batch_first:
            joined = heads.permute(0, 2, 1, 3).reshape(batch, target_length, self.embed_dim)
        else:
            joined = heads.permute(2, 0, 1, 3).reshape(target_length, batch, self.embed_dim)
        output = self.out_proj(joined)
        if not batched:
            output = output.squeeze(1)
        if weights is None:
            return output, None
        if average_attn_weights:
            weights = weights.mean(dim=1)
        if not batched:
            weights = weights.squeeze(0)
        return output, weights

    def extra_repr(self) -> str:
        parts = [f"embed_dim={self.embed_dim}", f"num_heads={self.num_heads}"]
        if self.dropout:
            parts.append(f"dropout={self.dropout}")
        if not self._qkv_same_embed_dim:
            parts.append(f"kdim={self.kdim}, vdim={self.vdim}")
        if self.batch_first:
            parts.append("batch_first=True")
        return ", ".join(parts)


__all__ = ["MultiheadAttention"]
