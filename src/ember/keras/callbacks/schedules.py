"""Callbacks that set ``model.optimizer.learning_rate``: ``LearningRateScheduler`` and ``ReduceLROnPlateau``.

Both record the learning rate of the finished epoch as ``logs["learning_rate"]``, so ``History`` keeps the
schedule next to the losses.
"""
from __future__ import annotations

from collections.abc import Callable

from ...optim.lr_scheduler import apply_schedule
from .base import Callback
from .monitoring import MonitorCallback, print_message


def _optimizer(callback: Callback):
    optimizer = getattr(callback.model, "optimizer", None)
    if optimizer is None or not hasattr(optimizer, "learning_rate"):
        raise RuntimeError(f"{type(callback).__name__}: the model has no optimizer with a learning_rate; "
                           "call model.compile(optimizer=...) before fit")
    return optimizer


class LearningRateScheduler(Callback):
    """Set the learning rate at the start of every epoch to ``schedule(epoch, lr)`` (or ``schedule(epoch)``).

    ``epoch`` is 0-based and ``lr`` is the current learning rate. With ``verbose=1`` it prints
    ``Epoch 00005: LearningRateScheduler setting learning rate to 0.0012.``

    Example::

        def schedule(epoch, lr):
            return lr if epoch < 10 else lr * 0.9
        model.fit(x, y, epochs=20, callbacks=[keras.callbacks.LearningRateScheduler(schedule)])
    """

    def __init__(self, schedule: Callable, verbose: int = 0):
        super().__init__()
        if not callable(schedule):
            raise TypeError(f"LearningRateScheduler: schedule must be callable, received {type(schedule).__name__}")
        self.schedule = schedule
        self.verbose = verbose

    def on_epoch_begin(self, epoch, logs=None):
        optimizer = _optimizer(self)
        learning_rate = apply_schedule(self.schedule, epoch, float(optimizer.learning_rate))
        optimizer.learning_rate = learning_rate
        if self.verbose > 0:
            print_message(f"Epoch {epoch + 1:05d}: LearningRateScheduler setting learning rate to {learning_rate}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(_optimizer(self).learning_rate)


class ReduceLROnPlateau(MonitorCallback):
    """Multiply the learning rate by ``factor`` when ``monitor`` has not improved for ``patience`` epochs.

    An improvement must beat the best value by more than ``min_delta``. After a reduction, ``cooldown``
    epochs pass before waiting starts again; the rate never goes below ``min_lr``.
    Defaults: ``monitor="val_loss"``, ``factor=0.1``, ``patience=10``, ``min_delta=1e-4``, ``cooldown=0``,
    ``min_lr=0.0``.
    """

    def __init__(self, monitor: str = "val_loss", factor: float = 0.1, patience: int = 10, verbose: int = 0,
                 mode: str = "auto", min_delta: float = 1e-4, cooldown: int = 0, min_lr: float = 0.0):
        super().__init__(monitor, mode, min_delta)
        if not 0.0 < factor < 1.0:
            raise ValueError(f"ReduceLROnPlateau: factor must lie in (0, 1), received {factor}")
        if patience < 0 or cooldown < 0 or min_lr < 0:
            raise ValueError(f"ReduceLROnPlateau: patience, cooldown and min_lr must be non-negative, received "
                             f"patience={patience}, cooldown={cooldown}, min_lr={min_lr}")
        self.factor = float(factor)
        self.patience = patience
        self.verbose = verbose
        self.cooldown = cooldown
        self.min_lr = float(min_lr)
        self._reset()

    def _reset(self) -> None:
        self.best = None
        self.wait = 0
        self.cooldown_counter = 0

    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def on_train_begin(self, logs=None):
        self._reset()
        self.reset_missing_warning()

    def on_epoch_end(self, epoch, logs=None):
        optimizer = _optimizer(self)
        if logs is not None:
            logs["learning_rate"] = float(optimizer.learning_rate)
        current = self.monitored_value(logs)
        if current is None:
            return
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self.is_improvement(current, self.best):
            self.best = current
            self.wait = 0
            return
        if self.in_cooldown():
            return
        self.wait += 1
        if self.wait < self.patience:
            return
        old_learning_rate = float(optimizer.learning_rate)
        if old_learning_rate <= self.min_lr:
            return
        new_learning_rate = max(old_learning_rate * self.factor, self.min_lr)
        optimizer.learning_rate = new_learning_rate
        if self.verbose > 0:
            print_message(f"Epoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new_learning_rate}.")
        self.cooldown_counter = self.cooldown
        self.wait = 0


__all__ = ["LearningRateScheduler", "ReduceLROnPlateau", "apply_schedule"]
