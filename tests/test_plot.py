"""ember.plot: PNG files of the right size, curves holding the history's numbers, red wrong labels."""
from __future__ import annotations

import ast
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest

import ember
from ember import plot
from ember.keras.callbacks import History

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def mpl():
    return pytest.importorskip("matplotlib")


def _png_shape(path) -> tuple:
    from matplotlib.image import imread

    with open(path, "rb") as stream:
        assert stream.read(8) == PNG_SIGNATURE
    return imread(path).shape


def _pixels(figure) -> tuple:
    width, height = figure.get_size_inches() * figure.dpi
    return int(round(height)), int(round(width))


def _history():
    return {
        "loss": [1.0, 0.6, 0.4, 0.3], "accuracy": [0.5, 0.7, 0.8, 0.9],
        "val_loss": [1.1, 0.7, 0.65, 0.7], "val_accuracy": [0.45, 0.6, 0.7, 0.68],
    }


def _visible_axes(figure):
    return [axis for axis in figure.axes if axis.get_visible()]


# ------------------------------------------------------------------------------------- training curves
def test_training_curves_png_has_one_panel_per_family(tmp_path, mpl):
    figure = plot.figure_for_training_curves(_history(), best_epoch=2, title="run 1")
    loss_axis, accuracy_axis = _visible_axes(figure)
    assert (loss_axis.get_title(), accuracy_axis.get_title()) == ("loss", "accuracy")
    assert (loss_axis.get_xlabel(), loss_axis.get_ylabel()) == ("epoch", "loss")
    train, validation, best_line, star = loss_axis.get_lines()
    np.testing.assert_array_equal(train.get_xdata(), [1, 2, 3, 4])
    np.testing.assert_array_equal(train.get_ydata(), _history()["loss"])
    np.testing.assert_array_equal(validation.get_ydata(), _history()["val_loss"])
    assert list(best_line.get_xdata()) == [3, 3]  # 0-based epoch 2 is drawn at x = 3
    assert (star.get_xdata()[0], star.get_ydata()[0]) == (3, 0.65)
    legend = [text.get_text() for text in loss_axis.get_legend().get_texts()]
    assert legend == ["training", "validation", "best epoch (3)"]
    assert figure._suptitle.get_text() == "run 1"

    path = plot.training_curves(_history(), tmp_path / "curves.png", metrics=["accuracy"])
    assert path == str(tmp_path / "curves.png")
    assert _png_shape(path)[:2] == (360, 480)  # one 4.8 x 3.6 inch panel at 100 dpi


def test_training_curves_accepts_history_and_list_of_dicts(mpl):
    history = History()
    history.epoch = [3, 4, 5]  # fit(initial_epoch=3)
    history.history = {"loss": [0.5, 0.4, 0.3], "learning_rate": [0.1, 0.01, 0.001]}
    figure = plot.figure_for_training_curves(history, best_epoch=4)
    loss_axis, rate_axis = _visible_axes(figure)
    np.testing.assert_array_equal(loss_axis.get_lines()[0].get_xdata(), [4, 5, 6])
    assert list(loss_axis.get_lines()[1].get_xdata()) == [5, 5]
    assert rate_axis.get_yscale() == "log"  # rates spanning a factor of 100

    records = [{"loss": 1.0}, {"loss": 0.8, "val_loss": 0.9}, {"loss": 0.7}]
    axis = _visible_axes(plot.figure_for_training_curves(records))[0]
    np.testing.assert_array_equal(axis.get_lines()[1].get_ydata(), [np.nan, 0.9, np.nan])


def test_training_curves_rejects_bad_input(mpl):
    with pytest.raises(ValueError, match=r"one value per epoch.*'val_loss': 2"):
        plot.figure_for_training_curves({"loss": [1, 2, 3], "val_loss": [1, 2]})
    with pytest.raises(ValueError, match=r"metrics \['auc'\].*available: \['loss', 'accuracy'\]"):
        plot.figure_for_training_curves(_history(), metrics=["auc"])
    with pytest.raises(ValueError, match="best_epoch=7"):
        plot.figure_for_training_curves(_history(), best_epoch=7)
    with pytest.raises(ValueError, match="empty"):
        plot.figure_for_training_curves({})
    with pytest.raises(TypeError, match="History, a dict of lists or a list of dicts.*str"):
        plot.figure_for_training_curves("loss")
    with pytest.raises(ValueError, match="must end in .png"):
        plot.training_curves(_history(), "curves.svg")


# ------------------------------------------------------------------------------- learning-rate schedule
def test_learning_rate_schedule_from_functions_and_lists(tmp_path, mpl):
    one_argument = plot.figure_for_learning_rate_schedule(lambda epoch: 0.1 * 0.5 ** (epoch // 2), epochs=6)
    line = one_argument.axes[0].get_lines()[0]
    np.testing.assert_array_equal(line.get_xdata(), [1, 2, 3, 4, 5, 6])
    np.testing.assert_allclose(line.get_ydata(), [0.1, 0.1, 0.05, 0.05, 0.025, 0.025])
    assert one_argument.axes[0].get_yscale() == "linear"

    chained = plot.figure_for_learning_rate_schedule(lambda epoch, lr: lr * 0.1, epochs=3, initial_learning_rate=1.0)
    np.testing.assert_allclose(chained.axes[0].get_lines()[0].get_ydata(), [0.1, 0.01, 0.001])
    assert chained.axes[0].get_yscale() == "log"
    assert chained.axes[0].get_ylabel() == "learning rate"

    path = plot.learning_rate_schedule([0.1, 0.1, 0.01], tmp_path / "lr.png")
    assert _png_shape(path)[:2] == (360, 600)
    with pytest.raises(ValueError, match="needs epochs"):
        plot.figure_for_learning_rate_schedule(lambda epoch: 0.1)
    with pytest.raises(ValueError, match="epochs=5 but only 3"):
        plot.figure_for_learning_rate_schedule([0.1, 0.1, 0.01], epochs=5)
    with pytest.raises(ValueError, match="learning_rate_schedule: the schedule must return a float"):
        plot.figure_for_learning_rate_schedule(lambda epoch: "fast", epochs=2)


# ------------------------------------------------------------------------------------------ digit grid
def _digits(count=12, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (count, 28, 28)).astype(np.uint8), rng.integers(0, 10, count).astype(np.int64)


def test_digit_grid_labels_wrong_predictions_in_red(tmp_path, mpl):
    from matplotlib.colors import to_rgba

    images, labels = _digits()
    predictions = labels.copy()
    predictions[[1, 5, 11]] = (labels[[1, 5, 11]] + 1) % 10
    scores = np.eye(10, dtype=np.float32)[predictions] * np.float32(0.8)  # probabilities work like classes
    figure = plot.figure_for_digit_grid(images, labels, scores, columns=5)
    texts = figure.axes[0].texts
    assert [text.get_text() for text in texts] == [str(p) for p in predictions]
    colors = [to_rgba(text.get_color()) for text in texts]
    red, black = to_rgba("red"), to_rgba("black")
    assert [index for index, color in enumerate(colors) if color == red] == [1, 5, 11]
    assert all(color == black for index, color in enumerate(colors) if index not in (1, 5, 11))
    assert "3 of 12 wrong" in figure.texts[0].get_text()

    mosaic = figure.axes[0].images[0].get_array()
    assert mosaic.shape == (3 * 42, 5 * 32)  # 28 + 14 label rows by 28 + 4 padding columns per digit
    np.testing.assert_array_equal(mosaic[42:70, 2 * 32 + 2:2 * 32 + 30], images[7])  # row 1, column 2

    path = plot.digit_grid(images, labels, predictions, tmp_path / "digits.png", columns=5)
    assert _png_shape(path)[:2] == _pixels(figure)


def test_digit_grid_layouts_ranges_and_limits(mpl):
    images, labels = _digits(count=30)
    floats = (images.astype(np.float32) / np.float32(127.5)) - np.float32(1.0)  # range [-1, 1]
    flat = plot.figure_for_digit_grid(floats.reshape(30, 784), np.eye(10, dtype=np.float32)[labels],
                                      max_images=20)
    channel = plot.figure_for_digit_grid(ember.tensor(floats[..., None]), labels, max_images=20)
    for figure in (flat, channel):
        assert [text.get_text() for text in figure.axes[0].texts] == [str(label) for label in labels[:20]]
        assert figure.axes[0].images[0].get_clim() == pytest.approx((floats[:20].min(), floats[:20].max()))
        assert figure.axes[0].images[0].get_array().shape == (2 * 42, 10 * 32)
    few = plot.figure_for_digit_grid(images[:3], labels[:3])
    assert few.axes[0].images[0].get_array().shape == (42, 3 * 32)  # no empty columns for 3 digits
    assert few.axes[0].images[0].get_clim() == (0.0, 255.0)


def test_digit_grid_rejects_bad_shapes(mpl):
    images, labels = _digits(count=4)
    with pytest.raises(ValueError, match=r"digit_grid: images must have shape .* received shape \(4, 28, 28, 3\)"):
        plot.figure_for_digit_grid(np.repeat(images[..., None], 3, axis=-1), labels)
    with pytest.raises(ValueError, match="square pixel count"):
        plot.figure_for_digit_grid(images.reshape(4, 784)[:, :700], labels)
    with pytest.raises(ValueError, match=r"labels must have shape \(4,\).*received shape \(3,\)"):
        plot.figure_for_digit_grid(images, labels[:3])
    with pytest.raises(ValueError, match="predictions"):
        plot.figure_for_digit_grid(images, labels, labels[:2])


# ------------------------------------------------------------------------------------ confusion matrix
def test_confusion_matrix_heatmap_writes_counts_in_cells(tmp_path, mpl):
    matrix = np.array([[5, 1, 0], [2, 7, 1], [0, 0, 0]], dtype=np.int64)
    figure = plot.figure_for_confusion_matrix_heatmap(matrix, class_names=["cat", "dog", "eel"])
    axis = figure.axes[0]
    cells = {(text.get_position()): text.get_text() for text in axis.texts}
    assert cells[(0, 0)] == "5" and cells[(1, 0)] == "1" and cells[(0, 1)] == "2" and cells[(1, 1)] == "7"
    assert len(cells) == 9
    assert [label.get_text() for label in axis.get_xticklabels()] == ["cat", "dog", "eel"]
    assert (axis.get_xlabel(), axis.get_ylabel()) == ("predicted label", "true label")
    np.testing.assert_array_equal(axis.images[0].get_array(), matrix)

    normalized = plot.figure_for_confusion_matrix_heatmap(matrix, normalize=True)
    values = normalized.axes[0].images[0].get_array()
    np.testing.assert_allclose(values, [[5 / 6, 1 / 6, 0], [0.2, 0.7, 0.1], [0, 0, 0]])
    assert {text.get_text() for text in normalized.axes[0].texts} >= {"0.83", "0.17", "0.70", "0.00"}

    path = plot.confusion_matrix_heatmap(matrix, tmp_path / "cm.png")
    assert _png_shape(path)[:2] == _pixels(figure)
    with pytest.raises(ValueError, match=r"square.*\(2, 3\)"):
        plot.figure_for_confusion_matrix_heatmap(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=">= 0"):
        plot.figure_for_confusion_matrix_heatmap(-np.eye(2))
    with pytest.raises(ValueError, match="2 class_names for a 3x3"):
        plot.figure_for_confusion_matrix_heatmap(matrix, class_names=["a", "b"])


# ------------------------------------------------------------------------------ files, threads, install
def test_save_is_atomic_and_leaks_no_figures(tmp_path, mpl, monkeypatch):
    from matplotlib import _pylab_helpers

    path = tmp_path / "curves.png"
    plot.training_curves(_history(), path)
    before = path.read_bytes()

    def disk_full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space left"):
        plot.training_curves(_history(), path, metrics=["accuracy"])
    monkeypatch.undo()
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["curves.png"]
    assert _pylab_helpers.Gcf.get_num_fig_managers() == 0


def test_plots_from_several_threads(tmp_path, mpl):
    errors = []

    def draw(index):
        try:
            plot.learning_rate_schedule([0.1 / (index + 1)] * 4, tmp_path / f"lr{index}.png")
        except Exception as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=draw, args=(index,)) for index in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(os.listdir(tmp_path)) == ["lr0.png", "lr1.png", "lr2.png"]
    assert all(_png_shape(tmp_path / name)[:2] == (360, 600) for name in os.listdir(tmp_path))


def test_missing_matplotlib_names_the_install_command(monkeypatch):
    for name in ("matplotlib", "matplotlib.figure", "matplotlib.backends", "matplotlib.backends.backend_agg"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(ImportError, match=r"pip install ember\[plot\]"):
        plot.training_curves(_history(), "never.png")
    from ember import keras

    with pytest.raises(ImportError, match=r"pip install ember\[plot\]"):
        keras.callbacks.PlotTraining("never.png")


# ------------------------------------------------------------------------------------------- layering
def _imported_modules(path) -> list[str]:
    """Every module an import statement of ``path`` names, module level or inside functions."""
    names = []
    for node in ast.walk(ast.parse(Path(path).read_text())):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            names.append("." * node.level + (node.module or ""))
            names.extend(alias.name for alias in node.names)
    return names


def test_plot_imports_nothing_from_keras():
    """ember.plot sits above the dialects and reads a History through its ``history`` dict only; the Keras
    callback that draws curves imports plot, never the reverse."""
    imported = _imported_modules(plot.__file__)
    assert imported and not [name for name in imported if "keras" in name]
    source_root = Path(ember.__file__).parent.parent
    program = textwrap.dedent("""
        import sys
        import ember.plot as plot

        class History:  # the shape of keras.callbacks.History, without Keras
            history = {"loss": [1.0, 0.5], "val_loss": [1.2, 0.9]}
            epoch = [0, 1]

        assert plot._history_table(History(), "test")[1]["val_loss"].tolist() == [1.2, 0.9]
        rates = plot._schedule_values(lambda epoch, lr: lr * 0.5, 3, 1.0)
        assert rates.tolist() == [0.5, 0.25, 0.125]
        print(sorted(name for name in sys.modules if name.startswith("ember.keras")))
    """)
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PYTHONPATH": str(source_root)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
