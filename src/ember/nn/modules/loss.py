"""Loss modules: each holds its options (and class weights as buffers) and calls ``ember.nn.functional``.

``reduction``: ``"mean"`` (default), ``"sum"`` or ``"none"`` (per-element losses). The deprecated
``size_average``/``reduce`` arguments are accepted for PyTorch code and mapped onto ``reduction``.
"""
from __future__ import annotations

import warnings

from ...autograd.tensor import Tensor
from .. import functional as F
from ._utils import check_reduction
from .module import Module


def _legacy_reduction(size_average: bool | None, reduce: bool | None) -> str:
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    reduction = "mean" if size_average and reduce else "sum" if reduce else "none"
    warnings.warn(
        f"size_average and reduce args will be deprecated, please use reduction='{reduction}' instead.",
        stacklevel=4,
    )
    return reduction


class _Loss(Module):
    def __init__(self, size_average: bool | None = None, reduce: bool | None = None, reduction: str = "mean"):
        super().__init__()
        if size_average is not None or reduce is not None:
            reduction = _legacy_reduction(size_average, reduce)
        self.reduction = check_reduction(reduction, type(self).__name__)


class _WeightedLoss(_Loss):
    def __init__(self, weight: Tensor | None = None, size_average: bool | None = None, reduce: bool | None = None,
                 reduction: str = "mean"):
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)


class CrossEntropyLoss(_WeightedLoss):
    """Cross-entropy between logits and class indices (or class probabilities), from log-softmax.

    Args:
        weight: ``(C,)`` per-class weights (a buffer); the mean divides by the summed weights of the targets.
        ignore_index: targets equal to this contribute nothing (default -100).
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.
        label_smoothing: in [0, 1], mixes the targets with the uniform distribution (default 0).

    Shape: input ``(N, C)`` or ``(N, C, d1, ...)`` logits; target ``(N)``/``(N, d1, ...)`` int64 indices or the
    input's shape of probabilities; output a scalar, or the target's shape with ``reduction="none"``.
    """

    def __init__(self, weight: Tensor | None = None, size_average: bool | None = None, ignore_index: int = -100,
                 reduce: bool | None = None, reduction: str = "mean", label_smoothing: float = 0.0):
        super().__init__(weight, size_average, reduce, reduction)
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"CrossEntropyLoss: label_smoothing must be in [0, 1], received {label_smoothing}")
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.cross_entropy(input, target, weight=self.weight, ignore_index=self.ignore_index,
                               reduction=self.reduction, label_smoothing=self.label_smoothing)


class NLLLoss(_WeightedLoss):
    """Negative log-likelihood of class indices given log-probabilities (e.g. from ``LogSoftmax``).

    Args:
        weight: ``(C,)`` per-class weights (a buffer).
        ignore_index: targets equal to this contribute nothing (default -100).
        reduction: ``"mean"`` (weighted mean), ``"sum"`` or ``"none"``.

    Shape: input ``(N, C)`` or ``(N, C, d1, ...)``; target ``(N)``/``(N, d1, ...)`` int64; output a scalar or
    the target's shape.
    """

    def __init__(self, weight: Tensor | None = None, size_average: bool | None = None, ignore_index: int = -100,
                 reduce: bool | None = None, reduction: str = "mean"):
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = ignore_index

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.nll_loss(input, target, weight=self.weight, ignore_index=self.ignore_index, reduction=self.reduction)


class BCELoss(_WeightedLoss):
    """Binary cross-entropy between probabilities in [0, 1] and targets: ``-(y log x + (1 - y) log(1 - x))``.

    Args:
        weight: rescales each element's loss (a buffer, broadcast against the input).
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.

    Shape: input ``(*)``, target the same shape; output a scalar or ``(*)``.
    """

    def __init__(self, weight: Tensor | None = None, size_average: bool | None = None, reduce: bool | None = None,
                 reduction: str = "mean"):
        super().__init__(weight, size_average, reduce, reduction)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.binary_cross_entropy(input, target, weight=self.weight, reduction=self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Sigmoid plus binary cross-entropy in one numerically stable step, from logits.

    Args:
        weight: rescales each element's loss (a buffer).
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.
        pos_weight: weight of the positive term per class (a buffer, broadcast over the last dimension).

    Shape: input ``(*)`` logits, target the same shape; output a scalar or ``(*)``.
    """

    def __init__(self, weight: Tensor | None = None, size_average: bool | None = None, reduce: bool | None = None,
                 reduction: str = "mean", pos_weight: Tensor | None = None):
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)
        self.register_buffer("pos_weight", pos_weight)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.binary_cross_entropy_with_logits(input, target, weight=self.weight, pos_weight=self.pos_weight,
                                                  reduction=self.reduction)


class MSELoss(_Loss):
    """Mean squared error ``(x - y)²``.

    Shape: input ``(*)``, target the same shape; output a scalar or ``(*)`` with ``reduction="none"``.
    """

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.mse_loss(input, target, reduction=self.reduction)


class L1Loss(_Loss):
    """Mean absolute error ``|x - y|``.

    Shape: input ``(*)``, target the same shape; output a scalar or ``(*)`` with ``reduction="none"``.
    """

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.l1_loss(input, target, reduction=self.reduction)


class HuberLoss(_Loss):
    """Squared error below ``delta``, linear above: ``0.5 d²`` if ``|d| < delta`` else ``delta (|d| - 0.5 delta)``.

    Args:
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.
        delta: where the loss turns linear (default 1.0).

    Shape: input ``(*)``, target the same shape; output a scalar or ``(*)``.
    """

    def __init__(self, reduction: str = "mean", delta: float = 1.0):
        super().__init__(reduction=reduction)
        if delta <= 0:
            raise ValueError(f"HuberLoss: delta must be positive, received {delta}")
        self.delta = delta

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.huber_loss(input, target, reduction=self.reduction, delta=self.delta)


class SmoothL1Loss(_Loss):
    """``0.5 d² / beta`` if ``|d| < beta`` else ``|d| - 0.5 beta`` (Huber loss divided by ``beta``).

    Args:
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.
        beta: where the loss turns linear (default 1.0; 0 gives the L1 loss).

    Shape: input ``(*)``, target the same shape; output a scalar or ``(*)``.
    """

    def __init__(self, size_average: bool | None = None, reduce: bool | None = None, reduction: str = "mean",
                 beta: float = 1.0):
        super().__init__(size_average, reduce, reduction)
        if beta < 0:
            raise ValueError(f"SmoothL1Loss: beta must be non-negative, received {beta}")
        self.beta = beta

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.smooth_l1_loss(input, target, reduction=self.reduction, beta=self.beta)


__all__ = [
    "CrossEntropyLoss", "NLLLoss", "BCELoss", "BCEWithLogitsLoss", "MSELoss", "L1Loss", "HuberLoss", "SmoothL1Loss",
]
