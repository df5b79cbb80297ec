"""RMSprop: divide the gradient by a running root mean square, optionally centered and with momentum."""
from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from ..autograd import Tensor
from ..backend.device import get_array_module
from .optimizer import Optimizer, adjusted_gradient, check_non_negative

__all__ = ["RMSprop", "rmsprop_update"]


class RMSprop(Optimizer):
    """RMSprop (PyTorch's algorithm, step for step).

    For each parameter with a gradient ``g`` (negated when ``maximize``)::

        g = g + weight_decay * p                       if weight_decay != 0
        v = alpha * v + (1 - alpha) * g * g
        g_avg = alpha * g_avg + (1 - alpha) * g;  v~ = v - g_avg**2    if centered, else v~ = v
        b = momentum * b + g / (sqrt(v~) + eps);  p = p - lr * b       if momentum > 0
        p = p - lr * g / (sqrt(v~) + eps)                               otherwise

    Args:
        params: Tensors to optimize, or dicts defining parameter groups.
        lr: learning rate (default 1e-2).
        alpha: smoothing constant of the squared-gradient average (default 0.99).
        eps: added to the denominator for numerical stability (default 1e-8).
        weight_decay: L2 penalty added to the gradient (default 0).
        momentum: momentum factor (default 0).
        centered: normalize by an estimate of the gradient's variance instead of its second moment
            (default False).
        maximize: maximize the objective instead of minimizing it (default False).

    State per parameter: ``"step"`` (int), ``"square_avg"``, ``"momentum_buffer"`` (momentum > 0),
    ``"grad_avg"`` (centered).
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict],
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum: float = 0,
        centered: bool = False,
        *,
        maximize: bool = False,
    ):
        defaults = dict(
            lr=lr, momentum=momentum, alpha=alpha, eps=eps, centered=centered, weight_decay=weight_decay,
            maximize=maximize,
        )
        super().__init__(params, defaults)

    def _check_options(self, options: dict[str, Any]) -> None:
        name = self._name()
        check_non_negative(name, "learning rate", options["lr"])
        check_non_negative(name, "epsilon value", options["eps"])
        check_non_negative(name, "momentum value", options["momentum"])
        check_non_negative(name, "weight_decay value", options["weight_decay"])
        check_non_negative(name, "alpha value", options["alpha"])

    def step(self, closure: Callable[[], Any] | None = None):
        """Perform one update; ``closure`` (optional) re-evaluates and returns the loss."""
        loss = self._evaluate_closure(closure)
        for group in self.param_groups:
            options = dict(
                lr=float(group["lr"]), alpha=float(group["alpha"]), eps=float(group["eps"]),
                weight_decay=float(group["weight_decay"]), momentum=float(group["momentum"]),
                centered=bool(group["centered"]), maximize=bool(group["maximize"]),
            )
            for param, grad in self._params_with_grad(group):
                state = self.state[param]
                xp = get_array_module(param.array)
                if not state:
                    state["step"] = 0
                    state["square_avg"] = xp.zeros_like(param.array)
                if options["momentum"] > 0 and "momentum_buffer" not in state:
                    state["momentum_buffer"] = xp.zeros_like(param.array)
                if options["centered"] and "grad_avg" not in state:
                    state["grad_avg"] = xp.zeros_like(param.array)
                state["step"] += 1
                rmsprop_update(
                    param.array, grad, state["square_avg"], state.get("grad_avg"), state.get("momentum_buffer"),
                    **options,
                )
        return loss


def rmsprop_update(
    param, grad, square_avg, grad_avg, momentum_buffer, *, lr: float, alpha: float, eps: float,
    weight_decay: float, momentum: float, centered: bool, maximize: bool,
) -> None:
    """One RMSprop step on arrays: updates ``param`` and the state arrays in place, never ``grad``.

    ``grad_avg`` is used only when ``centered``, ``momentum_buffer`` only when ``momentum > 0``.
    Hyper-parameters must be Python numbers so that float32 arrays stay float32.
    """
    xp = get_array_module(param)
    grad = adjusted_gradient(param, grad, weight_decay, maximize)

    scratch = xp.multiply(grad, 1.0 - alpha)
    scratch *= grad
    square_avg *= alpha
    square_avg += scratch

    if centered:
        xp.multiply(grad, 1.0 - alpha, out=scratch)
        grad_avg *= alpha
        grad_avg += scratch
        xp.multiply(grad_avg, grad_avg, out=scratch)
        xp.subtract(square_avg, scratch, out=scratch)
        xp.sqrt(scratch, out=scratch)
    else:
        xp.sqrt(square_avg, out=scratch)
    scratch += eps
    xp.divide(grad, scratch, out=scratch)

    if momentum > 0:
        momentum_buffer *= momentum
        momentum_buffer += scratch
        xp.multiply(momentum_buffer, lr, out=scratch)
    else:
        scratch *= lr
    param -= scratch
