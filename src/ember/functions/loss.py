"""Losses: cross_entropy, nll_loss, binary_cross_entropy(_with_logits), mse_loss, l1_loss, huber_loss,
smooth_l1_loss, kl_div, with PyTorch's signatures and ``reduction`` semantics ("mean", "sum", "none").

Cross-entropy with class indices is one fused Primitive computed from logits with log-sum-exp (stable at any
logit scale). Its backward is another Primitive, ``(softmax * Q - q) * grad`` on raw arrays, whose own
backward is written with Ember ops through ``softmax``, so Hessian-vector products work. The elementwise
losses are Primitives (or compositions of Ember ops) whose backward is written with Ember ops.

The deprecated ``size_average``/``reduce`` arguments are accepted where PyTorch has them and mapped to
``reduction`` as PyTorch does, so that positional calls port unchanged.
"""
from __future__ import annotations

import numbers

import numpy as np

from ..autograd.function import Primitive
from ..autograd.grad_mode import is_grad_enabled
from ..autograd.tensor import Tensor
from ..backend.device import get_array_module
from .activation import log_softmax, sigmoid, softmax, softplus
from .elementwise import abs as absolute
from .elementwise import exp, log, log1p, where
from .indexing import gather


# ------------------------------------------------------------------------------------------ helpers
def _reduction_of(name: str, reduction: str, size_average, reduce, allowed=("mean", "sum", "none")) -> str:
    if size_average is not None or reduce is not None:
        # PyTorch's legacy arguments: reduce=False wins, then size_average=False means "sum"
        size_average = True if size_average is None else size_average
        reduce = True if reduce is None else reduce
        reduction = "none" if not reduce else "mean" if size_average else "sum"
    if reduction not in allowed:
        expected = ", ".join(repr(item) for item in allowed)
        raise ValueError(f"{name}: reduction must be one of {expected}, received {reduction!r}")
    return reduction


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def _weighted_mean(loss: Tensor, total_weight: float) -> Tensor:
    """``sum(loss) / total_weight``; NaN (as PyTorch) when nothing carries weight."""
    if total_weight == 0:
        return loss.sum() * float("nan")
    return loss.sum() / total_weight


def _check_input(name: str, input) -> None:
    if not isinstance(input, Tensor):
        raise TypeError(f"{name}: input must be a Tensor, received {type(input).__name__}")
    if input.dtype.kind != "f":
        raise TypeError(f"{name}: expected a floating input, received dtype {input.dtype}")


def _check_like_input(name: str, what: str, input: Tensor, other, broadcast: bool = False) -> None:
    """``other`` must be a floating Tensor of input's dtype and shape (or, with ``broadcast``, broadcast to it)."""
    if not isinstance(other, Tensor):
        raise TypeError(f"{name}: {what} must be a Tensor, received {type(other).__name__}")
    if other.dtype != input.dtype:
        raise TypeError(f"{name}: expected {what} of dtype {input.dtype} (the input's), received {other.dtype}")
    if broadcast:
        try:
            fits = np.broadcast_shapes(other.shape, input.shape) == input.shape
        except ValueError:
            fits = False
        if not fits:
            raise ValueError(
                f"{name}: {what} of shape {other.shape} does not broadcast to the input's shape {input.shape}"
            )
    elif other.shape != input.shape:
        raise ValueError(f"{name}: expected {what} of the input's shape {input.shape}, received shape {other.shape}")


def _class_layout(name: str, input: Tensor):
    """The class axis (1, or 0 for an unbatched (C,) input) and the number of classes."""
    if input.ndim == 0:
        raise ValueError(f"{name}: expected input of shape (C,), (N, C) or (N, C, d1, ...), received a 0-d tensor")
    axis = 0 if input.ndim == 1 else 1
    return axis, input.shape[axis]


def _class_weight(name: str, weight, input: Tensor, classes: int):
    if weight is None:
        return None
    if not isinstance(weight, Tensor):
        raise TypeError(f"{name}: weight must be a Tensor, received {type(weight).__name__}")
    if weight.shape != (classes,):
        raise ValueError(f"{name}: expected weight of shape ({classes},) (one per class), received {weight.shape}")
    if weight.dtype != input.dtype:
        raise TypeError(f"{name}: expected weight of dtype {input.dtype} (the input's), received {weight.dtype}")
    return weight


class _ClassTargets:
    """Class-index targets, validated, with the per-sample weights that nll_loss and cross_entropy share.

    ``index``: targets (N, 1, *d) with ignored entries replaced by 0 (safe to gather with);
    ``weight``: per-sample weight ``w[target]`` (or 1), 0 where ignored, shape (N, 1, *d), input's dtype;
    ``total``: the sum of ``weight`` (the "mean" reduction's divisor, as PyTorch).
    """

    def __init__(self, name: str, input: Tensor, target, class_weight, ignore_index: int):
        axis, classes = _class_layout(name, input)
        batch_shape = input.shape[:axis] + input.shape[axis + 1:]
        if not isinstance(target, Tensor):
            raise TypeError(f"{name}: target must be a Tensor, received {type(target).__name__}")
        if target.dtype.kind not in "iu":
            raise TypeError(
                f"{name}: expected class-index targets of an integer dtype (int64), received dtype {target.dtype}"
            )
        if target.shape != batch_shape:
            raise ValueError(
                f"{name}: expected target of shape {batch_shape} for input of shape {input.shape}, "
                f"received shape {target.shape}"
            )
        if class_weight is not None and class_weight.requires_grad and is_grad_enabled():
            raise RuntimeError(
                f"{name}: gradients with respect to the class weights are not supported with class-index targets "
                "(as in PyTorch); pass weight.detach()"
            )
        xp = get_array_module(input.array)
        labels = target.array
        valid = labels != ignore_index
        every = bool(valid.all())  # the common case, checked and gathered with fewer passes
        if not every or (labels.size and (labels.min() < 0 or labels.max() >= classes)):
            out_of_range = valid & ((labels < 0) | (labels >= classes))
            if out_of_range.any():
                bad = int(labels[out_of_range].reshape(-1)[0])
                raise ValueError(
                    f"{name}: target {bad} is out of range for {classes} classes (expected 0 <= target < "
                    f"{classes}, or target == ignore_index={ignore_index})"
                )
        if axis == 0:  # unbatched (C,): a batch of one
            valid, labels = valid.reshape(1), labels.reshape(1)
        index = labels.astype(np.int64, copy=False) if every else xp.where(valid, labels, 0).astype(np.int64)
        dtype = input.dtype
        if class_weight is None:
            weight = xp.ones(labels.shape, dtype) if every else valid.astype(dtype)
        else:
            weight = class_weight.array[index] if every else class_weight.array[index] * valid.astype(dtype)
        self.index = _class_axis(index)
        self.weight = _class_axis(weight)
        self.total = float(labels.size) if every and class_weight is None else float(weight.sum())
        self.classes = classes
        self.valid = _class_axis(valid)


def _class_axis(array):
    """(N, *d) as (N, 1, *d): a class axis of one, to broadcast against (N, C, *d)."""
    return array.reshape(array.shape[:1] + (1,) + array.shape[1:])


def _at_targets(array, index):
    """``array[n, index[n, 0], ...]`` as (N, 1, *d): each sample's value at its target class (2-d arrays by
    plain indexing, several times quicker than ``take_along_axis`` at (128, 10))."""
    if array.ndim == 2:
        xp = get_array_module(array)
        return array[xp.arange(array.shape[0])[:, None], index]
    return get_array_module(array).take_along_axis(array, index, axis=1)


# ------------------------------------------------------------------------------------- cross-entropy
class SoftmaxCrossEntropy(Primitive):
    """Per-sample ``-sum_c q_c * log_softmax(x)_c`` over axis 1, from logits (N, C, *d) → (N, *d), or with
    ``divisor`` their sum divided by it (the "sum" and "mean" reductions), a 0-d result.

    ``q`` puts ``(1 - smoothing) * w[target]`` on the target class and ``smoothing / C * w_c`` on every class
    (``w`` = class weights, or ones; all zero for ignored samples). ``q_sum = sum_c q_c`` per sample; the
    gradient with respect to the logits is ``q_sum * softmax - q``. When a gradient will be needed, the
    softmax and the per-sample coefficients (shape (N, 1, *d)) are saved for the backward op.
    """

    def __init__(self, targets: _ClassTargets, class_weight, smoothing: float, needs_grad: bool,
                 divisor: float | None = None):
        self.targets, self.class_weight, self.smoothing = targets, class_weight, smoothing
        self.needs_grad = needs_grad
        self.divisor = divisor  # the "sum"/"mean" reductions in the same node: sum(loss) / divisor, a 0-d result

    def forward(self, logits):
        xp = get_array_module(logits)
        targets, smoothing = self.targets, self.smoothing
        shifted = logits - logits.max(axis=1, keepdims=True)
        probs = xp.exp(shifted)
        sum_exp = probs.sum(axis=1, keepdims=True)
        log_sum_exp = xp.log(sum_exp)
        target_coefficient = targets.weight * logits.dtype.type(1.0 - smoothing)
        loss = target_coefficient * (log_sum_exp - _at_targets(shifted, targets.index))
        q_sum, smooth = target_coefficient, None
        if smoothing:
            smooth = targets.valid.astype(logits.dtype) * logits.dtype.type(smoothing / targets.classes)
            if self.class_weight is None:
                class_total, weighted_sum = targets.classes, shifted.sum(axis=1, keepdims=True)
            else:
                class_total = self.class_weight.sum()
                weighted_sum = (shifted * _class_view(self.class_weight, logits.ndim)).sum(axis=1, keepdims=True)
            loss += smooth * (log_sum_exp * class_total - weighted_sum)
            q_sum = q_sum + smooth * class_total
        if self.needs_grad:
            probs /= sum_exp
            self.save_for_backward(logits, probs, target_coefficient, q_sum, smooth)
        loss = loss.squeeze(1)
        if self.divisor is None:
            return loss
        return xp.asarray(loss.sum() / loss.dtype.type(self.divisor))

    def _gradient_op(self):
        _, probs, target_coefficient, q_sum, smooth = self.saved_arrays
        return SoftmaxCrossEntropyGrad(probs, self.targets.index, target_coefficient, q_sum, smooth,
                                       self.class_weight)

    def backward(self, grad):
        logits = self.saved_tensors[0]
        if self.divisor is not None:  # d(sum(loss) / divisor) / d(loss) = 1 / divisor for every sample
            grad = (grad / self.divisor).expand(logits.shape[:1] + logits.shape[2:])
        return self._gradient_op()(logits, grad)

    def backward_arrays(self, grad):
        """The same on arrays: the reduction's gradient filled in directly, then the gradient op once."""
        logits = self.saved_arrays[0]
        if self.divisor is not None:
            grad = get_array_module(grad).full(logits.shape[:1] + logits.shape[2:],
                                               grad / grad.dtype.type(self.divisor), dtype=grad.dtype)
        return (self._gradient_op()(Tensor(logits), Tensor(grad)).array,)


class SoftmaxCrossEntropyGrad(Primitive):
    """``grad * (q_sum * softmax(logits) - q)`` on arrays (the cross-entropy's backward); differentiable again.

    ``forward(logits, grad)``: grad (N, *d) → (N, C, *d). Reuses the softmax ``probs`` saved by the forward
    op, with its per-sample coefficients (N, 1, *d): ``target_coefficient`` (q at the target class),
    ``q_sum``, and ``smooth`` (the label-smoothing share of every class, or None).
    """

    def __init__(self, probs, index, target_coefficient, q_sum, smooth, class_weight):
        self.probs, self.index = probs, index
        self.target_coefficient, self.q_sum, self.smooth = target_coefficient, q_sum, smooth
        self.class_weight = class_weight

    def forward(self, logits, grad):
        xp = get_array_module(logits)
        self.save_for_backward(logits, grad)
        grad = _class_axis(grad)
        result = self.probs * (grad * self.q_sum)
        if result.ndim == 2:
            rows = xp.arange(result.shape[0])[:, None]
            result[rows, self.index] -= grad * self.target_coefficient
        else:
            at_target = xp.take_along_axis(result, self.index, axis=1)
            at_target -= grad * self.target_coefficient
            xp.put_along_axis(result, self.index, at_target, axis=1)
        if self.smooth is not None:
            smooth = grad * self.smooth
            result -= smooth if self.class_weight is None else smooth * _class_view(self.class_weight, logits.ndim)
        return result

    def backward(self, grad_grad):
        logits, grad = self.saved_tensors
        probs = softmax(logits, 1)
        q_sum = Tensor(self.q_sum)
        weighted = probs * grad_grad
        per_sample = weighted.sum(1, keepdim=True)
        # d/d(logits): grad * q_sum * (softmax's Jacobian applied to grad_grad)
        grad_logits = (weighted - probs * per_sample) * (grad.unsqueeze(1) * q_sum)
        # d/d(grad): sum_c grad_grad * (q_sum * softmax - q)
        q_part = gather(grad_grad, 1, Tensor(self.index)) * Tensor(self.target_coefficient)
        if self.smooth is not None:
            spread = grad_grad if self.class_weight is None else grad_grad * Tensor(
                _class_view(self.class_weight, logits.ndim))
            q_part = q_part + spread.sum(1, keepdim=True) * Tensor(self.smooth)
        return grad_logits, (per_sample * q_sum - q_part).squeeze(1)


def _class_view(class_weight, ndim: int):
    """(C,) class weights shaped to broadcast along axis 1 of an ndim-d (N, C, *d) array."""
    return class_weight.reshape((1, -1) + (1,) * (ndim - 2))


def cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None, size_average=None,
                  ignore_index: int = -100, reduce=None, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> Tensor:
    """Cross-entropy between logits and class indices or class probabilities, computed with log-sum-exp.

    Shapes: input (N, C), (N, C, d1, ...) or (C,); target class indices (N,), (N, d1, ...) or () of an
    integer dtype, or class probabilities of the input's shape and dtype. weight (C,) rescales each class.

    With indices, "mean" divides by the summed weights of the non-ignored targets; targets equal to
    ``ignore_index`` contribute nothing. ``label_smoothing`` ε mixes the target with the uniform distribution:
    ``(1 - ε) * nll + ε / C * sum_c w_c * (-log p_c)``. With probabilities, "mean" divides by the number of
    samples (N * d1 * ...). Defaults: ignore_index -100, reduction "mean", label_smoothing 0.
    """
    name = "cross_entropy"
    _check_input(name, input)
    reduction = _reduction_of(name, reduction, size_average, reduce)
    axis, classes = _class_layout(name, input)
    weight = _class_weight(name, weight, input, classes)
    if isinstance(label_smoothing, bool) or not isinstance(label_smoothing, numbers.Real):
        raise TypeError(f"{name}: label_smoothing must be a float, received {label_smoothing!r}")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{name}: label_smoothing must lie in [0, 1], received {label_smoothing!r}")
    if isinstance(target, Tensor) and target.dtype.kind == "f":
        return _cross_entropy_probabilities(input, target, weight, ignore_index, reduction, float(label_smoothing),
                                            axis, classes)
    targets = _ClassTargets(name, input, target, weight, ignore_index)
    logits = input.reshape(1, classes) if axis == 0 else input
    needs_grad = is_grad_enabled() and input.requires_grad
    class_weight = None if weight is None else weight.array
    divisor = {"none": None, "sum": 1.0, "mean": targets.total or None}[reduction]
    if divisor is not None:  # the reduction in the same node (two fewer ops a step)
        return SoftmaxCrossEntropy(targets, class_weight, float(label_smoothing), needs_grad, divisor)(logits)
    per_sample = SoftmaxCrossEntropy(targets, class_weight, float(label_smoothing), needs_grad)(logits)
    if reduction == "none":
        return per_sample.reshape(()) if axis == 0 else per_sample
    return _weighted_mean(per_sample, targets.total)  # nothing carries weight: NaN


def _cross_entropy_probabilities(input, target, weight, ignore_index, reduction, smoothing, axis, classes):
    name = "cross_entropy"
    if target.shape != input.shape:
        raise ValueError(
            f"{name}: floating targets are class probabilities and must have the input's shape {input.shape}, "
            f"received shape {target.shape} (class indices must be an integer tensor)"
        )
    _check_like_input(name, "target (class probabilities)", input, target)
    if ignore_index >= 0:
        raise ValueError(f"{name}: ignore_index={ignore_index} is only supported with class-index targets")
    if smoothing:
        target = target * (1.0 - smoothing) + smoothing / classes
    product = log_softmax(input, axis) * target
    if weight is not None:
        product = product * weight.reshape((-1,) + (1,) * (input.ndim - axis - 1))
    per_sample = -product.sum(axis)
    return _reduce(per_sample, reduction)


def nll_loss(input: Tensor, target: Tensor, weight: Tensor | None = None, size_average=None,
             ignore_index: int = -100, reduce=None, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of class indices given log-probabilities: ``-w[t] * input[t]`` per sample.

    Shapes: input (N, C), (N, C, d1, ...) or (C,) log-probabilities; target (N,), (N, d1, ...) or () integer;
    weight (C,). "mean" divides by the summed weights of the non-ignored targets.
    """
    name = "nll_loss"
    _check_input(name, input)
    reduction = _reduction_of(name, reduction, size_average, reduce)
    axis, classes = _class_layout(name, input)
    weight = _class_weight(name, weight, input, classes)
    targets = _ClassTargets(name, input, target, weight, ignore_index)
    log_probs = input.reshape(1, classes) if axis == 0 else input
    per_sample = -(gather(log_probs, 1, Tensor(targets.index)) * Tensor(targets.weight)).squeeze(1)
    if reduction == "none":
        return per_sample.reshape(()) if axis == 0 else per_sample
    if reduction == "sum":
        return per_sample.sum()
    return _weighted_mean(per_sample, targets.total)


# --------------------------------------------------------------------------------- binary losses
_LOG_FLOOR = -100.0  # PyTorch clamps log(p) and log(1 - p) here, so p = 0 or 1 gives a finite loss


class BinaryCrossEntropy(Primitive):
    """``-(t * log(p) + (1 - t) * log(1 - p))`` elementwise, each log clamped at -100."""

    def forward(self, probs, target):
        xp = get_array_module(probs)
        floor = probs.dtype.type(_LOG_FLOOR)
        with np.errstate(divide="ignore"):  # log(0) = -inf is clamped just below
            log_p = xp.maximum(xp.log(probs), floor)
            log_not_p = xp.maximum(xp.log1p(-probs), floor)
        self.save_for_backward(probs, target)
        return -(log_not_p + target * (log_p - log_not_p))

    def backward(self, grad):
        probs, target = self.saved_tensors
        # PyTorch's form: the denominator is kept away from 0 so that p = 0 or 1 gives a finite gradient
        grad_probs = grad * (probs - target) / (probs * (1.0 - probs)).clamp(min=1e-12)
        grad_target = None
        if target.requires_grad:
            grad_target = grad * (log1p(-probs).clamp(min=_LOG_FLOOR) - log(probs).clamp(min=_LOG_FLOOR))
        return grad_probs, grad_target


class BinaryCrossEntropyWithLogits(Primitive):
    """``(1 - t) * x + (1 + (pos_weight - 1) * t) * softplus(-x)`` elementwise, computed stably.

    ``forward(x, target, [pos_weight])``; without pos_weight this is ``max(x, 0) - x * t + log1p(exp(-|x|))``.
    """

    def __init__(self, has_pos_weight: bool):
        self.has_pos_weight = has_pos_weight

    def forward(self, x, target, *pos_weight):
        xp = get_array_module(x)
        softplus_tail = xp.log1p(xp.exp(-xp.abs(x)))  # softplus(-x) = softplus_tail + max(-x, 0)
        self.save_for_backward(x, target, *pos_weight)
        if not self.has_pos_weight:
            return xp.maximum(x, 0) - x * target + softplus_tail
        log_weight = (pos_weight[0] - 1) * target + 1
        return (1 - target) * x + log_weight * (softplus_tail + xp.maximum(-x, 0))

    def backward(self, grad):
        x, target, *pos_weight = self.saved_tensors
        if not pos_weight:
            return grad * (sigmoid(x) - target), (grad * -x) if target.requires_grad else None
        (pos_weight,) = pos_weight
        log_weight = (pos_weight - 1.0) * target + 1.0
        # d/dx: (1 - t) - log_weight * sigmoid(-x)
        grad_x = grad * ((1.0 - target) - log_weight * sigmoid(-x))
        softplus_neg = softplus(-x)
        grad_target = grad * ((pos_weight - 1.0) * softplus_neg - x) if target.requires_grad else None
        grad_pos_weight = grad * target * softplus_neg if pos_weight.requires_grad else None
        return grad_x, grad_target, grad_pos_weight


def _apply_weight(name: str, loss: Tensor, input: Tensor, weight) -> Tensor:
    if weight is None:
        return loss
    _check_like_input(name, "weight", input, weight, broadcast=True)
    return loss * weight


def binary_cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None, size_average=None,
                         reduce=None, reduction: str = "mean") -> Tensor:
    """Binary cross-entropy between probabilities in [0, 1] and targets: ``-w (t log p + (1 - t) log(1 - p))``.

    Shapes: input any, target like input, weight broadcastable to input. Logs are clamped at -100 (PyTorch).
    Prefer ``binary_cross_entropy_with_logits``, which is stable for saturated predictions.
    """
    name = "binary_cross_entropy"
    _check_input(name, input)
    reduction = _reduction_of(name, reduction, size_average, reduce)
    _check_like_input(name, "target", input, target)
    data = input.array
    if not bool(((data >= 0) & (data <= 1)).all()):
        raise ValueError(
            f"{name}: all elements of input must lie in [0, 1] (probabilities), received values in "
            f"[{float(data.min())}, {float(data.max())}]; use binary_cross_entropy_with_logits for logits"
        )
    loss = _apply_weight(name, BinaryCrossEntropy()(input, target), input, weight)
    return _reduce(loss, reduction)


def binary_cross_entropy_with_logits(input: Tensor, target: Tensor, weight: Tensor | None = None,
                                     size_average=None, reduce=None, reduction: str = "mean",
                                     pos_weight: Tensor | None = None) -> Tensor:
    """Sigmoid + binary cross-entropy in one stable step, from logits.

    ``loss = -w * (pos_weight * t * log σ(x) + (1 - t) * log(1 - σ(x)))``. Shapes: input any, target like
    input; weight broadcastable to input; pos_weight broadcastable to input along its trailing axes, usually
    (C,) for C classes in the last axis.
    """
    name = "binary_cross_entropy_with_logits"
    _check_input(name, input)
    reduction = _reduction_of(name, reduction, size_average, reduce)
    _check_like_input(name, "target", input, target)
    if pos_weight is None:
        loss = BinaryCrossEntropyWithLogits(False)(input, target)
    else:
        _check_like_input(name, "pos_weight", input, pos_weight, broadcast=True)
        loss = BinaryCrossEntropyWithLogits(True)(input, target, pos_weight)
    return _reduce(_apply_weight(name, loss, input, weight), reduction)


# ----------------------------------------------------------------------------------- regression
class Huber(Primitive):
    """``scale * (0.5 d² if |d| < delta else delta * (|d| - delta / 2))`` elementwise on differences ``d``.

    The gradient is ``scale * clamp(d, -delta, delta)``, written with Ember ops.
    """

    def __init__(self, delta: float, scale: float):
        self.delta, self.scale = delta, scale

    def forward(self, difference):
        xp = get_array_module(difference)
        dtype = difference.dtype.type
        size = xp.abs(difference)
        loss = xp.where(size < dtype(self.delta), dtype(0.5) * difference * difference,
                        dtype(self.delta) * (size - dtype(0.5 * self.delta)))
        self.save_for_backward(difference)
        return loss * dtype(self.scale) if self.scale != 1 else loss

    def backward(self, grad):
        (difference,) = self.saved_tensors
        slope = difference.clamp(-self.delta, self.delta)
        return grad * slope * self.scale if self.scale != 1 else grad * slope


def _difference(name: str, input: Tensor, target) -> Tensor:
    _check_input(name, input)
    _check_like_input(name, "target", input, target)
    return input - target


def _reduce_with_sample_weight(name: str, loss: Tensor, input: Tensor, weight, reduction: str,
                               mean_by_weight: bool) -> Tensor:
    """PyTorch's weighted regression losses: weight has the input's shape; "mean" divides by sum(weight) for
    mse_loss and l1_loss (``mean_by_weight``), by the element count for huber_loss."""
    if weight is None:
        return _reduce(loss, reduction)
    _check_like_input(name, "weight", input, weight)
    loss = loss * weight
    if reduction == "mean" and mean_by_weight:
        return loss.sum() / weight.sum()
    return _reduce(loss, reduction)


def mse_loss(input: Tensor, target: Tensor, size_average=None, reduce=None, reduction: str = "mean",
             weight: Tensor | None = None) -> Tensor:
    """Mean squared error ``(input - target)²``; input and target of the same shape (no silent broadcasting).

    With ``weight`` (input's shape), "mean" is ``sum(w * loss) / sum(w)``.
    """
    name = "mse_loss"
    reduction = _reduction_of(name, reduction, size_average, reduce)
    difference = _difference(name, input, target)
    return _reduce_with_sample_weight(name, difference * difference, input, weight, reduction, True)


def l1_loss(input: Tensor, target: Tensor, size_average=None, reduce=None, reduction: str = "mean",
            weight: Tensor | None = None) -> Tensor:
    """Mean absolute error ``|input - target|`` (gradient 0 where they are equal); same shapes required.

    With ``weight`` (input's shape), "mean" is ``sum(w * loss) / sum(w)``.
    """
    name = "l1_loss"
    reduction = _reduction_of(name, reduction, size_average, reduce)
    difference = _difference(name, input, target)
    return _reduce_with_sample_weight(name, absolute(difference), input, weight, reduction, True)


def huber_loss(input: Tensor, target: Tensor, reduction: str = "mean", delta: float = 1.0,
               weight: Tensor | None = None) -> Tensor:
    """Huber loss: ``0.5 d²`` where ``|d| < delta``, else ``delta * (|d| - delta / 2)``, with d = input - target.

    Default delta 1.0 (> 0). With ``weight`` (input's shape) "mean" is ``mean(w * loss)``, as PyTorch.
    """
    name = "huber_loss"
    reduction = _reduction_of(name, reduction, None, None)
    if isinstance(delta, bool) or not isinstance(delta, numbers.Real) or delta <= 0:
        raise ValueError(f"{name}: delta must be a positive number, received {delta!r}")
    difference = _difference(name, input, target)
    loss = Huber(float(delta), 1.0)(difference)
    return _reduce_with_sample_weight(name, loss, input, weight, reduction, False)


def smooth_l1_loss(input: Tensor, target: Tensor, size_average=None, reduce=None, reduction: str = "mean",
                   beta: float = 1.0) -> Tensor:
    """Smooth L1: ``0.5 d² / beta`` where ``|d| < beta``, else ``|d| - beta / 2``; ``beta=0`` is l1_loss.

    Default beta 1.0 (>= 0); equals ``huber_loss(..., delta=beta) / beta``.
    """
    name = "smooth_l1_loss"
    reduction = _reduction_of(name, reduction, size_average, reduce)
    if isinstance(beta, bool) or not isinstance(beta, numbers.Real) or beta < 0:
        raise ValueError(f"{name}: beta must be a non-negative number, received {beta!r}")
    difference = _difference(name, input, target)
    if beta == 0:
        return _reduce(absolute(difference), reduction)
    return _reduce(Huber(float(beta), 1.0 / float(beta))(difference), reduction)


def kl_div(input: Tensor, target: Tensor, size_average=None, reduce=None, reduction: str = "mean",
           log_target: bool = False) -> Tensor:
    """Kullback-Leibler divergence ``target * (log(target) - input)`` with ``input`` log-probabilities.

    ``log_target=True`` takes log-probability targets: ``exp(target) * (target - input)``. Terms with
    target 0 count as 0. "batchmean" divides the sum by the batch size (the mathematically correct KL);
    "mean" divides by the element count, as PyTorch does.
    """
    name = "kl_div"
    _check_input(name, input)
    reduction = _reduction_of(name, reduction, size_average, reduce, ("mean", "batchmean", "sum", "none"))
    _check_like_input(name, "target", input, target)
    if log_target:
        loss = exp(target) * (target - input)
    else:
        # where target is 0 the term is 0 (x log x -> 0); log(1) there keeps it and its gradient finite
        ones = Tensor(get_array_module(target.array).ones_like(target.array))
        safe_target = where(Tensor(target.array > 0), target, ones)
        loss = target * log(safe_target) - target * input
    if reduction == "batchmean":
        return loss.sum() / float(input.shape[0]) if input.ndim else loss.sum()
    return _reduce(loss, reduction)


__all__ = [
    "cross_entropy", "nll_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits", "mse_loss",
    "l1_loss", "huber_loss", "smooth_l1_loss", "kl_div",
]
