"""``DataLoader``: batches from a dataset, shuffled or in order, optionally prepared ahead by worker threads."""
from __future__ import annotations

import collections
import itertools
import queue
import threading
import warnings
import weakref
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeoutError
from typing import Any

import numpy as np

from . import _worker
from .collate import default_collate, default_convert
from .dataset import Dataset, IterableDataset
from .sampler import BatchSampler, RandomSampler, SequentialSampler, epoch_index_array

_END = object()


def _is_iterable_style(dataset) -> bool:
    """A stream: an ``IterableDataset``, or anything iterable that defines no ``__getitem__`` of its own."""
    if isinstance(dataset, IterableDataset):
        return True
    kind = type(dataset)
    if isinstance(dataset, Dataset) and kind.__iter__ is Dataset.__iter__:
        return False  # map-style: Dataset's own __iter__ only walks the indices
    getitem = getattr(kind, "__getitem__", None)
    return hasattr(kind, "__iter__") and (getitem is None or getitem is Dataset.__getitem__)


def _start_worker(worker_ids: Iterator[int], base_seed: int, num_workers: int, dataset,
                  worker_init_fn: Callable[[int], Any] | None) -> None:
    """Run once in each worker thread: record its ``WorkerInfo``, then call ``worker_init_fn(worker_id)``.

    A plain function, not a method: the threads keep their initializer, and must not keep the loader alive.
    """
    worker_id = next(worker_ids)
    _worker.set_worker_info(_worker.WorkerInfo(worker_id, num_workers, base_seed + worker_id, dataset))
    if worker_init_fn is not None:
        worker_init_fn(worker_id)


def _worker_error(error: BaseException, batch_index: int) -> BaseException:
    """The exception to raise in the main thread: same type when possible, message naming the batch."""
    message = f"DataLoader worker thread failed while loading batch {batch_index}: {type(error).__name__}: {error}"
    try:
        return type(error)(message)
    except Exception:  # exception types whose constructor needs other arguments
        return RuntimeError(message)


class DataLoader:
    """Iterate over a dataset in batches, as PyTorch's ``torch.utils.data.DataLoader``.

    Args:
        dataset: a map-style dataset (``__getitem__``/``__len__``) or an iterable one (``IterableDataset``).
        batch_size: samples per batch (default 1); None yields samples one by one, unbatched.
        shuffle: visit the samples in a fresh random order each epoch (default False).
        sampler: the order of indices (an iterable of keys); exclusive with ``shuffle``.
        batch_sampler: yields lists of indices; exclusive with batch_size, shuffle, sampler, drop_last.
        num_workers: 0 loads in the calling thread; N > 0 prepares batches ahead in N threads, in order.
        collate_fn: merges a list of samples into a batch (default ``default_collate``).
        pin_memory: accepted for PyTorch code; True (or a ``pin_memory_device``) warns that it has no effect,
            as PyTorch itself does without an accelerator: Ember pins no host memory.
        drop_last: drop the last batch when it is smaller than ``batch_size``.
        timeout: seconds to wait for a worker's batch before raising (0: wait forever).
        worker_init_fn: called with the worker id in each worker thread when it starts.
        generator: ``numpy.random.Generator`` (or int seed) for the shuffle order and the per-batch random
            state; default: Ember's generator, so ``ember.manual_seed`` makes epochs reproducible.
        prefetch_factor: batches prepared ahead per worker (default 2 when ``num_workers > 0``).
        persistent_workers: keep the worker threads between epochs.
        seed: a seed for a generator of this loader's own (exclusive with ``generator``).

    Batches are made by the fastest route the dataset offers: with the default collate function, a dataset
    with ``get_batch(indices)`` is asked once per batch with the int64 index array (no loop over samples);
    a dataset with ``__getitems__(indices)`` returns the list of samples, which is collated; otherwise each
    sample is read with ``dataset[i]`` and collated. While a batch is made, the random transforms of
    ``ember.data.transforms`` draw from a generator seeded by the epoch's seed and the batch index, so the
    batches are the same for any ``num_workers``. Worker threads share memory with the main thread; a
    ``multiprocessing_context`` warns that it has no effect.
    """

    def __init__(self, dataset, batch_size: int | None = 1, shuffle: bool | None = False, sampler=None,
                 batch_sampler=None, num_workers: int = 0, collate_fn: Callable | None = None,
                 pin_memory: bool = False, drop_last: bool = False, timeout: float = 0,
                 worker_init_fn: Callable[[int], Any] | None = None, generator=None,
                 prefetch_factor: int | None = None, persistent_workers: bool = False, seed: int | None = None,
                 *, multiprocessing_context=None, pin_memory_device: str = ""):
        for argument, value, default, reason in (
            ("pin_memory", pin_memory, False, "it pins no host memory"),
            ("pin_memory_device", pin_memory_device, "", "it pins no host memory"),
            ("multiprocessing_context", multiprocessing_context, None, "workers are threads of this process"),
        ):
            if value != default:
                warnings.warn(f"DataLoader: {argument}={value!r} has no effect in Ember: {reason}", UserWarning,
                              stacklevel=2)
        if isinstance(num_workers, bool) or not isinstance(num_workers, (int, np.integer)) or num_workers < 0:
            raise ValueError(f"DataLoader: num_workers should be a non-negative integer, received {num_workers!r}")
        if timeout < 0:
            raise ValueError(f"DataLoader: timeout should be non-negative, received {timeout!r}")
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError(
                f"DataLoader: prefetch_factor={prefetch_factor} needs num_workers > 0; leave it None with "
                "num_workers=0"
            )
        if num_workers > 0 and prefetch_factor is None:
            prefetch_factor = 2
        if prefetch_factor is not None and (isinstance(prefetch_factor, bool) or prefetch_factor < 1):
            raise ValueError(f"DataLoader: prefetch_factor should be a positive integer, received {prefetch_factor!r}")
        if persistent_workers and num_workers == 0:
            raise ValueError("DataLoader: persistent_workers=True needs num_workers > 0")
        if seed is not None:
            if generator is not None:
                raise ValueError("DataLoader: pass either generator or seed, not both")
            if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
                raise TypeError(f"DataLoader: seed should be an int, received {type(seed).__name__}")
            generator = np.random.default_rng(int(seed))
        elif generator is not None:
            generator = _worker.as_generator(generator, "DataLoader")

        iterable_style = _is_iterable_style(dataset)
        if iterable_style:
            for name, value in (("shuffle", shuffle), ("sampler", sampler), ("batch_sampler", batch_sampler)):
                if value not in (None, False):
                    raise ValueError(
                        f"DataLoader: an iterable dataset ({type(dataset).__name__}) has no indices; expected "
                        f"{name} to be unspecified, received {name}={value!r}"
                    )
        if sampler is not None and shuffle:
            raise ValueError("DataLoader: sampler is mutually exclusive with shuffle=True")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError(
                    "DataLoader: batch_sampler is mutually exclusive with batch_size, shuffle, sampler and drop_last"
                )
            batch_size = None
            drop_last = False
        elif batch_size is None:
            if drop_last:
                raise ValueError(
                    "DataLoader: batch_size=None disables batching and is mutually exclusive with drop_last"
                )
        elif isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size <= 0:
            raise ValueError(f"DataLoader: batch_size should be a positive integer or None, received {batch_size!r}")

        if not iterable_style:
            if sampler is None:
                sampler = RandomSampler(dataset, generator=generator) if shuffle else SequentialSampler(dataset)
            if batch_size is not None and batch_sampler is None:
                batch_sampler = BatchSampler(sampler, int(batch_size), bool(drop_last))

        self.dataset = dataset
        self.batch_size = None if batch_size is None else int(batch_size)
        self.drop_last = bool(drop_last)
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.num_workers = int(num_workers)
        self.prefetch_factor = prefetch_factor
        self.pin_memory = pin_memory
        self.pin_memory_device = pin_memory_device
        self.multiprocessing_context = multiprocessing_context
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.persistent_workers = persistent_workers
        self.generator = generator
        self._auto_collation = batch_size is not None or batch_sampler is not None
        if collate_fn is None:
            collate_fn = default_collate if self._auto_collation else default_convert
        self.collate_fn = collate_fn
        self._iterable_style = iterable_style
        self._executor = None

    # ------------------------------------------------------------------------------------------ length
    def __len__(self) -> int:
        """The number of batches in an epoch."""
        if self._iterable_style:
            length = len(self.dataset)
            if self.batch_size is None:
                return length
            if self.drop_last:
                return length // self.batch_size
            return (length + self.batch_size - 1) // self.batch_size
        if self.batch_sampler is not None:
            return len(self.batch_sampler)
        return len(self.sampler)

    # ---------------------------------------------------------------------------------------- iteration
    def __iter__(self) -> Iterator:
        # drawn before the shuffle order, whatever num_workers is, so that the order does not depend on it
        base_seed = int(_worker.as_generator(self.generator, "DataLoader").integers(2**62))
        if self._iterable_style:
            batches = self._stream_batches(base_seed)
            if self.num_workers == 0:
                yield from (batch for _, batch in batches)
            else:
                yield from self._prefetch_stream(batches, base_seed)
            return
        fetch = self._fetcher()
        if self.num_workers == 0:
            for batch_index, indices in enumerate(self._index_batches()):
                with _worker.batch_random_state(base_seed, batch_index):
                    batch = fetch(indices)
                yield batch
        else:
            yield from self._prefetch(fetch, base_seed)

    def _index_batches(self) -> Iterator:
        """One epoch of index batches (int64 arrays or lists of keys), or of single keys without batching."""
        if self.batch_sampler is None:
            array = epoch_index_array(self.sampler)
            yield from (array.tolist() if array is not None else self.sampler)
        elif type(self.batch_sampler).__iter__ is BatchSampler.__iter__:  # built-in: batches cut from arrays
            yield from self.batch_sampler.index_batches()
        else:
            yield from self.batch_sampler

    def _fetcher(self) -> Callable:
        """The function turning one item of ``_index_batches`` into a batch, by the fastest available route."""
        dataset = self.dataset
        if not self._auto_collation:
            return lambda index: self.collate_fn(dataset[index])
        get_batch = getattr(dataset, "get_batch", None)
        if callable(get_batch) and self.collate_fn is default_collate:
            return lambda indices: _as_collated(get_batch(np.asarray(indices, dtype=np.int64)))
        getitems = getattr(dataset, "__getitems__", None)

        def fetch(indices):
            keys = indices.tolist() if isinstance(indices, np.ndarray) else list(indices)
            samples = getitems(keys) if callable(getitems) else [dataset[key] for key in keys]
            return self.collate_fn(samples)

        return fetch

    def _stream_batches(self, base_seed: int) -> Iterator[tuple[int, Any]]:
        """``(batch_index, batch)`` pairs read from an iterable dataset."""
        iterator = iter(self.dataset)
        for batch_index in itertools.count():
            with _worker.batch_random_state(base_seed, batch_index):
                if self.batch_size is None:
                    sample = next(iterator, _END)
                    if sample is _END:
                        return
                    batch = self.collate_fn(sample)
                else:
                    samples = list(itertools.islice(iterator, self.batch_size))
                    if not samples or (self.drop_last and len(samples) < self.batch_size):
                        return
                    batch = self.collate_fn(samples)
            yield batch_index, batch

    # ---------------------------------------------------------------------------------- worker threads
    def _executor_for_epoch(self, base_seed: int) -> tuple[ThreadPoolExecutor, bool]:
        """The thread pool for this epoch and whether the epoch owns it (shuts it down at its end)."""
        if self.persistent_workers and self._executor is not None:
            return self._executor, False
        executor = ThreadPoolExecutor(
            max_workers=self.num_workers, thread_name_prefix="ember-data-worker",
            initializer=_start_worker,
            initargs=(itertools.count(), base_seed, self.num_workers, self.dataset, self.worker_init_fn),
        )
        if not self.persistent_workers:
            return executor, True
        self._executor = executor
        weakref.finalize(self, executor.shutdown, wait=False, cancel_futures=True)
        return executor, False

    @staticmethod
    def _load(fetch: Callable, base_seed: int, batch_index: int, indices) -> Any:
        with _worker.batch_random_state(base_seed, batch_index):
            return fetch(indices)

    def _wait(self, future, batch_index: int) -> Any:
        try:
            return future.result(timeout=self.timeout if self.timeout > 0 else None)
        except FutureTimeoutError as error:
            if not future.done():
                raise RuntimeError(
                    f"DataLoader: timed out after {self.timeout} s waiting for batch {batch_index} from a worker"
                ) from None
            raise _worker_error(error, batch_index) from error
        except Exception as error:
            raise _worker_error(error, batch_index) from error

    def _prefetch(self, fetch: Callable, base_seed: int) -> Iterator:
        """Batches made by the thread pool, at most ``prefetch_factor * num_workers`` ahead, in order."""
        executor, owned = self._executor_for_epoch(base_seed)
        index_batches = enumerate(self._index_batches())
        pending = collections.deque()

        def submit_next() -> None:
            item = next(index_batches, None)
            if item is not None:
                batch_index, indices = item
                pending.append((batch_index, executor.submit(self._load, fetch, base_seed, batch_index, indices)))

        try:
            for _ in range(self.prefetch_factor * self.num_workers):
                submit_next()
            while pending:
                batch_index, future = pending.popleft()
                batch = self._wait(future, batch_index)
                submit_next()
                yield batch
        finally:  # also when the loop is left early: queued batches are dropped, threads end after theirs
            for _, future in pending:
                future.cancel()
            if owned:
                executor.shutdown(wait=False, cancel_futures=True)

    def _prefetch_stream(self, batches: Iterator[tuple[int, Any]], base_seed: int) -> Iterator:
        """Batches of an iterable dataset read ahead by one daemon thread (a stream is read in order).

        Inside that thread ``get_worker_info()`` reports one worker, so a dataset that shards itself by
        worker reads everything once.
        """
        results = queue.Queue(maxsize=self.prefetch_factor * self.num_workers)
        stop = threading.Event()

        def put(item) -> bool:
            while not stop.is_set():
                try:
                    results.put(item, timeout=0.05)
                    return True
                except queue.Full:
                    continue
            return False

        def produce() -> None:
            batch_index = -1
            try:
                _start_worker(iter([0]), base_seed, 1, self.dataset, self.worker_init_fn)
                for batch_index, batch in batches:
                    if not put((batch_index, batch, None)):
                        return
                put((batch_index + 1, _END, None))
            except Exception as error:
                put((batch_index + 1, None, error))

        thread = threading.Thread(target=produce, name="ember-data-stream", daemon=True)
        thread.start()
        try:
            while True:
                try:
                    batch_index, batch, error = results.get(timeout=self.timeout if self.timeout > 0 else None)
                except queue.Empty:
                    raise RuntimeError(
                        f"DataLoader: timed out after {self.timeout} s waiting for the next batch from the "
                        "reading thread"
                    ) from None
                if error is not None:
                    raise _worker_error(error, batch_index) from error
                if batch is _END:
                    return
                yield batch
        finally:
            stop.set()


__all__ = ["DataLoader"]


def _as_collated(batch: Any) -> Any:
    """A batch from ``get_batch`` in ``default_collate``'s form: a plain tuple of fields becomes a list, as
    PyTorch's collate gives for tuple samples (``TensorDataset``); named tuples and other types are kept."""
    if type(batch) is tuple:
        return list(batch)
    return batch
