"""``ember.nn.functional`` (imported as ``F``): the functions layer under PyTorch's ``torch.nn.functional`` names.

Everything here is a function of tensors with no state; the layer modules of ``ember.nn`` call these.
"""
from __future__ import annotations

import warnings

from ..autograd.tensor import Tensor
from ..backend.device import get_array_module
from .. import functions as _functions
from ..functions import (  # re-exported under torch.nn.functional's names
    adaptive_avg_pool1d, adaptive_avg_pool2d, alpha_dropout, avg_pool1d, avg_pool2d, batch_norm,
    binary_cross_entropy, binary_cross_entropy_with_logits, conv1d, conv2d, cross_entropy, dropout, dropout1d,
    dropout2d, dropout3d, elu, gelu, group_norm, hardtanh, huber_loss, instance_norm, kl_div, l1_loss, layer_norm,
    leaky_relu, max_pool1d, max_pool2d, mse_loss, nll_loss, one_hot, pad, relu, relu6, sigmoid, silu, smooth_l1_loss,
    softplus, tanh,
)
from ..functions import conv_transpose1d, conv_transpose2d, interpolate, mish
from ..functions.attention import scaled_dot_product_attention
from ..functions.elementwise import where
from ..functions.indexing import getitem
from ..functions.linalg import affine


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``input @ weight.T + bias``.

    Shape: input ``(*, in_features)``, weight ``(out_features, in_features)``, bias ``(out_features,)``,
    output ``(*, out_features)``.
    """
    if weight.ndim not in (1, 2):
        raise ValueError(f"linear: expected a 1-d or 2-d weight, received shape {weight.shape}")
    if input.ndim == 0 or input.shape[-1] != weight.shape[-1]:
        raise ValueError(
            f"linear: expected input with last dimension {weight.shape[-1]} (weight shape {weight.shape}), "
            f"received shape {input.shape}"
        )
    return affine(input, weight, bias, transposed=True)


def _implicit_softmax_dim(name: str, ndim: int, stacklevel: int) -> int:
    """PyTorch's legacy choice when ``dim`` is omitted: 0 for 0-, 1- and 3-d inputs, else 1."""
    warnings.warn(
        f"Implicit dimension choice for {name} has been deprecated. Change the call to include dim=X as an "
        "argument.",
        stacklevel=stacklevel,
    )
    return 0 if ndim in (0, 1, 3) else 1


def softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype=None) -> Tensor:
    """``exp(x) / sum(exp(x), dim)``; ``dim=None`` follows PyTorch's legacy rule (with a warning, reported
    ``_stacklevel`` frames up, as PyTorch does)."""
    if dim is None:
        dim = _implicit_softmax_dim("softmax", input.ndim, _stacklevel)
    return _functions.softmax(input, dim, dtype=dtype)


def log_softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype=None) -> Tensor:
    """``x - logsumexp(x, dim)``; ``dim=None`` follows PyTorch's legacy rule (with a warning, reported
    ``_stacklevel`` frames up)."""
    if dim is None:
        dim = _implicit_softmax_dim("log_softmax", input.ndim, _stacklevel)
    return _functions.log_softmax(input, dim, dtype=dtype)


def _renormalize_rows(weight: Tensor, indices, max_norm: float, norm_type: float) -> None:
    """Rescale, in place, each referenced row whose ``norm_type``-norm exceeds ``max_norm`` to that norm."""
    xp = get_array_module(weight.array)
    dtype = weight.dtype.type
    used = xp.unique(indices)
    selected = weight.array[used]
    norms = xp.linalg.norm(selected, ord=norm_type, axis=1).astype(weight.dtype, copy=False)
    scale = xp.where(norms > max_norm, dtype(max_norm) / (norms + dtype(1e-7)), dtype(1))
    weight.array[used] = selected * scale[:, None]


def _warn_sparse_has_no_effect(where: str, stacklevel: int = 3) -> None:
    warnings.warn(f"{where}: sparse=True has no effect in Ember: the gradient of the weight is a dense tensor "
                  "(with the same values); optimizers for sparse gradients are not needed", UserWarning,
                  stacklevel=stacklevel)


def embedding(input, weight: Tensor, padding_idx: int | None = None, max_norm: float | None = None,
              norm_type: float = 2.0, scale_grad_by_freq: bool = False, sparse: bool = False) -> Tensor:
    """Rows of ``weight`` picked by integer ``input``; the gradient scatter-adds into those rows.

    Shape: input ``(*)`` integers in ``[0, num_embeddings)``, weight ``(num_embeddings, embedding_dim)``,
    output ``(*, embedding_dim)``.

    Args:
        padding_idx: entries equal to it (negative counts from the end) contribute no gradient to their row, so
            that row receives none, as in PyTorch.
        max_norm: first rescale (in place) the referenced rows whose ``norm_type``-norm exceeds it.
        scale_grad_by_freq: divide each row's gradient by how often the row occurs in ``input``.
        sparse: accepted for PyTorch code; True warns that it has no effect (gradients are always dense,
            with the same values).
    """
    if sparse:
        _warn_sparse_has_no_effect("embedding")
    indices = input.array if isinstance(input, Tensor) else input
    if not hasattr(indices, "dtype") or indices.dtype.kind not in "iu":
        kind = getattr(indices, "dtype", type(indices).__name__)
        raise TypeError(f"embedding: expected integer indices (int64), received {kind}")
    if weight.ndim != 2:
        raise ValueError(f"embedding: expected a 2-d weight (num_embeddings, embedding_dim), received {weight.shape}")
    num_embeddings = weight.shape[0]
    if indices.size and (int(indices.min()) < 0 or int(indices.max()) >= num_embeddings):
        raise IndexError(
            f"embedding: indices must lie in [0, {num_embeddings}), received min {int(indices.min())} "
            f"max {int(indices.max())}"
        )
    if padding_idx is not None and not -num_embeddings <= padding_idx < num_embeddings:
        raise ValueError(f"embedding: padding_idx must be within [-{num_embeddings}, {num_embeddings}) (weight "
                         f"shape {weight.shape}), received {padding_idx}")
    if max_norm is not None and indices.size:
        _renormalize_rows(weight, indices, max_norm, norm_type)
    rows = getitem(weight, indices)
    if scale_grad_by_freq and indices.size:
        xp = get_array_module(indices)
        _, inverse, counts = xp.unique(indices, return_inverse=True, return_counts=True)
        scale = (1 / counts[inverse.reshape(-1)]).astype(weight.dtype).reshape(indices.shape + (1,))
        # the added term is exactly zero in value, so only the gradient is scaled
        rows = rows.detach() + (rows - rows.detach()) * Tensor(scale)
    if padding_idx is None:
        return rows
    if padding_idx < 0:
        padding_idx += num_embeddings
    # padding positions read the same values through a detached copy, so no gradient reaches that row
    is_padding = Tensor((indices == padding_idx)[..., None])
    return where(is_padding, rows.detach(), rows)


__all__ = [
    "linear", "embedding", "softmax", "log_softmax", "conv1d", "conv2d", "max_pool1d", "max_pool2d", "avg_pool1d",
    "avg_pool2d", "adaptive_avg_pool1d", "adaptive_avg_pool2d", "batch_norm", "layer_norm", "group_norm",
    "instance_norm", "dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout", "cross_entropy", "nll_loss",
    "binary_cross_entropy", "binary_cross_entropy_with_logits", "mse_loss", "l1_loss", "huber_loss",
    "smooth_l1_loss", "kl_div", "relu", "relu6", "hardtanh", "leaky_relu", "elu", "gelu", "silu", "sigmoid", "tanh",
    "softplus", "one_hot", "pad", "conv_transpose1d", "conv_transpose2d", "interpolate", "mish",
]
__all__ += ["scaled_dot_product_attention"]
