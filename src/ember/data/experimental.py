"""``tf.data.experimental`` names: ``AUTOTUNE``, the cardinality constants and ``cardinality(dataset)``."""
from __future__ import annotations

from .pipeline import AUTOTUNE, INFINITE_CARDINALITY, UNKNOWN_CARDINALITY


def cardinality(dataset) -> int:
    """The number of elements of ``dataset``, ``INFINITE_CARDINALITY`` (-1) or ``UNKNOWN_CARDINALITY`` (-2)."""
    return dataset.cardinality()


__all__ = ["AUTOTUNE", "INFINITE_CARDINALITY", "UNKNOWN_CARDINALITY", "cardinality"]
