"""Gradient clipping, applied in place to the ``.grad`` of parameters between ``backward()`` and ``step()``."""
from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from ... import config
from ...autograd.tensor import Tensor
from ...backend.device import get_array_module


def _gradients(parameters) -> list[Tensor]:
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p.grad for p in parameters if p.grad is not None]


def clip_grad_norm_(parameters: Tensor | Iterable[Tensor], max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False) -> Tensor:
    """Scale all gradients together so that their joint norm is at most ``max_norm``.

    The joint norm is the ``norm_type``-norm of the vector of all gradient elements (``inf`` for the largest
    absolute value). Gradients are multiplied by ``min(1, max_norm / (total_norm + 1e-6))``.

    Returns the total norm before clipping, as a 0-d tensor in the gradients' dtype.
    """
    gradients = _gradients(parameters)
    max_norm = float(max_norm)
    norm_type = float(norm_type)
    if not gradients:
        from ...functions.creation import tensor

        return tensor(0.0)
    arrays = [g.array for g in gradients]
    xp = get_array_module(arrays[0])
    dtype = arrays[0].dtype
    if norm_type == math.inf:
        total = xp.max(xp.stack([xp.abs(a).max() for a in arrays]))
    elif norm_type == 2.0 and xp is np and dtype.kind == "f" and config.get("fast_paths"):
        total = _two_norm_by_dot(arrays, dtype)
    else:
        power = dtype.type(norm_type)
        total = sum(xp.sum(xp.abs(a) ** power) for a in arrays) ** (dtype.type(1) / power)
    total = xp.asarray(total, dtype=dtype)
    if error_if_nonfinite and not bool(xp.isfinite(total)):
        raise RuntimeError(
            f"clip_grad_norm_: the total norm of order {norm_type} of the gradients is non-finite ({float(total)}), "
            "so it cannot be clipped; pass error_if_nonfinite=False to skip this check"
        )
    coefficient = xp.minimum(dtype.type(max_norm) / (total + dtype.type(1e-6)), dtype.type(1.0))
    if xp is not np or coefficient != 1:  # x * 1 is x: no pass over the gradients when none is clipped
        for array in arrays:
            array *= coefficient
    return Tensor(total)


def _two_norm_by_dot(arrays, dtype):
    """The joint 2-norm of NumPy float arrays (same dtype) as the square root of the sum of each one's BLAS dot
    product with itself (one pass, no temporaries), the sums added in double; within rounding of the
    reference's ``sum(|a| ** 2) ** (1 / 2)``."""
    squares = 0.0
    for array in arrays:
        flat = array.reshape(-1)
        squares += float(np.dot(flat, flat))
    return dtype.type(math.sqrt(squares))


def clip_grad_value_(parameters: Tensor | Iterable[Tensor], clip_value: float) -> None:
    """Clamp every gradient element into ``[-clip_value, clip_value]`` in place."""
    clip_value = float(clip_value)
    for gradient in _gradients(parameters):
        xp = get_array_module(gradient.array)
        xp.clip(gradient.array, -clip_value, clip_value, out=gradient.array)


__all__ = ["clip_grad_norm_", "clip_grad_value_"]
