"""Helpers shared by the layer modules: argument normalisation and parameter creation."""
from __future__ import annotations

import operator

from ...functions.creation import empty
from ..parameter import Parameter


def pair(value, name: str, layer: str) -> tuple[int, int]:
    """``3 -> (3, 3)``; a 2-sequence of ints passes through as a tuple."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{layer}: expected {name} as an int or a pair of ints, received {value!r}")
        return tuple(operator.index(v) for v in value)
    try:
        value = operator.index(value)
    except TypeError:
        raise TypeError(f"{layer}: expected {name} as an int or a pair of ints, received {value!r}") from None
    return (value, value)


def single(value, name: str, layer: str) -> tuple[int]:
    """``3 -> (3,)``; a 1-sequence of an int passes through as a tuple."""
    if isinstance(value, (tuple, list)):
        if len(value) != 1:
            raise ValueError(f"{layer}: expected {name} as an int or a 1-sequence of an int, received {value!r}")
        return (operator.index(value[0]),)
    try:
        return (operator.index(value),)
    except TypeError:
        raise TypeError(f"{layer}: expected {name} as an int or a 1-sequence of an int, received {value!r}") from None


def check_size(value, name: str, layer: str, minimum: int = 0) -> int:
    """A size argument as a Python int, at least ``minimum``."""
    try:
        value = operator.index(value)
    except TypeError:
        raise TypeError(f"{layer}: expected {name} to be an int, received {value!r}") from None
    if value < minimum:
        raise ValueError(f"{layer}: expected {name} >= {minimum}, received {value}")
    return value


def new_parameter(shape: tuple, device=None, dtype=None) -> Parameter:
    """An uninitialised (zero-filled) parameter; the layer's ``reset_parameters`` fills it."""
    return Parameter(empty(shape, dtype=dtype, device=device))


def check_reduction(reduction: str, layer: str) -> str:
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{layer}: reduction must be 'mean', 'sum' or 'none', received {reduction!r}")
    return reduction

