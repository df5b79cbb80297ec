"""The op table: one entry per differentiable op (and per interesting variant), shared by generic tests.

Each ``OpCase`` says how to build inputs, how to call the Ember op and how to compute the same thing with
NumPy. ``tests/functions/test_op_table.py`` runs every case through: forward against the reference, float32
in → float32 out, a float64 central-difference gradient check, and (where supported) double backward.

Add cases in ``cases_<family>.py`` as a list named ``CASES``; they are collected automatically.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np


@dataclass
class OpCase:
    """One row of the op table.

    name: unique id shown by pytest.
    op: called with Ember tensors (same order as ``make_inputs``); returns a Tensor or a tuple of Tensors.
    reference: called with NumPy float64 arrays; returns an array or a tuple of arrays.
    make_inputs: ``rng -> list of arrays``. Float arrays become differentiable inputs; integer/bool arrays
        become constant tensors (indices, masks, labels).
    grad_inputs: positions checked by gradcheck (default: every floating input).
    double_backward: also check second derivatives (gradgradcheck).
    forward_tol: (rtol, atol) for the float32 forward against the float64 reference.
    grad_tol: (rtol, atol) for gradcheck in float64.
    positive: shift floating inputs to be positive (log, sqrt, ...).
    """

    name: str
    op: Callable
    reference: Callable
    make_inputs: Callable[[np.random.Generator], Sequence[np.ndarray]]
    grad_inputs: Sequence[int] | None = None
    double_backward: bool = True
    forward_tol: tuple = (1e-4, 1e-5)
    grad_tol: tuple = (1e-3, 1e-5)

    def __repr__(self):
        return self.name


def randn(*shape):
    """Input maker helper: standard normal float64 array of ``shape``."""
    return lambda rng: [rng.standard_normal(shape)]


def away_from(value: float, margin: float = 0.1):
    """Wrap an input maker so that no element lies within ``margin`` of a kink at ``value``."""

    def adjust(maker):
        def make(rng):
            arrays = maker(rng)
            result = []
            for array in arrays:
                if array.dtype.kind == "f":
                    close = np.abs(array - value) < margin
                    array = np.where(close, value + np.sign(array - value + 1e-12) * margin * 2, array)
                result.append(array)
            return result

        return make

    return adjust
