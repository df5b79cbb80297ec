"""Classification metrics on NumPy: accuracy, confusion matrix, precision/recall/F-score and a text report.

Inputs may be Ember Tensors, NumPy (or CuPy) arrays or lists. Predictions are class labels ``(N,)`` or scores
``(N, C)`` (logits or probabilities), which are reduced with an argmax over the last axis; a column ``(N, 1)``
is read as labels. Names, defaults and results follow scikit-learn (``confusion_matrix`` rows are true
classes, columns predicted ones), so code written for ``sklearn.metrics`` ports by changing the import.
Metric values are float64, as in scikit-learn; counts are int64.

    from ember.metrics import accuracy, confusion_matrix, classification_report
    accuracy(labels, logits)                # 0.9812
    print(classification_report(labels, logits.argmax(1), target_names=train_set.classes))
"""
from __future__ import annotations

import warnings

import numpy as np

from .autograd.tensor import Tensor

__all__ = [
    "accuracy", "accuracy_score", "confusion_matrix", "precision_recall_fscore_support", "classification_report",
]

_AVERAGES = (None, "micro", "macro", "weighted")


# ----------------------------------------------------------------------------------------- inputs
def _to_numpy(values) -> np.ndarray:
    if isinstance(values, Tensor):
        values = values.array
    if not isinstance(values, np.ndarray) and type(values).__module__.split(".")[0] == "cupy":
        values = values.get()  # CuPy arrays copy to host memory explicitly
    return np.asarray(values)


def _labels(values, name: str, op: str) -> np.ndarray:
    """Class labels ``(N,)`` from labels, a column ``(N, 1)`` or scores ``(N, C)`` (argmax)."""
    array = _to_numpy(values)
    if array.ndim == 2:
        array = array[:, 0] if array.shape[1] == 1 else array.argmax(axis=1)
    elif array.ndim != 1:
        raise ValueError(f"{op}: expected {name} as labels (N,) or scores (N, C), received shape {array.shape}")
    if array.dtype == object:
        raise TypeError(f"{op}: expected {name} to hold numbers or strings, received Python objects")
    if array.dtype.kind == "f":
        if not np.all(np.isfinite(array)) or not np.all(array == np.round(array)):
            example = array[~(array == np.round(array))][:1]
            raise ValueError(
                f"{op}: expected {name} to be class labels, found non-integer values such as {example.tolist()} "
                f"(pass scores as (N, C) to take their argmax, or threshold probabilities first)"
            )
        array = array.astype(np.int64)
    elif array.dtype.kind == "b":
        array = array.astype(np.int64)
    return array


def _pair(y_true, y_pred, op: str) -> tuple[np.ndarray, np.ndarray]:
    true = _labels(y_true, "y_true", op)
    pred = _labels(y_pred, "y_pred", op)
    if true.shape[0] != pred.shape[0]:
        raise ValueError(
            f"{op}: y_true and y_pred have different numbers of samples: {true.shape[0]} and {pred.shape[0]}"
        )
    if true.shape[0] == 0:
        raise ValueError(f"{op}: received empty y_true and y_pred")
    if (true.dtype.kind in "iu") != (pred.dtype.kind in "iu"):
        raise TypeError(f"{op}: y_true ({true.dtype}) and y_pred ({pred.dtype}) mix numeric and string labels")
    return true, pred


def _label_array(labels, op: str) -> np.ndarray:
    array = _to_numpy(labels)
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"{op}: expected labels as a non-empty 1-d list, received shape {array.shape}")
    if np.unique(array).size != array.size:
        raise ValueError(f"{op}: labels must be unique, received {array.tolist()}")
    return array


def _encode(values: np.ndarray, labels: np.ndarray, op: str) -> tuple[np.ndarray, np.ndarray]:
    """Positions of ``values`` in ``labels`` and a mask of the values found there."""
    if (values.dtype.kind in "iuf") != (labels.dtype.kind in "iuf"):
        raise TypeError(f"{op}: labels ({labels.dtype}) and the data ({values.dtype}) mix numeric and string labels")
    order = np.argsort(labels, kind="stable")
    positions = np.minimum(np.searchsorted(labels[order], values), labels.size - 1)
    return order[positions], labels[order][positions] == values


def _counts(true_index: np.ndarray, pred_index: np.ndarray, size: int) -> np.ndarray:
    """The (size, size) int64 confusion counts in one bincount."""
    return np.bincount(true_index * size + pred_index, minlength=size * size).reshape(size, size).astype(np.int64)


# ---------------------------------------------------------------------------------------- metrics
def accuracy(y_true, y_pred, normalize: bool = True) -> float:
    """The fraction of samples whose predicted class equals the true class (the count if ``normalize=False``).

    ``y_pred`` may be labels ``(N,)`` or scores ``(N, C)``; ``y_true`` labels ``(N,)`` (or one-hot ``(N, C)``).
    """
    true, pred = _pair(y_true, y_pred, "accuracy")
    correct = int(np.count_nonzero(true == pred))
    return correct / true.shape[0] if normalize else correct


accuracy_score = accuracy  # scikit-learn's name


def confusion_matrix(y_true, y_pred, num_classes: int | None = None, labels=None, normalize: str | None = None):
    """The confusion matrix ``C[i, j]``: samples of true class ``i`` predicted as class ``j`` (int64).

    Classes are ``labels`` (in that order; samples with other classes are ignored), else
    ``range(num_classes)`` (labels must lie in it), else the sorted union of the classes in both inputs.
    ``normalize`` is None (counts), ``"true"`` (rows sum to 1), ``"pred"`` (columns) or ``"all"``; a row or
    column with no samples gives zeros. Shape ``(K, K)``.
    """
    op = "confusion_matrix"
    if normalize not in (None, "true", "pred", "all"):
        raise ValueError(f"{op}: normalize must be None, 'true', 'pred' or 'all', received {normalize!r}")
    true, pred = _pair(y_true, y_pred, op)
    if num_classes is not None and labels is not None:
        raise ValueError(f"{op}: pass num_classes or labels, not both")
    if num_classes is not None:
        if not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
            raise ValueError(f"{op}: num_classes must be a positive integer, received {num_classes!r}")
        if true.dtype.kind not in "iu":
            raise TypeError(f"{op}: num_classes needs integer labels, received {true.dtype}")
        for name, values in (("y_true", true), ("y_pred", pred)):
            outside = values[(values < 0) | (values >= num_classes)]
            if outside.size:
                raise ValueError(
                    f"{op}: expected {name} in [0, {num_classes}) for num_classes={num_classes}, "
                    f"found {outside[0]}"
                )
        matrix = _counts(true.astype(np.int64), pred.astype(np.int64), int(num_classes))
    else:
        classes = np.union1d(true, pred) if labels is None else _label_array(labels, op)
        true_index, true_found = _encode(true, classes, op)
        pred_index, pred_found = _encode(pred, classes, op)
        if labels is not None and not true_found.any():
            raise ValueError(f"{op}: none of the labels {classes.tolist()} occurs in y_true")
        keep = true_found & pred_found
        matrix = _counts(true_index[keep], pred_index[keep], classes.size)
    if normalize is None:
        return matrix
    if normalize == "true":
        totals = matrix.sum(axis=1, keepdims=True)
    elif normalize == "pred":
        totals = matrix.sum(axis=0, keepdims=True)
    else:
        totals = matrix.sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.nan_to_num(matrix / totals)


def _check_zero_division(zero_division, op: str) -> float:
    if isinstance(zero_division, str):
        if zero_division != "warn":
            raise ValueError(f"{op}: zero_division must be 0, 1, nan or 'warn', received {zero_division!r}")
        return 0.0
    value = float(zero_division)
    if not (value in (0.0, 1.0) or np.isnan(value)):
        raise ValueError(f"{op}: zero_division must be 0, 1, nan or 'warn', received {zero_division!r}")
    return value


def _divide(numerator, denominator, zero_division: float, warn: bool, what: str):
    numerator = np.asarray(numerator, dtype=np.float64)
    denominator = np.asarray(denominator, dtype=np.float64)
    empty = denominator == 0
    if warn and np.any(empty):
        warnings.warn(f"{what} is ill-defined and set to 0 for labels with no samples", RuntimeWarning, stacklevel=3)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(empty, zero_division, numerator / np.where(empty, 1.0, denominator))


def _nan_average(values: np.ndarray, weights: np.ndarray | None = None) -> float:
    """The (weighted) mean of the values that are not nan; nan if none is."""
    keep = ~np.isnan(values)
    if not keep.any():
        return float("nan")
    if weights is None:
        return float(values[keep].mean())
    return float(np.average(values[keep], weights=weights[keep]))


def precision_recall_fscore_support(
    y_true, y_pred, average: str | None = None, labels=None, zero_division=0, beta: float = 1.0
):
    """Precision, recall, F-beta score and support (true samples) per class, or averaged over classes.

    ``average``: None (per-class arrays, in the order of ``labels`` or of the sorted classes), ``"micro"``
    (from the total counts; equals accuracy when every class is included), ``"macro"`` (unweighted mean over
    classes) or ``"weighted"`` (mean weighted by support). ``zero_division`` (0, 1, nan or ``"warn"``, which
    acts as 0 and warns) is the value of a ratio whose denominator is 0. Returns
    ``(precision, recall, fbeta, support)``: arrays of shape ``(K,)`` (float64, float64, float64, int64), or
    three floats and None when averaged.
    """
    op = "precision_recall_fscore_support"
    if average not in _AVERAGES:
        raise ValueError(f"{op}: average must be one of {_AVERAGES}, received {average!r}")
    if not np.isfinite(beta) or beta < 0:
        raise ValueError(f"{op}: beta must be a finite number >= 0, received {beta!r}")
    zero_value = _check_zero_division(zero_division, op)
    warn = zero_division == "warn"
    true, pred = _pair(y_true, y_pred, op)
    present = np.union1d(true, pred)
    selected = present if labels is None else _label_array(labels, op)
    # the selected classes first, then the others: predictions of unselected classes still count as errors
    classes = np.concatenate([selected, np.setdiff1d(present, selected)]) if labels is not None else selected
    true_index, _ = _encode(true, classes, op)
    pred_index, _ = _encode(pred, classes, op)
    matrix = _counts(true_index, pred_index, classes.size)
    count = selected.size
    true_positive = np.diag(matrix)[:count]
    predicted = matrix.sum(axis=0)[:count]
    support = matrix.sum(axis=1)[:count]
    beta2 = float(beta) ** 2
    if average == "micro":
        true_positive, predicted, actual = true_positive.sum(), predicted.sum(), support.sum()
    else:
        actual = support
    precision = _divide(true_positive, predicted, zero_value, warn, "precision")
    recall = _divide(true_positive, actual, zero_value, warn, "recall")
    fscore = _divide((1 + beta2) * true_positive, beta2 * actual + predicted, zero_value, warn, "F-score")
    if average is None:
        return precision, recall, fscore, support
    if average == "micro":
        return float(precision), float(recall), float(fscore), None
    if average == "weighted":
        if support.sum() == 0:
            # no true samples among the selected classes: recall is undefined, precision and F are 0 unless
            # nothing was predicted either
            nothing_predicted = predicted.sum() == 0
            undefined_or_zero = zero_value if nothing_predicted else 0.0
            return undefined_or_zero, zero_value, undefined_or_zero, None
        weights = support.astype(np.float64)
    else:
        weights = None
    return _nan_average(precision, weights), _nan_average(recall, weights), _nan_average(fscore, weights), None


def classification_report(
    y_true,
    y_pred,
    target_names=None,
    digits: int = 2,
    output_dict: bool = False,
    labels=None,
    zero_division=0,
):
    """A text table of precision, recall, F1 and support per class, with accuracy, macro and weighted averages.

    The layout is scikit-learn's, character for character. ``target_names`` names the classes (in the order of
    ``labels``, else of the sorted classes). With ``labels`` that leave out classes present in the data, the
    accuracy row becomes a ``micro avg`` row. ``output_dict=True`` returns
    ``{name: {"precision", "recall", "f1-score", "support"}, "accuracy": float, "macro avg": {...}, ...}``.
    """
    op = "classification_report"
    true, pred = _pair(y_true, y_pred, op)
    present = np.union1d(true, pred)
    if labels is None:
        classes = present
        micro_is_accuracy = True
    else:
        classes = _label_array(labels, op)
        micro_is_accuracy = set(classes.tolist()) >= set(present.tolist())
    if target_names is not None and len(target_names) != classes.size:
        if labels is None:
            raise ValueError(
                f"{op}: number of classes, {classes.size}, does not match size of target_names, "
                f"{len(target_names)}; pass labels= to choose the classes"
            )
        warnings.warn(
            f"{op}: labels size, {classes.size}, does not match size of target_names, {len(target_names)}", stacklevel=2
        )
    if target_names is None:
        target_names = [str(label) for label in classes.tolist()]
    headers = ["precision", "recall", "f1-score", "support"]
    precision, recall, fscore, support = precision_recall_fscore_support(
        true, pred, labels=classes, zero_division=zero_division
    )
    rows = list(zip(target_names, precision, recall, fscore, support))
    averages = []
    for average in ("micro", "macro", "weighted"):
        heading = "accuracy" if average == "micro" and micro_is_accuracy else f"{average} avg"
        avg_precision, avg_recall, avg_fscore, _ = precision_recall_fscore_support(
            true, pred, average=average, labels=classes, zero_division=zero_division
        )
        averages.append((heading, avg_precision, avg_recall, avg_fscore, int(support.sum())))

    if output_dict:
        report = {
            str(name): dict(zip(headers, (float(p), float(r), float(f), float(s)))) for name, p, r, f, s in rows
        }
        for heading, p, r, f, s in averages:
            report[heading] = f if heading == "accuracy" else dict(zip(headers, (p, r, f, float(s))))
        return report

    width = max(max(len(str(name)) for name in target_names), len("weighted avg"), digits)
    head_fmt = "{:>{width}s} " + " {:>9}" * len(headers)
    row_fmt = "{:>{width}s} " + " {:>9.{digits}f}" * 3 + " {:>9}\n"
    accuracy_fmt = "{:>{width}s} " + " {:>9.{digits}}" * 2 + " {:>9.{digits}f}" + " {:>9}\n"
    text = head_fmt.format("", *headers, width=width) + "\n\n"
    for name, p, r, f, s in rows:
        text += row_fmt.format(str(name), p, r, f, int(s), width=width, digits=digits)
    text += "\n"
    for heading, p, r, f, s in averages:
        if heading == "accuracy":
            text += accuracy_fmt.format(heading, "", "", f, s, width=width, digits=digits)
        else:
            text += row_fmt.format(heading, p, r, f, s, width=width, digits=digits)
    return text
