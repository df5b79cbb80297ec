"""Averages of a model's weights over training (PyTorch's ``torch.optim.swa_utils``): ``AveragedModel`` with
the running mean (stochastic weight averaging) or an exponential moving average (EMA).

    ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(0.999))
    for inputs, targets in loader:
        ...
        optimizer.step()
        ema.update_parameters(model)
    ema(inputs)  # runs the averaged copy
"""
from __future__ import annotations

import copy
import itertools
from collections.abc import Callable

import numpy as np

from ..autograd import Tensor
from ..autograd.grad_mode import no_grad
from ..functions.creation import tensor as _tensor
from ..nn.modules.module import Module

__all__ = ["AveragedModel", "get_ema_avg_fn", "get_ema_multi_avg_fn", "get_swa_avg_fn", "get_swa_multi_avg_fn"]


def _set(target: Tensor, value: Tensor) -> None:
    """Write ``value`` into ``target`` in place, cast to its dtype (an integer buffer truncates, as
    PyTorch's ``copy_``)."""
    target.array[...] = value.array.astype(target.dtype, copy=False)


def get_ema_avg_fn(decay: float = 0.999) -> Callable:
    """``avg_fn`` for ``AveragedModel``: ``decay * averaged + (1 - decay) * current``, per tensor."""

    def ema_update(ema_param: Tensor, current_param: Tensor, num_averaged) -> Tensor:
        return ema_param * decay + current_param * (1 - decay)

    return ema_update


def get_swa_avg_fn() -> Callable:
    """``avg_fn`` of the running mean: ``averaged + (current - averaged) / (num_averaged + 1)``."""

    def swa_update(averaged_param: Tensor, current_param: Tensor, num_averaged) -> Tensor:
        return averaged_param + (current_param - averaged_param) / (float(num_averaged) + 1)

    return swa_update


def get_ema_multi_avg_fn(decay: float = 0.999) -> Callable:
    """``multi_avg_fn`` for ``AveragedModel``: each averaged tensor moves ``1 - decay`` of the way to the
    current one, in place (floating tensors as ``lerp``; integer ones as ``decay * a + (1 - decay) * b``)."""

    def ema_update(ema_param_list: list, current_param_list: list, num_averaged) -> None:
        with no_grad():
            for ema, current in zip(ema_param_list, current_param_list):
                if ema.dtype.kind == "f":
                    _set(ema, ema + (current - ema) * (1 - decay))
                else:
                    _set(ema, ema * decay + current * (1 - decay))

    return ema_update


def get_swa_multi_avg_fn() -> Callable:
    """``multi_avg_fn`` of the running mean, in place."""
    average = get_swa_avg_fn()

    def swa_update(averaged_param_list: list, current_param_list: list, num_averaged) -> None:
        with no_grad():
            for averaged, current in zip(averaged_param_list, current_param_list):
                _set(averaged, average(averaged, current, num_averaged))

    return swa_update


class AveragedModel(Module):
    """A deep copy of ``model`` whose parameters (and, with ``use_buffers``, buffers) hold an average of the
    values ``model`` passed through ``update_parameters``.

    Args:
        model: the module to average; copied at construction.
        device: move the copy there (default: where ``model`` is).
        avg_fn: ``(averaged, current, num_averaged) -> new averaged`` per tensor.
        multi_avg_fn: ``(averaged_list, current_list, num_averaged) -> None``, updating in place, called once
            per dtype. Given neither, the running mean (stochastic weight averaging).
        use_buffers: average the buffers too (BatchNorm's running statistics); otherwise they are copied
            from ``model`` at each update. Default False.

    The first ``update_parameters`` copies ``model``'s values; later ones average. ``n_averaged`` (an int64
    buffer) counts the updates. ``forward`` runs the averaged copy, ``module``.
    """

    def __init__(self, model: Module, device=None, avg_fn: Callable | None = None,
                 multi_avg_fn: Callable | None = None, use_buffers: bool = False):
        super().__init__()
        if not isinstance(model, Module):
            raise TypeError(f"AveragedModel: model must be an ember.nn.Module, received {type(model).__name__}")
        self.module = copy.deepcopy(model)
        if device is not None:
            self.module = self.module.to(device)
        self.register_buffer("n_averaged", _tensor(0, dtype=np.int64, device=device))
        self.avg_fn = avg_fn
        self.multi_avg_fn = multi_avg_fn
        self.use_buffers = use_buffers

    def forward(self, *args, **kwargs):
        return self.module(*args, **kwargs)

    def update_parameters(self, model: Module) -> None:
        """Average ``model``'s current values into this copy (copy them on the first call)."""
        if self.use_buffers:
            averaged = list(itertools.chain(self.module.parameters(), self.module.buffers()))
            current = list(itertools.chain(model.parameters(), model.buffers()))
        else:
            averaged, current = list(self.module.parameters()), list(model.parameters())
        if len(averaged) != len(current) or any(a.shape != c.shape for a, c in zip(averaged, current)):
            raise ValueError(
                f"AveragedModel.update_parameters: model's tensors {[tuple(c.shape) for c in current]} do not match "
                f"the averaged copy's {[tuple(a.shape) for a in averaged]}"
            )
        current = [c.detach().to(a.device) for a, c in zip(averaged, current)]
        n_averaged = int(self.n_averaged.item())
        with no_grad():
            if n_averaged == 0:
                for a, c in zip(averaged, current):
                    _set(a, c)
            elif self.multi_avg_fn is not None or self.avg_fn is None:
                multi_avg_fn = self.multi_avg_fn or get_swa_multi_avg_fn()
                by_dtype: dict = {}
                for a, c in zip(averaged, current):
                    group = by_dtype.setdefault(a.dtype, ([], []))
                    group[0].append(a.detach())
                    group[1].append(c)
                for averaged_group, current_group in by_dtype.values():
                    multi_avg_fn(averaged_group, current_group, self.n_averaged)
            else:
                for a, c in zip(averaged, current):
                    _set(a, self.avg_fn(a.detach(), c, self.n_averaged))
            if not self.use_buffers:  # the buffers follow the model
                for a, c in zip(self.module.buffers(), model.buffers()):
                    _set(a, c.detach().to(a.device))
        self.n_averaged.array[...] = n_averaged + 1
