"""Stochastic gradient descent, optionally with momentum, dampening, Nesterov momentum and weight decay."""
from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from ..autograd import Tensor
from ..backend.device import get_array_module
from .optimizer import Optimizer, adjusted_gradient, check_non_negative

__all__ = ["SGD", "sgd_update"]


class SGD(Optimizer):
    """Stochastic gradient descent (PyTorch's algorithm, step for step).

    For each parameter with a gradient ``g`` (negated when ``maximize``)::

        g = g + weight_decay * p                       if weight_decay != 0
        b = g  (first step),  b = momentum * b + (1 - dampening) * g  (later)   if momentum != 0
        g = g + momentum * b  if nesterov  else  b     if momentum != 0
        p = p - lr * g

    Args:
        params: Tensors to optimize, or dicts defining parameter groups.
        lr: learning rate (default 1e-3).
        momentum: momentum factor (default 0).
        dampening: dampening of the momentum (default 0).
        weight_decay: L2 penalty added to the gradient (default 0).
        nesterov: use Nesterov momentum; needs ``momentum > 0`` and ``dampening == 0`` (default False).
        maximize: maximize the objective instead of minimizing it (default False).

    State per parameter: ``"momentum_buffer"`` (when momentum is used).

    Example::

        optimizer = ember.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        optimizer.zero_grad()
        loss_fn(model(inputs), targets).backward()
        optimizer.step()
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict],
        lr: float = 1e-3,
        momentum: float = 0,
        dampening: float = 0,
        weight_decay: float = 0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
    ):
        defaults = dict(
            lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay, nesterov=nesterov,
            maximize=maximize,
        )
        super().__init__(params, defaults)

    def _check_options(self, options: dict[str, Any]) -> None:
        name = self._name()
        check_non_negative(name, "learning rate", options["lr"])
        check_non_negative(name, "momentum value", options["momentum"])
        check_non_negative(name, "weight_decay value", options["weight_decay"])
        if options["nesterov"] and (options["momentum"] <= 0 or options["dampening"] != 0):
            raise ValueError(
                f"{name}: Nesterov momentum requires a momentum and zero dampening, received "
                f"momentum={options['momentum']}, dampening={options['dampening']}"
            )

    def step(self, closure: Callable[[], Any] | None = None):
        """Perform one update; ``closure`` (optional) re-evaluates and returns the loss."""
        loss = self._evaluate_closure(closure)
        for group in self.param_groups:
            options = dict(
                lr=float(group["lr"]), momentum=float(group["momentum"]), dampening=float(group["dampening"]),
                weight_decay=float(group["weight_decay"]), nesterov=bool(group["nesterov"]),
                maximize=bool(group["maximize"]),
            )
            for param, grad in self._params_with_grad(group):
                state = self.state[param]
                buffer = sgd_update(param.array, grad, state.get("momentum_buffer"), **options)
                if buffer is not None:
                    state["momentum_buffer"] = buffer
        return loss


def sgd_update(
    param, grad, momentum_buffer, *, lr: float, momentum: float, dampening: float, weight_decay: float,
    nesterov: bool, maximize: bool,
):
    """One SGD step on arrays: updates ``param`` (and ``momentum_buffer``) in place, never ``grad``.

    Returns the momentum buffer (a new array on the first step with momentum), or None without momentum.
    Hyper-parameters must be Python numbers so that float32 arrays stay float32.
    """
    xp = get_array_module(param)
    grad = adjusted_gradient(param, grad, weight_decay, maximize)
    if momentum == 0:
        direction = grad
    else:
        if momentum_buffer is None:
            momentum_buffer = grad.copy()
        else:
            momentum_buffer *= momentum
            if dampening == 0:
                momentum_buffer += grad
            else:
                momentum_buffer += xp.multiply(grad, 1.0 - dampening)
        if nesterov:
            direction = xp.multiply(momentum_buffer, momentum)
            direction += grad
        else:
            direction = momentum_buffer
    param -= xp.multiply(direction, lr)
    return momentum_buffer
