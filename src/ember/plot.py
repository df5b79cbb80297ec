"""Pictures of training as PNG files: learning curves, learning-rate schedules, digit grids, confusion matrices.

    from ember import plot
    history = model.fit(x, y, validation_split=0.1, epochs=10)
    plot.training_curves(history, "curves.png")
    plot.digit_grid(x_test[:100], y_test[:100], model.predict(x_test[:100]), "digits.png")

matplotlib is an optional dependency (``pip install ember[plot]``), imported on first use. Figures are built
on ``matplotlib.figure.Figure`` with the Agg canvas, never through ``pyplot``: no global state, no GUI
backend, no figures left open, safe to call from several threads. Every ``figure_for_*`` builder returns the
Figure (to inspect or to show in a notebook); the plain functions save it with ``save_figure`` (PNG, written
atomically: a temporary file beside the target, then a rename) and return the path.
"""
from __future__ import annotations

import io
import math
import os
from collections.abc import Sequence

import numpy as np

from .io.safetensors import atomic_write

INSTALL_HINT = "pip install ember[plot]"
DPI = 100
WRONG_COLOR = "red"
RIGHT_COLOR = "black"

__all__ = [
    "training_curves", "learning_rate_schedule", "digit_grid", "confusion_matrix_heatmap",
    "figure_for_training_curves", "figure_for_learning_rate_schedule", "figure_for_digit_grid",
    "figure_for_confusion_matrix_heatmap", "save_figure", "require_matplotlib", "INSTALL_HINT",
]


def require_matplotlib():
    """``(Figure, FigureCanvasAgg)`` from matplotlib; ImportError with the install line when it is missing."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ImportError(f"ember.plot needs matplotlib, which is not installed: {INSTALL_HINT}") from error
    return Figure, FigureCanvasAgg


def _new_figure(width: float, height: float, constrained: bool = True):
    figure_class, canvas_class = require_matplotlib()
    # whole pixels, so the PNG is exactly figsize * dpi
    width, height = round(width * DPI) / DPI, round(height * DPI) / DPI
    figure = figure_class(figsize=(width, height), dpi=DPI, layout="constrained" if constrained else None)
    canvas_class(figure)
    return figure


def _fixed_margins(figure, title: bool) -> None:
    """Margins in inches, so that a figure draws once (constrained layout draws twice: too slow to redraw
    after every epoch)."""
    width, height = figure.get_size_inches()
    top = 0.45 + (0.35 if title else 0.0)
    figure.subplots_adjust(left=0.75 / width, right=1.0 - 0.25 / width, bottom=0.55 / height,
                           top=1.0 - top / height, wspace=0.3, hspace=0.45)


def save_figure(figure, path, dpi: int = DPI) -> str:
    """Write ``figure`` to ``path`` as a PNG of ``figsize * dpi`` pixels, atomically; returns the path."""
    path = os.fspath(path)
    if not path.lower().endswith(".png"):
        raise ValueError(f"ember.plot: figures are written as PNG; the path must end in .png, received {path!r}")
    _, canvas_class = require_matplotlib()
    if not isinstance(figure.canvas, canvas_class):
        canvas_class(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    atomic_write(path, buffer.getvalue())
    return path


def _to_numpy(values, where: str) -> np.ndarray:
    """A NumPy array from an array, an ember Tensor (CPU or GPU) or a nested list."""
    from .autograd.tensor import Tensor

    if isinstance(values, Tensor):
        values = values.array
    if type(values).__module__.startswith("cupy"):
        values = values.get()
    try:
        return np.asarray(values)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{where}: expected an array, received {type(values).__name__} ({error})") from None


# ----------------------------------------------------------------------------------------- training curves
def _history_table(history, where: str) -> tuple[np.ndarray, dict]:
    """``(epochs, {key: values})``: 0-based epoch numbers and one float array per logged key, NaN where an
    epoch did not log the key."""
    epochs = None
    if hasattr(history, "history") and isinstance(history.history, dict):  # e.g. the History fit returns
        series = history.history
        epochs = list(getattr(history, "epoch", None) or []) or None
    elif isinstance(history, dict):
        series = history
    elif isinstance(history, (list, tuple)) and all(isinstance(record, dict) for record in history):
        keys = list(dict.fromkeys(key for record in history for key in record))
        series = {key: [record.get(key) for record in history] for key in keys}
    else:
        raise TypeError(f"{where}: history must be a History, a dict of lists or a list of dicts, received "
                        f"{type(history).__name__}")
    if not series:
        raise ValueError(f"{where}: the history is empty; nothing to plot")
    lengths = {key: len(values) for key, values in series.items()}
    count = len(epochs) if epochs is not None else max(lengths.values())
    if any(length != count for length in lengths.values()):
        raise ValueError(f"{where}: every logged quantity needs one value per epoch ({count}), received lengths "
                         f"{lengths}; pass a list of per-epoch dicts when some epochs lack a key")
    if count == 0:
        raise ValueError(f"{where}: the history has no epochs; nothing to plot")
    table = {}
    for key, values in series.items():
        try:
            table[key] = np.array(values, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"{where}: {key!r} must hold numbers, received {list(values)[:3]}...") from None
    return np.asarray(epochs if epochs is not None else range(count), dtype=np.int64), table


def _families(keys: Sequence[str]) -> list[str]:
    """Metric families in order of appearance, ``loss`` first: ``val_accuracy`` belongs to ``accuracy``."""
    families = list(dict.fromkeys(key.removeprefix("val_") for key in keys))
    if "loss" in families:
        families.remove("loss")
        families.insert(0, "loss")
    return families


def figure_for_training_curves(history, metrics: Sequence[str] | None = None, best_epoch: int | None = None,
                               title: str | None = None):
    """Figure with one panel per metric family (loss, accuracy, …), training and ``val_`` curves together.

    ``history``: a ``History`` (from ``fit``), a dict ``{key: [one value per epoch]}`` or a list of per-epoch
    log dicts. ``metrics``: family names to draw (default: all, loss first). ``best_epoch``: a 0-based epoch
    number, as in ``History.epoch`` and ``EarlyStopping.best_epoch``, marked with a vertical line. The x axis
    counts epochs from 1, as Keras prints them.
    """
    where = "training_curves"
    epochs, table = _history_table(history, where)
    available = _families(list(table))
    families = available if metrics is None else list(metrics)
    unknown = [name for name in families if name not in available]
    if unknown or not families:
        raise ValueError(f"{where}: metrics {unknown or families} not in the history; available: {available}")
    best_index = None
    if best_epoch is not None:
        matches = np.flatnonzero(epochs == int(best_epoch))
        if matches.size == 0:
            raise ValueError(f"{where}: best_epoch={best_epoch} is not one of the history's epochs "
                             f"{epochs.tolist()} (0-based)")
        best_index = int(matches[0])
    columns = min(len(families), 3)
    rows = math.ceil(len(families) / columns)
    figure = _new_figure(4.8 * columns, 3.6 * rows + (0.35 if title else 0.0), constrained=False)
    _fixed_margins(figure, bool(title))
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    x = epochs + 1
    for axis, family in zip(axes, families):
        _draw_family(axis, family, x, table.get(family), table.get(f"val_{family}"), best_index)
    for axis in axes[len(families):]:
        axis.set_visible(False)
    if title:
        figure.suptitle(title)
    return figure


def _draw_family(axis, family: str, x, train, validation, best_index: int | None) -> None:
    from matplotlib.ticker import MaxNLocator

    if train is not None:
        train_label = "training" if validation is not None or family == "loss" else family.replace("_", " ")
        axis.plot(x, train, marker="o", markersize=3, color="tab:blue", label=train_label)
    if validation is not None:
        axis.plot(x, validation, marker="o", markersize=3, color="tab:orange", label="validation")
    if best_index is not None:
        axis.axvline(x[best_index], color="tab:red", linestyle="--", linewidth=1,
                     label=f"best epoch ({x[best_index]})")
        if validation is not None and not np.isnan(validation[best_index]):
            axis.plot(x[best_index], validation[best_index], marker="*", markersize=12, color="tab:red")
    values = np.concatenate([series[np.isfinite(series)] for series in (train, validation) if series is not None])
    if family in ("learning_rate", "lr") and values.size and values.min() > 0 and values.max() >= 10 * values.min():
        axis.set_yscale("log")
    axis.set_title(family)
    axis.set_xlabel("epoch")
    axis.set_ylabel(family)
    axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    axis.grid(alpha=0.3)
    axis.legend()


def training_curves(history, path, metrics: Sequence[str] | None = None, best_epoch: int | None = None,
                    title: str | None = None) -> str:
    """Write the learning curves of ``history`` to the PNG ``path``; returns the path.

    See ``figure_for_training_curves`` for the arguments.
    """
    return save_figure(figure_for_training_curves(history, metrics, best_epoch, title), path)


# --------------------------------------------------------------------------------- learning-rate schedule
def _schedule_values(schedule_or_values, epochs: int | None, initial_learning_rate: float) -> np.ndarray:
    where = "learning_rate_schedule"
    if callable(schedule_or_values):
        if epochs is None or int(epochs) < 1:
            raise ValueError(f"{where}: a schedule function needs epochs >= 1, received epochs={epochs}")
        from .optim.lr_scheduler import apply_schedule

        values, learning_rate = [], float(initial_learning_rate)
        for epoch in range(int(epochs)):
            learning_rate = apply_schedule(schedule_or_values, epoch, learning_rate, where)
            values.append(learning_rate)
        return np.array(values, dtype=np.float64)
    values = _to_numpy(schedule_or_values, where).astype(np.float64).reshape(-1)
    if values.size == 0:
        raise ValueError(f"{where}: received no learning rates")
    if epochs is not None:
        if int(epochs) > values.size:
            raise ValueError(f"{where}: epochs={epochs} but only {values.size} learning rates were given")
        values = values[: int(epochs)]
    return values


def figure_for_learning_rate_schedule(schedule_or_values, epochs: int | None = None,
                                      initial_learning_rate: float = 0.001):
    """Figure of the learning rate of each epoch (x counts from 1).

    ``schedule_or_values``: a list of rates, or a schedule ``schedule(epoch)`` / ``schedule(epoch, lr)`` as
    given to ``LearningRateScheduler`` (``epoch`` 0-based), evaluated for ``epochs`` epochs starting from
    ``initial_learning_rate`` (default 0.001). A log scale is used when the rates span a factor of 10 or more.
    """
    values = _schedule_values(schedule_or_values, epochs, initial_learning_rate)
    figure = _new_figure(6.0, 3.6, constrained=False)
    _fixed_margins(figure, title=False)
    axis = figure.add_subplot()
    x = np.arange(1, values.size + 1)
    axis.plot(x, values, marker="o", markersize=3, drawstyle="steps-post", color="tab:blue", label="learning rate")
    if values.min() > 0 and values.max() >= 10 * values.min():
        axis.set_yscale("log")
    from matplotlib.ticker import MaxNLocator

    axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    axis.set_xlabel("epoch")
    axis.set_ylabel("learning rate")
    axis.set_title("learning-rate schedule")
    axis.grid(alpha=0.3)
    axis.legend()
    return figure


def learning_rate_schedule(schedule_or_values, path, epochs: int | None = None,
                           initial_learning_rate: float = 0.001) -> str:
    """Write the learning rate per epoch to the PNG ``path``; returns the path.

    See ``figure_for_learning_rate_schedule`` for the arguments.
    """
    return save_figure(figure_for_learning_rate_schedule(schedule_or_values, epochs, initial_learning_rate), path)


# ---------------------------------------------------------------------------------------------- digit grid
_CELL_PAD = 4  # pixels between digits
_LABEL_BAND = 14  # pixels under each digit for its label


def _square_images(images, where: str) -> np.ndarray:
    """``(N, H, W)`` from ``(N, H, W)``, ``(N, H, W, 1)`` or ``(N, H*W)`` with a square image."""
    array = _to_numpy(images, where)
    if array.ndim == 4 and array.shape[-1] == 1:
        array = array[..., 0]
    elif array.ndim == 2:
        side = math.isqrt(array.shape[1])
        if side * side != array.shape[1]:
            raise ValueError(f"{where}: flat images need a square pixel count (784 = 28*28), received shape "
                             f"{array.shape}")
        array = array.reshape(array.shape[0], side, side)
    if array.ndim != 3 or array.shape[0] == 0:
        raise ValueError(f"{where}: images must have shape (N, 28, 28), (N, 28, 28, 1) or (N, 784) with N > 0, "
                         f"received shape {array.shape}")
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
        raise TypeError(f"{where}: images must be numeric, received dtype {array.dtype}")
    return array


def _class_indices(values, count: int, what: str, where: str) -> np.ndarray:
    """Integer classes from labels ``(N,)`` or scores/one-hot rows ``(N, C)`` (argmax)."""
    array = _to_numpy(values, where)
    if array.ndim == 2 and array.shape[1] > 1:
        array = array.argmax(axis=1)
    array = array.reshape(-1) if array.ndim == 2 and array.shape[1] == 1 else array
    if array.ndim != 1 or array.shape[0] != count:
        raise ValueError(f"{where}: {what} must have shape ({count},) or ({count}, classes) to match the images, "
                         f"received shape {_to_numpy(values, where).shape}")
    return array.astype(np.int64)


def _intensity_range(images: np.ndarray) -> tuple[float, float]:
    if images.dtype == np.uint8:
        return 0.0, 255.0
    low, high = float(images.min()), float(images.max())
    if low >= 0.0 and high <= 1.0:
        return 0.0, 1.0
    return low, (high if high > low else low + 1.0)


def figure_for_digit_grid(images, labels, predictions=None, columns: int = 10, max_images: int = 100):
    """Figure of a grid of digits, dark on light, with a label under each.

    With ``predictions`` (classes ``(N,)`` or scores ``(N, classes)``) the label is the predicted class, in red
    where it differs from ``labels``; without, it is the true label. ``images``: ``(N, 28, 28)``,
    ``(N, 28, 28, 1)`` or ``(N, 784)``, uint8 or floats in any range. At most ``max_images`` (default 100)
    images, ``columns`` (default 10) per row. The label texts are ``figure.axes[0].texts``, in grid order.
    """
    where = "digit_grid"
    if int(columns) < 1 or int(max_images) < 1:
        raise ValueError(f"{where}: columns and max_images must be positive, received columns={columns}, "
                         f"max_images={max_images}")
    images = _square_images(images, where)
    total = images.shape[0]
    true_classes = _class_indices(labels, total, "labels", where)
    predicted = None if predictions is None else _class_indices(predictions, total, "predictions", where)
    count = min(total, int(max_images))
    columns = min(int(columns), count)
    rows = math.ceil(count / columns)
    low, high = _intensity_range(images[:count])
    height, width = images.shape[1:]
    cell_height, cell_width = height + _LABEL_BAND, width + _CELL_PAD
    # lay the digits out in one image: pad to a full grid, then (rows, columns, h, w) -> (rows*h, columns*w)
    cells = np.full((rows * columns, cell_height, cell_width), low, dtype=np.float32)
    cells[:count, :height, _CELL_PAD // 2:_CELL_PAD // 2 + width] = images[:count]
    mosaic = cells.reshape(rows, columns, cell_height, cell_width).transpose(0, 2, 1, 3)
    mosaic = mosaic.reshape(rows * cell_height, columns * cell_width)

    inches_per_pixel = 0.6 / cell_width
    title_inches = 0.35
    figure = _new_figure(columns * cell_width * inches_per_pixel,
                         rows * cell_height * inches_per_pixel + title_inches, constrained=False)
    axis = figure.add_axes((0.0, 0.0, 1.0, 1.0 - title_inches / figure.get_figheight()))
    axis.imshow(mosaic, cmap="binary", vmin=low, vmax=high, interpolation="nearest", aspect="auto")
    axis.set_axis_off()
    shown = predicted if predicted is not None else true_classes
    wrong = np.zeros(count, dtype=bool) if predicted is None else predicted[:count] != true_classes[:count]
    for index in range(count):
        row, column = divmod(index, columns)
        axis.text(column * cell_width + cell_width / 2 - 0.5, row * cell_height + height + _LABEL_BAND / 2 - 0.5,
                  str(int(shown[index])), ha="center", va="center", fontsize=9,
                  color=WRONG_COLOR if wrong[index] else RIGHT_COLOR, fontweight="bold" if wrong[index] else "normal")
    if predicted is None:
        heading = f"{count} digits with their labels"
    else:
        heading = f"predicted labels: {int(wrong.sum())} of {count} wrong (in red)"
    figure.text(0.5, 1.0 - title_inches / 2 / figure.get_figheight(), heading, ha="center", va="center", fontsize=10)
    return figure


def digit_grid(images, labels, predictions=None, path="digits.png", columns: int = 10,
               max_images: int = 100) -> str:
    """Write a grid of digits with their (predicted) labels to the PNG ``path``, wrong ones in red; returns
    the path. See ``figure_for_digit_grid`` for the arguments."""
    return save_figure(figure_for_digit_grid(images, labels, predictions, columns, max_images), path)


# ---------------------------------------------------------------------------------------- confusion matrix
def figure_for_confusion_matrix_heatmap(matrix, class_names: Sequence[str] | None = None, normalize: bool = False):
    """Figure of a confusion matrix (rows: true class, columns: predicted class) as a heat map with the value
    written in each cell.

    ``normalize=True`` divides each row by its total (the fraction of each true class predicted as each
    class; rows without samples stay 0). ``class_names`` label the axes (default 0, 1, …).
    """
    where = "confusion_matrix_heatmap"
    values = _to_numpy(matrix, where)
    if values.ndim != 2 or values.shape[0] != values.shape[1] or values.shape[0] == 0:
        raise ValueError(f"{where}: matrix must be square (classes, classes), received shape {values.shape}")
    if not np.issubdtype(values.dtype, np.number):
        raise TypeError(f"{where}: matrix must be numeric, received dtype {values.dtype}")
    values = values.astype(np.float64)
    if np.any(values < 0) or not np.all(np.isfinite(values)):
        raise ValueError(f"{where}: matrix entries must be finite counts >= 0")
    classes = values.shape[0]
    names = [str(index) for index in range(classes)] if class_names is None else [str(n) for n in class_names]
    if len(names) != classes:
        raise ValueError(f"{where}: {len(names)} class_names for a {classes}x{classes} matrix")
    integral = not normalize and np.all(values == np.round(values))
    if normalize:
        totals = values.sum(axis=1, keepdims=True)
        values = np.divide(values, totals, out=np.zeros_like(values), where=totals > 0)
    side = max(4.0, 0.55 * classes + 2.0)
    figure = _new_figure(side + 1.0, side)
    axis = figure.add_subplot()
    top = values.max() if values.max() > 0 else 1.0
    image = axis.imshow(values, cmap="Blues", vmin=0.0, vmax=top, interpolation="nearest")
    figure.colorbar(image, ax=axis, label="fraction of true class" if normalize else "count")
    fontsize = max(5.0, min(10.0, 120.0 / classes))
    for row in range(classes):
        for column in range(classes):
            value = values[row, column]
            text = f"{int(value)}" if integral else f"{value:.2f}"
            axis.text(column, row, text, ha="center", va="center", fontsize=fontsize,
                      color="white" if value > top / 2 else "black")
    axis.set_xticks(range(classes), names, rotation=45 if max(map(len, names)) > 2 else 0)
    axis.set_yticks(range(classes), names)
    axis.set_xlabel("predicted label")
    axis.set_ylabel("true label")
    axis.set_title("confusion matrix" + (" (normalized by true class)" if normalize else ""))
    return figure


def confusion_matrix_heatmap(matrix, path, class_names: Sequence[str] | None = None,
                             normalize: bool = False) -> str:
    """Write a confusion matrix heat map with the counts in the cells to the PNG ``path``; returns the path.

    See ``figure_for_confusion_matrix_heatmap`` for the arguments.
    """
    return save_figure(figure_for_confusion_matrix_heatmap(matrix, class_names, normalize), path)
