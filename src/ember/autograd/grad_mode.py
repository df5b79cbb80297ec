"""Whether operations record a graph: ``no_grad``, ``enable_grad``, ``set_grad_enabled``.

Each works as a context manager and as a decorator. The switch is per thread, as PyTorch's: ``no_grad`` in one
thread never stops another from recording, and every new thread starts with recording on.
"""
from __future__ import annotations

import functools
import threading


class _GradMode(threading.local):
    """The calling thread's grad mode. The class attribute is every thread's starting value, so that reading
    ``state.enabled`` costs one attribute lookup, without a ``getattr`` default on the hot path."""

    enabled = True


state = _GradMode()


def is_grad_enabled() -> bool:
    """True when new operations on tensors that require grad record a graph (in the calling thread)."""
    return state.enabled


def _set(mode: bool) -> None:
    state.enabled = bool(mode)


class _GradModeContext:
    mode: bool

    def __enter__(self):
        self._previous = state.enabled
        _set(self.mode)
        return self

    def __exit__(self, *exc_info):
        _set(self._previous)
        return False

    def __call__(self, function):
        mode = self.mode

        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            previous = state.enabled
            _set(mode)
            try:
                return function(*args, **kwargs)
            finally:
                _set(previous)

        return wrapper


class no_grad(_GradModeContext):
    """Disable graph recording in this thread: ``with ember.no_grad(): ...`` or ``@ember.no_grad()``."""

    mode = False


class enable_grad(_GradModeContext):
    """Re-enable graph recording inside a ``no_grad`` block (in this thread)."""

    mode = True


class set_grad_enabled(_GradModeContext):
    """``set_grad_enabled(False)`` is ``no_grad()``; ``set_grad_enabled(True)`` is ``enable_grad()``.

    Like PyTorch, calling it as a plain function switches the calling thread's mode immediately.
    """

    def __init__(self, mode: bool):
        self.mode = bool(mode)
        self._previous = state.enabled
        _set(self.mode)

    def __enter__(self):
        return self

    def __call__(self, function):
        _set(self._previous)  # used as a decorator: do not switch the mode at decoration time
        return super().__call__(function)
