"""``SyncBatchNorm``: batch normalisation whose statistics are taken over the whole global batch, all ranks."""
from __future__ import annotations

import numpy as np

from ...autograd.function import Function
from ...autograd.tensor import Tensor
from .batchnorm import _BatchNorm
from .module import Module


class _SumAcrossRanks(Function):
    """Sum of a tensor over every rank; its gradient is the sum of every rank's gradient (each rank's output
    depends on every rank's input)."""

    @staticmethod
    def forward(ctx, tensor):
        return Tensor(_all_reduce_sum(tensor.array))

    @staticmethod
    def backward(ctx, gradient):
        return _SumAcrossRanks.apply(gradient)


def _all_reduce_sum(array):
    from ...distributed.backends import ReduceOp
    from ...distributed.process_group import _current_backend

    summed = array.copy(order="C")
    _current_backend().all_reduce(summed, ReduceOp.SUM).wait()
    return summed


class SyncBatchNorm(_BatchNorm):
    """Batch normalisation over ``(N, C, ...)`` with mean and variance taken over the batches of every rank.

    Under ``DistributedDataParallel`` a plain ``BatchNorm`` normalises each rank's slice by its own statistics
    (PyTorch's default, and its running statistics are rank 0's); ``SyncBatchNorm`` makes training identical
    to one process on the global batch, at the price of two small all-reduces per layer in forward and two
    in backward. Outside a process group (or in eval mode) it is ``BatchNorm``.

    Args: as ``BatchNorm2d`` (``num_features``, ``eps=1e-5``, ``momentum=0.1``, ``affine=True``,
    ``track_running_stats=True``); ``process_group``: only the default group (None).

    Shape: input ``(N, C)``, ``(N, C, L)`` or ``(N, C, H, W)``; output the same.
    """

    _expected_ranks = (2, 3, 4, 5)
    _expected_layout = "(N, C, ...)"

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, process_group=None, device=None, dtype=None):
        if process_group is not None:
            raise ValueError("SyncBatchNorm: only the default process group (None) is supported")
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype)

    def forward(self, input: Tensor) -> Tensor:
        from ...distributed import get_world_size, is_initialized

        if not self.training or not is_initialized() or get_world_size() == 1:
            return super().forward(input)
        self._check_input(input)
        axes = (0,) + tuple(range(2, input.ndim))
        shape = (1, self.num_features) + (1,) * (input.ndim - 2)
        count = _all_reduce_sum(np.array([input.array.size // self.num_features], dtype=np.float64))[0]
        mean = _SumAcrossRanks.apply(input.sum(axes)) / float(count)
        centred = input - mean.reshape(shape)
        variance = _SumAcrossRanks.apply((centred * centred).sum(axes)) / float(count)
        output = centred / (variance.reshape(shape) + self.eps).sqrt()
        if self.affine:
            output = output * self.weight.reshape(shape) + self.bias.reshape(shape)
        if self.track_running_stats:
            self.num_batches_tracked.array += 1
            factor = 1.0 / float(self.num_batches_tracked.array) if self.momentum is None else self.momentum
            unbiased = variance.array * (count / max(count - 1, 1))
            self.running_mean.array[...] = (1 - factor) * self.running_mean.array + factor * mean.array
            self.running_var.array[...] = (1 - factor) * self.running_var.array + factor * unbiased
        return output

    @classmethod
    def convert_sync_batchnorm(cls, module: Module, process_group=None) -> Module:
        """Return ``module`` with every ``BatchNorm1d``/``BatchNorm2d`` replaced by a ``SyncBatchNorm`` that holds
        the same parameters and buffers (the module itself when it is one)."""
        if isinstance(module, _BatchNorm) and not isinstance(module, SyncBatchNorm):
            converted = cls(module.num_features, module.eps, module.momentum, module.affine,
                            module.track_running_stats, process_group)
            if module.affine:
                converted.weight = module.weight
                converted.bias = module.bias
            if module.track_running_stats:
                converted.running_mean = module.running_mean
                converted.running_var = module.running_var
                converted.num_batches_tracked = module.num_batches_tracked
            converted.train(module.training)
            return converted
        for name, child in list(module.named_children()):
            setattr(module, name, cls.convert_sync_batchnorm(child, process_group))
        return module


__all__ = ["SyncBatchNorm"]
