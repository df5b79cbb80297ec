"""Losses beyond the op table: hand-computed values, stability, weighting and ignore_index semantics,
Hessian-vector products through cross_entropy, legacy reduction arguments, dtypes, and errors."""
from __future__ import annotations

import math

import numpy as np
import pytest

import ember


def test_cross_entropy_hand_computed_value():
    loss = ember.cross_entropy(ember.tensor([[2.0, 1.0, 0.1]]), ember.tensor([0]))
    # -log(e^2 / (e^2 + e^1 + e^0.1))
    assert loss.item() == pytest.approx(0.4170300, abs=1e-6)
    assert loss.dtype == np.float32 and loss.shape == ()


def test_cross_entropy_gradient_is_softmax_minus_onehot_over_batch():
    logits = ember.tensor([[2.0, 1.0, 0.1], [0.0, 0.0, 0.0]], requires_grad=True)
    ember.cross_entropy(logits, ember.tensor([0, 2])).backward()
    e = np.exp([2.0, 1.0, 0.1])
    expected = np.array([e / e.sum() - [1, 0, 0], np.full(3, 1 / 3) - [0, 0, 1]]) / 2
    np.testing.assert_allclose(logits.grad.numpy(), expected, rtol=1e-6, atol=1e-7)
    assert logits.grad.dtype == np.float32


def test_cross_entropy_is_stable_for_huge_logits():
    logits = ember.tensor([[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4]], requires_grad=True)
    loss = ember.cross_entropy(logits, ember.tensor([1, 0]), reduction="none")
    np.testing.assert_allclose(loss.numpy(), [2e4, 2e4 + math.log(2)], rtol=1e-6)
    loss.sum().backward()
    expected = np.array([[1.0, -1.0, 0.0], [-1.0, 0.5, 0.5]])
    np.testing.assert_allclose(logits.grad.numpy(), expected, atol=1e-6)


def test_cross_entropy_weighted_mean_divides_by_the_target_weights():
    logits = np.array([[1.0, 2.0, 0.5], [0.3, -1.0, 2.0], [0.0, 0.0, 1.0]], dtype=np.float32)
    targets = np.array([1, 2, 0])
    weight = np.array([0.2, 1.0, 3.0], dtype=np.float32)
    per_sample = ember.cross_entropy(ember.tensor(logits), ember.tensor(targets), reduction="none").numpy()
    weighted = ember.cross_entropy(ember.tensor(logits), ember.tensor(targets), ember.tensor(weight))
    w_y = weight[targets]
    assert weighted.item() == pytest.approx(float((w_y * per_sample).sum() / w_y.sum()), rel=1e-6)


def test_cross_entropy_ignore_index_drops_samples_from_value_and_gradient():
    logits = ember.tensor([[1.0, 2.0], [3.0, -1.0], [0.5, 0.5]], requires_grad=True)
    loss = ember.cross_entropy(logits, ember.tensor([1, -100, 0]))
    kept = ember.cross_entropy(ember.tensor([[1.0, 2.0], [0.5, 0.5]]), ember.tensor([1, 0]))
    assert loss.item() == pytest.approx(kept.item(), rel=1e-6)
    loss.backward()
    np.testing.assert_array_equal(logits.grad.numpy()[1], [0.0, 0.0])
    custom = ember.cross_entropy(ember.tensor([[1.0, 2.0], [3.0, -1.0]]), ember.tensor([1, 0]), ignore_index=0)
    assert custom.item() == pytest.approx(math.log(1 + math.exp(-1.0)), rel=1e-6)


def test_cross_entropy_with_every_target_ignored_is_nan_as_in_pytorch():
    loss = ember.cross_entropy(ember.randn(2, 3), ember.tensor([-100, -100]))
    assert math.isnan(loss.item())
    assert ember.cross_entropy(ember.randn(2, 3), ember.tensor([-100, -100]), reduction="sum").item() == 0.0


def test_cross_entropy_label_smoothing_hand_computed():
    logits = np.array([2.0, 1.0, 0.1])
    log_p = logits - np.log(np.exp(logits).sum())
    expected = 0.9 * -log_p[0] + 0.1 / 3 * -log_p.sum()
    loss = ember.cross_entropy(ember.tensor([logits.tolist()]), ember.tensor([0]), label_smoothing=0.1)
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    # with probability targets, the smoothed target is t * (1 - eps) + eps / C
    probs = ember.tensor([[1.0, 0.0, 0.0]])
    soft = ember.cross_entropy(ember.tensor([logits.tolist()]), probs, label_smoothing=0.1)
    assert soft.item() == pytest.approx(expected, rel=1e-6)


def test_cross_entropy_probability_targets_equal_index_targets_for_one_hot():
    logits = ember.randn(4, 5)
    labels = ember.tensor([0, 3, 4, 1])
    one_hot = ember.tensor(np.eye(5, dtype=np.float32)[labels.numpy()])
    assert ember.cross_entropy(logits, one_hot).item() == pytest.approx(ember.cross_entropy(logits, labels).item(),
                                                                          rel=1e-6)


def test_cross_entropy_per_pixel_shapes():
    logits = ember.randn(2, 4, 3, 5)
    labels = ember.tensor(np.random.default_rng(0).integers(0, 4, (2, 3, 5)))
    assert ember.cross_entropy(logits, labels, reduction="none").shape == (2, 3, 5)
    per_pixel = ember.cross_entropy(logits.permute(0, 2, 3, 1).reshape(-1, 4), labels.reshape(-1))
    assert ember.cross_entropy(logits, labels).item() == pytest.approx(per_pixel.item(), rel=1e-6)


def test_cross_entropy_hessian_vector_product_matches_softmax_jacobian():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 4))
    v = rng.standard_normal((3, 4))
    logits = ember.tensor(x, requires_grad=True)
    loss = ember.cross_entropy(logits, ember.tensor([0, 3, 1]))
    (grad,) = ember.grad(loss, logits, create_graph=True)
    (hvp,) = ember.grad((grad * ember.tensor(v)).sum(), logits)
    p = np.exp(x) / np.exp(x).sum(axis=1, keepdims=True)
    expected = (p * v - p * (p * v).sum(axis=1, keepdims=True)) / 3  # (diag(p) - p p^T) v, mean over 3
    np.testing.assert_allclose(hvp.numpy(), expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_cross_entropy_first_derivative_same_with_and_without_create_graph(smoothing):
    results = []
    for create_graph in (False, True):
        logits = ember.tensor(np.random.default_rng(1).standard_normal((4, 3)), requires_grad=True)
        weight = ember.tensor([0.5, 1.0, 2.0], dtype=ember.float64)
        loss = ember.cross_entropy(logits, ember.tensor([2, 0, -100, 1]), weight, label_smoothing=smoothing)
        results.append(ember.grad(loss, logits, create_graph=create_graph)[0].numpy())
    np.testing.assert_allclose(results[0], results[1], rtol=1e-12)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_cross_entropy_reduced_in_one_node_gives_the_numbers_of_sum_then_divide(reduction):
    """The "mean" and "sum" reductions run inside the cross-entropy node: the loss and the gradient are those
    of reduction="none" followed by sum() (and / total weight), bit for bit, and an upstream gradient that
    itself needs a gradient is differentiated through."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((6, 5)).astype(np.float32)
    target = ember.tensor([0, 4, 2, -100, 1, 3])
    weight = ember.tensor([1.0, 0.5, 2.0, 1.5, 0.25])
    fused = ember.tensor(x, requires_grad=True)
    loss = ember.cross_entropy(fused, target, weight, reduction=reduction)
    loss.backward()
    plain = ember.tensor(x, requires_grad=True)
    per_sample = ember.cross_entropy(plain, target, weight, reduction="none")
    total = 1.0 + 0.25 + 2.0 + 0.5 + 1.5  # the weights of the targets not ignored
    expected = per_sample.sum() / total if reduction == "mean" else per_sample.sum()
    expected.backward()
    assert loss.shape == () and loss.dtype == np.float32
    np.testing.assert_array_equal(loss.numpy(), expected.numpy())
    np.testing.assert_array_equal(fused.grad.numpy(), plain.grad.numpy())
    scale = ember.tensor(3.0, dtype=ember.float64, requires_grad=True)
    logits = ember.tensor(x.astype(np.float64), requires_grad=True)
    (grad,) = ember.grad(ember.cross_entropy(logits, target, weight.double(), reduction=reduction) * scale, logits,
                         create_graph=True)
    probe = ember.tensor(rng.standard_normal((6, 5)))
    product = (grad * probe).sum()  # linear in scale: its derivative is product / scale
    (grad_scale,) = ember.grad(product, scale)  # the upstream gradient (scale) needs a gradient itself
    np.testing.assert_allclose(grad_scale.numpy(), product.numpy() / 3.0, rtol=1e-12)


def test_nll_loss_of_log_softmax_equals_cross_entropy():
    logits = ember.randn(5, 4)
    labels = ember.tensor([0, 1, 3, 2, -100])
    weight = ember.tensor([1.0, 2.0, 0.5, 1.5])
    expected = ember.cross_entropy(logits, labels, weight)
    got = ember.nll_loss(ember.log_softmax(logits, 1), labels, weight)
    assert got.item() == pytest.approx(expected.item(), rel=1e-6)


def test_binary_cross_entropy_clamps_logs_at_minus_100():
    loss = ember.binary_cross_entropy(ember.tensor([0.0, 1.0, 0.5]), ember.tensor([1.0, 0.0, 1.0]), reduction="none")
    np.testing.assert_allclose(loss.numpy(), [100.0, 100.0, math.log(2)], rtol=1e-6)
    probs = ember.tensor([0.0, 1.0, 0.25], requires_grad=True)
    ember.binary_cross_entropy(probs, ember.tensor([1.0, 0.0, 1.0]), reduction="sum").backward()
    assert np.all(np.isfinite(probs.grad.numpy()))
    assert probs.grad.numpy()[2] == pytest.approx(-4.0, rel=1e-6)  # (p - t) / (p (1 - p))


def test_bce_with_logits_is_stable_and_matches_the_sigmoid_form():
    logits = ember.tensor([1e4, -1e4, 0.0, 2.0], requires_grad=True)
    targets = ember.tensor([0.0, 1.0, 1.0, 0.3])
    loss = ember.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    expected_last = -(0.3 * math.log(1 / (1 + math.exp(-2))) + 0.7 * math.log(1 - 1 / (1 + math.exp(-2))))
    np.testing.assert_allclose(loss.numpy(), [1e4, 1e4, math.log(2), expected_last], rtol=1e-6)
    loss.sum().backward()
    sigmoid = 0.5 * (1 + np.tanh(np.array([1e4, -1e4, 0.0, 2.0]) / 2))
    np.testing.assert_allclose(logits.grad.numpy(), sigmoid - targets.numpy(), rtol=1e-6, atol=1e-7)


def test_bce_with_logits_pos_weight_scales_the_positive_term():
    x, t = 0.7, 1.0
    pos_weight = 3.0
    loss = ember.binary_cross_entropy_with_logits(ember.tensor([x]), ember.tensor([t]),
                                                  pos_weight=ember.tensor([pos_weight]))
    assert loss.item() == pytest.approx(-pos_weight * math.log(1 / (1 + math.exp(-x))), rel=1e-6)


def test_regression_losses_hand_computed():
    a = ember.tensor([0.0, 1.0, 4.0])
    b = ember.tensor([0.5, 1.0, 1.0])
    assert ember.mse_loss(a, b).item() == pytest.approx((0.25 + 0 + 9) / 3)
    assert ember.l1_loss(a, b, reduction="sum").item() == pytest.approx(3.5)
    # |d| = 0.5, 0, 3: 0.5 d² below delta=1, delta (|d| - delta / 2) above
    assert ember.huber_loss(a, b, reduction="sum").item() == pytest.approx(0.125 + 0 + 2.5)
    assert ember.smooth_l1_loss(a, b, reduction="sum", beta=2.0).item() == pytest.approx(0.0625 + 0 + 2.0)
    np.testing.assert_allclose(ember.smooth_l1_loss(a, b, beta=0.0, reduction="none").numpy(), [0.5, 0.0, 3.0])
    weight = ember.tensor([1.0, 2.0, 3.0])
    assert ember.mse_loss(a, b, weight=weight).item() == pytest.approx((0.25 + 27) / 6)
    assert ember.huber_loss(a, b, weight=weight).item() == pytest.approx((0.125 + 7.5) / 3)


def test_kl_div_treats_zero_targets_as_zero_terms():
    log_probs = ember.tensor([[math.log(0.5), math.log(0.5)]], requires_grad=True)
    target = ember.tensor([[1.0, 0.0]])
    loss = ember.kl_div(log_probs, target, reduction="batchmean")
    assert loss.item() == pytest.approx(math.log(2), rel=1e-6)
    loss.backward()
    np.testing.assert_allclose(log_probs.grad.numpy(), [[-1.0, 0.0]])


def test_legacy_size_average_and_reduce_arguments_map_to_reduction():
    a, b = ember.tensor([1.0, 3.0]), ember.tensor([0.0, 0.0])
    assert ember.mse_loss(a, b, size_average=False).item() == pytest.approx(10.0)
    assert ember.mse_loss(a, b, reduce=False).shape == (2,)
    logits, labels = ember.randn(3, 4), ember.tensor([0, 1, 2])
    np.testing.assert_allclose(ember.cross_entropy(logits, labels, None, False).numpy(),
                               ember.cross_entropy(logits, labels, reduction="sum").numpy())


@pytest.mark.parametrize("loss_fn, make", [
    (ember.cross_entropy, lambda: (ember.randn(4, 3, requires_grad=True), ember.tensor([0, 1, 2, 0]))),
    (ember.nll_loss, lambda: (ember.randn(4, 3, requires_grad=True), ember.tensor([0, 1, 2, 0]))),
    (ember.binary_cross_entropy, lambda: (ember.rand(4, 3).clamp(0.1, 0.9).requires_grad_(), ember.rand(4, 3))),
    (ember.binary_cross_entropy_with_logits, lambda: (ember.randn(4, 3, requires_grad=True), ember.rand(4, 3))),
    (ember.mse_loss, lambda: (ember.randn(4, 3, requires_grad=True), ember.randn(4, 3))),
    (ember.l1_loss, lambda: (ember.randn(4, 3, requires_grad=True), ember.randn(4, 3))),
    (ember.huber_loss, lambda: (ember.randn(4, 3, requires_grad=True), ember.randn(4, 3))),
    (ember.smooth_l1_loss, lambda: (ember.randn(4, 3, requires_grad=True), ember.randn(4, 3))),
    (ember.kl_div, lambda: (ember.randn(4, 3, requires_grad=True), ember.rand(4, 3))),
])
def test_losses_keep_float32(loss_fn, make):
    input, target = make()
    loss = loss_fn(input, target)
    loss.backward()
    assert loss.dtype == np.float32 and input.grad.dtype == np.float32


# ------------------------------------------------------------------------------------------- errors
def test_cross_entropy_reports_out_of_range_targets():
    with pytest.raises(ValueError, match=r"cross_entropy: target 5 is out of range for 3 classes"):
        ember.cross_entropy(ember.randn(2, 3), ember.tensor([0, 5]))
    with pytest.raises(ValueError, match=r"nll_loss: target -1 is out of range for 3 classes"):
        ember.nll_loss(ember.randn(2, 3), ember.tensor([-1, 0]))


def test_cross_entropy_rejects_bad_targets_and_arguments():
    logits = ember.randn(4, 3)
    with pytest.raises(ValueError, match=r"expected target of shape \(4,\).*received shape \(4, 1\)"):
        ember.cross_entropy(logits, ember.tensor([[0], [1], [2], [0]]))
    with pytest.raises(ValueError, match=r"class probabilities and must have the input's shape \(4, 3\)"):
        ember.cross_entropy(logits, ember.tensor([0.0, 1.0, 2.0, 0.0]))
    with pytest.raises(TypeError, match="integer dtype"):
        ember.cross_entropy(logits, ember.tensor([True, False, True, True]))
    with pytest.raises(ValueError, match=r"expected weight of shape \(3,\)"):
        ember.cross_entropy(logits, ember.tensor([0, 1, 2, 0]), ember.ones(4))
    with pytest.raises(ValueError, match="reduction must be one of"):
        ember.cross_entropy(logits, ember.tensor([0, 1, 2, 0]), reduction="average")
    with pytest.raises(ValueError, match="label_smoothing must lie in"):
        ember.cross_entropy(logits, ember.tensor([0, 1, 2, 0]), label_smoothing=1.5)
    with pytest.raises(ValueError, match="ignore_index=1 is only supported with class-index targets"):
        ember.cross_entropy(logits, ember.rand(4, 3), ignore_index=1)
    with pytest.raises(RuntimeError, match="class weights are not supported"):
        ember.cross_entropy(logits, ember.tensor([0, 1, 2, 0]), ember.ones(3, requires_grad=True))
    with pytest.raises(TypeError, match="expected a floating input"):
        ember.cross_entropy(ember.tensor([[1, 2]]), ember.tensor([0]))


def test_elementwise_losses_reject_mismatched_targets():
    with pytest.raises(ValueError, match=r"mse_loss: expected target of the input's shape \(4, 1\), received shape"):
        ember.mse_loss(ember.randn(4, 1), ember.randn(4))
    with pytest.raises(TypeError, match=r"l1_loss: expected target of dtype float32"):
        ember.l1_loss(ember.randn(3), ember.randn(3, dtype=ember.float64))
    with pytest.raises(ValueError, match="binary_cross_entropy_with_logits: expected target of the input's shape"):
        ember.binary_cross_entropy_with_logits(ember.randn(3, 2), ember.rand(3))
    with pytest.raises(ValueError, match=r"binary_cross_entropy: all elements of input must lie in \[0, 1\]"):
        ember.binary_cross_entropy(ember.tensor([0.5, 1.5]), ember.tensor([1.0, 0.0]))
    with pytest.raises(ValueError, match="does not broadcast"):
        ember.binary_cross_entropy_with_logits(ember.randn(3, 2), ember.rand(3, 2), pos_weight=ember.ones(3))
    with pytest.raises(ValueError, match="delta must be a positive number"):
        ember.huber_loss(ember.randn(3), ember.randn(3), delta=0.0)
    with pytest.raises(ValueError, match="beta must be a non-negative number"):
        ember.smooth_l1_loss(ember.randn(3), ember.randn(3), beta=-1.0)
