"""``Embedding``: a lookup table of learned vectors indexed by integers."""
from __future__ import annotations

import operator

from ...autograd.tensor import Tensor
from .. import functional as F
from .. import init
from ..parameter import Parameter
from ._utils import check_size, new_parameter
from .module import Module


class Embedding(Module):
    """A table of ``num_embeddings`` vectors of size ``embedding_dim``; ``forward`` picks rows by index.

    Args:
        num_embeddings: number of rows (the vocabulary size).
        embedding_dim: size of each vector.
        padding_idx: a row (negative counts from the end) initialised to zeros that receives no gradient,
            so it stays a constant "padding" vector.
        max_norm: rows looked up whose ``norm_type``-norm exceeds it are rescaled to it, in place.
        norm_type: the p of the norm for ``max_norm`` (default 2).
        scale_grad_by_freq: divide each row's gradient by its number of occurrences in the mini-batch.
        sparse: accepted for PyTorch code; True warns that it has no effect (gradients are always dense,
            with the same values).
        device, dtype: where and in which floating dtype to create the weight.

    Shape: input ``(*)`` int64 indices; output ``(*, embedding_dim)``.

    Attributes:
        weight: ``(num_embeddings, embedding_dim)`` from N(0, 1), the padding row zeroed.
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 max_norm: float | None = None, norm_type: float = 2.0, scale_grad_by_freq: bool = False,
                 sparse: bool = False, _weight: Tensor | None = None, _freeze: bool = False, device=None, dtype=None):
        super().__init__()
        self.num_embeddings = check_size(num_embeddings, "num_embeddings", "Embedding")
        self.embedding_dim = check_size(embedding_dim, "embedding_dim", "Embedding")
        if padding_idx is not None:
            padding_idx = operator.index(padding_idx)
            if not -self.num_embeddings <= padding_idx < self.num_embeddings:
                raise ValueError(
                    f"Embedding: padding_idx must be within [-{self.num_embeddings}, {self.num_embeddings}), "
                    f"received {padding_idx}"
                )
            padding_idx %= self.num_embeddings
        self.padding_idx = padding_idx
        self.max_norm = max_norm
        self.norm_type = norm_type
        self.scale_grad_by_freq = scale_grad_by_freq
        if sparse:
            F._warn_sparse_has_no_effect("Embedding")
        self.sparse = sparse
        if _weight is None:
            self.weight = new_parameter((self.num_embeddings, self.embedding_dim), device, dtype)
            self.weight.requires_grad_(not _freeze)
            self.reset_parameters()
        else:
            if tuple(_weight.shape) != (self.num_embeddings, self.embedding_dim):
                raise ValueError(
                    f"Embedding: _weight must have shape ({self.num_embeddings}, {self.embedding_dim}), received "
                    f"{tuple(_weight.shape)}"
                )
            self.weight = Parameter(_weight, requires_grad=not _freeze)

    def reset_parameters(self) -> None:
        """N(0, 1) for every row, then zeros in the padding row."""
        init.normal_(self.weight)
        if self.padding_idx is not None:
            self.weight.array[self.padding_idx] = 0

    def forward(self, input: Tensor) -> Tensor:
        return F.embedding(input, self.weight, self.padding_idx, self.max_norm, self.norm_type,
                           self.scale_grad_by_freq)

    @classmethod
    def from_pretrained(cls, embeddings: Tensor, freeze: bool = True, padding_idx: int | None = None,
                        max_norm: float | None = None, norm_type: float = 2.0, scale_grad_by_freq: bool = False,
                        sparse: bool = False) -> Embedding:
        """An Embedding whose weight is ``embeddings`` (2-d, shared, not copied); frozen by default."""
        if embeddings.ndim != 2:
            raise ValueError(f"Embedding.from_pretrained: expected a 2-d tensor, received shape {embeddings.shape}")
        rows, columns = embeddings.shape
        return cls(rows, columns, padding_idx=padding_idx, max_norm=max_norm, norm_type=norm_type,
                   scale_grad_by_freq=scale_grad_by_freq, sparse=sparse, _weight=embeddings, _freeze=freeze)

    def extra_repr(self) -> str:
        text = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            text += f", padding_idx={self.padding_idx}"
        if self.max_norm is not None:
            text += f", max_norm={self.max_norm}"
        if self.norm_type != 2:
            text += f", norm_type={self.norm_type}"
        if self.scale_grad_by_freq:
            text += f", scale_grad_by_freq={self.scale_grad_by_freq}"
        if self.sparse:
            text += ", sparse=True"
        return text


__all__ = ["Embedding"]
