"""Keras's ``MultiHeadAttention``: projections, scaled dot-product attention over chosen axes, output projection.

Weights follow Keras's layout and names: four sub-layers ``query``, ``key``, ``value`` (kernel
``(dim, num_heads, key_dim)`` — ``value_dim`` for ``value`` — and bias ``(num_heads, key_dim)``) and
``attention_output`` (kernel ``(num_heads, value_dim, *output_shape)``, bias ``output_shape``), so that
``get_weights()``/``set_weights()`` exchange arrays with a Keras model in the same order.
"""
from __future__ import annotations

import math

import numpy as np

from ... import functions as F
from ...autograd.tensor import Tensor
from ...functions.linalg import affine
from .. import initializers, regularizers
from .._ignored import warn_no_effect
from .base import KerasTensor, Layer

# Keras's Softmax puts this on masked scores before normalising (and zeroes their weights after).
_MASKED_SCORE = -1e9


class _Projection(Layer):
    """The dense projections inside ``MultiHeadAttention`` (Keras builds them as ``EinsumDense``).

    ``kernel`` has shape ``(*input_dims, *output_dims)``: the last ``len(input_dims)`` axes of the input are
    contracted with it, giving ``(..., *output_dims)``; ``bias`` has shape ``output_dims``.
    """

    def __init__(self, input_dims, output_dims, use_bias, kernel_initializer, bias_initializer,
                 kernel_regularizer, bias_regularizer, name):
        super().__init__(name=name)
        self.input_dims, self.output_dims = tuple(input_dims), tuple(output_dims)
        self.use_bias = use_bias
        self.add_weight("kernel", self.input_dims + self.output_dims, kernel_initializer,
                        regularizer=kernel_regularizer)
        if use_bias:
            self.add_weight("bias", self.output_dims, bias_initializer, regularizer=bias_regularizer)
        self.built = True

    def call(self, inputs):
        contracted = len(self.input_dims)
        leading = tuple(inputs.shape[:-contracted])
        rows = inputs.reshape(leading + (math.prod(self.input_dims),))
        kernel = self.kernel.reshape(math.prod(self.input_dims), math.prod(self.output_dims))
        bias = self.bias.reshape(-1) if self.use_bias else None
        return affine(rows, kernel, bias).reshape(leading + self.output_dims)


class MultiHeadAttention(Layer):
    """Multi-head attention as Keras computes it: ``softmax(q k^T / sqrt(key_dim)) v`` per head.

    Args: num_heads, key_dim (size of each query/key head), value_dim=None (key_dim), dropout=0.0 (on the
    attention weights, in training), use_bias=True, output_shape=None (the query's last dim; an int or a
    tuple), attention_axes=None (every axis but batch, heads and features), kernel_initializer=
    "glorot_uniform", bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, seed=None
    (warns: dropout draws from Ember's generator), flash_attention=None (warns: scores are always computed
    explicitly, which gives the same numbers).

    Call: ``layer(query, value, key=None, query_mask=None, value_mask=None, key_mask=None,
    attention_mask=None, return_attention_scores=False, training=None, use_causal_mask=False)``.
    Shapes: query ``(B, T, dim)``, value ``(B, S, dim_v)``, key ``(B, S, dim_k)`` (default: value) →
    ``(B, T, *output_shape)``; scores ``(B, num_heads, T, S)``. Inputs of more dims attend over
    ``attention_axes``: a query ``(B, A, T, dim)`` with ``attention_axes=(2,)`` gives scores
    ``(B, A, num_heads, T, S)``.

    Masks (True = attend) are combined with a logical AND, as Keras does: ``attention_mask`` ``(B, T, S)``;
    the query's mask ``(B, T)`` as ``(B, T, 1)``; the value's and key's ``(B, S)`` as ``(B, 1, S)``; the
    causal mask ``i >= j``. Inside a model the masks of inputs from ``Embedding(mask_zero=True)`` arrive as
    those of the query, value and key; the output carries the query's mask. A direct call also honours an
    explicit ``query_mask`` (Keras 3.15 replaces that argument by the mask attached to the query tensor,
    so there it only has an effect inside a model).

    Fully masked query rows: masked scores become -1e9 before the softmax and their weights are set to zero
    after it (Keras's ``Softmax`` with a mask), so such a row gets zero attention weights and the output is
    the output bias, never NaN. Keras gives the same on its explicit-scores path (``return_attention_scores
    =True`` or dropout); its default fused path on the torch backend gives such rows uniform weights instead.
    """

    supports_masking = True

    def __init__(self, num_heads: int, key_dim: int, value_dim: int | None = None, dropout: float = 0.0,
                 use_bias: bool = True, output_shape=None, attention_axes=None, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, seed=None,
                 flash_attention=None, **kwargs):
        super().__init__(**kwargs)
        for argument, value in (("num_heads", num_heads), ("key_dim", key_dim), ("value_dim", value_dim)):
            if value is None and argument == "value_dim":
                continue
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
                raise ValueError(f"MultiHeadAttention: {argument} must be a positive integer, received {value!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"MultiHeadAttention: dropout must be in [0, 1), received {dropout!r}")
        self.num_heads, self.key_dim = int(num_heads), int(key_dim)
        self.value_dim = int(value_dim) if value_dim else self.key_dim
        self.dropout, self.use_bias = float(dropout), bool(use_bias)
        if isinstance(output_shape, (int, np.integer)):
            output_shape = (int(output_shape),)
        self._projection_shape = tuple(int(s) for s in output_shape) if output_shape else None
        if isinstance(attention_axes, (int, np.integer)):
            attention_axes = (int(attention_axes),)
        elif attention_axes is not None and not isinstance(attention_axes, (list, tuple)):
            raise ValueError(f"MultiHeadAttention: attention_axes must be an int, list or tuple, received "
                             f"{attention_axes!r}")
        self.attention_axes = tuple(int(a) for a in attention_axes) if attention_axes else None
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        if seed is not None:
            warn_no_effect("MultiHeadAttention", "seed", seed, "dropout masks come from Ember's generator; seed "
                           "it with keras.utils.set_random_seed")
        if flash_attention:
            warn_no_effect("MultiHeadAttention", "flash_attention", flash_attention, "the attention scores are "
                           "computed explicitly, which gives the same numbers")
        self.seed = seed
        self._symbolic_options: dict | None = None  # call options recorded by a functional-API call
        self._shapes: tuple | None = None  # (query, value, key) shapes the layer was built for

    # ------------------------------------------------------------------------------------- building
    def build(self, query_shape, value_shape=None, key_shape=None):
        """Create the four projections for inputs of these shapes (batch dim included)."""
        if value_shape is None:
            raise self.input_error("build(query_shape, value_shape, key_shape=None)", query_shape)
        key_shape = value_shape if key_shape is None else key_shape
        self._check_shapes(tuple(query_shape), tuple(value_shape), tuple(key_shape))
        rank = len(query_shape) + 1  # after projection: (batch, ..., heads, channels)
        axes = self.attention_axes if self.attention_axes is not None else tuple(range(1, rank - 2))
        self._axes = tuple(sorted(a if a >= 0 else rank - 1 + a for a in axes))
        if any(not 1 <= a < rank - 2 for a in self._axes) or len(set(self._axes)) != len(self._axes):
            raise ValueError(f"MultiHeadAttention '{self.name}': attention_axes {self.attention_axes} do not fit "
                             f"inputs of shape {tuple(query_shape)} (allowed: axes 1 to {len(query_shape) - 2})")
        common = dict(use_bias=self.use_bias, kernel_initializer=self.kernel_initializer,
                      bias_initializer=self.bias_initializer, kernel_regularizer=self.kernel_regularizer,
                      bias_regularizer=self.bias_regularizer)
        heads = self.num_heads
        self.query_dense = _Projection((query_shape[-1],), (heads, self.key_dim), name="query", **common)
        self.key_dense = _Projection((key_shape[-1],), (heads, self.key_dim), name="key", **common)
        self.value_dense = _Projection((value_shape[-1],), (heads, self.value_dim), name="value", **common)
        output_shape = self._projection_shape or (query_shape[-1],)
        self.output_dense = _Projection((heads, self.value_dim), output_shape, name="attention_output", **common)
        self._shapes = (tuple(query_shape), tuple(value_shape), tuple(key_shape))
        self.built = True

    def _check_shapes(self, query_shape, value_shape, key_shape) -> None:
        where = f"MultiHeadAttention '{self.name}'"
        if len(query_shape) < 3:
            raise ValueError(f"{where}: expected a query of at least 3 dims (batch, ..., features), received "
                             f"shape {query_shape}")
        if len(value_shape) != len(query_shape) or len(key_shape) != len(query_shape):
            raise ValueError(f"{where}: expected query, value and key of the same rank, received shapes "
                             f"query {query_shape}, value {value_shape}, key {key_shape}")
        if value_shape[:-1] != key_shape[:-1]:
            raise ValueError(f"{where}: expected value and key to agree on every dim but the last, received "
                             f"shapes value {value_shape}, key {key_shape}")
        if None not in (query_shape[0], value_shape[0]) and query_shape[0] != value_shape[0]:
            raise ValueError(f"{where}: expected query and value of the same batch size, received shapes "
                             f"query {query_shape}, value {value_shape}")
        if self._shapes is not None:
            for role, built, received in zip(("query", "value", "key"), self._shapes,
                                             (query_shape, value_shape, key_shape)):
                if received[-1] != built[-1]:
                    raise ValueError(f"{where}: expected a {role} with last dim {built[-1]} (the layer was built "
                                     f"for shape {built}), received shape {received}")

    # ------------------------------------------------------------------------------------- calling
    def __call__(self, *args, **kwargs):
        if isinstance(args[0] if args else kwargs.get("query"), KerasTensor):
            return self._call_symbolic_attention(*args, **kwargs)
        return super().__call__(*args, **kwargs)

    def _call_symbolic_attention(self, query=None, value=None, key=None, **options):
        """Functional API: ``mha(query, value)`` on KerasTensors records a node whose inputs are
        ``[query, value(, key)]``; the call options (causal mask, returning scores) are kept for the model."""
        if not isinstance(value, KerasTensor) or (key is not None and not isinstance(key, KerasTensor)):
            raise TypeError(f"MultiHeadAttention '{self.name}': in a functional model, query, value and key must "
                            "all be KerasTensors")
        allowed = {"return_attention_scores", "use_causal_mask", "training"}
        if set(options) - allowed:
            raise ValueError(f"MultiHeadAttention '{self.name}': in a functional model only "
                             f"{sorted(allowed)} can be given as call options, received {sorted(options)}")
        options.pop("training", None)
        if self._symbolic_options is not None and self._symbolic_options != options:
            raise ValueError(f"MultiHeadAttention '{self.name}': a layer shared in a functional model must be "
                             f"called with the same options each time, received {options} after "
                             f"{self._symbolic_options}")
        self._symbolic_options = dict(options)
        inputs = [query, value] + ([key] if key is not None else [])
        return self._call_symbolic(inputs)

    def forward(self, query, value=None, key=None, query_mask=None, value_mask=None, key_mask=None,
                attention_mask=None, return_attention_scores=None, training=None, use_causal_mask=None,
                mask=None):
        if isinstance(query, (list, tuple)):  # [query, value(, key)], as a functional model passes them
            if value is not None or not 2 <= len(query) <= 3:
                raise ValueError(f"MultiHeadAttention '{self.name}': expected [query, value] or [query, value, "
                                 f"key], received a list of {len(query)}")
            query, value, key = (list(query) + [None])[:3]
            masks = list(mask) + [None] * (3 - len(mask)) if isinstance(mask, (list, tuple)) else [mask, None, None]
            query_mask = masks[0] if query_mask is None else query_mask
            value_mask = masks[1] if value_mask is None else value_mask
            key_mask = masks[2] if key_mask is None else key_mask
        elif mask is not None and query_mask is None:
            query_mask = mask
        if value is None:
            raise TypeError(f"MultiHeadAttention '{self.name}': missing the value argument: call layer(query, value)")
        options = self._symbolic_options or {}
        if return_attention_scores is None:
            return_attention_scores = options.get("return_attention_scores", False)
        if use_causal_mask is None:
            use_causal_mask = options.get("use_causal_mask", False)
        key = value if key is None else key
        for role, tensor in (("query", query), ("value", value), ("key", key)):
            if not isinstance(tensor, Tensor):
                raise TypeError(f"MultiHeadAttention '{self.name}': {role} must be a Tensor, received "
                                f"{type(tensor).__name__}")
        shapes = (tuple(query.shape), tuple(value.shape), tuple(key.shape))
        if not self.built:
            self.build(*shapes)
            if query.device.type != "cpu":
                self.to(query.device)
        self._check_shapes(*shapes)
        return self.call(query, value, key, query_mask, value_mask, key_mask, attention_mask,
                         bool(return_attention_scores), self.training if training is None else bool(training),
                         bool(use_causal_mask))

    def call(self, query, value, key=None, query_mask=None, value_mask=None, key_mask=None, attention_mask=None,
             return_attention_scores=False, training=None, use_causal_mask=False, mask=None):
        """The attention itself (``forward`` validates, builds and gathers the masks first; ``mask`` is in the
        signature so that model runners pass the inputs' masks, which ``forward`` reads)."""
        key = value if key is None else key
        combined = self._combined_mask(query, value, query_mask, value_mask, key_mask, attention_mask,
                                       use_causal_mask)
        projected_query = self.query_dense(query) * (1.0 / math.sqrt(self.key_dim))
        projected_key = self.key_dense(key)
        projected_value = self.value_dense(value)
        context, scores = self._attend(projected_query, projected_key, projected_value, combined, training)
        output = self.output_dense(context)
        return (output, scores) if return_attention_scores else output

    def _attend(self, query, key, value, mask, training):
        """Dot-product attention on projected ``(B, ..., heads, channels)`` tensors over ``self._axes``.

        The batch axes (batch, the other non-attention axes, heads) go first and the attention axes are
        flattened into one, so one batched matmul computes every head; the scores come back in Keras's
        layout ``(*batch axes, *query attention dims, *key attention dims)``."""
        rank = query.ndim
        batch_axes = [axis for axis in range(rank - 1) if axis not in self._axes]
        order = batch_axes + list(self._axes) + [rank - 1]
        batch_shape = tuple(query.shape[a] for a in batch_axes)
        query_dims = tuple(query.shape[a] for a in self._axes)
        key_dims = tuple(key.shape[a] for a in self._axes)
        key_batch_shape = tuple(key.shape[a] for a in batch_axes)
        if key_batch_shape != batch_shape:
            raise ValueError(f"MultiHeadAttention '{self.name}': query and key must agree on the non-attention "
                             f"axes (attention_axes={self._axes}), received projected shapes "
                             f"{tuple(query.shape)} and {tuple(key.shape)}")
        query_rows = query.permute(*order).reshape(batch_shape + (math.prod(query_dims), self.key_dim))
        key_rows = key.permute(*order).reshape(batch_shape + (math.prod(key_dims), self.key_dim))
        value_rows = value.permute(*order).reshape(batch_shape + (math.prod(key_dims), self.value_dim))
        scores = F.matmul(query_rows, key_rows.transpose(-1, -2))  # (*batch, T, S)
        if mask is not None:
            keras_shape = batch_shape + query_dims + key_dims
            mask = self._expand_mask(mask, len(keras_shape), keras_shape)
            # batch axes the mask does not vary along stay of size 1 (a causal mask is the same constant for
            # every batch size); where() broadcasts it against the scores
            mask_batch = tuple(1 if m == 1 else s for m, s in zip(mask.shape[:len(batch_shape)], batch_shape))
            mask = np.broadcast_to(mask, mask_batch + query_dims + key_dims)
            mask = mask.reshape(mask_batch + tuple(scores.shape[len(batch_shape):]))
            scores = F.where(mask, scores, _MASKED_SCORE)
        weights = F.softmax(scores, dim=-1)
        if mask is not None:
            weights = F.where(mask, weights, 0.0)
        dropped = F.dropout(weights, self.dropout, training=bool(training)) if self.dropout else weights
        context = F.matmul(dropped, value_rows)  # (*batch, T, value_dim)
        context = context.reshape(batch_shape + query_dims + (self.value_dim,))
        inverse = list(np.argsort(order))
        return context.permute(*inverse), weights.reshape(batch_shape + query_dims + key_dims)

    def _expand_mask(self, mask, scores_rank, scores_shape):
        """Keras's broadcasting of a ``(B, T, S)``-style mask to the scores: axes are added in front of the
        query attention dims (where the heads are) until the ranks agree."""
        insert_at = -len(self._axes) * 2 - 1
        given_shape = mask.shape
        while mask.ndim < scores_rank:
            mask = np.expand_dims(mask, insert_at)
        try:
            np.broadcast_shapes(mask.shape, scores_shape)
        except ValueError:
            raise ValueError(f"MultiHeadAttention '{self.name}': expected masks that combine to (batch, query "
                             f"steps, key steps) for attention scores of shape {scores_shape}, received a "
                             f"combined mask of shape {given_shape}") from None
        return mask

    def _combined_mask(self, query, value, query_mask, value_mask, key_mask, attention_mask, use_causal_mask):
        """The AND of every mask given, as a boolean NumPy array broadcastable to ``(B, T, S)``, or None."""
        combined = None

        def merge(mask):
            nonlocal combined
            combined = mask if combined is None else combined & mask

        if query_mask is not None:
            merge(np.expand_dims(self._as_mask(query_mask, "query_mask"), -1))
        if value_mask is not None:
            merge(np.expand_dims(self._as_mask(value_mask, "value_mask"), -2))
        if key_mask is not None:
            merge(np.expand_dims(self._as_mask(key_mask, "key_mask"), -2))
        if use_causal_mask:
            if query.ndim != 3:
                raise ValueError(f"MultiHeadAttention '{self.name}': use_causal_mask needs 3-d query and value "
                                 f"(batch, steps, features), received shape {tuple(query.shape)}")
            steps, source_steps = query.shape[1], value.shape[1]
            merge(np.tril(np.ones((1, steps, source_steps), dtype=bool)))
        if attention_mask is not None:
            attention_mask = self._as_mask(attention_mask, "attention_mask")
            combined = attention_mask if combined is None else attention_mask & combined
        return combined

    def _as_mask(self, mask, argument: str) -> np.ndarray:
        array = mask.array if isinstance(mask, Tensor) else mask
        array = getattr(array, "_array", array)
        array = np.asarray(array.get() if hasattr(array, "get") else array)
        if array.dtype != np.bool_:
            array = array > 0.5  # Keras keeps positions where the mask is True or above 0.5
        return array

    def compute_mask(self, inputs, mask=None):
        """The output keeps the query's mask."""
        if isinstance(mask, (list, tuple)):
            return mask[0] if mask else None
        return mask

    def compute_output_shape(self, input_shape):
        shapes = input_shape if isinstance(input_shape, list) else [input_shape]
        if len(shapes) < 2:
            raise ValueError(f"MultiHeadAttention '{self.name}': compute_output_shape expects [query_shape, "
                             f"value_shape(, key_shape)], received {input_shape}")
        return super().compute_output_shape(shapes)

    def get_config(self):
        return {
            **super().get_config(), "num_heads": self.num_heads, "key_dim": self.key_dim,
            "value_dim": self.value_dim, "dropout": self.dropout, "use_bias": self.use_bias,
            "output_shape": list(self._projection_shape) if self._projection_shape else None,
            "attention_axes": list(self.attention_axes) if self.attention_axes else None,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer), "seed": self.seed,
            # the options of a functional-API call (use_causal_mask, ...), so that a saved model keeps them
            **({"call_options": dict(self._symbolic_options)} if self._symbolic_options else {}),
        }

    @classmethod
    def from_config(cls, config: dict):
        config = dict(config)
        call_options = config.pop("call_options", None)
        layer = cls(**config)
        layer._symbolic_options = call_options
        return layer

    def extra_repr(self):
        return f"name={self.name!r}, num_heads={self.num_heads}, key_dim={self.key_dim}, value_dim={self.value_dim}"
