"""``CSVLogger``: one CSV row per epoch with the epoch's logs."""
from __future__ import annotations

import csv
import os

from .base import Callback


class CSVLogger(Callback):
    """Write ``epoch`` (0-based, as Keras) and the sorted log keys of every epoch to ``filename``.

    The header is written with the first row (not when appending to a file that already has content). When
    the first epoch has no ``val_`` keys, ``val_`` columns are added for every key and hold ``NA`` until
    validation runs (Keras's layout, which keeps the columns stable with ``validation_freq > 1``). Each row
    is flushed, so the file can be read while training runs. Defaults: ``separator=","``, ``append=False``.
    """

    def __init__(self, filename, separator: str = ",", append: bool = False):
        super().__init__()
        if not isinstance(separator, str) or len(separator) != 1:
            raise ValueError(f"CSVLogger: separator must be a single character, received {separator!r}")
        self.filename = os.fspath(filename)
        self.sep = separator
        self.append = append
        self.keys = None
        self.writer = None
        self.csv_file = None
        self.append_header = True

    def on_train_begin(self, logs=None):
        if self.append:
            if os.path.exists(self.filename):
                with open(self.filename, encoding="utf-8", newline="") as existing:
                    self.append_header = not existing.readline()
            mode = "a"
        else:
            mode = "w"
        self.csv_file = open(self.filename, mode, encoding="utf-8", newline="")  # noqa: SIM115 - open across epochs, closed on_train_end
        self.writer = None
        self.keys = None

    def on_epoch_end(self, epoch, logs=None):
        if self.csv_file is None:
            raise RuntimeError("CSVLogger: on_epoch_end was called before on_train_begin opened the file")
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs)
            if self.keys and not any(key.startswith("val_") for key in self.keys):
                self.keys.extend(f"val_{key}" for key in list(self.keys))
        if self.writer is None:
            self.writer = csv.DictWriter(self.csv_file, fieldnames=["epoch"] + self.keys, delimiter=self.sep,
                                         extrasaction="ignore", lineterminator="\n")
            if self.append_header:
                self.writer.writeheader()
        row = {"epoch": epoch}
        row.update((key, logs.get(key, "NA")) for key in self.keys)
        self.writer.writerow(row)
        self.csv_file.flush()

    def on_train_end(self, logs=None):
        if self.csv_file is not None:
            self.csv_file.close()
        self.csv_file = None
        self.writer = None


__all__ = ["CSVLogger"]
