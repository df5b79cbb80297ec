"""``LambdaCallback``: a callback assembled from plain functions."""
from __future__ import annotations

from collections.abc import Callable

from .base import Callback

_HOOKS = tuple(name for name in vars(Callback) if name.startswith("on_"))


class LambdaCallback(Callback):
    """Call the given functions from the matching hooks.

    Epoch hooks receive ``(epoch, logs)``, batch hooks ``(batch, logs)``, train/test/predict begin and end
    hooks ``(logs)``; ``logs`` is always passed (``{}`` when there is nothing to report). Hooks not named in
    the signature (``on_test_end=...``) are accepted as keywords.

    Example::

        print_loss = LambdaCallback(on_epoch_end=lambda epoch, logs: print(epoch, logs["loss"]))
    """

    def __init__(self, on_epoch_begin: Callable | None = None, on_epoch_end: Callable | None = None,
                 on_train_begin: Callable | None = None, on_train_end: Callable | None = None,
                 on_train_batch_begin: Callable | None = None, on_train_batch_end: Callable | None = None,
                 **hooks: Callable):
        super().__init__()
        unknown = sorted(set(hooks) - set(_HOOKS))
        if unknown:
            raise TypeError(f"LambdaCallback: unknown hooks {unknown}; expected some of {sorted(_HOOKS)}")
        hooks.update(on_epoch_begin=on_epoch_begin, on_epoch_end=on_epoch_end, on_train_begin=on_train_begin,
                     on_train_end=on_train_end, on_train_batch_begin=on_train_batch_begin,
                     on_train_batch_end=on_train_batch_end)
        for name, function in hooks.items():
            if function is None:
                continue
            if not callable(function):
                raise TypeError(f"LambdaCallback: {name} must be callable, received {type(function).__name__}")
            setattr(self, name, _with_logs(function, indexed="epoch" in name or "batch" in name))


def _with_logs(function: Callable, indexed: bool) -> Callable:
    """The hook as Keras calls it: ``logs`` is always passed, ``{}`` when the caller has none."""
    if indexed:
        def hook(index, logs=None):
            return function(index, {} if logs is None else logs)
    else:
        def hook(logs=None):
            return function({} if logs is None else logs)
    return hook


__all__ = ["LambdaCallback"]
