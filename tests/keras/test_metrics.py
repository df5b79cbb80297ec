"""Keras metrics: AUC (with and without sample weights) and the dtype argument."""
from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest

from ember import keras


def _pairwise_auc(labels, scores, weights):
    """The definition: weighted fraction of (positive, negative) pairs ranked right, ties counting half."""
    wins = total = 0.0
    for i, j in itertools.product(range(len(labels)), repeat=2):
        if labels[i] == 1 and labels[j] == 0:
            pair = weights[i] * weights[j]
            total += pair
            wins += pair * (1.0 if scores[i] > scores[j] else 0.5 if scores[i] == scores[j] else 0.0)
    return wins / total


def test_auc_matches_the_pairwise_definition_with_and_without_weights():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 40)
    scores = np.round(rng.random(40), 1).astype(np.float32)  # rounded: plenty of ties
    weights = rng.random(40).astype(np.float32)
    metric = keras.metrics.AUC()
    metric.update_state(labels[:25], scores[:25])
    metric.update_state(labels[25:], scores[25:])
    assert metric.result() == pytest.approx(_pairwise_auc(labels, scores, np.ones(40)), rel=1e-12)
    metric.reset_state()
    metric.update_state(labels[:25, None], scores[:25, None], sample_weight=weights[:25])
    metric.update_state(labels[25:, None], scores[25:, None], sample_weight=weights[25:])
    assert metric.result() == pytest.approx(_pairwise_auc(labels, scores, weights), rel=1e-6)
    repeated = keras.metrics.AUC()
    repeated.update_state(np.repeat(labels, 2), np.repeat(scores, 2))
    doubled = keras.metrics.AUC()
    doubled.update_state(labels, scores, sample_weight=np.full(40, 2.0))
    assert doubled.result() == pytest.approx(repeated.result(), rel=1e-12)


def test_metric_dtype_other_than_float32_warns():
    with pytest.warns(UserWarning, match="SparseCategoricalAccuracy: dtype='float16' has no effect in Ember"):
        keras.metrics.SparseCategoricalAccuracy(dtype="float16")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        keras.metrics.SparseCategoricalAccuracy(dtype="float32")
        keras.metrics.BinaryAccuracy()
