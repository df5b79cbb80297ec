"""The Transformer of "Attention Is All You Need" with ``torch.nn``'s modules, names and defaults:
``TransformerEncoderLayer``, ``TransformerEncoder``, ``TransformerDecoderLayer``, ``TransformerDecoder`` and
``Transformer``."""
from __future__ import annotations

import copy
from collections.abc import Callable

from ...autograd.tensor import Tensor
from ...backend.device import get_array_module
from ...functions.creation import full
from .. import functional as F
from .. import init
from ._utils import check_size
from .attention import MultiheadAttention
from .container import ModuleList
from .dropout import Dropout
from .linear import Linear
from .module import Module
from .normalization import LayerNorm


def _activation_function(activation, layer: str) -> Callable[[Tensor], Tensor]:
    """``"relu"``/``"gelu"`` as ``F.relu``/``F.gelu``; a callable (a function or a module) as it is."""
    if isinstance(activation, str):
        if activation == "relu":
            return F.relu
        if activation == "gelu":
            return F.gelu
        raise ValueError(f"{layer}: activation should be 'relu', 'gelu' or a callable, received {activation!r}")
    if not callable(activation):
        raise TypeError(f"{layer}: activation should be 'relu', 'gelu' or a callable, received "
                        f"{type(activation).__name__}")
    return activation


def _clones(module: Module, count: int) -> ModuleList:
    return ModuleList([copy.deepcopy(module) for _ in range(count)])


def _check_features(layer: str, name: str, x: Tensor, d_model: int) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{layer}: expected {name} as a Tensor, received {type(x).__name__}")
    if x.ndim not in (2, 3) or x.shape[-1] != d_model:
        raise ValueError(f"{layer}: expected {name} of shape (S, N, {d_model}), (N, S, {d_model}) with batch_first, "
                         f"or (S, {d_model}) unbatched, received {x.shape}")


class TransformerEncoderLayer(Module):
    """Self-attention then a feed-forward network, each in a residual block with layer normalisation.

    ``norm_first=False`` (post-norm, the paper's): ``x = norm1(x + sa(x)); x = norm2(x + ff(x))``;
    ``norm_first=True`` (pre-norm): ``x = x + sa(norm1(x)); x = x + ff(norm2(x))``, where
    ``ff(x) = dropout2(linear2(dropout(activation(linear1(x)))))`` and ``sa`` is ``self_attn`` then ``dropout1``.

    Args:
        d_model: features of the input and output.
        nhead: attention heads (``d_model`` divisible by it).
        dim_feedforward: width of the feed-forward network (default 2048).
        dropout: dropout probability everywhere (default 0.1).
        activation: ``"relu"`` (default), ``"gelu"`` or a callable (a function or a module).
        layer_norm_eps: eps of the layer norms (default 1e-5).
        batch_first: input and output (N, S, E) instead of (S, N, E) (default False).
        norm_first: pre-norm instead of post-norm (default False).
        bias: biases in the linear layers and layer norms (default True).
        device, dtype: where and in which floating dtype to create the parameters.

    Submodules (PyTorch's names): ``self_attn``, ``linear1``, ``dropout``, ``linear2``, ``norm1``, ``norm2``,
    ``dropout1``, ``dropout2``.

    Shape: src (S, N, E), (N, S, E) with ``batch_first``, or (S, E); ``src_mask`` (S, S) or
    (N * nhead, S, S); ``src_key_padding_mask`` (N, S) or (S,); output as src. Masks as in
    ``MultiheadAttention``.
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation: str | Callable[[Tensor], Tensor] = F.relu, layer_norm_eps: float = 1e-5,
                 batch_first: bool = False, norm_first: bool = False, bias: bool = True, device=None, dtype=None):
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first,
                                            **factory)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, **factory)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, **factory)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **factory)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **factory)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.activation = _activation_function(activation, "TransformerEncoderLayer")

    def forward(self, src: Tensor, src_mask: Tensor | None = None, src_key_padding_mask: Tensor | None = None,
                is_causal: bool = False) -> Tensor:
        _check_features("TransformerEncoderLayer", "src", src, self.self_attn.embed_dim)
        x = src
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            x = x + self._ff_block(self.norm2(x))
        else:
            x = self.norm1(x + self._sa_block(x, src_mask, src_key_padding_mask, is_causal))
            x = self.norm2(x + self._ff_block(x))
        return x

    def _sa_block(self, x: Tensor, attn_mask, key_padding_mask, is_causal: bool) -> Tensor:
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask, need_weights=False,
                           is_causal=is_causal)[0]
        return self.dropout1(x)

    def _ff_block(self, x: Tensor) -> Tensor:
        return self.dropout2(self.linear2(self.dropout(self.activation(self.linear1(x)))))


class TransformerDecoderLayer(Module):
    """Self-attention, attention over the encoder's output (``memory``), then a feed-forward network, each in a
    residual block with layer normalisation (post-norm, or pre-norm with ``norm_first=True``).

    Arguments as ``TransformerEncoderLayer``. Submodules (PyTorch's names): ``self_attn``, ``multihead_attn``,
    ``linear1``, ``dropout``, ``linear2``, ``norm1``, ``norm2``, ``norm3``, ``dropout1``, ``dropout2``,
    ``dropout3``.

    Shape: tgt (T, N, E), memory (S, N, E) ((N, T, E), (N, S, E) with ``batch_first``; (T, E), (S, E)
    unbatched); ``tgt_mask`` (T, T), ``memory_mask`` (T, S) (or with N * nhead first);
    ``tgt_key_padding_mask`` (N, T), ``memory_key_padding_mask`` (N, S); output as tgt.
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation: str | Callable[[Tensor], Tensor] = F.relu, layer_norm_eps: float = 1e-5,
                 batch_first: bool = False, norm_first: bool = False, bias: bool = True, device=None, dtype=None):
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first,
                                            **factory)
        self.multihead_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                                 batch_first=batch_first, **factory)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, **factory)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, **factory)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **factory)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **factory)
        self.norm3 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **factory)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.dropout3 = Dropout(dropout)
        self.activation = _activation_function(activation, "TransformerDecoderLayer")

    def forward(self, tgt: Tensor, memory: Tensor, tgt_mask: Tensor | None = None,
                memory_mask: Tensor | None = None, tgt_key_padding_mask: Tensor | None = None,
                memory_key_padding_mask: Tensor | None = None, tgt_is_causal: bool = False,
                memory_is_causal: bool = False) -> Tensor:
        d_model = self.self_attn.embed_dim
        _check_features("TransformerDecoderLayer", "tgt", tgt, d_model)
        _check_features("TransformerDecoderLayer", "memory", memory, d_model)
        x = tgt
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), tgt_mask, tgt_key_padding_mask, tgt_is_causal)
            x = x + self._mha_block(self.norm2(x), memory, memory_mask, memory_key_padding_mask, memory_is_causal)
            x = x + self._ff_block(self.norm3(x))
        else:
            x = self.norm1(x + self._sa_block(x, tgt_mask, tgt_key_padding_mask, tgt_is_causal))
            x = self.norm2(x + self._mha_block(x, memory, memory_mask, memory_key_padding_mask, memory_is_causal))
            x = self.norm3(x + self._ff_block(x))
        return x

    def _sa_block(self, x: Tensor, attn_mask, key_padding_mask, is_causal: bool) -> Tensor:
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask, need_weights=False,
                           is_causal=is_causal)[0]
        return self.dropout1(x)

    def _mha_block(self, x: Tensor, memory: Tensor, attn_mask, key_padding_mask, is_causal: bool) -> Tensor:
        x = self.multihead_attn(x, memory, memory, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                                need_weights=False, is_causal=is_causal)[0]
        return self.dropout2(x)

    def _ff_block(self, x: Tensor) -> Tensor:
        return self.dropout3(self.linear2(self.dropout(self.activation(self.linear1(x)))))


class TransformerEncoder(Module):
    """``num_layers`` deep copies of ``encoder_layer`` (``layers.0``, ``layers.1``, ...), then ``norm`` if given.

    Args:
        encoder_layer: a ``TransformerEncoderLayer``, copied ``num_layers`` times (the copies start equal).
        num_layers: how many layers.
        norm: a module applied to the last layer's output (default None).
        enable_nested_tensor, mask_check: PyTorch's switches for its nested-tensor inference path, kept as
            attributes; Ember computes every position, padded ones included, as PyTorch does while training.

    Shape: as ``TransformerEncoderLayer``; ``forward(src, mask=None, src_key_padding_mask=None, is_causal=None)``.
    """

    def __init__(self, encoder_layer: Module, num_layers: int, norm: Module | None = None,
                 enable_nested_tensor: bool = True, mask_check: bool = True):
        super().__init__()
        if not isinstance(encoder_layer, Module):
            raise TypeError(f"TransformerEncoder: expected encoder_layer as a Module, received "
                            f"{type(encoder_layer).__name__}")
        self.layers = _clones(encoder_layer, num_layers)
        self.num_layers = num_layers
        self.norm = norm
        self.enable_nested_tensor = enable_nested_tensor
        self.use_nested_tensor = False
        self.mask_check = mask_check

    def forward(self, src: Tensor, mask: Tensor | None = None, src_key_padding_mask: Tensor | None = None,
                is_causal: bool | None = None) -> Tensor:
        output = src
        for layer in self.layers:
            output = layer(output, src_mask=mask, src_key_padding_mask=src_key_padding_mask,
                           is_causal=bool(is_causal))
        if self.norm is not None:
            output = self.norm(output)
        return output


class TransformerDecoder(Module):
    """``num_layers`` deep copies of ``decoder_layer`` (``layers.0``, ...), then ``norm`` if given.

    Shape: as ``TransformerDecoderLayer``; ``forward(tgt, memory, tgt_mask=None, memory_mask=None,
    tgt_key_padding_mask=None, memory_key_padding_mask=None, tgt_is_causal=None, memory_is_causal=False)``.
    """

    def __init__(self, decoder_layer: Module, num_layers: int, norm: Module | None = None):
        super().__init__()
        if not isinstance(decoder_layer, Module):
            raise TypeError(f"TransformerDecoder: expected decoder_layer as a Module, received "
                            f"{type(decoder_layer).__name__}")
        self.layers = _clones(decoder_layer, num_layers)
        self.num_layers = num_layers
        self.norm = norm

    def forward(self, tgt: Tensor, memory: Tensor, tgt_mask: Tensor | None = None,
                memory_mask: Tensor | None = None, tgt_key_padding_mask: Tensor | None = None,
                memory_key_padding_mask: Tensor | None = None, tgt_is_causal: bool | None = None,
                memory_is_causal: bool = False) -> Tensor:
        output = tgt
        for layer in self.layers:
            output = layer(output, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                           tgt_key_padding_mask=tgt_key_padding_mask,
                           memory_key_padding_mask=memory_key_padding_mask, tgt_is_causal=bool(tgt_is_causal),
                           memory_is_causal=memory_is_causal)
        if self.norm is not None:
            output = self.norm(output)
        return output


class Transformer(Module):
    """An encoder-decoder Transformer: ``decoder(tgt, encoder(src))``, as ``torch.nn.Transformer``.

    Args:
        d_model: features of every input and output (default 512).
        nhead: attention heads (default 8).
        num_encoder_layers, num_decoder_layers: depth of each stack (default 6 and 6).
        dim_feedforward, dropout, activation, layer_norm_eps, batch_first, norm_first, bias: as
            ``TransformerEncoderLayer`` (defaults 2048, 0.1, relu, 1e-5, False, False, True).
        custom_encoder, custom_decoder: modules used instead of the built stacks (default None).
        device, dtype: where and in which floating dtype to create the parameters.

    Submodules: ``encoder`` (a ``TransformerEncoder`` with a final ``LayerNorm``) and ``decoder`` (a
    ``TransformerDecoder`` with a final ``LayerNorm``). Every parameter of two or more dimensions is
    re-initialised xavier-uniform, as PyTorch does.

    Shape: src (S, N, E), tgt (T, N, E) ((N, S, E), (N, T, E) with ``batch_first``; (S, E), (T, E)
    unbatched); ``src_mask`` (S, S), ``tgt_mask`` (T, T), ``memory_mask`` (T, S); key padding masks (N, S),
    (N, T), (N, S); output (T, N, E).

    Example::

        model = nn.Transformer(d_model=64, nhead=4, num_encoder_layers=2, num_decoder_layers=2, batch_first=True)
        tgt_mask = nn.Transformer.generate_square_subsequent_mask(tgt.shape[1])
        output = model(src, tgt, tgt_mask=tgt_mask)
    """

    def __init__(self, d_model: int = 512, nhead: int = 8, num_encoder_layers: int = 6,
                 num_decoder_layers: int = 6, dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation: str | Callable[[Tensor], Tensor] = F.relu, custom_encoder: Module | None = None,
                 custom_decoder: Module | None = None, layer_norm_eps: float = 1e-5, batch_first: bool = False,
                 norm_first: bool = False, bias: bool = True, device=None, dtype=None):
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        if custom_encoder is not None:
            self.encoder = custom_encoder
        else:
            encoder_layer = TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout, activation,
                                                    layer_norm_eps, batch_first, norm_first, bias, **factory)
            encoder_norm = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **factory)
            self.encoder = TransformerEncoder(encoder_layer, num_encoder_layers, encoder_norm)
        if custom_decoder is not None:
            self.decoder = custom_decoder
        else:
            decoder_layer = TransformerDecoderLayer(d_model, nhead, dim_feedforward, dropout, activation,
                                                    layer_norm_eps, batch_first, norm_first, bias, **factory)
            decoder_norm = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **factory)
            self.decoder = TransformerDecoder(decoder_layer, num_decoder_layers, decoder_norm)
        self._reset_parameters()
        self.d_model = d_model
        self.nhead = nhead
        self.batch_first = batch_first

    def _reset_parameters(self) -> None:
        """xavier_uniform_ for every parameter of two or more dimensions."""
        for parameter in self.parameters():
            if parameter.ndim > 1:
                init.xavier_uniform_(parameter)

    def forward(self, src: Tensor, tgt: Tensor, src_mask: Tensor | None = None, tgt_mask: Tensor | None = None,
                memory_mask: Tensor | None = None, src_key_padding_mask: Tensor | None = None,
                tgt_key_padding_mask: Tensor | None = None, memory_key_padding_mask: Tensor | None = None,
                src_is_causal: bool | None = None, tgt_is_causal: bool | None = None,
                memory_is_causal: bool = False) -> Tensor:
        for name, x in (("src", src), ("tgt", tgt)):
            _check_features("Transformer", name, x, self.d_model)
        if src.ndim != tgt.ndim:
            raise ValueError(f"Transformer: expected src and tgt both batched (3-d) or both unbatched (2-d), "
                             f"received src {src.shape} and tgt {tgt.shape}")
        batch_axis = 0 if self.batch_first else 1
        if src.ndim == 3 and src.shape[batch_axis] != tgt.shape[batch_axis]:
            raise ValueError(f"Transformer: expected src and tgt with the same batch size (axis {batch_axis}), "
                             f"received src {src.shape} and tgt {tgt.shape}")
        memory = self.encoder(src, mask=src_mask, src_key_padding_mask=src_key_padding_mask, is_causal=src_is_causal)
        return self.decoder(tgt, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                            tgt_key_padding_mask=tgt_key_padding_mask,
                            memory_key_padding_mask=memory_key_padding_mask, tgt_is_causal=tgt_is_causal,
                            memory_is_causal=memory_is_causal)

    @staticmethod
    def generate_square_subsequent_mask(sz: int, device=None, dtype=None) -> Tensor:
        """The causal mask (sz, sz): -inf above the diagonal (a later position), 0 on and below it (float32
        unless ``dtype`` is given)."""
        sz = check_size(sz, "sz", "Transformer.generate_square_subsequent_mask")
        filled = full((sz, sz), float("-inf"), dtype=dtype, device=device).array
        return Tensor(get_array_module(filled).triu(filled, k=1))  # triu writes zeros below, never -inf * 0


__all__ = [
    "TransformerEncoderLayer", "TransformerEncoder", "TransformerDecoderLayer", "TransformerDecoder", "Transformer",
]
