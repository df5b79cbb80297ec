"""Loss modules: same values as ember.nn.functional and as NumPy formulas; options and buffers."""
from __future__ import annotations

import numpy as np
import pytest

import ember
import ember.nn as nn
import ember.nn.functional as F


def log_softmax(x):
    shifted = x - x.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


@pytest.fixture
def classification():
    logits = ember.randn(6, 4) * 2.0
    target = ember.tensor([0, 3, 1, 1, 2, 3])
    return logits, target


def test_cross_entropy_module_equals_functional_and_numpy(classification):
    logits, target = classification
    loss = nn.CrossEntropyLoss()(logits, target)
    assert loss.shape == () and loss.dtype == np.float32
    assert loss.item() == pytest.approx(F.cross_entropy(logits, target).item(), rel=1e-6)
    expected = -log_softmax(logits.array.astype(np.float64))[np.arange(6), target.array].mean()
    assert loss.item() == pytest.approx(expected, rel=1e-5)


def test_cross_entropy_weight_ignore_index_and_smoothing(classification):
    logits, target = classification
    weight = ember.tensor([1.0, 2.0, 0.5, 3.0])
    target = ember.tensor([0, 3, -100, 1, 2, 3])
    module = nn.CrossEntropyLoss(weight=weight)
    logp = log_softmax(logits.array.astype(np.float64))
    keep = target.array != -100
    rows = np.arange(6)[keep]
    w = weight.array[target.array[keep]]
    expected = -(w * logp[rows, target.array[keep]]).sum() / w.sum()
    assert module(logits, target).item() == pytest.approx(expected, rel=1e-5)
    assert module(logits, target).item() == pytest.approx(
        F.cross_entropy(logits, target, weight=weight).item(), rel=1e-6
    )
    smooth = nn.CrossEntropyLoss(label_smoothing=0.1, reduction="sum")
    valid_target = ember.tensor([0, 3, 2, 1, 2, 3])
    logp_targets = logp[np.arange(6), valid_target.array]
    expected = (0.9 * -logp_targets + 0.1 * -logp.mean(axis=1)).sum()
    assert smooth(logits, valid_target).item() == pytest.approx(expected, rel=1e-5)
    per_sample = nn.CrossEntropyLoss(reduction="none")(logits, valid_target)
    np.testing.assert_allclose(per_sample.array, -logp_targets, rtol=1e-5)


def test_nll_loss_module(classification):
    logits, target = classification
    logp = F.log_softmax(logits, dim=1)
    assert nn.NLLLoss()(logp, target).item() == pytest.approx(nn.CrossEntropyLoss()(logits, target).item(), rel=1e-6)
    np.testing.assert_allclose(nn.NLLLoss(reduction="none")(logp, target).array,
                               -logp.array[np.arange(6), target.array], rtol=1e-6)


def test_binary_losses():
    logits = ember.randn(5, 3)
    target = (ember.rand(5, 3) > 0.5).float()
    x, y = logits.array.astype(np.float64), target.array.astype(np.float64)
    p = 1 / (1 + np.exp(-x))
    bce = -(y * np.log(p) + (1 - y) * np.log(1 - p))
    assert nn.BCELoss()(F.sigmoid(logits), target).item() == pytest.approx(bce.mean(), rel=1e-4)
    assert nn.BCEWithLogitsLoss()(logits, target).item() == pytest.approx(bce.mean(), rel=1e-5)
    pos_weight = ember.tensor([1.0, 2.0, 3.0])
    weighted = -(pos_weight.array * y * np.log(p) + (1 - y) * np.log(1 - p))
    module = nn.BCEWithLogitsLoss(pos_weight=pos_weight, reduction="sum")
    assert module(logits, target).item() == pytest.approx(weighted.sum(), rel=1e-5)
    element_weight = ember.rand(5, 3)
    module = nn.BCELoss(weight=element_weight, reduction="none")
    np.testing.assert_allclose(module(F.sigmoid(logits), target).array, element_weight.array * bce, rtol=1e-4)


def test_regression_losses():
    prediction = ember.randn(4, 5) * 2.0
    target = ember.randn(4, 5)
    d = prediction.array.astype(np.float64) - target.array.astype(np.float64)
    assert nn.MSELoss()(prediction, target).item() == pytest.approx((d**2).mean(), rel=1e-5)
    assert nn.L1Loss(reduction="sum")(prediction, target).item() == pytest.approx(np.abs(d).sum(), rel=1e-5)
    huber = np.where(np.abs(d) < 1.5, 0.5 * d**2, 1.5 * (np.abs(d) - 0.75))
    assert nn.HuberLoss(delta=1.5)(prediction, target).item() == pytest.approx(huber.mean(), rel=1e-5)
    smooth = np.where(np.abs(d) < 0.5, 0.5 * d**2 / 0.5, np.abs(d) - 0.25)
    np.testing.assert_allclose(nn.SmoothL1Loss(reduction="none", beta=0.5)(prediction, target).array, smooth,
                               rtol=1e-5, atol=1e-6)


def test_loss_weights_are_buffers():
    weight = ember.tensor([1.0, 2.0])
    module = nn.CrossEntropyLoss(weight=weight)
    assert module.weight is weight and list(module.state_dict()) == ["weight"]
    assert list(nn.CrossEntropyLoss().state_dict()) == []
    bce = nn.BCEWithLogitsLoss(pos_weight=ember.tensor([3.0]))
    assert list(bce.state_dict()) == ["pos_weight"]
    module.double()
    assert module.weight.dtype == np.float64


def test_loss_options_validation_and_legacy_arguments():
    with pytest.raises(ValueError, match="MSELoss: reduction must be 'mean', 'sum' or 'none', received 'avg'"):
        nn.MSELoss(reduction="avg")
    with pytest.raises(ValueError, match="label_smoothing"):
        nn.CrossEntropyLoss(label_smoothing=1.5)
    with pytest.warns(UserWarning, match="reduction='sum'"):
        assert nn.L1Loss(size_average=False).reduction == "sum"
    with pytest.warns(UserWarning, match="reduction='none'"):
        assert nn.MSELoss(reduce=False).reduction == "none"
    assert repr(nn.CrossEntropyLoss()) == "CrossEntropyLoss()"
