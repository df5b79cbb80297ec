"""Datasets in PyTorch's names: map-style ``Dataset`` and its helpers, and the iterable ``IterableDataset``.

A map-style dataset answers ``dataset[i]`` and ``len(dataset)``. It may also offer a batch fast path that the
``DataLoader`` uses instead of one ``__getitem__`` per sample:

- ``get_batch(indices)``: receives a 1-d int64 array of indices and returns an already collated batch (for
  example a tuple of Tensors), with no Python loop over samples;
- ``__getitems__(indices)`` (PyTorch's hook): receives a list of indices and returns a list of samples,
  which the loader then collates.
"""
from __future__ import annotations

import bisect
import math
import warnings
from collections.abc import Iterable, Iterator, Sequence

import numpy as np

from ..autograd.tensor import Tensor
from ..backend.device import cupy_if_loaded, get_array_module
from . import _worker
from .pipeline import PipelineMethods


class Dataset(PipelineMethods):
    """A map-style dataset: subclasses define ``__getitem__(index)`` and ``__len__()``.

    ``dataset_a + dataset_b`` concatenates two datasets (a ``ConcatDataset``). The ``tf.data`` methods
    (``Dataset.from_tensor_slices(...)``, ``.map``, ``.shuffle``, ``.batch``, …) come from ``PipelineMethods``:
    one ``Dataset`` class serves both dialects.
    """

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__}: subclasses of Dataset must implement __getitem__")

    def __iter__(self) -> Iterator:
        """The items ``self[0], self[1], …`` (all ``len(self)`` of them, or until ``IndexError``)."""
        try:
            length = len(self)
        except TypeError:
            return _items_until_index_error(self)
        return (self[index] for index in range(length))

    def __add__(self, other: Dataset) -> ConcatDataset:
        return ConcatDataset([self, other])


def _items_until_index_error(dataset) -> Iterator:
    index = 0
    while True:
        try:
            item = dataset[index]
        except IndexError:
            return
        yield item
        index += 1


class IterableDataset(Dataset):
    """A dataset that is a stream of samples: subclasses define ``__iter__``.

    ``stream_a + stream_b`` chains two streams (a ``ChainDataset``).
    """

    def __iter__(self) -> Iterator:
        raise NotImplementedError(f"{type(self).__name__}: subclasses of IterableDataset must implement __iter__")

    def __add__(self, other: Dataset) -> ChainDataset:
        return ChainDataset([self, other])


def _take_rows(tensor: Tensor, index) -> Tensor:
    """``tensor[index]`` along the first axis; recorded in the graph only when the tensor requires grad."""
    if tensor.requires_grad:
        return tensor[index]
    xp = get_array_module(tensor.array)
    if isinstance(index, np.ndarray) and xp is not np:
        index = xp.asarray(index)
    return Tensor(tensor.array[index])


def _contiguous_slice(indices: np.ndarray) -> slice | None:
    """The slice equal to ``indices`` when they are consecutive and non-negative (a view, no copy), else None."""
    if indices.size == 0 or indices[0] < 0 or int(indices[-1]) - int(indices[0]) != indices.size - 1:
        return None
    if indices.size > 1 and not np.all(np.diff(indices) == 1):
        return None
    return slice(int(indices[0]), int(indices[-1]) + 1)


def _as_index_array(indices, owner: str) -> np.ndarray:
    """A 1-d int64 array from a sequence, array or Tensor of indices."""
    if isinstance(indices, Tensor):
        indices = indices.array
    cupy = cupy_if_loaded()
    if cupy is not None and isinstance(indices, cupy.ndarray):
        indices = indices.get()
    array = np.asarray(indices)
    if array.size == 0:
        return np.zeros(0, dtype=np.int64)
    if array.ndim != 1 or array.dtype.kind not in "iu":
        raise TypeError(
            f"{owner}: expected a 1-d sequence of integer indices, received shape {array.shape} "
            f"of dtype {array.dtype}"
        )
    return array.astype(np.int64, copy=False)


class TensorDataset(Dataset):
    """Samples are slices along the first dimension of the given tensors: ``dataset[i] = (t[i] for t in tensors)``.

    Args:
        *tensors: Tensors or NumPy arrays sharing the size of dimension 0 (arrays are wrapped without a copy
            and keep their dtype).

    ``get_batch(indices)`` returns the whole batch as a tuple of Tensors with one indexing per tensor (a view
    when the indices are consecutive), which is what ``DataLoader`` uses.
    """

    def __init__(self, *tensors):
        if not tensors:
            raise ValueError("TensorDataset: expected at least one tensor, received none")
        wrapped = []
        for position, tensor in enumerate(tensors):
            if isinstance(tensor, np.ndarray):
                tensor = Tensor(tensor)
            elif not isinstance(tensor, Tensor):
                raise TypeError(
                    f"TensorDataset: expected Tensors or NumPy arrays, argument {position} is "
                    f"{type(tensor).__name__}"
                )
            if tensor.ndim == 0:
                raise ValueError(f"TensorDataset: argument {position} is 0-d; every tensor needs a first dimension")
            wrapped.append(tensor)
        sizes = [tensor.shape[0] for tensor in wrapped]
        if len(set(sizes)) != 1:
            shapes = ", ".join(str(tensor.shape) for tensor in wrapped)
            raise ValueError(
                f"TensorDataset: all tensors must have the same size in dimension 0, received sizes {sizes} "
                f"(shapes {shapes})"
            )
        self.tensors = tuple(wrapped)

    def __getitem__(self, index):
        return tuple(_take_rows(tensor, index) for tensor in self.tensors)

    def __len__(self) -> int:
        return self.tensors[0].shape[0]

    def get_batch(self, indices) -> tuple:
        """The samples at ``indices`` (1-d integer array), collated: a tuple of Tensors of length ``len(indices)``."""
        indices = _as_index_array(indices, "TensorDataset.get_batch")
        length = len(self)
        if indices.size and (indices.min() < -length or indices.max() >= length):
            bad = indices[(indices < -length) | (indices >= length)][0]
            raise IndexError(f"TensorDataset.get_batch: index {bad} is out of range for a dataset of {length} samples")
        index = _contiguous_slice(indices)
        return tuple(_take_rows(tensor, indices if index is None else index) for tensor in self.tensors)

    def __repr__(self) -> str:
        shapes = ", ".join(str(tuple(tensor.shape)) for tensor in self.tensors)
        return f"TensorDataset({shapes})"


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``, in that order.

    When ``dataset`` has ``get_batch``, the subset has one too (mapping the indices), so the loader's fast
    path carries through ``random_split``.
    """

    def __init__(self, dataset: Dataset, indices: Sequence[int]):
        self.dataset = dataset
        self.indices = indices
        if callable(getattr(dataset, "get_batch", None)):
            self.get_batch = self._get_batch_from_dataset

    @property
    def indices(self):
        return self._indices

    @indices.setter
    def indices(self, indices) -> None:
        self._index_array = _as_index_array(indices, "Subset")
        self._indices = indices

    def __getitem__(self, index):
        if isinstance(index, list):
            return self.dataset[[self._indices[i] for i in index]]
        return self.dataset[self._indices[index]]

    def __getitems__(self, indices: list) -> list:
        mapped = [self._indices[i] for i in indices]
        getitems = getattr(self.dataset, "__getitems__", None)
        if callable(getitems):
            return getitems(mapped)
        return [self.dataset[i] for i in mapped]

    def _get_batch_from_dataset(self, indices):
        """``dataset.get_batch`` of the mapped indices."""
        positions = _as_index_array(indices, "Subset.get_batch")
        return self.dataset.get_batch(self._index_array[positions])

    def __len__(self) -> int:
        return len(self._indices)


class ConcatDataset(Dataset):
    """The samples of several map-style datasets one after another."""

    def __init__(self, datasets: Iterable[Dataset]):
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset: expected a non-empty iterable of datasets")
        for position, dataset in enumerate(self.datasets):
            if isinstance(dataset, IterableDataset):
                raise TypeError(
                    f"ConcatDataset: dataset {position} is an IterableDataset ({type(dataset).__name__}); "
                    "use ChainDataset to chain streams"
                )
        self.cumulative_sizes = []
        total = 0
        for dataset in self.datasets:
            total += len(dataset)
            self.cumulative_sizes.append(total)

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def __getitem__(self, index: int):
        length = len(self)
        if index < 0:
            if -index > length:
                raise IndexError(f"ConcatDataset: index {index} is out of range for a dataset of {length} samples")
            index += length
        if index >= length:
            raise IndexError(f"ConcatDataset: index {index} is out of range for a dataset of {length} samples")
        dataset_index = bisect.bisect_right(self.cumulative_sizes, index)
        start = 0 if dataset_index == 0 else self.cumulative_sizes[dataset_index - 1]
        return self.datasets[dataset_index][index - start]


class ChainDataset(IterableDataset):
    """Several iterable datasets one after another."""

    def __init__(self, datasets: Iterable[Dataset]):
        self.datasets = list(datasets)

    def __iter__(self) -> Iterator:
        for dataset in self.datasets:
            yield from dataset

    def __len__(self) -> int:
        return sum(len(dataset) for dataset in self.datasets)


def random_split(dataset: Dataset, lengths: Sequence[int | float], generator=None) -> list[Subset]:
    """Split ``dataset`` at random into non-overlapping ``Subset``s of the given lengths.

    Args:
        dataset: a map-style dataset.
        lengths: counts summing to ``len(dataset)``, or fractions summing to 1 (each split gets
            ``floor(fraction * len)`` samples, and the remainder is dealt one by one from the first split).
        generator: a ``numpy.random.Generator`` or an int seed; default: Ember's generator (``manual_seed``).
    """
    total = len(dataset)
    lengths = list(lengths)
    if math.isclose(sum(lengths), 1) and sum(lengths) <= 1:
        counts = []
        for position, fraction in enumerate(lengths):
            if not 0 <= fraction <= 1:
                raise ValueError(f"random_split: fraction at index {position} is {fraction}, expected in [0, 1]")
            counts.append(math.floor(total * fraction))
        for position in range(total - sum(counts)):
            counts[position % len(counts)] += 1
        for position, count in enumerate(counts):
            if count == 0:
                warnings.warn(f"random_split: split {position} has length 0 and gives an empty dataset", stacklevel=2)
        lengths = counts
    for length in lengths:
        if isinstance(length, bool) or not isinstance(length, (int, np.integer)) or length < 0:
            raise ValueError(
                f"random_split: expected non-negative integer lengths or fractions summing to 1, "
                f"received {lengths}"
            )
    if sum(lengths) != total:
        raise ValueError(
            f"random_split: the lengths {lengths} sum to {sum(lengths)}, but the dataset has {total} samples"
        )
    permutation = _worker.as_generator(generator, "random_split").permutation(total)
    subsets = []
    offset = 0
    for length in lengths:
        subsets.append(Subset(dataset, permutation[offset:offset + length].tolist()))
        offset += length
    return subsets


__all__ = [
    "Dataset", "IterableDataset", "TensorDataset", "Subset", "ConcatDataset", "ChainDataset", "random_split",
]
