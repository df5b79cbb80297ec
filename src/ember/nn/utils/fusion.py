"""``fuse(model)``: an explicit, opt-in pass that rewrites a model into cheaper modules with the same numbers.

Containers run what they hold, in order: no rewrite happens behind a user's back. Where a rewrite pays,
this pass makes it visible — the fused module shows in the model's ``repr`` and the benchmark that uses it
says so — as PyTorch's ``torch.ao.quantization.fuse_modules`` does: the first module of each fused pair is
replaced by the fused module and the second by ``nn.Identity``, so positions and ``state_dict`` keys stay.

Fusions:

* ``ReLU`` then ``MaxPool2d`` → ``MaxPool2dReLU`` (pool first): the maximum of a window of ReLU outputs is
  the ReLU of its maximum, and the gradients agree (where they would pick different elements, every
  candidate is <= 0 and the ReLU passes no gradient), so the ReLU runs on a quarter of the numbers after a
  2 x 2 pool. Not when the pool returns indices (they could differ in windows of negative numbers), when
  either module has hooks (they would see other tensors), nor for subclasses.
"""
from __future__ import annotations

import copy
import itertools

from ...autograd.tensor import Tensor
from .. import functional as F
from ..modules.activation import ReLU
from ..modules.container import Sequential
from ..modules.linear import Identity
from ..modules.module import Module
from ..modules.pooling import MaxPool2d

__all__ = ["fuse", "MaxPool2dReLU"]


class MaxPool2dReLU(Module):
    """``relu(max_pool2d(x))``: a ``ReLU`` followed by a ``MaxPool2d``, fused by ``fuse`` (same outputs and
    gradients as the pair, a quarter of the ReLU's work for 2 x 2 windows). Holds the ``pool`` it replaces.

    Shape: as ``MaxPool2d``.
    """

    def __init__(self, pool: MaxPool2d):
        super().__init__()
        self.pool = pool

    def forward(self, input: Tensor) -> Tensor:
        return F.relu(self.pool(input))


def _fusable(first: Module, second: Module) -> bool:
    def hooked(module: Module) -> bool:
        return bool(module._forward_pre_hooks or module._forward_hooks)

    return (type(first) is ReLU and type(second) is MaxPool2d and not second.return_indices
            and not hooked(first) and not hooked(second))


def fuse(model: Module, inplace: bool = False) -> Module:
    """``model`` with every ``ReLU`` directly followed by a ``MaxPool2d`` in an ``nn.Sequential`` (at any
    depth) fused into one ``MaxPool2dReLU`` (the pool then replaced by ``nn.Identity``). A copy unless
    ``inplace``; parameters and buffers are untouched, so ``state_dict()`` keys stay the same.

    Example::

        fast = ember.nn.utils.fuse(model)   # print(fast) shows what was fused
    """
    if not isinstance(model, Module):
        raise TypeError(f"fuse: expected an nn.Module, received {type(model).__name__}")
    if not inplace:
        model = copy.deepcopy(model)
    for module in model.modules():
        if not isinstance(module, Sequential):
            continue
        names = list(module._modules)
        for first_name, second_name in itertools.pairwise(names):
            first, second = module._modules[first_name], module._modules[second_name]
            if _fusable(first, second):
                module._modules[first_name] = MaxPool2dReLU(second)
                module._modules[second_name] = Identity()
    return model
