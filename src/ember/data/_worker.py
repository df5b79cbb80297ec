"""Loader worker threads: which worker is running, and the random generator that data code draws from.

While a ``DataLoader`` prepares a batch it installs a generator seeded from ``(base_seed, batch_index)`` for
the thread doing the work; the random transforms draw from ``random_generator()``. The base seed is drawn
once per epoch from the loader's generator (or Ember's), so batches are reproducible after
``ember.manual_seed`` and identical for every ``num_workers``, whichever thread prepares them.
"""
from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..backend import random as ember_random

_local = threading.local()


@dataclass(frozen=True)
class WorkerInfo:
    """What ``get_worker_info()`` returns inside a loader worker thread (as in PyTorch)."""

    id: int
    num_workers: int
    seed: int
    dataset: Any


def get_worker_info() -> WorkerInfo | None:
    """Information about the current loader worker, or None in the main thread (``num_workers=0``)."""
    return getattr(_local, "worker_info", None)


def set_worker_info(info: WorkerInfo) -> None:
    _local.worker_info = info


def random_generator() -> np.random.Generator:
    """The generator data code draws from: the current batch's while a loader prepares one, else Ember's."""
    seed = getattr(_local, "batch_seed", None)
    if seed is None:
        return ember_random.generator()
    generator = getattr(_local, "generator", None)
    if generator is None:  # made on first use: most batches draw nothing
        generator = _local.generator = np.random.default_rng(seed)
    return generator


@contextmanager
def batch_random_state(base_seed: int, batch_index: int) -> Iterator[None]:
    """Give this thread a generator seeded from ``(base_seed, batch_index)`` while a batch is made."""
    previous = getattr(_local, "batch_seed", None), getattr(_local, "generator", None)
    _local.batch_seed, _local.generator = [base_seed, batch_index], None
    try:
        yield
    finally:
        _local.batch_seed, _local.generator = previous


def as_generator(generator, owner: str) -> np.random.Generator:
    """Resolve a ``generator=`` argument: None → Ember's generator now, an int → a new seeded generator."""
    if generator is None:
        return ember_random.generator()
    if isinstance(generator, np.random.Generator):
        return generator
    if isinstance(generator, (int, np.integer)) and not isinstance(generator, bool):
        return np.random.default_rng(int(generator))
    raise TypeError(
        f"{owner}: expected generator to be a numpy.random.Generator, an int seed or None, "
        f"received {type(generator).__name__}"
    )
