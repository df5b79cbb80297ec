"""``tf.data`` in the TensorFlow dialect: Ember's pipelines, with tensors where TensorFlow has them.

``ember.data``'s pipelines hold NumPy values. Here a map/filter function receives TensorFlow tensors (a
record is a string tensor, so ``tf.io.decode_raw`` reads it) and iterating a dataset yields tensors
(``.numpy()`` gives the values); ``as_numpy_iterator()`` gives NumPy values. Python lists handed to
``from_tensor_slices`` take TensorFlow's dtypes (float32, int32). ``fit`` accepts these datasets.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from .. import data as ember_data
from ..autograd.tensor import Tensor as EmberTensor
from ..data.pipeline import AUTOTUNE, INFINITE_CARDINALITY, UNKNOWN_CARDINALITY, Pipeline
from ._tensor import Tensor, convert_to_tensor
from .variables import Variable

__all__ = ["Dataset", "FixedLengthRecordDataset", "AUTOTUNE", "INFINITE_CARDINALITY", "UNKNOWN_CARDINALITY",
           "experimental"]


def _to_tensors(element):
    """An element's NumPy leaves as tensors (bytes and str as string tensors); structure kept."""
    if isinstance(element, tuple):
        items = [_to_tensors(item) for item in element]
        return type(element)(*items) if hasattr(element, "_fields") else tuple(items)
    if isinstance(element, dict):
        return {key: _to_tensors(value) for key, value in element.items()}
    if isinstance(element, (bytes, str)):
        return Tensor(np.array(element.encode() if isinstance(element, str) else element, dtype=object))
    if isinstance(element, (np.ndarray, np.generic)):
        return Tensor(np.asarray(element))
    return element


def _to_arrays(structure):
    """Sources for ``from_tensor_slices``: Python data with TensorFlow's dtypes, tensors and Variables as
    arrays, structure kept (lists of numbers stay one component, as tf.data reads them)."""
    if isinstance(structure, tuple):
        return tuple(_to_arrays(item) for item in structure)
    if isinstance(structure, dict):
        return {key: _to_arrays(value) for key, value in structure.items()}
    if isinstance(structure, Variable):
        return structure.numpy()
    if isinstance(structure, EmberTensor):
        return np.asarray(structure.array)
    if isinstance(structure, np.ndarray):
        return structure
    return np.asarray(convert_to_tensor(structure).array)


def _tensor_function(function: Callable) -> Callable:
    """``function`` called with tensors in place of the NumPy values of an element."""
    def call(*args):
        return function(*[_to_tensors(arg) for arg in args])

    call.__name__ = getattr(function, "__name__", "map_func")
    return call


class Dataset(Pipeline):
    """A ``tf.data.Dataset``: ``from_tensor_slices``, ``map``, ``batch``, ``shuffle``… over an Ember pipeline.

    Iterating yields tensors (tuples and dicts of them); ``as_numpy_iterator()`` NumPy values.
    """

    def __init__(self, pipeline) -> None:
        self._pipeline = pipeline

    # -------------------------------------------------------------------------------- sources
    @staticmethod
    def from_tensor_slices(tensors, name=None) -> Dataset:
        """Slices of ``tensors`` (a tensor, array, list, or a tuple/dict of them) along the first axis."""
        return Dataset(ember_data.Pipeline.from_tensor_slices(_to_arrays(tensors)))

    @staticmethod
    def from_tensors(tensors, name=None) -> Dataset:
        return Dataset(ember_data.Pipeline.from_tensors(_to_arrays(tensors)))

    @staticmethod
    def from_generator(generator, output_types=None, output_shapes=None, args=None, output_signature=None):
        return Dataset(ember_data.Pipeline.from_generator(generator, output_types, output_shapes, args))

    @staticmethod
    def range(*args, output_type=np.int64, name=None) -> Dataset:
        return Dataset(ember_data.Pipeline.range(*args, output_type=np.dtype(output_type)))

    @staticmethod
    def zip(*args, datasets=None, name=None) -> Dataset:
        return Dataset(ember_data.Pipeline.zip(*args, datasets=datasets))

    # -------------------------------------------------------------------------------- reading
    def __iter__(self) -> Iterator:
        return (_to_tensors(element) for element in self._pipeline._elements())

    def _elements(self) -> Iterator:
        return self._pipeline._elements()

    def as_numpy_iterator(self) -> Iterator:
        return self._pipeline._elements()

    def cardinality(self) -> int:
        return self._pipeline.cardinality()

    def __len__(self) -> int:
        return len(self._pipeline)

    def __repr__(self) -> str:
        return f"<Dataset cardinality={self.cardinality()}>"

    # -------------------------------------------------------------------------------- transformations
    def map(self, map_func: Callable, num_parallel_calls=None, deterministic=None, name=None) -> Dataset:
        """Apply ``map_func`` to each element, given as tensors (a tuple element unpacked)."""
        return Dataset(self._pipeline.map(_tensor_function(map_func), num_parallel_calls, deterministic))

    def filter(self, predicate: Callable, name=None) -> Dataset:
        """Keep the elements for which ``predicate`` (given tensors) returns a scalar true bool tensor."""
        return Dataset(self._pipeline.filter(_tensor_function(predicate)))

    def cache(self, filename: str = "", name=None) -> Dataset:
        return Dataset(self._pipeline.cache(filename))

    def shuffle(self, buffer_size, seed=None, reshuffle_each_iteration=True, name=None) -> Dataset:
        return Dataset(self._pipeline.shuffle(int(buffer_size), seed, reshuffle_each_iteration))

    def repeat(self, count=None, name=None) -> Dataset:
        return Dataset(self._pipeline.repeat(count))

    def batch(self, batch_size, drop_remainder=False, num_parallel_calls=None, deterministic=None,
              name=None) -> Dataset:
        return Dataset(self._pipeline.batch(int(batch_size), drop_remainder))

    def unbatch(self, name=None) -> Dataset:
        return Dataset(self._pipeline.unbatch())

    def prefetch(self, buffer_size, name=None) -> Dataset:
        return Dataset(self._pipeline.prefetch(buffer_size))

    def take(self, count, name=None) -> Dataset:
        return Dataset(self._pipeline.take(int(count)))

    def skip(self, count, name=None) -> Dataset:
        return Dataset(self._pipeline.skip(int(count)))

    def concatenate(self, dataset, name=None) -> Dataset:
        return Dataset(self._pipeline.concatenate(dataset))

    def enumerate(self, start=0, name=None) -> Dataset:
        return Dataset(self._pipeline.enumerate(int(start)))

    def apply(self, transformation_func: Callable) -> Dataset:
        """``transformation_func(self)``, which must return a Dataset (``ds.apply(tf.data.experimental.unbatch())``)."""
        result = transformation_func(self)
        if not isinstance(result, Dataset):
            raise TypeError(f"Dataset.apply: {getattr(transformation_func, '__name__', transformation_func)!r} "
                            f"must return a Dataset, got {type(result).__name__}")
        return result


def FixedLengthRecordDataset(filenames, record_bytes, header_bytes=None, footer_bytes=None, buffer_size=None,  # noqa: N802
                             compression_type=None, num_parallel_reads=None, name=None) -> Dataset:
    """The fixed-size records of binary files as string tensors (``ember.data.FixedLengthRecordDataset``)."""
    return Dataset(ember_data.FixedLengthRecordDataset(filenames, record_bytes, header_bytes, footer_bytes,
                                                       buffer_size, compression_type, num_parallel_reads))


class _Experimental:
    AUTOTUNE = AUTOTUNE
    INFINITE_CARDINALITY = INFINITE_CARDINALITY
    UNKNOWN_CARDINALITY = UNKNOWN_CARDINALITY

    @staticmethod
    def unbatch() -> Callable[[Dataset], Dataset]:
        """``tf.data.experimental.unbatch()``: a transformation for ``Dataset.apply`` (= ``Dataset.unbatch``)."""
        return lambda dataset: dataset.unbatch()


experimental = _Experimental()
