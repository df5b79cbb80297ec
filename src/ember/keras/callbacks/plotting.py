"""``PlotTraining``: keep a PNG of the learning curves up to date while the model trains."""
from __future__ import annotations

import os
from collections.abc import Sequence

from ... import plot
from .base import Callback, History
from .monitors import OverfittingMonitor


class PlotTraining(Callback):
    """Redraw the training curves (``ember.plot.training_curves``) into ``path`` after every epoch
    (``every_epoch=True``) and at the end of training.

    ``metrics`` picks the metric families to draw (default: all). With ``overfitting_monitor`` (an
    ``OverfittingMonitor`` from the same ``callbacks`` list, placed before this callback) the best epoch it
    found is marked. The file is replaced atomically, so an image viewer never sees a half-written PNG.
    Needs matplotlib (``pip install ember[plot]``); its absence is reported when the callback is created.

    Example::

        monitor = keras.callbacks.OverfittingMonitor()
        model.fit(x, y, validation_split=0.1, epochs=20,
                  callbacks=[monitor, keras.callbacks.PlotTraining("curves.png", overfitting_monitor=monitor)])
    """

    def __init__(self, path="training.png", metrics: Sequence[str] | None = None, every_epoch: bool = True,
                 overfitting_monitor: OverfittingMonitor | None = None, title: str | None = None):
        super().__init__()
        plot.require_matplotlib()
        path = os.fspath(path)
        if not path.lower().endswith(".png"):
            raise ValueError(f"PlotTraining: the path must end in .png, received {path!r}")
        if overfitting_monitor is not None and not isinstance(overfitting_monitor, OverfittingMonitor):
            raise TypeError(f"PlotTraining: overfitting_monitor must be an OverfittingMonitor, received "
                            f"{type(overfitting_monitor).__name__}")
        self.path = path
        self.metrics = None if metrics is None else list(metrics)
        self.every_epoch = every_epoch
        self.overfitting_monitor = overfitting_monitor
        self.title = title
        self._epochs = []
        self._logs = []

    def on_train_begin(self, logs=None):
        self._epochs = []
        self._logs = []

    def on_epoch_end(self, epoch, logs=None):
        self._epochs.append(epoch)
        self._logs.append(dict(logs or {}))
        if self.every_epoch:
            self.draw()

    def on_train_end(self, logs=None):
        if self._logs:
            self.draw()

    def recorded_history(self) -> History:
        """The epochs seen so far as a ``History``; a key missing from an epoch's logs reads NaN."""
        keys = list(dict.fromkeys(key for logs in self._logs for key in logs))
        history = History()
        history.epoch = list(self._epochs)
        history.history = {key: [float(logs.get(key, float("nan"))) for logs in self._logs] for key in keys}
        return history

    def draw(self) -> str:
        """Write the picture now; returns its path."""
        best_epoch = None
        if self.overfitting_monitor is not None and self.overfitting_monitor.best_epoch in self._epochs:
            best_epoch = self.overfitting_monitor.best_epoch
        return plot.training_curves(self.recorded_history(), self.path, metrics=self.metrics, best_epoch=best_epoch,
                                    title=self.title)


__all__ = ["PlotTraining"]
