"""The ``tf.data`` dialect: lazily evaluated input pipelines whose elements are NumPy values.

    ds = Pipeline.from_tensor_slices((images, labels))       # ember.data.Dataset.from_tensor_slices
    ds = ds.map(augment, num_parallel_calls=AUTOTUNE).cache().shuffle(5000).repeat()
    ds = ds.batch(100, drop_remainder=True).prefetch(AUTOTUNE)
    for x, y in ds.take(600): ...                             # x: (100, ...) arrays, y: (100,) labels

An element is a NumPy array, a NumPy scalar, ``bytes``/``str``, or a nested tuple/dict of those. Every method
returns a new pipeline and computes nothing until it is iterated; each iteration starts again from the
beginning. ``PipelineMethods`` holds all methods and only needs ``iter(self)``, so any iterable dataset (a
map-style ``Dataset`` included) offers them; ``Pipeline`` is the base of the pipelines built here.
"""
from __future__ import annotations

import builtins
import collections
import itertools
import os
import queue
import threading
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..autograd.tensor import Tensor
from ..backend import dtypes
from ..backend import random as ember_random

AUTOTUNE = -1
INFINITE_CARDINALITY = -1
UNKNOWN_CARDINALITY = -2

_AUTOTUNE_PREFETCH = 2
_MAP_CHUNK = 16  # elements per thread-pool task: amortises the submit cost over cheap map functions
_SHUFFLE_DRAWS = 1024  # random indices drawn per call to the generator
_END = object()


# ------------------------------------------------------------------------------------------- elements
def _python_to_numpy(value):
    """Python numbers and lists as NumPy values, dtypes as ``ember.tensor`` picks them (float32, int64)."""
    array = np.asarray(value)
    if array.dtype.kind == "f":
        array = array.astype(dtypes.get_default_dtype(), copy=False)
    elif array.dtype.kind in "iu":
        array = array.astype(np.int64, copy=False)
    elif array.dtype.kind == "S":
        array = np.array(value, dtype=object)  # fixed-width bytes would drop trailing NUL bytes
    elif array.dtype == object:
        raise TypeError(f"ember.data: could not convert {type(value).__name__} {value!r:.80} to a NumPy array "
                        "(ragged nested lists?)")
    return array[()] if array.ndim == 0 else array


def _rebuild_tuple(template: tuple, items: list) -> tuple:
    return type(template)(*items) if hasattr(template, "_fields") else tuple(items)


def _to_element(value):
    """Normalise a value to an element: Tensors and Python data become NumPy, tuples and dicts keep shape."""
    if isinstance(value, (np.ndarray, np.generic, bytes, str)):
        return value
    if isinstance(value, tuple):
        return _rebuild_tuple(value, [_to_element(item) for item in value])
    if isinstance(value, dict):
        return {key: _to_element(item) for key, item in value.items()}
    if isinstance(value, Tensor):
        return value.cpu().numpy()
    if isinstance(value, (bool, int, float, list)):
        return _python_to_numpy(value)
    return value


def _map_output(value):
    # tf.data reads a returned list as a tuple of components (not one stacked tensor)
    if type(value) is list:
        value = tuple(value)
    return _to_element(value)


def _apply(fn: Callable, element):
    """Call ``fn`` on an element, unpacking a plain tuple into positional arguments as tf.data does."""
    return fn(*element) if type(element) is tuple else fn(element)


def _flatten(structure) -> list:
    """The leaves of a nested tuple/dict structure (dict keys in sorted order, as tf.nest)."""
    if isinstance(structure, tuple):
        return [leaf for item in structure for leaf in _flatten(item)]
    if isinstance(structure, dict):
        return [leaf for key in sorted(structure) for leaf in _flatten(structure[key])]
    return [structure]


def _pack(template, leaves: Iterator):
    """Rebuild ``template``'s structure from the leaves ``_flatten`` gives, in order."""
    if isinstance(template, tuple):
        return _rebuild_tuple(template, [_pack(item, leaves) for item in template])
    if isinstance(template, dict):
        return {key: _pack(template[key], leaves) for key in sorted(template)}
    return next(leaves)


def _is_flat_tuple(structure) -> bool:
    return type(structure) is tuple and not any(isinstance(item, (tuple, dict)) for item in structure)


def _freeze(element) -> None:
    """Make the arrays of a cached element read-only, so that an in-place edit cannot corrupt later passes."""
    if isinstance(element, np.ndarray):
        element.flags.writeable = False
    elif isinstance(element, tuple):
        for item in element:
            _freeze(item)
    elif isinstance(element, dict):
        for item in element.values():
            _freeze(item)


def _stack_leaves(items: list, where: str):
    first = items[0]
    if isinstance(first, (bytes, str)):
        # object arrays keep bytes exactly (fixed-width 'S' arrays would drop trailing NUL bytes)
        batched = np.empty(len(items), dtype=object)
        batched[:] = items
        return batched
    try:
        batched = np.array(items)  # faster than np.stack for many small arrays; equal shapes are checked
    except ValueError:
        shapes = sorted({np.shape(item) for item in items}, key=str)
        raise ValueError(f"batch(): cannot stack the elements of component {where}: they must all have one shape, "
                         f"received shapes {shapes}") from None
    dtype = getattr(first, "dtype", None)
    if dtype is not None and batched.dtype != dtype:
        found = sorted({str(getattr(item, "dtype", type(item).__name__)) for item in items})
        raise ValueError(f"batch(): the elements of component {where} must all have one dtype, received {found}")
    return batched


def _stack_elements(items: list, where: str = "element"):
    """Stack a list of elements with one structure into one element whose leaves have a leading batch axis."""
    first = items[0]
    if isinstance(first, tuple):
        width = len(first)
        if not all(isinstance(item, tuple) and len(item) == width for item in items):
            raise ValueError(f"batch(): the elements of {where} must all be tuples of {width} components; "
                             f"received {sorted({_describe(item) for item in items})}")
        columns = builtins.zip(*items)
        return _rebuild_tuple(first, [_stack_elements(column, f"{where}[{index}]")
                                      for index, column in builtins.enumerate(columns)])
    if isinstance(first, dict):
        keys = first.keys()
        if not all(isinstance(item, dict) and item.keys() == keys for item in items):
            raise ValueError(f"batch(): the elements of {where} must all be dicts with keys {sorted(keys)}; "
                             f"received {sorted({_describe(item) for item in items})}")
        return {key: _stack_elements([item[key] for item in items], f"{where}[{key!r}]") for key in keys}
    if any(isinstance(item, (tuple, dict)) for item in items):
        raise ValueError(f"batch(): the elements of {where} mix structures: "
                         f"{sorted({_describe(item) for item in items})}")
    return _stack_leaves(items, where)


def _describe(value) -> str:
    if isinstance(value, tuple):
        return f"tuple of {len(value)}"
    if isinstance(value, dict):
        return f"dict with keys {sorted(value)}"
    return f"{type(value).__name__} of shape {np.shape(value)}"


def _split_rows(element) -> Iterator:
    """The rows of a batched element: the inverse of ``_stack_elements``."""
    components = [np.asarray(leaf) for leaf in _flatten(element)]
    if any(component.ndim == 0 for component in components):
        raise ValueError(f"unbatch(): every component needs a batch axis; received shapes "
                         f"{[component.shape for component in components]}")
    sizes = {component.shape[0] for component in components}
    if len(sizes) > 1:
        raise ValueError(f"unbatch(): the components of an element must share the first dimension; received shapes "
                         f"{[component.shape for component in components]}")
    if not isinstance(element, (tuple, dict)):
        return iter(components[0])
    if _is_flat_tuple(element):
        return builtins.zip(*components)
    return (_pack(element, iter(row)) for row in builtins.zip(*components))


def _check_int(value, where: str, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{where}: {name} must be an integer >= {minimum}, received {value!r}")
    return int(value)


def _check_count(value, where: str, name: str = "count") -> int:
    """An element count where -1 (or None) means 'all'."""
    if value is None:
        return -1
    return _check_int(value, where, name, -1)


# ------------------------------------------------------------------------------------------- methods
class PipelineMethods:
    """The ``tf.data.Dataset`` methods; a class that can be iterated gets them all by inheriting this mixin.

    The methods rely only on ``iter(self)``: a map-style dataset (``__len__``/``__getitem__``) that iterates its
    items offers ``map``, ``batch``, ``shuffle``… as well. Elements of such datasets are normalised to NumPy
    (Tensors to arrays, Python numbers to float32/int64 scalars).
    """

    # ----------------------------------------------------------------------------------- sources
    @staticmethod
    def from_tensor_slices(tensors) -> Pipeline:
        """A pipeline of the slices of ``tensors`` along their first axis.

        ``tensors``: an array, a Tensor, a (nested) list of numbers, or a tuple/dict of those; every component
        must have the same first dimension N. Yields N elements with the same structure. Lists of Python
        floats become float32, of ints int64; arrays keep their dtype.
        """
        return _TensorSlicesPipeline(tensors)

    @staticmethod
    def from_tensors(tensors) -> Pipeline:
        """A pipeline of one element: ``tensors`` itself (an array, a Tensor, or a tuple/dict of those)."""
        return _TensorsPipeline(tensors)

    @staticmethod
    def from_generator(generator: Callable, output_types=None, output_shapes=None, args=None) -> Pipeline:
        """A pipeline of the values that ``generator(*args)`` yields; it is called again on every pass.

        ``output_types`` (a dtype or a tuple/dict of dtypes matching the elements) casts each component;
        ``output_shapes`` (a shape or a matching structure of shapes; None for an unknown dimension) is checked.
        """
        return _GeneratorPipeline(generator, output_types, output_shapes, args)

    @staticmethod
    def range(*args, output_type=np.int64) -> Pipeline:
        """``range(stop)``, ``range(start, stop)`` or ``range(start, stop, step)`` as NumPy scalars (int64)."""
        return _RangePipeline(args, output_type)

    @staticmethod
    def zip(*args, datasets=None) -> Pipeline:
        """Elements of several datasets side by side; stops at the shortest.

        ``zip((a, b))``, ``zip(a, b)`` or ``zip(datasets=(a, b))`` yields ``(a_i, b_i)``; ``zip({"x": a, "y": b})``
        yields dicts. Tuples and dicts of datasets may nest.
        """
        if args and datasets is not None:
            raise TypeError("zip(): pass the datasets either positionally or as datasets=, not both")
        if datasets is None:
            if not args:
                raise TypeError("zip(): expected datasets (a tuple or dict of datasets), received none")
            datasets = args[0] if len(args) == 1 else args
        return _ZipPipeline(datasets)

    # ---------------------------------------------------------------------------------- queries
    def _elements(self) -> Iterator:
        """The elements as NumPy values (pipelines yield them already; other datasets are normalised)."""
        return builtins.map(_to_element, iter(self))

    def cardinality(self) -> int:
        """The number of elements, ``INFINITE_CARDINALITY`` (-1) or ``UNKNOWN_CARDINALITY`` (-2)."""
        try:
            return len(self)
        except (TypeError, NotImplementedError):
            return UNKNOWN_CARDINALITY

    def as_numpy_iterator(self) -> Iterator:
        """An iterator over the elements as NumPy values."""
        return self._elements()

    # ------------------------------------------------------------------------------ transformations
    def map(self, map_func: Callable, num_parallel_calls: int | None = None,
            deterministic: bool | None = None) -> Pipeline:
        """Apply ``map_func`` to each element (a tuple element is passed as positional arguments).

        With ``num_parallel_calls`` > 1 (or ``AUTOTUNE``: one per CPU core) the calls run in a thread pool; the
        output order is the input order whatever ``deterministic`` says. A returned list becomes a tuple,
        Tensors and Python numbers become NumPy values.
        """
        return _MapPipeline(self, map_func, num_parallel_calls, deterministic)

    def filter(self, predicate: Callable) -> Pipeline:
        """Keep the elements for which ``predicate`` (tuple elements unpacked) returns a scalar True."""
        return _FilterPipeline(self, predicate)

    def cache(self, filename: str = "") -> Pipeline:
        """Remember the elements of the first complete pass; later passes read them from memory.

        A pass that stops early caches nothing. Cached arrays are read-only. A ``filename`` is accepted so
        that tf.data code runs, and warns that it has no effect: the cache is kept in memory either way, so
        nothing is written to the file or read back from it in a later run.
        """
        if not isinstance(filename, (str, os.PathLike)):
            raise TypeError(f"cache(): filename must be a string, received {type(filename).__name__}")
        if os.fspath(filename):
            warnings.warn(f"cache(): filename={os.fspath(filename)!r} has no effect in Ember: the cache is kept in "
                          "memory, nothing is written to that file", UserWarning, stacklevel=2)
        return _CachePipeline(self)

    def shuffle(self, buffer_size: int, seed: int | None = None,
                reshuffle_each_iteration: bool = True) -> Pipeline:
        """Shuffle with a buffer: fill ``buffer_size`` elements, emit a uniformly chosen one, replace it.

        ``buffer_size`` >= the number of elements gives a uniform permutation; 1 keeps the order. The random
        order comes from ``seed`` or, when None, from Ember's generator (``ember.manual_seed``) at the time
        ``shuffle`` is called. With ``reshuffle_each_iteration=False`` every pass has the same order.
        """
        return _ShufflePipeline(self, buffer_size, seed, reshuffle_each_iteration)

    def repeat(self, count: int | None = None) -> Pipeline:
        """Repeat the dataset ``count`` times; None or -1 repeats it forever."""
        return _RepeatPipeline(self, count)

    def batch(self, batch_size: int, drop_remainder: bool = False) -> Pipeline:
        """Stack ``batch_size`` consecutive elements component by component (new first axis; dtypes kept).

        The last batch may be smaller unless ``drop_remainder=True``. ``bytes``/``str`` components become
        1-D object arrays.
        """
        return _BatchPipeline(self, batch_size, drop_remainder)

    def unbatch(self) -> Pipeline:
        """Split each element along its first axis into separate elements (the inverse of ``batch``)."""
        return _UnbatchPipeline(self)

    def prefetch(self, buffer_size: int) -> Pipeline:
        """Compute up to ``buffer_size`` elements ahead in a background thread (``AUTOTUNE``/-1: 2; 0: none).

        An exception raised while producing an element is raised again to the consumer.
        """
        return _PrefetchPipeline(self, buffer_size)

    def take(self, count: int) -> Pipeline:
        """The first ``count`` elements (-1: all)."""
        return _TakePipeline(self, count)

    def skip(self, count: int) -> Pipeline:
        """All but the first ``count`` elements (-1: skip everything)."""
        return _SkipPipeline(self, count)

    def concatenate(self, dataset) -> Pipeline:
        """This dataset's elements followed by those of ``dataset``."""
        return _ConcatenatePipeline(self, dataset)

    def enumerate(self, start: int = 0) -> Pipeline:
        """Pairs ``(index, element)`` with an int64 index counting from ``start``."""
        return _EnumeratePipeline(self, start)


class Pipeline(PipelineMethods):
    """Base of the pipelines built by ``PipelineMethods``: an iterable with a known or unknown cardinality.

    ``len(pipeline)`` is its cardinality when that is known and finite; otherwise ``len`` raises TypeError.
    """

    def _elements(self) -> Iterator:
        return iter(self)

    def cardinality(self) -> int:
        return UNKNOWN_CARDINALITY

    def __len__(self) -> int:
        cardinality = self.cardinality()
        if cardinality == INFINITE_CARDINALITY:
            raise TypeError(f"len(): the dataset {type(self).__name__} is infinite")
        if cardinality == UNKNOWN_CARDINALITY:
            raise TypeError(f"len(): the length of {type(self).__name__} is unknown "
                            "(it follows a filter, a generator or an unbatch); iterate it to count")
        return cardinality

    def __bool__(self) -> bool:
        return True  # as tf.data: an infinite or unknown dataset must not make `if dataset:` call len()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} cardinality={self.cardinality()}>"


# ------------------------------------------------------------------------------------------- sources
def _slice_component(value, where: str) -> np.ndarray:
    if isinstance(value, Tensor):
        array = value.cpu().numpy()
    elif isinstance(value, np.ndarray):
        array = value
    elif isinstance(value, list):
        array = np.asarray(_python_to_numpy(value))
    elif isinstance(value, (bool, int, float, np.generic)):
        array = np.asarray(value)  # refused below: a scalar has no axis to slice
    else:
        raise TypeError(f"from_tensor_slices(): component {where} must be an array, a Tensor or a list, "
                        f"received {type(value).__name__}")
    if array.ndim == 0:
        raise ValueError(f"from_tensor_slices(): component {where} is a scalar (shape ()); slicing needs at least "
                         "one dimension")
    view = array.view()
    view.flags.writeable = False  # elements are views: keep them from writing into the source array
    return view


def _component_paths(structure, where: str = "") -> list:
    if isinstance(structure, tuple):
        return [path for index, item in builtins.enumerate(structure)
                for path in _component_paths(item, f"{where}[{index}]")]
    if isinstance(structure, dict):
        return [path for key in sorted(structure) for path in _component_paths(structure[key], f"{where}[{key!r}]")]
    return [where or "0"]


class _TensorSlicesPipeline(Pipeline):
    def __init__(self, tensors):
        paths = _component_paths(tensors)
        leaves = _flatten(tensors)
        if not leaves:
            raise ValueError("from_tensor_slices(): expected at least one component, received an empty structure")
        self._components = [_slice_component(leaf, path) for leaf, path in builtins.zip(leaves, paths)]
        sizes = {component.shape[0] for component in self._components}
        if len(sizes) > 1:
            shapes = ", ".join(f"{path}: {component.shape}"
                               for path, component in builtins.zip(paths, self._components))
            raise ValueError(f"from_tensor_slices(): all components must have the same size in the first "
                             f"dimension; received shapes {shapes}")
        self._template = tensors if isinstance(tensors, (tuple, dict)) else None
        self._length = sizes.pop()

    def __iter__(self) -> Iterator:
        if self._template is None:
            return iter(self._components[0])
        rows = builtins.zip(*self._components)
        if _is_flat_tuple(self._template):
            return rows
        return (_pack(self._template, iter(row)) for row in rows)

    def cardinality(self) -> int:
        return self._length


class _TensorsPipeline(Pipeline):
    def __init__(self, tensors):
        self._element = _to_element(tensors)

    def __iter__(self) -> Iterator:
        return iter((self._element,))

    def cardinality(self) -> int:
        return 1


def _shape_part(output_shapes, key):
    return None if output_shapes is None else output_shapes[key]


def _conform(value, output_types, output_shapes, where: str):
    """Cast a generated value to ``output_types`` and check it against ``output_shapes`` (same structure)."""
    if isinstance(output_types, dict):
        if not isinstance(value, dict) or set(value) != set(output_types):
            raise ValueError(f"from_generator(): {where} should be a dict with keys {sorted(output_types)}, "
                             f"received {_describe(value)}")
        return {key: _conform(value[key], output_types[key], _shape_part(output_shapes, key), f"{where}[{key!r}]")
                for key in output_types}
    if isinstance(output_types, tuple):
        if not isinstance(value, (tuple, list)) or len(value) != len(output_types):
            raise ValueError(f"from_generator(): {where} should be a tuple of {len(output_types)} components, "
                             f"received {_describe(value)}")
        return tuple(_conform(item, item_type, _shape_part(output_shapes, index), f"{where}[{index}]")
                     for index, (item, item_type) in builtins.enumerate(builtins.zip(value, output_types)))
    array = np.asarray(value, dtype=dtypes.to_numpy_dtype(output_types))
    if output_shapes is not None:
        expected = tuple(output_shapes)
        if len(expected) != array.ndim or any(size not in (None, -1) and size != actual
                                              for size, actual in builtins.zip(expected, array.shape)):
            raise ValueError(f"from_generator(): {where} should have shape {expected} (None: any size), "
                             f"received shape {array.shape}")
    return array[()] if array.ndim == 0 else array


class _GeneratorPipeline(Pipeline):
    def __init__(self, generator, output_types, output_shapes, args):
        if not callable(generator):
            raise TypeError(f"from_generator(): generator must be a callable that returns an iterator, received "
                            f"{type(generator).__name__} (pass the function, not its result)")
        if output_shapes is not None and output_types is None:
            raise ValueError("from_generator(): output_shapes needs output_types")
        self._generator = generator
        self._types = output_types
        self._shapes = output_shapes
        self._args = tuple(args) if args is not None else ()

    def __iter__(self) -> Iterator:
        values = self._generator(*self._args)
        if self._types is None:
            return builtins.map(_to_element, values)
        return (_conform(value, self._types, self._shapes, "element") for value in values)


class _RangePipeline(Pipeline):
    def __init__(self, args, dtype):
        if not 1 <= len(args) <= 3:
            raise TypeError(f"range(): expected 1 to 3 integer arguments (stop | start, stop[, step]), "
                            f"received {len(args)}")
        for value in args:
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise TypeError(f"range(): arguments must be integers, received {value!r}")
        self._range = builtins.range(*(int(value) for value in args))
        self._scalar = dtypes.to_numpy_dtype(dtype).type

    def __iter__(self) -> Iterator:
        return builtins.map(self._scalar, self._range)

    def cardinality(self) -> int:
        return len(self._range)


def _check_dataset(value, where: str):
    if not isinstance(value, PipelineMethods):
        raise TypeError(f"{where}: expected a dataset (ember.data.Dataset or a pipeline), received "
                        f"{type(value).__name__}")
    return value


class _ZipPipeline(Pipeline):
    def __init__(self, structure):
        self._datasets = [_check_dataset(dataset, "zip()") for dataset in _flatten(structure)]
        if not self._datasets:
            raise ValueError(f"zip(): expected at least one dataset, received {structure!r}")
        self._structure = structure

    def __iter__(self) -> Iterator:
        rows = builtins.zip(*(dataset._elements() for dataset in self._datasets))
        if _is_flat_tuple(self._structure):
            return rows
        if not isinstance(self._structure, (tuple, dict)):
            return (row[0] for row in rows)
        return (_pack(self._structure, iter(row)) for row in rows)

    def cardinality(self) -> int:
        result = INFINITE_CARDINALITY
        for dataset in self._datasets:
            count = dataset.cardinality()
            if count == UNKNOWN_CARDINALITY:
                return UNKNOWN_CARDINALITY
            if count != INFINITE_CARDINALITY and (result == INFINITE_CARDINALITY or count < result):
                result = count
        return result


# ------------------------------------------------------------------------------------ transformations
class _MapPipeline(Pipeline):
    def __init__(self, dataset, map_func, num_parallel_calls, deterministic):
        if not callable(map_func):
            raise TypeError(f"map(): map_func must be callable, received {type(map_func).__name__}")
        if num_parallel_calls is not None and num_parallel_calls != AUTOTUNE:
            _check_int(num_parallel_calls, "map()", "num_parallel_calls (or AUTOTUNE)", 1)
        if deterministic is not None and not isinstance(deterministic, bool):
            raise TypeError(f"map(): deterministic must be None or a bool, received {deterministic!r}")
        self._input = dataset
        self._fn = map_func
        if num_parallel_calls == AUTOTUNE:
            num_parallel_calls = os.cpu_count() or 1
        self._workers = int(num_parallel_calls or 1)

    def __iter__(self) -> Iterator:
        if self._workers == 1:
            fn = self._fn
            return (_map_output(_apply(fn, element)) for element in self._input._elements())
        return self._parallel()

    def _parallel(self) -> Iterator:
        fn = self._fn

        def map_chunk(chunk: list) -> list:
            return [_map_output(_apply(fn, element)) for element in chunk]

        source = self._input._elements()
        # as tf.data, the calls share a pool of at most one thread per core: more threads only fight for the GIL
        threads = min(self._workers, os.cpu_count() or 1)
        executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="ember-data-map")
        pending = collections.deque()
        exhausted = False
        try:
            while True:
                while not exhausted and len(pending) < 2 * threads:
                    chunk = list(itertools.islice(source, _MAP_CHUNK))
                    if chunk:
                        pending.append(executor.submit(map_chunk, chunk))
                    exhausted = len(chunk) < _MAP_CHUNK
                if not pending:
                    return
                yield from pending.popleft().result()
        finally:
            executor.shutdown(wait=False, cancel_futures=True)

    def cardinality(self) -> int:
        return self._input.cardinality()


class _FilterPipeline(Pipeline):
    def __init__(self, dataset, predicate):
        if not callable(predicate):
            raise TypeError(f"filter(): predicate must be callable, received {type(predicate).__name__}")
        self._input = dataset
        self._predicate = predicate

    def __iter__(self) -> Iterator:
        predicate = self._predicate
        for element in self._input._elements():
            keep = _apply(predicate, element)
            if keep is True or keep is False:
                if keep:
                    yield element
                continue
            if isinstance(keep, Tensor):
                keep = keep.cpu().numpy()
            if not (isinstance(keep, (np.bool_, np.ndarray)) and np.shape(keep) == () and keep.dtype == np.bool_):
                raise TypeError(f"filter(): the predicate must return a scalar boolean, received "
                                f"{type(keep).__name__} {getattr(keep, 'dtype', '')} of shape {np.shape(keep)}")
            if keep:
                yield element


class _CachePipeline(Pipeline):
    def __init__(self, dataset):
        self._input = dataset
        self._cache: list | None = None

    def __iter__(self) -> Iterator:
        if self._cache is not None:
            return iter(self._cache)
        return self._fill()

    def _fill(self) -> Iterator:
        elements = []
        for element in self._input._elements():
            _freeze(element)
            elements.append(element)
            yield element
        self._cache = elements  # only a complete pass reaches here

    def cardinality(self) -> int:
        return self._input.cardinality()


class _ShufflePipeline(Pipeline):
    def __init__(self, dataset, buffer_size, seed, reshuffle_each_iteration):
        self._input = dataset
        self._buffer_size = _check_int(buffer_size, "shuffle()", "buffer_size", 1)
        if seed is None:
            # drawn now, not per pass: a prefetch thread starting a pass must not race the model for the generator
            seed = int(ember_random.generator().integers(2**63))
        elif isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise TypeError(f"shuffle(): seed must be None or an integer, received {seed!r}")
        self._seed = int(seed) % 2**64
        self._reshuffle = bool(reshuffle_each_iteration)
        self._passes = itertools.count()

    def __iter__(self) -> Iterator:
        pass_index = next(self._passes) if self._reshuffle else 0
        return self._shuffled(np.random.default_rng([self._seed, pass_index]))

    def _shuffled(self, rng: np.random.Generator) -> Iterator:
        source = self._input._elements()
        buffer = list(itertools.islice(source, self._buffer_size))
        refilling = len(buffer) == self._buffer_size
        while refilling:
            for index in rng.integers(0, self._buffer_size, _SHUFFLE_DRAWS).tolist():
                chosen = buffer[index]
                replacement = next(source, _END)
                if replacement is _END:
                    buffer[index] = buffer[-1]
                    buffer.pop()
                    refilling = False
                    yield chosen
                    break
                buffer[index] = replacement
                yield chosen
        # the input has ended: the remaining buffer comes out in a uniformly random order
        for index in rng.permutation(len(buffer)).tolist():
            yield buffer[index]

    def cardinality(self) -> int:
        return self._input.cardinality()


class _RepeatPipeline(Pipeline):
    def __init__(self, dataset, count):
        self._input = dataset
        self._count = _check_count(count, "repeat()")

    def __iter__(self) -> Iterator:
        passes = itertools.count() if self._count < 0 else builtins.range(self._count)
        for _ in passes:
            elements = self._input._elements()
            first = next(elements, _END)
            if first is _END:
                return  # an empty dataset repeated forever is empty, not a hang
            yield first
            yield from elements

    def cardinality(self) -> int:
        count = self._input.cardinality()
        if self._count < 0:
            return 0 if count == 0 else INFINITE_CARDINALITY
        if self._count == 0:
            return 0
        if count in (INFINITE_CARDINALITY, UNKNOWN_CARDINALITY):
            return count
        return count * self._count


class _BatchPipeline(Pipeline):
    def __init__(self, dataset, batch_size, drop_remainder):
        self._input = dataset
        self._batch_size = _check_int(batch_size, "batch()", "batch_size", 1)
        self._drop_remainder = bool(drop_remainder)

    def __iter__(self) -> Iterator:
        source = self._input._elements()
        size = self._batch_size
        while True:
            items = list(itertools.islice(source, size))
            if not items or (self._drop_remainder and len(items) < size):
                return
            yield _stack_elements(items)

    def cardinality(self) -> int:
        count = self._input.cardinality()
        if count < 0:
            return count
        if self._drop_remainder:
            return count // self._batch_size
        return -(-count // self._batch_size)


class _UnbatchPipeline(Pipeline):
    def __init__(self, dataset):
        self._input = dataset

    def __iter__(self) -> Iterator:
        for element in self._input._elements():
            yield from _split_rows(element)


class _ProducerError:
    def __init__(self, error: BaseException):
        self.error = error


def _put(buffer: queue.Queue, item, stop: threading.Event) -> bool:
    """Put ``item`` unless the consumer has gone; polling so that an abandoned producer can end."""
    while not stop.is_set():
        try:
            buffer.put(item, timeout=0.05)
            return True
        except queue.Full:
            continue
    return False


def _produce(source: Iterator, buffer: queue.Queue, stop: threading.Event) -> None:
    try:
        for element in source:
            if not _put(buffer, element, stop):
                return
        _put(buffer, _END, stop)
    except BaseException as error:  # noqa: BLE001 - handed to the consumer, which raises it
        _put(buffer, _ProducerError(error), stop)
    finally:
        close = getattr(source, "close", None)
        if close is not None:
            close()  # lets upstream stages (a nested prefetch, a map's thread pool) stop too


class _PrefetchPipeline(Pipeline):
    def __init__(self, dataset, buffer_size):
        if buffer_size is None or buffer_size == AUTOTUNE:
            buffer_size = _AUTOTUNE_PREFETCH
        self._input = dataset
        self._buffer_size = _check_int(buffer_size, "prefetch()", "buffer_size (or AUTOTUNE)", 0)

    def __iter__(self) -> Iterator:
        if self._buffer_size == 0:
            return self._input._elements()
        return self._prefetched()

    def _prefetched(self) -> Iterator:
        buffer = queue.Queue(maxsize=self._buffer_size)
        stop = threading.Event()
        producer = threading.Thread(target=_produce, args=(self._input._elements(), buffer, stop),
                                    name="ember-data-prefetch", daemon=True)
        producer.start()
        try:
            while True:
                item = buffer.get()
                if item is _END:
                    return
                if type(item) is _ProducerError:
                    raise item.error
                yield item
        finally:
            stop.set()

    def cardinality(self) -> int:
        return self._input.cardinality()


class _TakePipeline(Pipeline):
    def __init__(self, dataset, count):
        self._input = dataset
        self._count = _check_count(count, "take()")

    def __iter__(self) -> Iterator:
        if self._count < 0:
            return self._input._elements()
        return itertools.islice(self._input._elements(), self._count)

    def cardinality(self) -> int:
        count = self._input.cardinality()
        if count == UNKNOWN_CARDINALITY or self._count < 0:
            return count
        if count == INFINITE_CARDINALITY:
            return self._count
        return min(count, self._count)


class _SkipPipeline(Pipeline):
    def __init__(self, dataset, count):
        self._input = dataset
        self._count = _check_count(count, "skip()")

    def __iter__(self) -> Iterator:
        if self._count < 0:
            return iter(())
        return itertools.islice(self._input._elements(), self._count, None)

    def cardinality(self) -> int:
        count = self._input.cardinality()
        if count in (INFINITE_CARDINALITY, UNKNOWN_CARDINALITY):
            return count
        if self._count < 0:
            return 0
        return max(0, count - self._count)


class _ConcatenatePipeline(Pipeline):
    def __init__(self, first, second):
        self._first = first
        self._second = _check_dataset(second, "concatenate()")

    def __iter__(self) -> Iterator:
        return itertools.chain(self._first._elements(), self._second._elements())

    def cardinality(self) -> int:
        counts = (self._first.cardinality(), self._second.cardinality())
        if INFINITE_CARDINALITY in counts:
            return INFINITE_CARDINALITY
        if UNKNOWN_CARDINALITY in counts:
            return UNKNOWN_CARDINALITY
        return counts[0] + counts[1]


class _EnumeratePipeline(Pipeline):
    def __init__(self, dataset, start):
        if isinstance(start, bool) or not isinstance(start, (int, np.integer)):
            raise TypeError(f"enumerate(): start must be an integer, received {start!r}")
        self._input = dataset
        self._start = int(start)

    def __iter__(self) -> Iterator:
        indices = builtins.map(np.int64, itertools.count(self._start))
        return builtins.zip(indices, self._input._elements())

    def cardinality(self) -> int:
        return self._input.cardinality()


__all__ = ["AUTOTUNE", "INFINITE_CARDINALITY", "UNKNOWN_CARDINALITY", "Pipeline", "PipelineMethods"]
