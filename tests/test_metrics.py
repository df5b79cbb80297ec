"""Classification metrics against hand-computed values and scikit-learn's documented outputs."""
from __future__ import annotations

import numpy as np
import pytest

import ember
from ember.metrics import accuracy, classification_report, confusion_matrix, precision_recall_fscore_support

# the example of scikit-learn's classification_report documentation
Y_TRUE = [0, 1, 2, 2, 2]
Y_PRED = [0, 0, 2, 2, 1]


def reference_confusion(true, pred, size):
    matrix = np.zeros((size, size), dtype=np.int64)
    for t, p in zip(true, pred):
        matrix[t, p] += 1
    return matrix


# ------------------------------------------------------------------------------------------ accuracy
def test_accuracy_from_labels_scores_and_tensors():
    assert accuracy(Y_TRUE, Y_PRED) == pytest.approx(0.6)
    assert accuracy(Y_TRUE, Y_PRED, normalize=False) == 3
    scores = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]], dtype=np.float32)
    labels = np.array([0, 1, 1, 1])
    assert accuracy(labels, scores) == pytest.approx(0.75)
    assert accuracy(ember.tensor(labels), ember.tensor(scores)) == pytest.approx(0.75)
    assert accuracy(np.eye(2)[labels], scores) == pytest.approx(0.75)  # one-hot targets
    assert accuracy(labels[:, None], labels.tolist()) == 1.0  # a column of labels
    assert isinstance(accuracy(labels, scores), float)


def test_accuracy_errors():
    with pytest.raises(ValueError, match="accuracy: y_true and y_pred have different numbers of samples: 3 and 2"):
        accuracy([0, 1, 1], [0, 1])
    with pytest.raises(ValueError, match="accuracy: received empty"):
        accuracy([], [])
    with pytest.raises(ValueError, match=r"accuracy: expected y_pred to be class labels, found non-integer .*0\.7"):
        accuracy([0, 1], [0.7, 0.2])
    with pytest.raises(ValueError, match=r"expected y_pred as labels \(N,\) or scores \(N, C\), received shape \(2, 2"):
        accuracy([0, 1], np.zeros((2, 2, 2)))


# ---------------------------------------------------------------------------------- confusion matrix
def test_confusion_matrix_hand_computed():
    # scikit-learn's documented example
    matrix = confusion_matrix([2, 0, 2, 2, 0, 1], [0, 0, 2, 2, 0, 2])
    np.testing.assert_array_equal(matrix, [[2, 0, 0], [0, 0, 1], [1, 0, 2]])
    assert matrix.dtype == np.int64
    matrix = confusion_matrix(
        ["cat", "ant", "cat", "cat", "ant", "bird"], ["ant", "ant", "cat", "cat", "ant", "cat"],
        labels=["ant", "bird", "cat"],
    )
    np.testing.assert_array_equal(matrix, [[2, 0, 0], [0, 0, 1], [1, 0, 2]])
    # labels choose the order and drop other classes
    np.testing.assert_array_equal(confusion_matrix([2, 0, 2, 2, 0, 1], [0, 0, 2, 2, 0, 2], labels=[2, 0]),
                                  [[2, 1], [0, 2]])


def test_confusion_matrix_num_classes_and_random_reference(rng):
    matrix = confusion_matrix(np.array([0, 1, 1]), ember.tensor([[0.9, 0.1, 0.0, 0.0], [0.1, 0.2, 0.0, 0.7],
                                                                  [0.0, 1.0, 0.0, 0.0]]), num_classes=4)
    np.testing.assert_array_equal(matrix, [[1, 0, 0, 0], [0, 1, 0, 1], [0, 0, 0, 0], [0, 0, 0, 0]])
    true = rng.integers(0, 7, size=500)
    pred = rng.integers(0, 7, size=500)
    np.testing.assert_array_equal(confusion_matrix(true, pred, num_classes=7), reference_confusion(true, pred, 7))
    with pytest.raises(ValueError, match=r"expected y_pred in \[0, 3\) for num_classes=3, found 5"):
        confusion_matrix([0, 1], [0, 5], num_classes=3)
    with pytest.raises(ValueError, match="pass num_classes or labels, not both"):
        confusion_matrix([0], [0], num_classes=2, labels=[0, 1])
    with pytest.raises(ValueError, match="none of the labels"):
        confusion_matrix([0, 1], [0, 1], labels=[5])


def test_confusion_matrix_normalize():
    true, pred = [0, 0, 0, 1, 1, 2], [0, 0, 1, 1, 0, 0]
    counts = np.array([[2, 1, 0], [1, 1, 0], [1, 0, 0]])
    np.testing.assert_array_equal(confusion_matrix(true, pred), counts)
    np.testing.assert_allclose(confusion_matrix(true, pred, normalize="true"),
                               [[2 / 3, 1 / 3, 0], [0.5, 0.5, 0], [1, 0, 0]])
    np.testing.assert_allclose(confusion_matrix(true, pred, normalize="pred"),
                               [[0.5, 0.5, 0], [0.25, 0.5, 0], [0.25, 0, 0]])  # empty column -> 0
    np.testing.assert_allclose(confusion_matrix(true, pred, normalize="all"), counts / 6)
    with pytest.raises(ValueError, match="normalize must be None, 'true', 'pred' or 'all', received 'rows'"):
        confusion_matrix(true, pred, normalize="rows")


# ------------------------------------------------------------------------- precision / recall / F
def test_per_class_and_averages_hand_computed():
    precision, recall, fscore, support = precision_recall_fscore_support(Y_TRUE, Y_PRED)
    np.testing.assert_allclose(precision, [0.5, 0.0, 1.0])
    np.testing.assert_allclose(recall, [1.0, 0.0, 2 / 3])
    np.testing.assert_allclose(fscore, [2 / 3, 0.0, 0.8])
    np.testing.assert_array_equal(support, [1, 1, 3])
    assert precision.dtype == np.float64 and support.dtype == np.int64
    assert precision_recall_fscore_support(Y_TRUE, Y_PRED, average="micro") == pytest.approx((0.6, 0.6, 0.6, None))
    macro = precision_recall_fscore_support(Y_TRUE, Y_PRED, average="macro")
    assert macro[:3] == pytest.approx((0.5, (1 + 2 / 3) / 3, (2 / 3 + 0.8) / 3)) and macro[3] is None
    weighted = precision_recall_fscore_support(Y_TRUE, Y_PRED, average="weighted")
    assert weighted[:3] == pytest.approx((0.7, 0.6, (2 / 3 + 3 * 0.8) / 5))


def test_string_labels_scikit_learn_example():
    y_true = np.array(["cat", "dog", "pig", "cat", "dog", "pig"])
    y_pred = np.array(["cat", "pig", "dog", "cat", "cat", "dog"])
    assert precision_recall_fscore_support(y_true, y_pred, average="macro")[:3] == pytest.approx((2 / 9, 1 / 3, 4 / 15))
    assert precision_recall_fscore_support(y_true, y_pred, average="micro")[:3] == pytest.approx((1 / 3,) * 3)
    assert precision_recall_fscore_support(y_true, y_pred, average="weighted")[:3] == pytest.approx(
        (2 / 9, 1 / 3, 4 / 15))


def test_labels_subset_beta_and_zero_division():
    # class 2 and 3 never occur: their precision and recall divide by zero
    precision, recall, fscore, support = precision_recall_fscore_support([1, 1, 1], [1, 1, 0], labels=[1, 2, 3])
    np.testing.assert_allclose(precision, [1, 0, 0])
    np.testing.assert_allclose(recall, [2 / 3, 0, 0])
    np.testing.assert_array_equal(support, [3, 0, 0])
    precision, _, fscore, _ = precision_recall_fscore_support([1, 1, 1], [1, 1, 0], labels=[1, 2], zero_division=1)
    np.testing.assert_allclose(precision, [1, 1])
    np.testing.assert_allclose(fscore, [0.8, 1])
    precision, _, _, _ = precision_recall_fscore_support([1, 1, 1], [1, 1, 0], labels=[1, 2], zero_division=np.nan)
    assert precision[0] == 1 and np.isnan(precision[1])
    macro = precision_recall_fscore_support([1, 1, 1], [1, 1, 0], labels=[1, 2], zero_division=np.nan, average="macro")
    assert macro[0] == 1.0  # nan entries are left out of the mean
    # micro over a subset: predictions of class 0 still count against recall of class 1
    assert precision_recall_fscore_support([1, 1, 1], [1, 1, 0], labels=[1], average="micro")[:3] == pytest.approx(
        (1.0, 2 / 3, 0.8))
    # F2 = 5 tp / (4 (tp + fn) + (tp + fp)): class 0 of Y_TRUE/Y_PRED has tp=1, fn=0, fp=1
    _, _, f2, _ = precision_recall_fscore_support(Y_TRUE, Y_PRED, beta=2.0)
    assert f2[0] == pytest.approx(5 / (4 * 1 + 2))
    with pytest.warns(RuntimeWarning) as record:
        precision, *_ = precision_recall_fscore_support([1, 1, 1], [1, 1, 0], labels=[1, 2], zero_division="warn")
    np.testing.assert_allclose(precision, [1, 0])
    assert [str(w.message).split()[0] for w in record] == ["precision", "recall", "F-score"]


def test_prfs_argument_errors():
    expected = r"average must be one of \(None, 'micro', 'macro', 'weighted'\), received 'binary'"
    with pytest.raises(ValueError, match=expected):
        precision_recall_fscore_support(Y_TRUE, Y_PRED, average="binary")
    with pytest.raises(ValueError, match="zero_division must be 0, 1, nan or 'warn', received 0.5"):
        precision_recall_fscore_support(Y_TRUE, Y_PRED, zero_division=0.5)
    with pytest.raises(ValueError, match=r"labels must be unique, received \[1, 1\]"):
        precision_recall_fscore_support(Y_TRUE, Y_PRED, labels=[1, 1])
    with pytest.raises(TypeError, match="mix numeric and string labels"):
        precision_recall_fscore_support(Y_TRUE, Y_PRED, labels=["a", "b"])


# ---------------------------------------------------------------------------------------- the report
def test_classification_report_text_matches_scikit_learn():
    expected = (
        "              precision    recall  f1-score   support\n"
        "\n"
        "     class 0       0.50      1.00      0.67         1\n"
        "     class 1       0.00      0.00      0.00         1\n"
        "     class 2       1.00      0.67      0.80         3\n"
        "\n"
        "    accuracy                           0.60         5\n"
        "   macro avg       0.50      0.56      0.49         5\n"
        "weighted avg       0.70      0.60      0.61         5\n"
    )
    report = classification_report(Y_TRUE, Y_PRED, target_names=["class 0", "class 1", "class 2"])
    assert report == expected


def test_classification_report_labels_subset_gives_micro_avg():
    expected = (
        "              precision    recall  f1-score   support\n"
        "\n"
        "           1       1.00      0.67      0.80         3\n"
        "           2       0.00      0.00      0.00         0\n"
        "           3       0.00      0.00      0.00         0\n"
        "\n"
        "   micro avg       1.00      0.67      0.80         3\n"
        "   macro avg       0.33      0.22      0.27         3\n"
        "weighted avg       1.00      0.67      0.80         3\n"
    )
    assert classification_report([1, 1, 1], [1, 1, 0], labels=[1, 2, 3]) == expected


def test_classification_report_width_digits_and_dict():
    names = ["a very long class name", "b"]
    report = classification_report(ember.tensor([0, 1, 1, 0]), ember.tensor([0, 1, 0, 0]), target_names=names,
                                   digits=3)
    lines = report.splitlines()
    width = len(names[0])
    assert lines[0] == " " * width + " " + "".join(f" {h:>9}" for h in ("precision", "recall", "f1-score", "support"))
    assert lines[2] == f"{names[0]:>{width}}  {2 / 3:>9.3f} {1.0:>9.3f} {0.8:>9.3f} {2:>9}"
    assert lines[5] == f"{'accuracy':>{width}}  {'':>9} {'':>9} {0.75:>9.3f} {4:>9}"
    result = classification_report(Y_TRUE, Y_PRED, output_dict=True)
    assert list(result) == ["0", "1", "2", "accuracy", "macro avg", "weighted avg"]
    assert result["0"] == pytest.approx({"precision": 0.5, "recall": 1.0, "f1-score": 2 / 3, "support": 1.0})
    assert result["accuracy"] == pytest.approx(0.6)
    assert result["weighted avg"] == pytest.approx({"precision": 0.7, "recall": 0.6, "f1-score": 0.6133333,
                                                    "support": 5.0})
    with pytest.raises(ValueError, match="number of classes, 3, does not match size of target_names, 2"):
        classification_report(Y_TRUE, Y_PRED, target_names=["x", "y"])
