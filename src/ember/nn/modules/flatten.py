"""``Flatten`` and ``Unflatten``: reshape a range of dimensions."""
from __future__ import annotations

import operator

import numpy as np

from ...autograd.tensor import Tensor
from .module import Module


class Flatten(Module):
    """Merge dimensions ``start_dim`` .. ``end_dim`` into one.

    Args:
        start_dim: first dimension to flatten (default 1, keeping the batch dimension).
        end_dim: last dimension to flatten (default -1).

    Shape: input ``(N, *dims)``; output ``(N, prod(dims))`` with the defaults.
    """

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, input: Tensor) -> Tensor:
        return input.flatten(self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Expand dimension ``dim`` into ``unflattened_size`` (one entry may be -1).

    Args:
        dim: the dimension to expand.
        unflattened_size: the new shape of that dimension, e.g. ``(1, 28, 28)``.

    Shape: input ``(*before, S, *after)``; output ``(*before, *unflattened_size, *after)`` where the product of
    ``unflattened_size`` is ``S``.
    """

    def __init__(self, dim: int, unflattened_size):
        super().__init__()
        if not isinstance(unflattened_size, (tuple, list)):
            raise TypeError(
                "Unflatten: unflattened_size must be a tuple or list of ints, received "
                f"{type(unflattened_size).__name__}"
            )
        self.dim = dim
        self.unflattened_size = tuple(operator.index(size) for size in unflattened_size)
        if sum(size == -1 for size in self.unflattened_size) > 1 or any(s < -1 for s in self.unflattened_size):
            raise ValueError(f"Unflatten: at most one size may be -1 and none below it, received {unflattened_size}")

    def forward(self, input: Tensor) -> Tensor:
        if not -input.ndim <= self.dim < input.ndim:
            raise IndexError(f"Unflatten: dim {self.dim} is out of range for input of shape {input.shape}")
        dim = self.dim % input.ndim
        size = input.shape[dim]
        known = int(np.prod([s for s in self.unflattened_size if s != -1], dtype=np.int64))
        fits = size % known == 0 if -1 in self.unflattened_size and known else known == size
        if not fits:
            raise ValueError(
                f"Unflatten: cannot unflatten dim {self.dim} of size {size} (input shape {input.shape}) into "
                f"{self.unflattened_size}"
            )
        return input.reshape(input.shape[:dim] + self.unflattened_size + input.shape[dim + 1:])

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"


__all__ = ["Flatten", "Unflatten"]
