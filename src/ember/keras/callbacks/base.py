"""The callback protocol of ``fit``/``evaluate``/``predict``, ``History`` and the progress bar.

Hooks receive ``logs``: dicts of Python floats (``loss``, metric names, and ``val_``-prefixed ones at epoch
end). A callback can stop training by setting ``self.model.stop_training = True``.
"""
from __future__ import annotations

import sys
import time


class Callback:
    """Base class: override any ``on_*`` hook. ``self.model`` and ``self.params`` are set by ``fit``."""

    def __init__(self):
        self.model = None
        self.params = {}

    def set_model(self, model) -> None:
        self.model = model

    def set_params(self, params: dict) -> None:
        self.params = params

    def on_train_begin(self, logs=None): ...
    def on_train_end(self, logs=None): ...
    def on_epoch_begin(self, epoch, logs=None): ...
    def on_epoch_end(self, epoch, logs=None): ...
    def on_train_batch_begin(self, batch, logs=None):
        self.on_batch_begin(batch, logs=logs)  # as Keras: the old name is called from the default

    def on_train_batch_end(self, batch, logs=None):
        self.on_batch_end(batch, logs=logs)

    def on_batch_begin(self, batch, logs=None):
        """The old name of ``on_train_batch_begin``, called by its default."""

    def on_batch_end(self, batch, logs=None):
        """The old name of ``on_train_batch_end``, called by its default."""

    def on_test_begin(self, logs=None): ...
    def on_test_end(self, logs=None): ...
    def on_test_batch_begin(self, batch, logs=None): ...
    def on_test_batch_end(self, batch, logs=None): ...
    def on_predict_begin(self, logs=None): ...
    def on_predict_end(self, logs=None): ...
    def on_predict_batch_begin(self, batch, logs=None): ...
    def on_predict_batch_end(self, batch, logs=None): ...


class CallbackList:
    """Calls each hook on every callback in order, always with a ``logs`` dict (as Keras does)."""

    def __init__(self, callbacks, model, params: dict):
        self.callbacks = list(callbacks)
        for callback in self.callbacks:
            callback.set_model(model)
            callback.set_params(params)

    def __getattr__(self, hook):
        if not hook.startswith("on_"):
            raise AttributeError(hook)
        indexed = hook.startswith(("on_epoch_", "on_train_batch_", "on_test_batch_", "on_predict_batch_"))

        def call_all(*args, logs=None):
            logs = {} if logs is None else logs
            if indexed:
                (index,) = args
                for callback in self.callbacks:
                    getattr(callback, hook)(index, logs)
            else:
                for callback in self.callbacks:
                    getattr(callback, hook)(logs)

        return call_all


class History(Callback):
    """Records each epoch's logs: ``history.history["loss"]`` is a list of floats, one per epoch."""

    def __init__(self):
        super().__init__()
        self.history = {}
        self.epoch = []

    def on_train_begin(self, logs=None):
        self.epoch = []
        self.history = {}

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(float(value))


def format_logs(logs: dict) -> str:
    """``loss: 0.1234 - learning_rate: 1.0000e-05`` (small values in scientific notation, as Keras)."""
    return " - ".join(
        f"{key}: {value:.4e}" if value != 0 and abs(value) < 1e-3 else f"{key}: {value:.4f}"
        for key, value in logs.items()
    )


def format_seconds(seconds: float) -> str:
    if seconds >= 3600:
        return f"{int(seconds // 3600)}:{int(seconds % 3600 // 60):02d}:{int(seconds % 60):02d}"
    if seconds >= 60:
        return f"{int(seconds // 60)}:{int(seconds % 60):02d}"
    return f"{seconds:.0f}s"


class ProgbarLogger(Callback):
    """Keras's console output: ``verbose=1`` a bar per epoch (and for ``predict``) with ETA and running metrics,
    ``verbose=2`` one line per epoch. The bar redraws in place on a terminal and prints only the final line
    otherwise."""

    def __init__(self, verbose: int = 1, stream=None, width: int = 30):
        super().__init__()
        self.verbose = verbose
        self.stream = stream
        self.width = width

    @property
    def _out(self):
        return self.stream or sys.stdout

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = time.perf_counter()
        self._last_draw = 0.0
        self._seen = 0
        epochs = self.params.get("epochs")
        if self.verbose and epochs is not None:
            print(f"Epoch {epoch + 1}/{epochs}", file=self._out, flush=True)

    def on_train_batch_end(self, batch, logs=None):
        self._seen = batch + 1
        if self.verbose != 1 or not self._is_tty():
            return
        now = time.perf_counter()
        if now - self._last_draw < 0.1 and self._seen != self.params.get("steps"):
            return
        self._last_draw = now
        self._out.write("\r" + self._bar_line(logs or {}, final=False))
        self._out.flush()

    def on_epoch_end(self, epoch, logs=None):
        if not self.verbose:
            return
        elapsed = time.perf_counter() - self._epoch_start
        steps = max(self._seen, 1)
        if self.verbose == 1:
            line = self._bar_line(logs or {}, final=True, elapsed=elapsed)
            prefix = "\r" if self._is_tty() else ""
            self._out.write(prefix + line + "\n")
        else:
            per_step = elapsed / steps * 1000
            text = f"{steps}/{steps} - {format_seconds(elapsed)} - {per_step:.0f}ms/step"
            metrics = format_logs(logs or {})
            self._out.write(text + (" - " + metrics if metrics else "") + "\n")
        self._out.flush()

    # predict: the same bar (or line) for its batches, without metrics
    def on_predict_begin(self, logs=None):
        self._epoch_start = time.perf_counter()
        self._last_draw = 0.0
        self._seen = 0

    def on_predict_batch_end(self, batch, logs=None):
        self.on_train_batch_end(batch)

    def on_predict_end(self, logs=None):
        self.on_epoch_end(None)

    def _bar_line(self, logs, final: bool, elapsed: float | None = None) -> str:
        steps = self.params.get("steps") or 0
        seen = self._seen
        elapsed = time.perf_counter() - self._epoch_start if elapsed is None else elapsed
        if steps:
            done = int(self.width * min(seen, steps) / steps)
            arrow = ">" if done < self.width else ""
            bar = "[" + "=" * max(done - (1 if arrow else 0), 0) + arrow + "." * (self.width - done) + "]"
            counter = f"{seen}/{steps}"
        else:
            bar, counter = "", f"{seen}/Unknown"
        if final:
            timing = f"{format_seconds(elapsed)} {elapsed / max(seen, 1) * 1000:.0f}ms/step"
        else:
            remaining = (steps - seen) * elapsed / max(seen, 1) if steps else 0.0
            timing = f"ETA: {format_seconds(remaining)}"
        metrics = format_logs(logs)
        return f"{counter} {bar} - {timing}" + (f" - {metrics}" if metrics else "")

    def _is_tty(self) -> bool:
        isatty = getattr(self._out, "isatty", None)
        return bool(isatty and isatty())
