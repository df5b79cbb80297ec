"""Op-table cases: every loss with every reduction, and cross_entropy's variants (class weights, ignore_index,
label smoothing, probability targets, (N, C, H, W) inputs, unbatched input, huge logits).

References are written here with NumPy from PyTorch's documented formulas.
"""
import numpy as np

import ember

from .op_table import OpCase

REDUCTIONS = ("mean", "sum", "none")
IGNORE = -100


def _reduce(values, reduction):
    if reduction == "mean":
        return values.mean()
    if reduction == "sum":
        return values.sum()
    return values


def _log_softmax(x, axis):
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


# ---------------------------------------------------------------------------------- cross-entropy
def _ce_ref(reduction, class_weight=None, smoothing=0.0, ignore_index=IGNORE):
    """PyTorch's cross_entropy with class indices: (1-ε)·nll + ε/C·Σ_c w_c(-log p_c), weighted mean."""

    def reference(logits, target, *weight):
        w = weight[0] if weight else None
        unbatched = logits.ndim == 1
        if unbatched:
            logits, target = logits[None], np.asarray(target)[None]
        log_p = np.moveaxis(_log_softmax(logits, 1), 1, -1)  # (N, *d, C)
        classes = log_p.shape[-1]
        w = np.ones(classes) if w is None else w
        valid = target != ignore_index
        safe = np.where(valid, target, 0)
        nll = -np.take_along_axis(log_p, safe[..., None], -1)[..., 0] * w[safe]
        uniform = -(log_p * w).sum(-1)
        loss = np.where(valid, (1 - smoothing) * nll + smoothing / classes * uniform, 0.0)
        if reduction == "none":
            return loss[0] if unbatched else loss
        if reduction == "sum":
            return loss.sum()
        return loss.sum() / np.where(valid, w[safe], 0.0).sum()

    return reference


def _ce_prob_ref(reduction, smoothing=0.0):
    def reference(logits, probs, *weight):
        classes = logits.shape[1]
        target = probs * (1 - smoothing) + smoothing / classes
        w = weight[0].reshape((-1,) + (1,) * (logits.ndim - 2)) if weight else 1.0
        loss = -(_log_softmax(logits, 1) * target * w).sum(1)
        return _reduce(loss, reduction)

    return reference


def _logits_labels(shape, ignored=0, scale=1.0):
    """Logits (N, C, *d) and int64 labels (N, *d); the first ``ignored`` labels become IGNORE."""

    def make(rng):
        logits = rng.standard_normal(shape) * scale
        labels = rng.integers(0, shape[1], (shape[0],) + tuple(shape[2:]))
        labels.reshape(-1)[:ignored] = IGNORE
        return [logits, labels]

    return make


def _with_class_weight(maker, classes):
    return lambda rng: maker(rng) + [rng.uniform(0.5, 2.0, classes)]


def _logits_probs(shape, with_weight=False):
    def make(rng):
        probs = rng.uniform(0.1, 1.0, shape)
        arrays = [rng.standard_normal(shape), probs / probs.sum(axis=1, keepdims=True)]
        if with_weight:
            arrays.append(rng.uniform(0.5, 2.0, shape[1]))
        return arrays

    return make


def _ce_op(reduction, smoothing=0.0):
    def op(logits, target, *weight):
        return ember.cross_entropy(logits, target, weight[0] if weight else None, reduction=reduction,
                                   label_smoothing=smoothing)

    return op


CASES = []
for red in REDUCTIONS:
    CASES += [
        OpCase(f"cross_entropy_{red}", _ce_op(red), _ce_ref(red), _logits_labels((5, 4))),
        OpCase(f"cross_entropy_weight_{red}", _ce_op(red), _ce_ref(red),
               _with_class_weight(_logits_labels((5, 4)), 4), grad_inputs=[0]),
        OpCase(f"cross_entropy_ignore_index_{red}", _ce_op(red), _ce_ref(red), _logits_labels((6, 3), ignored=2)),
        OpCase(f"cross_entropy_smoothing_{red}", _ce_op(red, 0.2), _ce_ref(red, smoothing=0.2),
               _logits_labels((5, 4))),
        OpCase(f"cross_entropy_smoothing_weight_ignore_{red}", _ce_op(red, 0.3), _ce_ref(red, smoothing=0.3),
               _with_class_weight(_logits_labels((6, 4), ignored=2), 4), grad_inputs=[0]),
        OpCase(f"cross_entropy_nchw_{red}", _ce_op(red), _ce_ref(red), _logits_labels((2, 3, 2, 2), ignored=1)),
        OpCase(f"cross_entropy_nchw_weight_smoothing_{red}", _ce_op(red, 0.1), _ce_ref(red, smoothing=0.1),
               _with_class_weight(_logits_labels((2, 3, 2, 2)), 3), grad_inputs=[0]),
        OpCase(f"cross_entropy_probabilities_{red}", _ce_op(red), _ce_prob_ref(red), _logits_probs((4, 3))),
        OpCase(f"cross_entropy_probabilities_weight_smoothing_{red}", _ce_op(red, 0.2),
               _ce_prob_ref(red, smoothing=0.2), _logits_probs((2, 3, 2), with_weight=True)),
    ]
CASES += [
    OpCase("cross_entropy_unbatched", _ce_op("mean"), _ce_ref("mean"),
           lambda rng: [rng.standard_normal(4), np.array(2, dtype=np.int64)]),
    OpCase("cross_entropy_unbatched_none", _ce_op("none"), _ce_ref("none"),
           lambda rng: [rng.standard_normal(4), np.array(1, dtype=np.int64)]),
    OpCase("cross_entropy_huge_logits", _ce_op("sum"), _ce_ref("sum"), _logits_labels((4, 3), scale=1e4)),
]


# --------------------------------------------------------------------------------------- nll_loss
def _nll_ref(reduction, ignore_index=IGNORE):
    def reference(log_probs, target, *weight):
        classes = log_probs.shape[1]
        w = weight[0] if weight else np.ones(classes)
        valid = target != ignore_index
        safe = np.where(valid, target, 0)
        picked = np.take_along_axis(np.moveaxis(log_probs, 1, -1), safe[..., None], -1)[..., 0]
        loss = np.where(valid, -picked * w[safe], 0.0)
        if reduction == "mean":
            return loss.sum() / np.where(valid, w[safe], 0.0).sum()
        return _reduce(loss, reduction)

    return reference


def _nll_op(reduction):
    def op(log_probs, target, *weight):
        return ember.nll_loss(log_probs, target, weight[0] if weight else None, reduction=reduction)

    return op


for red in REDUCTIONS:
    CASES += [
        OpCase(f"nll_loss_{red}", _nll_op(red), _nll_ref(red), _logits_labels((5, 4), ignored=1)),
        OpCase(f"nll_loss_weight_nchw_{red}", _nll_op(red), _nll_ref(red),
               _with_class_weight(_logits_labels((2, 3, 2, 2), ignored=1), 3), grad_inputs=[0]),
    ]


# ---------------------------------------------------------------------------------- binary losses
def _bce_ref(reduction):
    def reference(probs, target, *weight):
        log_p = np.maximum(np.log(probs), -100.0)
        log_not_p = np.maximum(np.log(1 - probs), -100.0)
        loss = -(target * log_p + (1 - target) * log_not_p)
        return _reduce(loss * weight[0] if weight else loss, reduction)

    return reference


def _bce_logits_ref(reduction, has_weight=False, has_pos_weight=False):
    def reference(logits, target, *extra):
        weight = extra[0] if has_weight else 1.0
        pos_weight = extra[-1] if has_pos_weight else 1.0
        log_sigmoid = -np.logaddexp(0.0, -logits)
        log_not_sigmoid = -np.logaddexp(0.0, logits)
        loss = -(pos_weight * target * log_sigmoid + (1 - target) * log_not_sigmoid)
        return _reduce(loss * weight, reduction)

    return reference


def _probs_targets(shape, weight_shape=None):
    def make(rng):
        arrays = [rng.uniform(0.05, 0.95, shape), rng.uniform(0.0, 1.0, shape)]
        if weight_shape is not None:
            arrays.append(rng.uniform(0.5, 2.0, weight_shape))
        return arrays

    return make


def _logits_targets(shape, *extra_shapes):
    def make(rng):
        arrays = [rng.standard_normal(shape) * 3.0, rng.uniform(0.0, 1.0, shape)]
        return arrays + [rng.uniform(0.5, 3.0, extra) for extra in extra_shapes]

    return make


for red in REDUCTIONS:
    CASES += [
        OpCase(f"binary_cross_entropy_{red}",
               lambda p, t, red=red: ember.binary_cross_entropy(p, t, reduction=red),
               _bce_ref(red), _probs_targets((4, 3))),
        OpCase(f"binary_cross_entropy_weight_{red}",
               lambda p, t, w, red=red: ember.binary_cross_entropy(p, t, w, reduction=red),
               _bce_ref(red), _probs_targets((4, 3), (3,))),
        OpCase(f"bce_with_logits_{red}",
               lambda x, t, red=red: ember.binary_cross_entropy_with_logits(x, t, reduction=red),
               _bce_logits_ref(red), _logits_targets((4, 3))),
        OpCase(f"bce_with_logits_pos_weight_{red}",
               lambda x, t, pw, red=red: ember.binary_cross_entropy_with_logits(x, t, reduction=red, pos_weight=pw),
               _bce_logits_ref(red, has_pos_weight=True), _logits_targets((4, 3), (3,))),
        OpCase(f"bce_with_logits_weight_pos_weight_{red}",
               lambda x, t, w, pw, red=red: ember.binary_cross_entropy_with_logits(x, t, w, reduction=red,
                                                                                   pos_weight=pw),
               _bce_logits_ref(red, True, True), _logits_targets((2, 3, 4), (3, 1), (4,))),
    ]


# ------------------------------------------------------------------------------------- regression
def _pairs(shape, offsets, with_weight=False):
    """``(input, target)`` whose differences lie near the given offsets (away from the losses' kinks)."""

    def make(rng):
        target = rng.standard_normal(shape)
        difference = rng.choice(offsets, shape) + rng.uniform(-0.05, 0.05, shape)
        arrays = [target + difference, target]
        if with_weight:
            arrays.append(rng.uniform(0.5, 2.0, shape))
        return arrays

    return make


def _huber_values(difference, delta):
    size = np.abs(difference)
    return np.where(size < delta, 0.5 * difference**2, delta * (size - 0.5 * delta))


def _weighted(values, weight, reduction, mean_by_weight):
    values = values * weight
    if reduction == "mean" and mean_by_weight:
        return values.sum() / weight.sum()
    return _reduce(values, reduction)


SPREAD = (-2.0, -0.7, -0.3, 0.3, 0.7, 2.0)  # none within 0.2 of 0, ±0.5, ±1

for red in REDUCTIONS:
    CASES += [
        OpCase(f"mse_loss_{red}", lambda x, t, red=red: ember.mse_loss(x, t, reduction=red),
               lambda x, t, red=red: _reduce((x - t) ** 2, red), _pairs((3, 4), SPREAD)),
        OpCase(f"mse_loss_weight_{red}", lambda x, t, w, red=red: ember.mse_loss(x, t, reduction=red, weight=w),
               lambda x, t, w, red=red: _weighted((x - t) ** 2, w, red, True), _pairs((3, 4), SPREAD, True)),
        OpCase(f"l1_loss_{red}", lambda x, t, red=red: ember.l1_loss(x, t, reduction=red),
               lambda x, t, red=red: _reduce(np.abs(x - t), red), _pairs((3, 4), SPREAD)),
        OpCase(f"l1_loss_weight_{red}", lambda x, t, w, red=red: ember.l1_loss(x, t, reduction=red, weight=w),
               lambda x, t, w, red=red: _weighted(np.abs(x - t), w, red, True), _pairs((3, 4), SPREAD, True)),
        OpCase(f"huber_loss_{red}", lambda x, t, red=red: ember.huber_loss(x, t, reduction=red),
               lambda x, t, red=red: _reduce(_huber_values(x - t, 1.0), red), _pairs((3, 4), SPREAD)),
        OpCase(f"huber_loss_delta_weight_{red}",
               lambda x, t, w, red=red: ember.huber_loss(x, t, reduction=red, delta=0.5, weight=w),
               lambda x, t, w, red=red: _weighted(_huber_values(x - t, 0.5), w, red, False),
               _pairs((3, 4), SPREAD, True)),
        OpCase(f"smooth_l1_loss_{red}", lambda x, t, red=red: ember.smooth_l1_loss(x, t, reduction=red),
               lambda x, t, red=red: _reduce(_huber_values(x - t, 1.0), red), _pairs((3, 4), SPREAD)),
        OpCase(f"smooth_l1_loss_beta_{red}",
               lambda x, t, red=red: ember.smooth_l1_loss(x, t, reduction=red, beta=0.5),
               lambda x, t, red=red: _reduce(_huber_values(x - t, 0.5) / 0.5, red), _pairs((3, 4), SPREAD)),
    ]


# ----------------------------------------------------------------------------------------- kl_div
def _log_probs_probs(shape):
    def make(rng):
        return [_log_softmax(rng.standard_normal(shape), -1), rng.uniform(0.1, 1.0, shape)]

    return make


for red in REDUCTIONS + ("batchmean",):
    CASES += [
        OpCase(f"kl_div_{red}", lambda x, t, red=red: ember.kl_div(x, t, reduction=red),
               lambda x, t, red=red: (t * (np.log(t) - x)).sum() / x.shape[0] if red == "batchmean"
               else _reduce(t * (np.log(t) - x), red), _log_probs_probs((3, 4))),
        OpCase(f"kl_div_log_target_{red}", lambda x, t, red=red: ember.kl_div(x, t.log(), reduction=red,
                                                                               log_target=True),
               lambda x, t, red=red: (t * (np.log(t) - x)).sum() / x.shape[0] if red == "batchmean"
               else _reduce(t * (np.log(t) - x), red), _log_probs_probs((3, 4))),
    ]
