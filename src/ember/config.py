"""Ember's settings: every runtime switch, declared once.

Each setting has a name, a type, a default, the environment variable that sets it (read when no value was
given in Python) and one line of documentation::

    import ember
    ember.config.get("num_threads")                  # None: every CPU this process may use
    ember.config.set(num_threads=1)                  # from now on
    with ember.config.override(fast_paths=False):    # for a scope (also a decorator), then restored
        ...
    print(ember.config.describe())                   # every setting, its value and where it came from, the
                                                     # process-wide effects and the path each hot op took

A value comes from, in order: ``override`` (innermost first), ``set``, the environment variable, the default.
The settings read on hot paths read their environment variable the first time they are needed and again
after ``reset`` (or any ``set``/``override``), so that ``get`` there is one dictionary look-up; the others
(folders, the compiler) read it on every ``get``.
Settings are process-wide, as PyTorch's backend flags are: ``override`` in one thread is seen by every thread.

Process-wide effects (the compiled kernels loaded, NumPy's OpenBLAS set to one thread, glibc malloc tuned)
follow settings too; the modules that cause them report their state here through ``register_effect``, and
``describe()`` lists it. This module imports nothing else from Ember: every other layer may import it.
"""
from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["Setting", "SETTINGS", "get", "set", "reset", "override", "source", "describe", "register_effect",
           "record_path", "paths", "on_change"]

_FALSE_WORDS = ("0", "off", "no", "false")
_TRUE_WORDS = ("1", "on", "yes", "true")


def _parse_bool(text: str) -> bool:
    word = text.strip().lower()
    if word in _TRUE_WORDS:
        return True
    if word in _FALSE_WORDS:
        return False
    raise ValueError(f"expected one of {_TRUE_WORDS + _FALSE_WORDS}")


@dataclass(frozen=True)
class Setting:
    """One runtime switch. ``kind`` is ``bool``, ``int``, ``float``, ``str`` or ``"path"``; ``choices``
    limits a ``str``; ``aliases`` maps other words accepted from the environment to a choice; ``minimum``
    bounds a number; ``optional`` lets the value be None (its meaning is in ``doc``)."""

    name: str
    kind: Any
    default: Any
    env: str | None
    doc: str
    choices: tuple = ()
    aliases: tuple = ()  # (word, choice) pairs
    minimum: float | None = None
    optional: bool = False
    hot: bool = True  # read on hot paths: resolved once and kept; others read their variable on every get

    def check(self, value, origin: str):
        """``value`` converted to this setting's type; ValueError/TypeError naming the setting otherwise."""
        where = f"ember.config: {self.name} (from {origin})"
        if value is None:
            if self.optional:
                return None
            raise TypeError(f"{where}: expected a value, received None")
        if isinstance(value, str) and self.kind is not str and self.kind != "path":
            try:
                value = _parse_bool(value) if self.kind is bool else self.kind(value.strip())
            except ValueError as error:
                raise ValueError(f"{where}: cannot read {value!r} as {self.kind.__name__}: {error}") from None
        if self.kind is bool:
            if not isinstance(value, bool):
                raise TypeError(f"{where}: expected True or False, received {value!r}")
            return value
        if self.kind in (int, float):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or (
                    self.kind is int and not float(value).is_integer()):
                raise TypeError(f"{where}: expected {self.kind.__name__}, received {value!r}")
            value = self.kind(value)
            if self.minimum is not None and value < self.minimum:
                raise ValueError(f"{where}: expected at least {self.minimum}, received {value!r}")
            return value
        if self.kind == "path":
            if not isinstance(value, (str, os.PathLike)):
                raise TypeError(f"{where}: expected a path, received {value!r}")
            return os.fspath(value)
        if not isinstance(value, str):
            raise TypeError(f"{where}: expected a string, received {value!r}")
        word = value.strip().lower() if self.choices else value
        word = dict(self.aliases).get(word, word)
        if self.choices and word not in self.choices:
            raise ValueError(f"{where}: expected one of {self.choices}, received {value!r}")
        return word


def _declare(*settings: Setting) -> dict:
    return {setting.name: setting for setting in settings}


SETTINGS: dict[str, Setting] = _declare(
    Setting("fast_paths", bool, True, "EMBER_FAST_PATHS",
            "False runs every op's reference path alone (NumPy/CuPy and Ember ops): no compiled kernels, no "
            "split passes, no array-only backward"),
    Setting("kernels", str, "compiled", "EMBER_KERNELS",
            "'compiled' builds and uses the C kernels where a C compiler is found; 'numpy' never builds or "
            "loads them", choices=("compiled", "numpy"),
            aliases=tuple((word, "numpy") for word in _FALSE_WORDS + ("system",))),
    Setting("conv", str, "direct", "EMBER_CONV",
            "convolutions on the CPU: 'direct' (compiled direct kernels where they apply, im2col + GEMM "
            "elsewhere) or 'im2col' (always im2col + GEMM)", choices=("direct", "im2col")),
    Setting("num_threads", int, None, "EMBER_NUM_THREADS",
            "threads that share one kernel call or GEMM; None: every CPU this process may use",
            minimum=1, optional=True),
    Setting("claim_blas", bool, True, "EMBER_CLAIM_BLAS",
            "let the first split convolution (or compiled LSTM sequence) set NumPy's OpenBLAS to one thread, so "
            "Ember's threads have the cores (False, or one thread: Ember's kernels stay on the calling thread; "
            "False restores OpenBLAS's count)"),
    Setting("malloc", str, "tuned", "EMBER_MALLOC",
            "'tuned' keeps freed memory mapped for reuse (glibc mallopt, applied by import ember); 'system' "
            "leaves (or puts back) glibc's defaults", choices=("tuned", "system"),
            aliases=tuple((word, "system") for word in _FALSE_WORDS)),
    Setting("cache_dir", "path", None, "EMBER_CACHE",
            "folder for built kernels (in kernels/); None: $XDG_CACHE_HOME/ember, else ~/.cache/ember",
            optional=True, hot=False),
    Setting("compiler", str, None, "CC",
            "C compiler for the kernels; None: the first of cc, gcc, clang on PATH", optional=True, hot=False),
    Setting("data_root", "path", None, "EMBER_DATA",
            "data root holding mnist/ and other datasets; None: ~/.cache/ember/datasets", optional=True,
            hot=False),
    Setting("parallel_numbers", int, 2**17, "EMBER_PARALLEL_NUMBERS",
            "an elementwise pass over fewer numbers stays on the calling thread (waking a helper costs "
            "about 0.2 ms)", minimum=1),
    Setting("parallel_gemm_flops", float, 4e6, "EMBER_PARALLEL_GEMM_FLOPS",
            "a matmul of fewer floating-point operations stays whole on the calling thread (and a compiled "
            "LSTM/GRU sequence whose step product is smaller runs on it alone)", minimum=0),
    Setting("parallel_conv_flops", float, 4e6, "EMBER_PARALLEL_CONV_FLOPS",
            "a direct-convolution call of fewer floating-point operations stays on the calling thread",
            minimum=0),
    Setting("conv_band_bytes", int, 2 * 2**20, "EMBER_CONV_BAND_BYTES",
            "the largest im2col matrix built at once (one band of output rows; at least one row is built)",
            minimum=1),
)

_lock = threading.RLock()
_explicit: dict[str, Any] = {}  # set()
_overrides: list[dict[str, Any]] = []  # override() scopes, innermost last
_environment_cache: dict[str, tuple[str, Any]] = {}  # name -> (raw text, parsed value)
_effects: dict[str, Callable[[], str]] = {}
_listeners: dict[str, list[Callable[[Any], None]]] = {}
_paths: dict[str, str] = {}


def _setting(name: str) -> Setting:
    try:
        return SETTINGS[name]
    except KeyError:
        raise KeyError(f"ember.config: no setting named {name!r}; the settings are {sorted(SETTINGS)}") from None


def _from_environment(setting: Setting):
    raw = os.environ.get(setting.env) if setting.env else None
    if raw is None or not raw.strip():
        return _MISSING
    cached = _environment_cache.get(setting.name)
    if cached is not None and cached[0] == raw:
        return cached[1]
    value = setting.check(raw, f"${setting.env}")
    _environment_cache[setting.name] = (raw, value)
    return value


_MISSING = object()
_resolved: dict[str, Any] = {}  # name -> current value; cleared whenever set/override/reset change anything
_generation = 0  # counts those changes, so that a value resolved during one is not cached after it


def _resolve(name: str):
    for scope in reversed(_overrides):
        if name in scope:
            return scope[name]
    if name in _explicit:
        return _explicit[name]
    setting = _setting(name)
    value = _from_environment(setting)
    return setting.default if value is _MISSING else value


def get(name: str):
    """The current value of setting ``name`` (a dictionary look-up once resolved: cheap on hot paths)."""
    try:
        return _resolved[name]
    except KeyError:
        generation = _generation
        value = _resolve(name)
        if generation == _generation and SETTINGS[name].hot:
            _resolved[name] = value
        return value


def _changed() -> None:
    """Forget resolved values (called with ``_lock`` held by every change)."""
    global _generation
    _generation += 1
    _resolved.clear()


def source(name: str) -> str:
    """Where the current value of ``name`` comes from: 'override', 'set', '$VARIABLE' or 'default'."""
    setting = _setting(name)
    if any(name in scope for scope in _overrides):
        return "override"
    if name in _explicit:
        return "set"
    if _from_environment(setting) is not _MISSING:
        return f"${setting.env}"
    return "default"


def _checked(values: dict, origin: str) -> dict:
    return {name: _setting(name).check(value, origin) for name, value in values.items()}


def _notify(before: dict) -> None:
    """Tell the listeners of every setting whose value changed (process-wide effects follow settings)."""
    for name, old in before.items():
        new = get(name)
        if new != old:
            for listener in _listeners.get(name, ()):
                listener(new)


def set(**values) -> None:  # noqa: A001 - ember.config.set, as the module's own verb
    """Set settings from now on (until another ``set``; an ``override`` scope still wins inside it)."""
    with _lock:
        checked = _checked(values, "set")
        before = {name: get(name) for name in checked}
        _explicit.update(checked)
        _changed()
        _notify(before)


def reset(*names: str) -> None:
    """Forget ``set`` values of ``names`` (all settings when none is named): back to the environment or the
    default."""
    with _lock:
        names = names or tuple(_explicit)
        before = {name: get(name) for name in names if _setting(name)}
        for name in names:
            _explicit.pop(name, None)
            _environment_cache.pop(name, None)
        _changed()
        _notify(before)


class override(contextlib.ContextDecorator):  # noqa: N801 - used as a function, like contextlib's
    """Change settings for a ``with`` block or a decorated function, and restore them after::

        with ember.config.override(kernels="numpy", num_threads=1):
            ...
    """

    def __init__(self, **values):
        self._values = _checked(values, "override")
        self._scopes: list[dict] = []

    def __enter__(self):
        with _lock:
            before = {name: get(name) for name in self._values}
            scope = dict(self._values)
            _overrides.append(scope)
            self._scopes.append(scope)
            _changed()
            _notify(before)
        return self

    def __exit__(self, *exc_info):
        with _lock:
            scope = self._scopes.pop()
            before = {name: get(name) for name in scope}
            # by identity: scopes may close out of order across threads, and two may hold equal values
            del _overrides[next(i for i, open_scope in enumerate(_overrides) if open_scope is scope)]
            _changed()
            _notify(before)
        return False


def on_change(name: str, listener: Callable[[Any], None]) -> None:
    """Call ``listener(new_value)`` whenever ``name`` changes through ``set`` or ``override`` (for the modules
    whose process-wide effects follow a setting)."""
    _setting(name)
    _listeners.setdefault(name, []).append(listener)


def register_effect(name: str, state: Callable[[], str]) -> None:
    """Report a process-wide effect in ``describe()``: ``state()`` says how it stands now."""
    _effects[name] = state


def record_path(op: str, path: str) -> None:
    """Note that ``op`` just ran ``path`` (its reference path or a named fast path), for ``describe()``."""
    _paths[op] = path


def paths() -> dict[str, str]:
    """The path each op with fast paths took the last time it ran: ``{"ReLU.forward": "forward_split", ...}``."""
    return dict(_paths)


class Description(dict):
    """What ``describe()`` returns: a dict (``settings``, ``effects``, ``paths``) that prints as a table."""

    def __str__(self) -> str:
        width = max(len(name) for name in SETTINGS)
        lines = ["Ember settings (value, source; environment variable):"]
        for name, entry in self["settings"].items():
            variable = f"; ${entry['env']}" if entry["env"] else ""
            lines.append(f"  {name:<{width}}  {entry['value']!r} ({entry['source']}{variable})")
        lines.append("Process-wide effects:")
        lines += [f"  {name}: {state}" for name, state in self["effects"].items()] or ["  (none reported)"]
        lines.append("Paths the hot ops took last:")
        lines += [f"  {op}: {path}" for op, path in sorted(self["paths"].items())] or ["  (none ran yet)"]
        return "\n".join(lines)

    __repr__ = __str__


def describe() -> Description:
    """Every setting with its value and source, the state of each process-wide effect and, per hot op, the
    path it took last. ``print(ember.config.describe())`` shows it as a table."""
    settings = {name: {"value": get(name), "source": source(name), "env": setting.env, "doc": setting.doc}
                for name, setting in SETTINGS.items()}
    effects = {}
    for name, state in _effects.items():
        try:
            effects[name] = state()
        except Exception as error:  # noqa: BLE001 - a report must not fail because one probe did
            effects[name] = f"unknown ({type(error).__name__}: {error})"
    return Description(settings=settings, effects=effects, paths=paths())


@contextlib.contextmanager
def _isolated() -> Iterator[None]:
    """Tests: run with no ``set`` values and no recorded paths, and put both back afterwards."""
    saved_explicit, saved_paths = dict(_explicit), dict(_paths)
    with _lock:
        _explicit.clear()
        _changed()
    try:
        yield
    finally:
        with _lock:
            _explicit.clear()
            _explicit.update(saved_explicit)
            _changed()
        _paths.clear()
        _paths.update(saved_paths)


def user_cache_folder() -> str:
    """The user's cache folder for Ember when ``cache_dir`` is None: ``$XDG_CACHE_HOME/ember``, else
    ``~/.cache/ember`` (the XDG convention; read here so that no other module reads the environment)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache")
    return os.path.join(os.path.expanduser(base), "ember")


def default_data_root() -> str:
    """The data root when ``data_root`` is None: ``~/.cache/ember/datasets``."""
    return os.path.join(os.path.expanduser("~"), ".cache", "ember", "datasets")


def documentation_table() -> str:
    """The Markdown table of every setting that ``docs/configuration.md`` holds (a test keeps them equal)."""
    rows = ["| setting | type | default | environment variable | what it does |", "|---|---|---|---|---|"]
    for setting in SETTINGS.values():
        kind = setting.kind if isinstance(setting.kind, str) else setting.kind.__name__
        if setting.choices:
            kind = " \\| ".join(repr(choice) for choice in setting.choices)
        default = "None" if setting.default is None else repr(setting.default)
        env = f"`{setting.env}`" if setting.env else ""
        rows.append(f"| `{setting.name}` | {kind} | `{default}` | {env} | {setting.doc} |")
    return "\n".join(rows)

