"""What the callbacks that watch one logged quantity share: direction (``mode``), improvement test, warnings.

``mode="auto"`` maximises quantities whose name contains ``acc`` or ``auc`` (``accuracy``,
``val_sparse_categorical_accuracy``, ``val_auc``) and minimises everything else (losses, errors).
"""
from __future__ import annotations

import math
import sys
import warnings

from .base import Callback

_MAXIMISED_FRAGMENTS = ("acc", "auc")


def monitor_direction(owner: str, monitor: str, mode: str) -> str:
    """``"min"`` or ``"max"``: the direction in which ``monitor`` improves."""
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"{owner}: mode must be 'auto', 'min' or 'max', received {mode!r}")
    if not isinstance(monitor, str) or not monitor:
        raise TypeError(f"{owner}: monitor must be the name of a logged quantity, received {monitor!r}")
    if mode != "auto":
        return mode
    name = monitor.removeprefix("val_")
    return "max" if any(fragment in name for fragment in _MAXIMISED_FRAGMENTS) else "min"


def is_better(current: float, reference: float | None, direction: str, min_delta: float = 0.0) -> bool:
    """Whether ``current`` beats ``reference`` by more than ``min_delta`` (``reference=None`` always loses).

    NaN never counts as better.
    """
    if reference is None:
        return not math.isnan(current)
    if direction == "min":
        return current + min_delta < reference
    return current - min_delta > reference


def print_message(text: str) -> None:
    """Print a callback's message on a line of its own, also when a progress bar is being redrawn in place."""
    isatty = getattr(sys.stdout, "isatty", None)
    prefix = "\n" if isatty is not None and isatty() else ""
    print(prefix + text, flush=True)


class MonitorCallback(Callback):
    """Base of the callbacks that watch ``logs[monitor]`` at the end of each epoch.

    Subclasses read the value with ``monitored_value(logs)``, which warns once per training run for each missing
    key, and compare with ``is_improvement``.
    """

    def __init__(self, monitor: str = "val_loss", mode: str = "auto", min_delta: float = 0.0):
        super().__init__()
        self.direction = monitor_direction(type(self).__name__, monitor, mode)
        self.monitor = monitor
        self.mode = mode
        self.min_delta = abs(float(min_delta))
        self._warned_missing = set()

    def reset_missing_warning(self) -> None:
        self._warned_missing = set()

    def monitored_value(self, logs, key: str | None = None) -> float | None:
        """``logs[key]`` (default: the monitored key) as a float, or None after warning once."""
        key = self.monitor if key is None else key
        logs = logs or {}
        value = logs.get(key)
        if value is None:
            if key not in self._warned_missing:
                self._warned_missing.add(key)
                available = ", ".join(logs) or "none"
                warnings.warn(
                    f"{type(self).__name__}: monitored quantity {key!r} is not in the logs (available: "
                    f"{available}); the callback does nothing until it appears",
                    UserWarning, stacklevel=3,
                )
            return None
        return float(value)

    def is_improvement(self, current: float, reference: float | None) -> bool:
        return is_better(current, reference, self.direction, self.min_delta)


__all__ = ["MonitorCallback", "monitor_direction", "is_better", "print_message"]
