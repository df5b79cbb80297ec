"""Callbacks that end training early: ``EarlyStopping`` (no more improvement) and ``TerminateOnNaN``."""
from __future__ import annotations

import math

from .base import Callback
from .monitoring import MonitorCallback, print_message


class EarlyStopping(MonitorCallback):
    """Stop training when ``monitor`` has not improved for ``patience`` epochs.

    An improvement beats the best value so far by more than ``min_delta``. With ``baseline``, the waiting
    count restarts only on epochs that also beat the baseline. Epochs before ``start_from_epoch`` are not
    watched. With ``restore_best_weights=True`` the weights of the best epoch are put back at the end of
    training (whether or not patience ran out). ``best_epoch`` and ``stopped_epoch`` are 0-based, as the
    ``epoch`` argument of the hooks (``stopped_epoch`` is 0 when training was not stopped).
    Defaults: ``monitor="val_loss"``, ``min_delta=0``, ``patience=0``, ``mode="auto"``.
    """

    def __init__(self, monitor: str = "val_loss", min_delta: float = 0, patience: int = 0, verbose: int = 0,
                 mode: str = "auto", baseline: float | None = None, restore_best_weights: bool = False,
                 start_from_epoch: int = 0):
        super().__init__(monitor, mode, min_delta)
        if patience < 0 or start_from_epoch < 0:
            raise ValueError(f"EarlyStopping: patience and start_from_epoch must be non-negative, received "
                             f"patience={patience}, start_from_epoch={start_from_epoch}")
        self.patience = patience
        self.verbose = verbose
        self.baseline = None if baseline is None else float(baseline)
        self.restore_best_weights = restore_best_weights
        self.start_from_epoch = start_from_epoch
        self._reset()

    def _reset(self) -> None:
        self.wait = 0
        self.stopped_epoch = 0
        self.best = None
        self.best_epoch = 0
        self.best_weights = None

    def on_train_begin(self, logs=None):
        self._reset()
        self.reset_missing_warning()

    def on_epoch_end(self, epoch, logs=None):
        current = self.monitored_value(logs)
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            # until something improves, the first watched epoch is the best one seen
            self.best_weights = self.model.get_weights()
            self.best_epoch = epoch
        self.wait += 1
        if self.is_improvement(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self.is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            print_message(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print_message(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)


class TerminateOnNaN(Callback):
    """Stop training as soon as the running loss of a batch is NaN or infinite."""

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            print_message(f"Batch {batch}: Invalid loss, terminating training")
            self.model.stop_training = True


__all__ = ["EarlyStopping", "TerminateOnNaN"]
