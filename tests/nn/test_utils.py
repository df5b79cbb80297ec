"""ember.nn.utils: gradient clipping by norm and by value."""
from __future__ import annotations

import math

import numpy as np
import pytest

import ember
import ember.nn as nn
from ember.nn.utils import clip_grad_norm_, clip_grad_value_


def with_grads(*grads):
    parameters = []
    for values in grads:
        parameter = nn.Parameter(ember.zeros(len(values)))
        parameter.grad = ember.tensor(values)
        parameters.append(parameter)
    return parameters


def test_clip_grad_norm_scales_to_max_norm_and_returns_total():
    parameters = with_grads([3.0, 0.0], [0.0, 4.0, 12.0])  # joint 2-norm 13
    total = clip_grad_norm_(parameters, max_norm=1.3)
    assert total.item() == pytest.approx(13.0) and total.dtype == np.float32
    scale = 1.3 / (13.0 + 1e-6)
    np.testing.assert_allclose(parameters[0].grad.array, [3.0 * scale, 0.0], rtol=1e-6)
    np.testing.assert_allclose(parameters[1].grad.array, [0.0, 4.0 * scale, 12.0 * scale], rtol=1e-6)
    new_norm = math.sqrt(sum(float((p.grad.array**2).sum()) for p in parameters))
    assert new_norm == pytest.approx(1.3, rel=1e-5)


def test_clip_grad_norm_leaves_small_gradients_and_other_norms():
    parameters = with_grads([0.3, -0.4])
    assert clip_grad_norm_(parameters, 1.0).item() == pytest.approx(0.5)
    np.testing.assert_allclose(parameters[0].grad.array, [0.3, -0.4], rtol=1e-5)
    parameters = with_grads([1.0, -5.0], [2.0])
    assert clip_grad_norm_(parameters, 2.5, norm_type=math.inf).item() == pytest.approx(5.0)
    np.testing.assert_allclose(parameters[0].grad.array, [0.5, -2.5], rtol=1e-5)
    parameters = with_grads([1.0, -5.0], [2.0])
    assert clip_grad_norm_(parameters, 100.0, norm_type=1).item() == pytest.approx(8.0)


def test_clip_grad_norm_accepts_a_single_tensor_skips_missing_grads_and_checks_finite():
    (parameter,) = with_grads([6.0, 8.0])
    no_grad = nn.Parameter(ember.zeros(2))
    assert clip_grad_norm_([parameter, no_grad], 5.0).item() == pytest.approx(10.0)
    np.testing.assert_allclose(parameter.grad.array, [3.0, 4.0], rtol=1e-5)
    assert clip_grad_norm_(parameter, 1.0).item() == pytest.approx(5.0, rel=1e-5)
    assert clip_grad_norm_([no_grad], 1.0).item() == 0.0
    (bad,) = with_grads([float("inf"), 1.0])
    with pytest.raises(RuntimeError, match="non-finite"):
        clip_grad_norm_([bad], 1.0, error_if_nonfinite=True)


def test_clip_grad_norm_on_model_gradients():
    model = nn.Linear(10, 5)
    model(ember.randn(8, 10) * 10.0).sum().backward()
    expected = math.sqrt(sum(float((p.grad.array.astype(np.float64) ** 2).sum()) for p in model.parameters()))
    assert clip_grad_norm_(model.parameters(), 0.1).item() == pytest.approx(expected, rel=1e-5)
    clipped = math.sqrt(sum(float((p.grad.array.astype(np.float64) ** 2).sum()) for p in model.parameters()))
    assert clipped == pytest.approx(0.1, rel=1e-4)


@pytest.mark.parametrize("max_norm", [0.5, 1e6], ids=["clipped", "not_clipped"])
def test_clip_grad_norm_fast_two_norm_gives_the_reference_numbers(max_norm):
    rng = np.random.default_rng(0)
    shapes = [(65, 128), (128,), (384, 128), (3, 4, 5)]
    grads = [rng.standard_normal(shape).astype(np.float32) for shape in shapes]
    grads[2] = grads[2][:, ::2]  # a strided gradient
    results = []
    for fast_paths in (True, False):
        parameters = []
        for grad in grads:
            parameter = nn.Parameter(ember.zeros(grad.shape))
            parameter.grad = ember.tensor(grad.copy() if grad.flags.c_contiguous else grad)
            parameters.append(parameter)
        with ember.config.override(fast_paths=fast_paths):
            total = clip_grad_norm_(parameters, max_norm)
        assert total.dtype == np.float32
        results.append((total.item(), [p.grad.numpy() for p in parameters]))
    (fast_total, fast_grads), (reference_total, reference_grads) = results
    assert fast_total == pytest.approx(reference_total, rel=1e-6)
    for fast, reference, original in zip(fast_grads, reference_grads, grads):
        np.testing.assert_allclose(fast, reference, rtol=1e-6)
        if max_norm > fast_total:
            np.testing.assert_array_equal(fast, original)  # not clipped: untouched


def test_clip_grad_value():
    parameters = with_grads([-3.0, 0.5, 2.0])
    assert clip_grad_value_(parameters, 1.0) is None
    np.testing.assert_array_equal(parameters[0].grad.array, [-1.0, 0.5, 1.0])
