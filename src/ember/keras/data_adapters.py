"""Turning what ``fit``/``evaluate``/``predict`` receive into batches of Tensors.

Accepted: NumPy arrays or Tensors (``x``, ``y``, ``sample_weight``; lists of them for several inputs),
``ember.data`` pipelines (``Dataset.from_tensor_slices(...).batch(...)``), ``DataLoader``s, and any iterable
yielding ``(x, y)`` or ``(x, y, sample_weight)`` batches. Inputs become the default float dtype (float32), as a
Keras layer casts them; integer labels become int64.
"""
from __future__ import annotations

import math

import numpy as np

from ..autograd.tensor import Tensor
from ..backend import dtypes
from ..backend import random as ember_random


def to_input_tensor(value, device=None):
    """Model inputs as Tensors of the default float dtype (float32), on ``device``: as a Keras layer casts its
    inputs, so ``x_train / 255.0`` (float64) or uint8 images train in float32."""
    if isinstance(value, (list, tuple)):
        return [to_input_tensor(v, device) for v in value]
    if isinstance(value, dict):
        return {k: to_input_tensor(v, device) for k, v in value.items()}
    tensor = value if isinstance(value, Tensor) else Tensor(np.asarray(value))
    if tensor.dtype != dtypes.get_default_dtype():
        tensor = tensor.to(dtypes.get_default_dtype())
    if device is not None and tensor.device != device:
        tensor = tensor.to(device)
    return tensor


def to_target_tensor(value, device=None):
    """Labels: integer labels as int64, float targets unchanged."""
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        return [to_target_tensor(v, device) for v in value]
    tensor = value if isinstance(value, Tensor) else Tensor(np.asarray(value))
    if tensor.dtype.kind in "iub" and tensor.dtype != np.int64:
        tensor = tensor.to("int64")
    if device is not None and tensor.device != device:
        tensor = tensor.to(device)
    return tensor


def _length(value) -> int:
    if isinstance(value, (list, tuple)):
        return _length(value[0])
    return int(value.shape[0])


def _take(value, index):
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        return [_take(v, index) for v in value]
    return value[index]


class ArrayAdapter:
    """Batches from in-memory arrays, reshuffled every epoch when ``shuffle``; ``shuffle="batch"`` shuffles
    the order of whole batch-sized blocks (the last, partial one stays last), as Keras does for HDF5 data."""

    def __init__(self, x, y=None, sample_weight=None, batch_size=32, shuffle=False, steps=None):
        self.x, self.y, self.sample_weight = x, y, sample_weight
        self.size = _length(x)
        for name, value in (("y", y), ("sample_weight", sample_weight)):
            if value is not None and _length(value) != self.size:
                raise ValueError(f"fit: x has {self.size} samples but {name} has {_length(value)}")
        self.batch_size = int(batch_size)
        if self.batch_size <= 0:
            raise ValueError(f"fit: batch_size must be positive, received {batch_size}")
        self.shuffle = shuffle
        self.steps = steps or math.ceil(self.size / self.batch_size)

    def __len__(self) -> int:
        return self.steps

    def epoch(self):
        order = None
        if self.shuffle == "batch":
            blocks = self.size // self.batch_size
            order = np.arange(self.size)
            whole = order[:blocks * self.batch_size].reshape(blocks, self.batch_size)
            order[:blocks * self.batch_size] = whole[ember_random.generator().permutation(blocks)].reshape(-1)
        elif self.shuffle:
            order = ember_random.generator().permutation(self.size)
        for step in range(self.steps):
            start = (step * self.batch_size) % self.size
            stop = min(start + self.batch_size, self.size)
            index = slice(start, stop) if order is None else order[start:stop]
            yield _take(self.x, index), _take(self.y, index), _take(self.sample_weight, index)


class IterableAdapter:
    """Batches from a dataset or iterable; with ``steps``, one iterator carries on across epochs."""

    def __init__(self, data, steps=None):
        self.data = data
        self.steps = steps
        self._iterator = None
        if steps is None:
            try:
                self.steps = len(data)
            except TypeError:
                self.steps = None  # unknown: run to exhaustion

    def __len__(self) -> int:
        return self.steps or 0

    def epoch(self):
        if self.steps is None:
            for batch in self.data:
                yield _split(batch)
            return
        produced = 0
        created_this_epoch = False
        while produced < self.steps:
            if self._iterator is None:
                self._iterator = iter(self.data)
                created_this_epoch = True
                produced_by_this_iterator = 0
            try:
                batch = next(self._iterator)
            except StopIteration:
                self._iterator = None
                if not created_this_epoch:
                    continue  # the pass carried over from the last epoch ended: start a new one
                if produced_by_this_iterator == 0:
                    raise ValueError("fit: the dataset produced no batches") from None
                return  # a finite dataset shorter than steps: the epoch ends with it
            produced += 1
            if created_this_epoch:
                produced_by_this_iterator += 1
            yield _split(batch)


def _split(batch):
    """``(x, y)``, ``(x, y, sample_weight)``, a dict with ``x``/``y`` keys, or just ``x``."""
    if isinstance(batch, dict) and "x" in batch:
        return batch["x"], batch.get("y"), batch.get("sample_weight")
    if isinstance(batch, (tuple, list)):
        if len(batch) == 2:
            return batch[0], batch[1], None
        if len(batch) == 3:
            return batch[0], batch[1], batch[2]
        if len(batch) == 1:
            return batch[0], None, None
    return batch, None, None


def is_array_like(value) -> bool:
    if isinstance(value, (list, tuple)):
        return bool(value) and all(is_array_like(v) for v in value)
    return isinstance(value, (np.ndarray, Tensor))


def make_adapter(x, y=None, sample_weight=None, batch_size=None, shuffle=False, steps=None, for_name="fit"):
    if is_array_like(x):
        return ArrayAdapter(x, y, sample_weight, batch_size or 32, shuffle, steps)
    if y is not None:
        raise ValueError(f"{for_name}: y must not be given when x is a dataset (it yields the labels)")
    if isinstance(x, (list, tuple)):
        raise TypeError(f"{for_name}: x must be arrays, Tensors or a dataset, received a {type(x).__name__} of "
                        "mixed values")
    return IterableAdapter(x, steps)


def split_validation(x, y, sample_weight, fraction: float):
    """Keras's validation_split: the last ``fraction`` of the samples, taken before any shuffling."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fit: validation_split must be in (0, 1), received {fraction}")
    if not is_array_like(x):
        raise ValueError("fit: validation_split needs array inputs, not a dataset; pass validation_data instead")
    size = _length(x)
    cut = int(size * (1.0 - fraction))
    train = (_take(x, slice(0, cut)), _take(y, slice(0, cut)), _take(sample_weight, slice(0, cut)))
    validation = (_take(x, slice(cut, size)), _take(y, slice(cut, size)), _take(sample_weight, slice(cut, size)))
    return train, validation


def concatenate_outputs(outputs):
    if not outputs:
        return np.zeros((0,), dtype=np.float32)
    if isinstance(outputs[0], list):
        return [concatenate_outputs([o[i] for o in outputs]) for i in range(len(outputs[0]))]
    return np.concatenate(outputs, axis=0)


__all__ = ["make_adapter", "split_validation", "to_input_tensor", "to_target_tensor", "concatenate_outputs"]
