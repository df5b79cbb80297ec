"""``ModelCheckpoint``: save the model (or its weights) during training.

Files are written by ``model.save``/``model.save_weights``, which write a temporary file beside the target
and rename it, so an interrupted save never leaves a truncated checkpoint under the target name.
"""
from __future__ import annotations

import os

from .monitoring import MonitorCallback, print_message

MODEL_SUFFIX = ".keras"
WEIGHTS_SUFFIX = ".weights.safetensors"


class ModelCheckpoint(MonitorCallback):
    """Save the model after every epoch (``save_freq="epoch"``) or every ``save_freq`` batches.

    ``filepath`` may hold ``str.format`` placeholders: ``{epoch:02d}`` (1-based), ``{batch}`` (1-based, for
    batch-level saving) and any logged quantity, e.g. ``"ckpt/model-{epoch:02d}-{val_loss:.2f}.keras"``.
    A name ending in ``.keras`` gets the whole model (``model.save``, reload with
    ``keras.models.load_model``); one ending in ``.weights.safetensors`` gets the weights only
    (``model.save_weights``), which ``save_weights_only=True`` requires.
    With ``save_best_only=True`` a file is written only when ``monitor`` beats the best value so far (or
    ``initial_value_threshold``, when given).
    Defaults: ``monitor="val_loss"``, ``mode="auto"``, ``save_freq="epoch"``.
    """

    def __init__(self, filepath, monitor: str = "val_loss", verbose: int = 0, save_best_only: bool = False,
                 save_weights_only: bool = False, mode: str = "auto", save_freq="epoch",
                 initial_value_threshold: float | None = None):
        super().__init__(monitor, mode)
        self.filepath = os.fspath(filepath)
        if save_freq != "epoch" and (isinstance(save_freq, bool) or not isinstance(save_freq, int) or save_freq < 1):
            raise ValueError(f"ModelCheckpoint: save_freq must be 'epoch' or a positive number of batches, "
                             f"received {save_freq!r}")
        if save_weights_only and not self.filepath.endswith(WEIGHTS_SUFFIX):
            raise ValueError(f"ModelCheckpoint: with save_weights_only=True the filepath must end in "
                             f"'{WEIGHTS_SUFFIX}', received {self.filepath!r}")
        if not self.filepath.endswith((MODEL_SUFFIX, WEIGHTS_SUFFIX)):
            raise ValueError(f"ModelCheckpoint: the filepath must end in '{MODEL_SUFFIX}' (whole model) or "
                             f"'{WEIGHTS_SUFFIX}' (weights only), received {self.filepath!r}")
        self.verbose = verbose
        self.save_best_only = save_best_only
        self.save_weights_only = save_weights_only or self.filepath.endswith(WEIGHTS_SUFFIX)
        self.save_freq = save_freq
        self.initial_value_threshold = initial_value_threshold
        self.best = None if initial_value_threshold is None else float(initial_value_threshold)
        self._current_epoch = 0
        self._batches_seen_since_last_saving = 0
        self._last_batch_seen = 0

    def on_train_begin(self, logs=None):
        self.reset_missing_warning()

    def on_epoch_begin(self, epoch, logs=None):
        self._current_epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self._should_save_on_batch(batch):
            self._save_model(self._current_epoch, batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._save_model(epoch, None, logs)

    def _should_save_on_batch(self, batch: int) -> bool:
        if self.save_freq == "epoch":
            return False
        # batch indices restart at 0 each epoch; count what was seen since the last call
        seen = batch + 1 if batch <= self._last_batch_seen else batch - self._last_batch_seen
        self._batches_seen_since_last_saving += seen
        self._last_batch_seen = batch
        if self._batches_seen_since_last_saving >= self.save_freq:
            self._batches_seen_since_last_saving = 0
            return True
        return False

    def _file_path(self, epoch: int, batch: int | None, logs: dict) -> str:
        fields = dict(logs)
        fields["epoch"] = epoch + 1
        if batch is not None:
            fields["batch"] = batch + 1
        try:
            return self.filepath.format(**fields)
        except (KeyError, IndexError) as error:
            raise KeyError(f"ModelCheckpoint: cannot format filepath {self.filepath!r}: {error!r} is not one of "
                           f"the available fields {sorted(fields)}") from None

    def _should_save(self, epoch: int, logs: dict, filepath: str) -> bool:
        if not self.save_best_only:
            if self.verbose > 0:
                print_message(f"Epoch {epoch + 1}: saving model to {filepath}")
            return True
        current = self.monitored_value(logs)
        if current is None:
            return True  # as Keras: without the monitored value every checkpoint is kept
        best_text = "None" if self.best is None else f"{self.best:.5f}"
        if self.is_improvement(current, self.best):
            if self.verbose > 0:
                print_message(f"Epoch {epoch + 1}: {self.monitor} improved from {best_text} to {current:.5f}, "
                              f"saving model to {filepath}")
            self.best = current
            return True
        if self.verbose > 0:
            print_message(f"Epoch {epoch + 1}: {self.monitor} did not improve from {best_text}")
        return False

    def _save_model(self, epoch: int, batch: int | None, logs) -> None:
        logs = logs or {}
        filepath = self._file_path(epoch, batch, logs)
        if not self._should_save(epoch, logs, filepath):
            return
        if os.path.isdir(filepath):
            raise IsADirectoryError(f"ModelCheckpoint: the filepath {filepath!r} is an existing directory; "
                                    "give a file name")
        folder = os.path.dirname(filepath)
        if folder:
            os.makedirs(folder, exist_ok=True)
        if self.save_weights_only:
            self.model.save_weights(filepath, overwrite=True)
        else:
            self.model.save(filepath, overwrite=True)


__all__ = ["ModelCheckpoint"]
