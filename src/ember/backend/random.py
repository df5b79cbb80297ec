"""Ember's random number generators: one NumPy Generator for the CPU (and CuPy's, seeded alongside)."""
from __future__ import annotations

import numpy as np

from .device import cupy_if_loaded

_generator = np.random.default_rng()
_seed = None
_cuda_seeded_with = None


def manual_seed(seed: int) -> None:
    """Seed every generator Ember uses (NumPy's for the CPU, CuPy's when CUDA is in use)."""
    global _generator, _seed, _cuda_seeded_with
    seed = int(seed)
    _seed = seed
    _generator = np.random.default_rng(seed)
    cupy = cupy_if_loaded()
    if cupy is not None:
        cupy.random.seed(seed)
        _cuda_seeded_with = seed


def initial_seed():
    return _seed


def generator() -> np.random.Generator:
    """The CPU generator that every Ember random function draws from."""
    return _generator


def cuda_generator():
    """CuPy's random module, seeded by ``manual_seed`` (imports CuPy)."""
    global _cuda_seeded_with
    from .device import import_cupy

    cupy = import_cupy()
    if _seed is not None and _cuda_seeded_with != _seed:  # CuPy was loaded after manual_seed
        cupy.random.seed(_seed)
        _cuda_seeded_with = _seed
    return cupy.random


def get_rng_state():
    return _generator.bit_generator.state


def set_rng_state(state) -> None:
    _generator.bit_generator.state = state
