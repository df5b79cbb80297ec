"""Samplers (PyTorch's names): which dataset indices an epoch visits, and how they are grouped into batches.

The built-in samplers draw a whole epoch's indices as one int64 array, so ``BatchSampler`` (and the
``DataLoader``) can cut batches by slicing instead of collecting indices one at a time. Iterating a sampler
still yields Python ints and a ``BatchSampler`` lists of ints, as in PyTorch.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from ..autograd.tensor import Tensor
from . import _worker


class Sampler:
    """Base of samplers: ``__iter__`` yields the indices (keys) of one epoch, ``__len__`` how many."""

    def __init__(self, data_source=None):
        pass

    def __iter__(self) -> Iterator:
        raise NotImplementedError(f"{type(self).__name__}: subclasses of Sampler must implement __iter__")


def _seeded(generator, owner: str):
    """Keep None (Ember's generator, looked up each epoch) or a Generator; turn an int seed into a Generator."""
    if generator is None:
        return None
    return _worker.as_generator(generator, owner)


def _check_positive_int(value, name: str, owner: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{owner}: {name} should be a positive integer, received {value!r}")


class _ArraySampler(Sampler):
    """A built-in sampler that draws each epoch's indices as one int64 array (``_epoch_indices``)."""

    def __iter__(self) -> Iterator[int]:
        yield from self._epoch_indices().tolist()


def epoch_index_array(sampler) -> np.ndarray | None:
    """One epoch of ``sampler`` as an int64 array when it is a built-in sampler (not overriding ``__iter__``)."""
    if isinstance(sampler, _ArraySampler) and type(sampler).__iter__ is _ArraySampler.__iter__:
        return sampler._epoch_indices()
    return None


class SequentialSampler(_ArraySampler):
    """Indices ``0, 1, …, len(data_source) - 1`` in order."""

    def __init__(self, data_source):
        self.data_source = data_source

    def _epoch_indices(self) -> np.ndarray:
        return np.arange(len(self.data_source), dtype=np.int64)

    def __len__(self) -> int:
        return len(self.data_source)


class RandomSampler(_ArraySampler):
    """A fresh random order of the indices each epoch.

    Args:
        data_source: the dataset (only its length is used).
        replacement: draw with replacement (default False: a permutation).
        num_samples: how many indices per epoch (default ``len(data_source)``); without replacement, more
            than the dataset's length concatenates permutations.
        generator: ``numpy.random.Generator`` or int seed; default: Ember's generator at each epoch.
    """

    def __init__(self, data_source, replacement: bool = False, num_samples: int | None = None, generator=None):
        if not isinstance(replacement, bool):
            raise TypeError(f"RandomSampler: replacement should be a bool, received {replacement!r}")
        if num_samples is not None:
            _check_positive_int(num_samples, "num_samples", "RandomSampler")
        self.data_source = data_source
        self.replacement = replacement
        self._num_samples = num_samples
        self.generator = _seeded(generator, "RandomSampler")

    @property
    def num_samples(self) -> int:
        return len(self.data_source) if self._num_samples is None else int(self._num_samples)

    def _epoch_indices(self) -> np.ndarray:
        generator = _worker.as_generator(self.generator, "RandomSampler")
        length = len(self.data_source)
        count = self.num_samples
        if length == 0:
            return np.zeros(0, dtype=np.int64)
        if self.replacement:
            return generator.integers(0, length, size=count, dtype=np.int64)
        pieces = [generator.permutation(length) for _ in range(count // length)]
        if count % length:
            pieces.append(generator.permutation(length)[: count % length])
        return np.concatenate(pieces).astype(np.int64, copy=False)

    def __len__(self) -> int:
        return self.num_samples


class SubsetRandomSampler(_ArraySampler):
    """The given indices in a fresh random order each epoch."""

    def __init__(self, indices: Sequence[int], generator=None):
        self.indices = indices
        self.generator = _seeded(generator, "SubsetRandomSampler")

    def _epoch_indices(self) -> np.ndarray:
        generator = _worker.as_generator(self.generator, "SubsetRandomSampler")
        indices = np.asarray(self.indices, dtype=np.int64)
        return indices[generator.permutation(len(indices))]

    def __len__(self) -> int:
        return len(self.indices)


class WeightedRandomSampler(_ArraySampler):
    """``num_samples`` indices in ``[0, len(weights))`` drawn with probability proportional to ``weights``."""

    def __init__(self, weights: Sequence[float], num_samples: int, replacement: bool = True, generator=None):
        _check_positive_int(num_samples, "num_samples", "WeightedRandomSampler")
        if not isinstance(replacement, bool):
            raise TypeError(f"WeightedRandomSampler: replacement should be a bool, received {replacement!r}")
        weights_array = np.asarray(weights.tolist() if isinstance(weights, Tensor) else weights, dtype=np.float64)
        if weights_array.ndim != 1 or weights_array.size == 0:
            raise ValueError(f"WeightedRandomSampler: expected a non-empty 1-d sequence of weights, "
                             f"received shape {weights_array.shape}")
        if not np.all(np.isfinite(weights_array)) or np.any(weights_array < 0) or weights_array.sum() <= 0:
            raise ValueError("WeightedRandomSampler: weights must be finite, non-negative and not all zero")
        if not replacement and num_samples > np.count_nonzero(weights_array):
            raise ValueError(
                f"WeightedRandomSampler: cannot draw {num_samples} samples without replacement from "
                f"{np.count_nonzero(weights_array)} non-zero weights"
            )
        # float64 here is a per-dataset probability table, not per-sample data: Generator.choice needs it
        self.weights = weights_array
        self.num_samples = int(num_samples)
        self.replacement = replacement
        self.generator = _seeded(generator, "WeightedRandomSampler")

    def _epoch_indices(self) -> np.ndarray:
        generator = _worker.as_generator(self.generator, "WeightedRandomSampler")
        probabilities = self.weights / self.weights.sum()
        return generator.choice(len(self.weights), size=self.num_samples, replace=self.replacement,
                                p=probabilities).astype(np.int64, copy=False)

    def __len__(self) -> int:
        return self.num_samples


class BatchSampler(Sampler):
    """Group the indices of ``sampler`` into lists of ``batch_size`` (the last one shorter unless ``drop_last``)."""

    def __init__(self, sampler, batch_size: int, drop_last: bool):
        _check_positive_int(batch_size, "batch_size", "BatchSampler")
        if not isinstance(drop_last, bool):
            raise ValueError(f"BatchSampler: drop_last should be a bool, received {drop_last!r}")
        self.sampler = sampler
        self.batch_size = int(batch_size)
        self.drop_last = drop_last

    def index_batches(self) -> Iterator:
        """The batches of one epoch: int64 arrays for built-in samplers, else lists of the sampler's keys."""
        indices = epoch_index_array(self.sampler)
        if indices is not None:
            stop = len(indices) - len(indices) % self.batch_size if self.drop_last else len(indices)
            for start in range(0, stop, self.batch_size):
                yield indices[start:start + self.batch_size]
            return
        batch = []
        for index in self.sampler:
            batch.append(index)
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __iter__(self) -> Iterator[list]:
        for batch in self.index_batches():
            yield batch.tolist() if isinstance(batch, np.ndarray) else batch

    def __len__(self) -> int:
        if self.drop_last:
            return len(self.sampler) // self.batch_size
        return (len(self.sampler) + self.batch_size - 1) // self.batch_size


__all__ = [
    "Sampler", "SequentialSampler", "RandomSampler", "SubsetRandomSampler", "WeightedRandomSampler",
    "BatchSampler",
]
