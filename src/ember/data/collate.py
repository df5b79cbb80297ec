"""Turning a list of samples into a batch: ``default_collate`` (and ``default_convert`` for unbatched loading)."""
from __future__ import annotations

import collections.abc
import copy
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..autograd.tensor import Tensor
from ..backend.device import get_array_module
from ..functions.creation import tensor as make_tensor
from ..functions.shape import stack


def _stack_tensors(samples: Sequence[Tensor]) -> Tensor:
    first = samples[0]
    for position, sample in enumerate(samples):
        if not isinstance(sample, Tensor):
            raise TypeError(
                f"default_collate: sample 0 is a Tensor but sample {position} is {type(sample).__name__}"
            )
        if sample.shape != first.shape:
            raise RuntimeError(
                f"default_collate: expected samples of equal shape to stack, sample 0 has shape "
                f"{tuple(first.shape)} and sample {position} has shape {tuple(sample.shape)}"
            )
    if any(sample.requires_grad for sample in samples):
        return stack(samples)  # keeps the samples in the graph
    xp = get_array_module(first.array)
    return Tensor(xp.stack([sample.array for sample in samples]))


def _stack_arrays(samples: Sequence[np.ndarray]) -> Tensor:
    first = samples[0]
    if first.dtype.kind in "OSUV":
        raise TypeError(f"default_collate: cannot batch NumPy arrays of dtype {first.dtype}")
    for position, sample in enumerate(samples):
        if not isinstance(sample, np.ndarray) or sample.shape != first.shape:
            received = sample.shape if isinstance(sample, np.ndarray) else type(sample).__name__
            raise RuntimeError(
                f"default_collate: expected NumPy arrays of equal shape to stack, sample 0 has shape "
                f"{first.shape} and sample {position} has {received}"
            )
    return Tensor(np.stack(samples))


# PyTorch's words, so that code matching them keeps working
_UNSUPPORTED = "default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; found {}"


def _check_numbers(batch: Sequence[Any]) -> None:
    """A batch that starts with a number holds numbers only: a string or None among them is an error (NumPy
    would otherwise turn the whole batch into strings or objects)."""
    for sample in batch:
        if not isinstance(sample, (int, float, np.number, np.bool_)):
            raise TypeError(_UNSUPPORTED.format(type(sample)))


def default_collate(batch: Sequence[Any]) -> Any:
    """Merge a list of samples into a batch, as PyTorch's ``default_collate`` does.

    - Tensors are stacked along a new first dimension; NumPy arrays and NumPy scalars become stacked Tensors
      of the same dtype;
    - Python ints become an int64 Tensor, floats a float32 Tensor (the default float dtype), bools a bool
      Tensor;
    - strings and bytes are returned as the list;
    - dicts, named tuples, tuples and lists are collated field by field (a tuple gives a list, as in PyTorch).

    Example: ``default_collate([(x0, 0), (x1, 1)])`` → ``[stack([x0, x1]), tensor([0, 1])]``.
    """
    if not isinstance(batch, collections.abc.Sequence) or len(batch) == 0:
        raise TypeError(f"default_collate: expected a non-empty list of samples, received {batch!r:.80}")
    elem = batch[0]
    if isinstance(elem, Tensor):
        return _stack_tensors(batch)
    if isinstance(elem, np.ndarray):
        return _stack_arrays(batch)
    if isinstance(elem, np.generic) and not isinstance(elem, (np.str_, np.bytes_, np.void)):
        _check_numbers(batch)
        return Tensor(np.array(batch))
    if isinstance(elem, bool):
        _check_numbers(batch)
        return make_tensor(batch)
    if isinstance(elem, int):
        _check_numbers(batch)
        return make_tensor(batch)  # ints give int64; a float among them makes the batch float32
    if isinstance(elem, float):
        _check_numbers(batch)
        return make_tensor(batch, dtype=float)
    if isinstance(elem, (str, bytes)):
        return list(batch)
    if isinstance(elem, collections.abc.Mapping):
        collated = {key: default_collate([sample[key] for sample in batch]) for key in elem}
        try:
            return type(elem)(collated)
        except TypeError:
            return collated
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):
        return type(elem)(*(default_collate(list(samples)) for samples in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        size = len(elem)
        for position, sample in enumerate(batch):
            if len(sample) != size:
                raise RuntimeError(
                    f"default_collate: each sample should have the same number of fields, sample 0 has {size} "
                    f"and sample {position} has {len(sample)}"
                )
        collated = [default_collate(list(samples)) for samples in zip(*batch)]
        if isinstance(elem, tuple):
            return collated
        try:
            return type(elem)(collated)
        except TypeError:
            return collated
    raise TypeError(_UNSUPPORTED.format(type(elem)))


def default_convert(data: Any) -> Any:
    """Turn NumPy arrays (and NumPy scalars) inside ``data`` into Tensors, leaving everything else as it is.

    Used by ``DataLoader(batch_size=None)``, which does not batch.
    """
    if isinstance(data, Tensor):
        return data
    if isinstance(data, np.ndarray):
        return data if data.dtype.kind in "OSUV" else Tensor(data)
    if isinstance(data, np.generic) and not isinstance(data, (np.str_, np.bytes_, np.void)):
        return Tensor(np.asarray(data))
    if isinstance(data, collections.abc.Mapping):
        converted = {key: default_convert(data[key]) for key in data}
        if isinstance(data, collections.abc.MutableMapping):
            clone = copy.copy(data)
            clone.update(converted)
            return clone
        try:
            return type(data)(converted)
        except TypeError:
            return converted
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(default_convert(item) for item in data))
    if isinstance(data, tuple):
        return [default_convert(item) for item in data]
    if isinstance(data, collections.abc.Sequence) and not isinstance(data, (str, bytes)):
        converted = [default_convert(item) for item in data]
        try:
            return type(data)(converted)
        except TypeError:
            return converted
    return data


__all__ = ["default_collate", "default_convert"]
