"""Dropout: dropout, dropout1d/2d/3d (whole channels), alpha_dropout.

Inverted dropout: kept units are scaled by ``1 / (1 - p)`` during training, so evaluation is the identity.
Masks are drawn from Ember's generator (``ember.manual_seed`` makes them reproducible) as float32 uniforms
compared with ``p``; the mask, already scaled, is the only thing kept for backward, which multiplies the
gradient by it (a linear map, so it differentiates again).
"""
from __future__ import annotations

import math
import numbers
import warnings

import numpy as np

from ..autograd.function import Primitive
from ..autograd.tensor import Tensor
from ..backend import random as ember_random
from ..backend.device import get_array_module
from .activation import warn_inplace_has_no_effect


class Dropout(Primitive):
    """``x * mask`` for a fixed mask (scaled keep-mask; it may broadcast over x, e.g. one value per channel)."""

    def __init__(self, mask):
        self.mask = mask

    def forward(self, x):
        self.save_for_backward(self.mask)
        y = x * self.mask
        self.mask = None  # kept only through save_for_backward, so that it is freed with the graph
        return y

    def backward(self, grad):
        (mask,) = self.saved_tensors
        return grad * mask


def _uniform(shape, like):
    """Float32 uniforms in [0, 1) on ``like``'s device, from the generator ``ember.manual_seed`` seeds."""
    if get_array_module(like) is np:
        return ember_random.generator().random(shape, dtype=np.float32)
    return ember_random.cuda_generator().random_sample(shape, dtype=np.float32)


def _scaled_keep_mask(shape, p: float, like):
    """``1 / (1 - p)`` where a unit is kept (probability 1 - p), 0 where it is dropped, in like's dtype."""
    xp = get_array_module(like)
    dtype = like.dtype.type
    if p == 1:
        return xp.zeros(shape, dtype=like.dtype)
    # bool * scalar is one pass; where(keep, scale, 0) with scalar branches is over ten times slower
    return xp.multiply(_uniform(shape, like) >= p, dtype(1.0 / (1.0 - p)), dtype=like.dtype)


def _check(name: str, input, p) -> None:
    if not isinstance(input, Tensor):
        raise TypeError(f"{name}: input must be a Tensor, received {type(input).__name__}")
    if input.dtype.kind != "f":
        raise TypeError(f"{name}: expected a floating tensor, received dtype {input.dtype}")
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0 <= float(p) <= 1:
        raise ValueError(f"{name}: dropout probability p must lie in [0, 1], received {p!r}")


def dropout(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero each element with probability ``p`` and scale the rest by ``1 / (1 - p)`` (inverted dropout).

    Shapes: any; output like input. ``training=False`` or ``p=0`` returns ``input`` itself; ``p=1`` gives zeros.
    ``inplace=True`` warns that it has no effect: the result is a new tensor (use the returned value).
    """
    _check("dropout", input, p)
    if inplace:
        warn_inplace_has_no_effect("dropout")
    if not training or p == 0:
        return input
    return Dropout(_scaled_keep_mask(input.shape, float(p), input.array))(input)


def _feature_dropout(name: str, input: Tensor, p: float, training: bool, batched_ndim: int) -> Tensor:
    """Drop whole channels: one mask value per (sample, channel), broadcast over the feature axes."""
    _check(name, input, p)
    if input.ndim not in (batched_ndim - 1, batched_ndim):
        raise ValueError(
            f"{name}: expected a {batched_ndim - 1}-d or {batched_ndim}-d input (channels in the first axis, or "
            f"the second after a batch axis), received shape {input.shape}"
        )
    if not training or p == 0:
        return input
    channel_axes = 2 if input.ndim == batched_ndim else 1
    mask_shape = input.shape[:channel_axes] + (1,) * (input.ndim - channel_axes)
    return Dropout(_scaled_keep_mask(mask_shape, float(p), input.array))(input)


def dropout1d(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero whole channels with probability ``p``: input (N, C, L) or (C, L); kept channels scaled by 1/(1-p)."""
    if inplace:
        warn_inplace_has_no_effect("dropout1d")
    return _feature_dropout("dropout1d", input, p, training, 3)


def dropout2d(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero whole channels with probability ``p``: input (N, C, H, W); kept channels scaled by 1/(1-p).

    A 3-d input is read as (N, C, L) and gets channel-wise 1-d dropout, with a warning, exactly as PyTorch
    does (use ``dropout1d`` for that, or add a batch axis to a (C, H, W) input).
    """
    if inplace:
        warn_inplace_has_no_effect("dropout2d")
    if isinstance(input, Tensor) and input.ndim == 3:
        warnings.warn(
            "dropout2d: received a 3-d input; as in PyTorch it is read as (N, C, L) and whole (n, c) rows are "
            "dropped. Use dropout1d for that, or unsqueeze(0) a (C, H, W) input.",
            stacklevel=2,
        )
        return _feature_dropout("dropout2d", input, p, training, 3)
    return _feature_dropout("dropout2d", input, p, training, 4)


def dropout3d(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero whole channels with probability ``p``: input (N, C, D, H, W) or (C, D, H, W)."""
    if inplace:
        warn_inplace_has_no_effect("dropout3d")
    return _feature_dropout("dropout3d", input, p, training, 5)


_SELU_ALPHA_PRIME = 1.7580993408473766  # -(SELU's scale * alpha): the value a dropped SELU unit is set to


def alpha_dropout(input: Tensor, p: float = 0.5, training: bool = False, inplace: bool = False) -> Tensor:
    """Dropout for SELU networks: keeps zero mean and unit variance of the activations.

    Dropped units take SELU's negative saturation value, then an affine map ``a * x + b`` restores the
    statistics, with ``a = ((1 - p) * (1 + p * alpha'^2))^-1/2``. Note the default ``training=False``
    (PyTorch's). Shapes: any; output like input.
    """
    _check("alpha_dropout", input, p)
    if inplace:
        warn_inplace_has_no_effect("alpha_dropout")
    if not training or p == 0:
        return input
    xp = get_array_module(input.array)
    dtype = input.dtype.type
    if p == 1:
        return Dropout(xp.zeros(input.shape, dtype=input.dtype))(input)
    p = float(p)
    a = 1.0 / math.sqrt((_SELU_ALPHA_PRIME**2 * p + 1.0) * (1.0 - p))
    keep = _uniform(input.shape, input.array) >= p
    scale = xp.where(keep, dtype(a), dtype(0))
    offset = xp.where(keep, dtype(_SELU_ALPHA_PRIME * a * p), dtype(_SELU_ALPHA_PRIME * a * (p - 1.0)))
    return Dropout(scale)(input) + Tensor(offset)


__all__ = ["dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout"]
