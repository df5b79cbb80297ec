"""Progress bars that degrade gracefully: tqdm on a terminal, silence (and one summary line) in logs.

    from ember.progress import progress
    for images, labels in progress(loader, desc="epoch 1"):
        ...
        bar.set_postfix(loss=loss.item())

``progress`` returns a tqdm bar when tqdm is installed and the output is a terminal (or ``force=True``);
otherwise a :class:`SimpleProgress`, which has the same methods (``update``, ``set_postfix``,
``set_description``, ``close``, iteration, ``with``) so training code can call them unconditionally.
``from ember.progress import tqdm`` can replace ``from tqdm import tqdm``. tqdm is optional
(``pip install ember[progress]``).
"""
from __future__ import annotations

import numbers
import sys
import time
import warnings
from collections.abc import Iterable
from typing import Any, TextIO

__all__ = ["progress", "tqdm", "trange", "SimpleProgress", "INSTALL_HINT"]

INSTALL_HINT = "pip install ember[progress]"
_warned_missing_tqdm = False


def _tqdm_class():
    """tqdm's bar class, or None when tqdm is not installed."""
    try:
        from tqdm import tqdm as tqdm_class
    except ImportError:
        return None
    return tqdm_class


def _is_terminal(file) -> bool:
    isatty = getattr(file, "isatty", None)
    if isatty is None:
        return False
    try:
        return bool(isatty())
    except (ValueError, OSError):  # a closed or detached stream
        return False


def _warn_missing_tqdm() -> None:
    global _warned_missing_tqdm
    if not _warned_missing_tqdm:
        _warned_missing_tqdm = True
        warnings.warn(
            f"ember.progress: a progress bar was requested (force=True) but tqdm is not installed; "
            f"install it with `{INSTALL_HINT}`. Showing no bar.",
            RuntimeWarning,
            stacklevel=3,
        )


def _format_number(value) -> str:
    """Numbers in postfixes exactly as tqdm shows them: 3 significant digits when that is shorter."""
    compact = f"{value:.3g}".replace("+0", "+").replace("-0", "-")
    plain = str(value)
    return compact if len(compact) < len(plain) else plain


def _format_count(value) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _format_seconds(seconds: float) -> str:
    minutes, seconds = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours:d}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes:02d}:{seconds:02d}"


class SimpleProgress:
    """A progress object with tqdm's interface that prints nothing per step.

    On ``close()`` (also at the end of iteration and of a ``with`` block) it prints one summary line to
    ``file`` (default ``sys.stderr``) when it has a ``desc``, ``leave`` is true and it is not disabled, e.g.
    ``epoch 1: 469/469 it in 00:12 (38.13 it/s), loss=0.123``.
    """

    def __init__(
        self,
        iterable: Iterable | None = None,
        total: float | None = None,
        desc: str | None = None,
        unit: str = "it",
        leave: bool = True,
        file: TextIO | None = None,
        disable: bool = False,
        initial: float = 0,
        postfix: Any = None,
    ):
        if total is None and iterable is not None:
            try:
                total = len(iterable)
            except (TypeError, AttributeError):
                total = None
        self.iterable = iterable
        self.total = total
        self.desc = desc or ""
        self.unit = unit
        self.leave = leave
        self.file = file
        self.disable = bool(disable)
        self.n = initial
        self.initial = initial  # counted before this bar started: not in its rate, as in tqdm
        self.postfix = ""
        self.start_t = time.perf_counter()
        self._closed = False
        if isinstance(postfix, dict):
            self.set_postfix(postfix)
        elif postfix is not None:
            self.set_postfix_str(str(postfix))

    # ------------------------------------------------------------------------------------- iteration
    def __iter__(self):
        if self.iterable is None:
            raise TypeError("SimpleProgress: iteration needs an iterable; use update() for manual progress")
        try:
            for item in self.iterable:
                yield item
                self.n += 1
        finally:
            self.close()

    def __len__(self) -> int:
        if self.total is None:
            raise TypeError("SimpleProgress: len() needs a total or an iterable with a length")
        return int(self.total)

    def __enter__(self) -> SimpleProgress:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # ---------------------------------------------------------------------------------- tqdm's calls
    def update(self, n: float = 1) -> None:
        """Advance the count by ``n``."""
        self.n += n

    def set_postfix(self, ordered_dict: dict | None = None, refresh: bool = True, **kwargs) -> None:
        """Show ``key=value`` pairs after the counts (numbers to 3 significant digits, as tqdm does)."""
        items = dict(ordered_dict or {})
        items.update(kwargs)
        parts = []
        for key, value in items.items():
            if isinstance(value, numbers.Number) and not isinstance(value, bool):
                value = _format_number(value)
            elif not isinstance(value, str):
                value = str(value)
            parts.append(f"{key}={value.strip()}")
        self.postfix = ", ".join(parts)

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        self.postfix = str(s)

    def set_description(self, desc: str | None = None, refresh: bool = True) -> None:
        self.desc = desc or ""

    def set_description_str(self, desc: str | None = None, refresh: bool = True) -> None:
        self.desc = desc or ""

    def reset(self, total: float | None = None) -> None:
        """Start counting again from zero (with a new ``total`` if given)."""
        self.n = self.initial = 0
        if total is not None:
            self.total = total
        self.start_t = time.perf_counter()
        self._closed = False

    def refresh(self, *args, **kwargs) -> None:
        """Nothing to redraw: present so that code written for tqdm runs unchanged."""

    def clear(self, *args, **kwargs) -> None:
        """Nothing to clear: present so that code written for tqdm runs unchanged."""

    @property
    def format_dict(self) -> dict:
        return {
            "n": self.n, "total": self.total, "elapsed": time.perf_counter() - self.start_t,
            "desc": self.desc, "unit": self.unit, "postfix": self.postfix,
        }

    def summary(self) -> str:
        """The one-line summary ``close()`` prints."""
        elapsed = time.perf_counter() - self.start_t
        count = _format_count(self.n)
        counts = f"{count}/{_format_count(self.total)}" if self.total is not None else count
        rate = f"{(self.n - self.initial) / elapsed:.2f}" if elapsed > 0 else "?"
        line = f"{self.desc}: {counts} {self.unit} in {_format_seconds(elapsed)} ({rate} {self.unit}/s)"
        if self.postfix:
            line += f", {self.postfix}"
        return line

    def close(self) -> None:
        """Finish; print the summary line once when it has a description, ``leave`` is true and not disabled."""
        if self._closed:
            return
        self._closed = True
        if self.desc and self.leave and not self.disable:
            file = self.file if self.file is not None else sys.stderr
            print(self.summary(), file=file, flush=True)

    @staticmethod
    def write(s: str, file: TextIO | None = None, end: str = "\n", nolock: bool = False) -> None:
        """Print a message (tqdm's ``tqdm.write``)."""
        print(s, end=end, file=file if file is not None else sys.stdout)

    def __repr__(self) -> str:
        return f"SimpleProgress({self.summary()!r})"


def progress(
    iterable: Iterable | None = None,
    total: float | None = None,
    desc: str | None = None,
    unit: str = "it",
    leave: bool = True,
    disable: bool | None = None,
    *,
    force: bool = False,
    file: TextIO | None = None,
    **tqdm_kwargs,
):
    """Wrap ``iterable`` (or count by hand with ``update``) with a progress bar where one can be shown.

    Returns a ``tqdm.tqdm`` bar when tqdm is installed and ``file`` (default ``sys.stderr``) is a terminal, or
    when ``force=True``; otherwise a :class:`SimpleProgress` with the same methods, which prints nothing per
    step and one summary line at the end when ``desc`` is given. ``disable=True`` silences both. Other keyword
    arguments (``unit_scale``, ``ncols``, ...) go to tqdm. With ``force=True`` and no tqdm, warns once with
    the install line.
    """
    stream = file if file is not None else sys.stderr
    if disable is not True and (force or _is_terminal(stream)):
        tqdm_class = _tqdm_class()
        if tqdm_class is not None:
            return tqdm_class(
                iterable, desc=desc, total=total, leave=leave, file=stream, unit=unit, disable=False, **tqdm_kwargs
            )
        if force:
            _warn_missing_tqdm()
    return SimpleProgress(
        iterable, total=total, desc=desc, unit=unit, leave=leave, file=file, disable=disable is True,
        initial=tqdm_kwargs.get("initial", 0), postfix=tqdm_kwargs.get("postfix"),
    )


def tqdm(
    iterable: Iterable | None = None,
    desc: str | None = None,
    total: float | None = None,
    leave: bool = True,
    file: TextIO | None = None,
    ncols: int | None = None,
    mininterval: float = 0.1,
    maxinterval: float = 10.0,
    miniters: float | None = None,
    ascii: bool | str | None = None,  # noqa: A002 - tqdm's argument name
    disable: bool | None = False,
    unit: str = "it",
    unit_scale: bool | float = False,
    dynamic_ncols: bool = False,
    smoothing: float = 0.3,
    bar_format: str | None = None,
    initial: float = 0,
    position: int | None = None,
    postfix: Any = None,
    unit_divisor: float = 1000,
    *,
    force: bool = False,
    **kwargs,
):
    """A drop-in for ``tqdm.tqdm`` (same arguments) that falls back like :func:`progress`.

    A real bar when tqdm is installed and ``file`` is a terminal (or ``force=True``); otherwise a
    :class:`SimpleProgress`. ``disable=True`` silences it; ``disable=None`` behaves as the default.
    """
    tqdm_kwargs = dict(
        ncols=ncols, mininterval=mininterval, maxinterval=maxinterval, miniters=miniters, ascii=ascii,
        unit_scale=unit_scale, dynamic_ncols=dynamic_ncols, smoothing=smoothing, bar_format=bar_format,
        initial=initial, position=position, postfix=postfix, unit_divisor=unit_divisor, **kwargs,
    )
    return progress(
        iterable, total=total, desc=desc, unit=unit, leave=leave, disable=disable, force=force, file=file,
        **tqdm_kwargs,
    )


def _write(s: str, file: TextIO | None = None, end: str = "\n", nolock: bool = False) -> None:
    """Print a message without breaking an active bar (``tqdm.write`` when tqdm is installed)."""
    tqdm_class = _tqdm_class()
    if tqdm_class is not None:
        tqdm_class.write(s, file=file, end=end, nolock=nolock)
    else:
        SimpleProgress.write(s, file=file, end=end)


tqdm.write = _write


def trange(*args, **kwargs):
    """``tqdm(range(*args), **kwargs)``, as ``tqdm.trange``."""
    return tqdm(range(*args), **kwargs)
