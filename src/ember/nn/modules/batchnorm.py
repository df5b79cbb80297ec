"""Batch normalisation: ``BatchNorm1d`` and ``BatchNorm2d``."""
from __future__ import annotations

import numpy as np

from ...autograd.tensor import Tensor
from ...functions.creation import ones, zeros
from .. import functional as F
from .. import init
from ._utils import check_size, new_parameter
from .module import Module


class _BatchNorm(Module):
    """Shared by BatchNorm1d/2d: normalise each channel (dim 1) over the batch and spatial dims."""

    _expected_ranks: tuple = ()
    _expected_layout: str = ""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, device=None, dtype=None):
        super().__init__()
        self.num_features = check_size(num_features, "num_features", type(self).__name__, minimum=1)
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        if affine:
            self.weight = new_parameter((self.num_features,), device, dtype)
            self.bias = new_parameter((self.num_features,), device, dtype)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", zeros(self.num_features, dtype=dtype, device=device))
            self.register_buffer("running_var", ones(self.num_features, dtype=dtype, device=device))
            self.register_buffer("num_batches_tracked", zeros((), dtype=np.int64, device=device))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self.reset_parameters()

    def reset_running_stats(self) -> None:
        """Running mean 0, running variance 1, no batches seen."""
        if self.track_running_stats:
            self.running_mean.array[...] = 0
            self.running_var.array[...] = 1
            self.num_batches_tracked.array[...] = 0

    def reset_parameters(self) -> None:
        """Running statistics reset; weight (scale) ones, bias (shift) zeros."""
        self.reset_running_stats()
        if self.affine:
            init.ones_(self.weight)
            init.zeros_(self.bias)

    def _check_input(self, input: Tensor) -> None:
        name = type(self).__name__
        if input.ndim not in self._expected_ranks:
            ranks = " or ".join(f"{rank}-d" for rank in self._expected_ranks)
            raise ValueError(
                f"{name}({self.num_features}): expected {ranks} input {self._expected_layout}, received shape "
                f"{input.shape}"
            )
        if input.shape[1] != self.num_features:
            raise ValueError(
                f"{name}({self.num_features}): expected {self.num_features} channels in dim 1, received shape "
                f"{input.shape}"
            )

    def forward(self, input: Tensor) -> Tensor:
        self._check_input(input)
        # momentum=None: cumulative moving average, the factor 1/n for the n-th batch
        average_factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.array += 1
            if self.momentum is None:
                average_factor = 1.0 / float(self.num_batches_tracked.array)
        # in eval mode without running statistics, normalise with the batch's own statistics
        use_batch_stats = self.training or (self.running_mean is None and self.running_var is None)
        track = not self.training or self.track_running_stats
        return F.batch_norm(
            input,
            self.running_mean if track else None,
            self.running_var if track else None,
            self.weight,
            self.bias,
            training=use_batch_stats,
            momentum=average_factor,
            eps=self.eps,
        )

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalisation over a 2-d ``(N, C)`` or 3-d ``(N, C, L)`` input.

    ``y = (x - mean) / sqrt(var + eps) * weight + bias`` per channel. In training mode mean and (biased) var
    come from the batch and the running statistics are updated as
    ``running = (1 - momentum) * running + momentum * batch_stat`` (unbiased var); in eval mode the running
    statistics are used.

    Args:
        num_features: C, the number of channels.
        eps: added to the variance for stability (default 1e-5).
        momentum: weight of the new batch in the running statistics (default 0.1); None for a cumulative
            moving average (the n-th batch weighs 1/n).
        affine: learn ``weight`` (init ones) and ``bias`` (init zeros) (default True).
        track_running_stats: keep ``running_mean``/``running_var``/``num_batches_tracked`` buffers (default
            True); without them, batch statistics are used in eval mode too.

    Shape:
        input ``(N, C)`` or ``(N, C, L)``; output the same.
    """

    _expected_ranks = (2, 3)
    _expected_layout = "(N, C) or (N, C, L)"


class BatchNorm2d(_BatchNorm):
    """Batch normalisation over a 4-d ``(N, C, H, W)`` input, per channel over N, H and W.

    Same arguments and statistics as ``BatchNorm1d``.

    Args:
        num_features: C, the number of channels.
        eps: added to the variance for stability (default 1e-5).
        momentum: weight of the new batch in the running statistics (default 0.1); None for a cumulative
            moving average.
        affine: learn ``weight`` and ``bias`` (default True).
        track_running_stats: keep running statistics (default True).

    Shape:
        input ``(N, C, H, W)``; output the same.
    """

    _expected_ranks = (4,)
    _expected_layout = "(N, C, H, W)"


__all__ = ["BatchNorm1d", "BatchNorm2d"]
