"""Adam and AdamW: adaptive moment estimation, with L2 or decoupled weight decay and the AMSGrad variant."""
from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable
from typing import Any

from .. import config
from ..autograd import Tensor
from ..backend import compiled, threads
from ..backend.device import get_array_module
from .optimizer import Optimizer, adjusted_gradient, check_non_negative

__all__ = ["Adam", "AdamW", "adam_update"]


class Adam(Optimizer):
    """Adam (PyTorch's algorithm, step for step).

    For each parameter with a gradient ``g`` (negated when ``maximize``), at step ``t``::

        p = p * (1 - lr * weight_decay)                if decoupled_weight_decay (AdamW)
        g = g + weight_decay * p                       otherwise, if weight_decay != 0 (L2 penalty)
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        v_max = max(v_max, v); v = v_max               if amsgrad
        p = p - lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)

    Args:
        params: Tensors to optimize, or dicts defining parameter groups.
        lr: learning rate (default 1e-3).
        betas: decay rates ``(beta1, beta2)`` of the first and second moment averages (default (0.9, 0.999)).
        eps: added to the denominator for numerical stability (default 1e-8).
        weight_decay: weight decay factor (default 0).
        amsgrad: keep the running maximum of the second moments (default False).
        maximize: maximize the objective instead of minimizing it (default False).
        decoupled_weight_decay: shrink the parameters directly instead of adding an L2 term to the
            gradient, which makes this AdamW (default False).

    State per parameter: ``"step"`` (int), ``"exp_avg"``, ``"exp_avg_sq"``, and ``"max_exp_avg_sq"`` with
    amsgrad; arrays of the parameter's shape and dtype.
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        decoupled_weight_decay: bool = False,
    ):
        defaults = dict(
            lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad, maximize=maximize,
            decoupled_weight_decay=decoupled_weight_decay,
        )
        super().__init__(params, defaults)

    def _check_options(self, options: dict[str, Any]) -> None:
        name = self._name()
        check_non_negative(name, "learning rate", options["lr"])
        check_non_negative(name, "epsilon value", options["eps"])
        betas = options["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise TypeError(f"{name}: betas must be a pair (beta1, beta2), received {betas!r}")
        for index, beta in enumerate(betas):
            if isinstance(beta, bool) or not isinstance(beta, numbers.Real) or not 0.0 <= beta < 1.0:
                raise ValueError(f"{name}: Invalid beta parameter at index {index}: {beta} (expected 0 <= beta < 1)")
        check_non_negative(name, "weight_decay value", options["weight_decay"])

    def step(self, closure: Callable[[], Any] | None = None):
        """Perform one update; ``closure`` (optional) re-evaluates and returns the loss."""
        loss = self._evaluate_closure(closure)
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            options = dict(
                lr=float(group["lr"]), beta1=float(beta1), beta2=float(beta2), eps=float(group["eps"]),
                weight_decay=float(group["weight_decay"]), amsgrad=bool(group["amsgrad"]),
                maximize=bool(group["maximize"]), decoupled_weight_decay=bool(group["decoupled_weight_decay"]),
            )
            for param, grad in self._params_with_grad(group):
                state = self.state[param]
                xp = get_array_module(param.array)
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = xp.zeros_like(param.array)
                    state["exp_avg_sq"] = xp.zeros_like(param.array)
                if options["amsgrad"] and "max_exp_avg_sq" not in state:
                    state["max_exp_avg_sq"] = xp.zeros_like(param.array)
                state["step"] += 1
                adam_update(
                    param.array, grad, state["exp_avg"], state["exp_avg_sq"], state.get("max_exp_avg_sq"),
                    state["step"], **options,
                )
        return loss


class AdamW(Adam):
    """Adam with decoupled weight decay: ``p *= 1 - lr * weight_decay`` before each Adam step.

    Args:
        params: Tensors to optimize, or dicts defining parameter groups.
        lr: learning rate (default 1e-3).
        betas: decay rates of the moment averages (default (0.9, 0.999)).
        eps: added to the denominator for numerical stability (default 1e-8).
        weight_decay: decoupled weight decay factor (default 1e-2).
        amsgrad: keep the running maximum of the second moments (default False).
        maximize: maximize the objective instead of minimizing it (default False).

    State per parameter: as ``Adam``.
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
    ):
        super().__init__(
            params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad, maximize=maximize,
            decoupled_weight_decay=True,
        )


def adam_update(
    param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step: int, *, lr: float, beta1: float, beta2: float,
    eps: float, weight_decay: float, amsgrad: bool, maximize: bool, decoupled_weight_decay: bool,
) -> None:
    """One Adam step on arrays: updates ``param`` and the moment arrays in place, never ``grad``.

    ``step`` is the 1-based count including this step; ``max_exp_avg_sq`` is used only with ``amsgrad``.
    Hyper-parameters must be Python numbers so that float32 arrays stay float32. The update runs as one
    compiled pass (``adam_update_compiled``, split between threads) while the ``fast_paths`` setting is on and
    the kernel accepts the arrays, else as NumPy/CuPy passes (``adam_update_reference``).
    """
    # the second moment is blind to the sign, so maximizing only flips the first moment's input
    sign = -1.0 if maximize else 1.0
    if weight_decay != 0:
        if decoupled_weight_decay:
            param *= 1.0 - lr * weight_decay
        else:
            grad = adjusted_gradient(param, grad, weight_decay, maximize)
            sign = 1.0
    arguments = (param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step, sign, lr, beta1, beta2, eps, amsgrad)
    if config.get("fast_paths") and adam_update_compiled(*arguments):
        config.record_path("Adam.update", "adam_update_compiled")
        return
    config.record_path("Adam.update", "adam_update_reference")
    adam_update_reference(*arguments)


def adam_update_compiled(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step, sign, lr, beta1, beta2, eps,
                         amsgrad) -> bool:
    """The update in one compiled pass over C-contiguous NumPy arrays of one float dtype, split between
    threads; False (nothing done) for anything else, AMSGrad included."""
    kernels = None if amsgrad else compiled.for_arrays(param, grad, exp_avg, exp_avg_sq)
    if kernels is None or not all(a.flags.c_contiguous for a in (param, grad, exp_avg, exp_avg_sq)):
        return False

    def rounded(value: float) -> float:  # the hyper-parameter as the arrays' dtype holds it
        return float(param.dtype.type(value))

    scalars = (rounded(sign * (1.0 - beta1)), rounded(beta1), rounded(1.0 - beta2), rounded(beta2),
               rounded(math.sqrt(1.0 - beta2 ** step)), rounded(eps), rounded(lr / (1.0 - beta1 ** step)))
    count = threads.threads_for(param.size)
    if count == 1:  # whole, on this thread: no ranges to cut (every parameter until Ember has the cores)
        kernels.adam(param, grad, exp_avg, exp_avg_sq, *scalars)
        return True
    arrays = [a.reshape(-1) for a in (param, grad, exp_avg, exp_avg_sq)]
    threads.split_rows(lambda start, stop: kernels.adam(*[a[start:stop] for a in arrays], *scalars),
                       param.size, count)
    return True


def adam_update_reference(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step, sign, lr, beta1, beta2, eps,
                          amsgrad) -> None:
    """The update as NumPy/CuPy passes; one scratch array of the parameter's shape serves every intermediate."""
    xp = get_array_module(param)
    bias_correction1 = 1.0 - beta1 ** step
    bias_correction2_sqrt = math.sqrt(1.0 - beta2 ** step)
    scratch = xp.multiply(grad, sign * (1.0 - beta1))
    exp_avg *= beta1
    exp_avg += scratch

    xp.multiply(grad, 1.0 - beta2, out=scratch)
    scratch *= grad
    exp_avg_sq *= beta2
    exp_avg_sq += scratch

    second_moment = exp_avg_sq
    if amsgrad:
        xp.maximum(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq)
        second_moment = max_exp_avg_sq

    xp.sqrt(second_moment, out=scratch)
    scratch /= bias_correction2_sqrt
    scratch += eps
    xp.divide(exp_avg, scratch, out=scratch)
    scratch *= lr / bias_correction1
    param -= scratch
