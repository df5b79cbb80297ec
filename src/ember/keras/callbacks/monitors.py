"""``OverfittingMonitor``: say when the validation curve turns up while the training curve keeps going down."""
from __future__ import annotations

from .monitoring import MonitorCallback, is_better, monitor_direction, print_message


class OverfittingMonitor(MonitorCallback):
    """Report overfitting: ``monitor`` got worse for ``patience`` consecutive epochs while ``train_monitor``
    kept improving.

    It prints one line per episode (a run of such epochs), e.g.
    ``OverfittingMonitor: val_loss has risen for 2 epochs while loss kept falling; best epoch was 3
    (val_loss 0.0412)``, and never stops training (``EarlyStopping`` does that). ``overfitting_epochs``
    lists the epochs at which it fired and ``best_epoch`` is the epoch with the best ``monitor`` value so far;
    both are 0-based like the ``epoch`` argument of the hooks (the message counts from 1). Directions follow
    the names (``mode="auto"`` rules): losses should fall, accuracies rise.
    Defaults: ``monitor="val_loss"``, ``train_monitor="loss"``, ``patience=2``, ``verbose=1``.
    """

    def __init__(self, monitor: str = "val_loss", train_monitor: str = "loss", patience: int = 2,
                 verbose: int = 1):
        super().__init__(monitor, "auto")
        self.train_direction = monitor_direction("OverfittingMonitor", train_monitor, "auto")
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 1:
            raise ValueError(f"OverfittingMonitor: patience must be a positive integer, received {patience!r}")
        self.train_monitor = train_monitor
        self.patience = patience
        self.verbose = verbose
        self._reset()

    def _reset(self) -> None:
        self.overfitting_epochs = []
        self.best_epoch = None
        self.best = None
        self.streak = 0
        self._fired_in_streak = False
        self._previous = None  # (monitored, train) values of the last watched epoch

    def on_train_begin(self, logs=None):
        self._reset()
        self.reset_missing_warning()

    def on_epoch_end(self, epoch, logs=None):
        current = self.monitored_value(logs)
        train = self.monitored_value(logs, self.train_monitor)
        if current is None or train is None:
            return
        if is_better(current, self.best, self.direction):
            self.best, self.best_epoch = current, epoch
        previous, self._previous = self._previous, (current, train)
        if previous is None:
            return
        monitored_worse = is_better(previous[0], current, self.direction)
        train_better = is_better(train, previous[1], self.train_direction)
        if not (monitored_worse and train_better):
            self.streak = 0
            self._fired_in_streak = False
            return
        self.streak += 1
        if self.streak >= self.patience and not self._fired_in_streak:
            self._fired_in_streak = True
            self.overfitting_epochs.append(epoch)
            if self.verbose > 0:
                print_message(self.message())

    def message(self) -> str:
        """The report line for the current episode."""
        worse = "risen" if self.direction == "min" else "fallen"
        better = "falling" if self.train_direction == "min" else "rising"
        return (f"OverfittingMonitor: {self.monitor} has {worse} for {self.streak} epochs while "
                f"{self.train_monitor} kept {better}; best epoch was {self.best_epoch + 1} "
                f"({self.monitor} {self.best:.4f})")


__all__ = ["OverfittingMonitor"]
