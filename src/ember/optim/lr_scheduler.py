"""Learning-rate schedulers: change each parameter group's ``lr`` as training advances.

Call ``scheduler.step()`` once per epoch (or per batch for ``OneCycleLR``) after ``optimizer.step()``;
``ReduceLROnPlateau.step(metric)`` takes the monitored value. Constructing a scheduler records each group's
``initial_lr`` and applies the schedule's value for epoch 0.

Example::

    optimizer = ember.optim.SGD(model.parameters(), lr=0.1)
    scheduler = ember.optim.lr_scheduler.StepLR(optimizer, step_size=30, gamma=0.1)
    for epoch in range(100):
        train(...)
        scheduler.step()
"""
from __future__ import annotations

import inspect
import math
import numbers
import types
import warnings
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from .optimizer import Optimizer


def apply_schedule(schedule: Callable, epoch: int, learning_rate: float,
                   where: str = "LearningRateScheduler") -> float:
    """``schedule(epoch, learning_rate)``, or ``schedule(epoch)`` for a one-argument schedule: Keras's
    ``LearningRateScheduler`` convention (``epoch`` 0-based), shared by that callback and ``ember.plot``.

    The arity is read from the signature, so a ``TypeError`` raised inside the schedule is not mistaken for
    the one-argument form; callables without a signature are tried both ways, as Keras does. The result must
    be a finite, non-negative number; errors name ``where``.
    """
    try:
        signature = inspect.signature(schedule)
    except (TypeError, ValueError):
        signature = None
    if signature is None:
        try:
            value = schedule(epoch, learning_rate)
        except TypeError:
            value = schedule(epoch)
    else:
        try:
            signature.bind(epoch, learning_rate)
            takes_learning_rate = True
        except TypeError:
            takes_learning_rate = False
        value = schedule(epoch, learning_rate) if takes_learning_rate else schedule(epoch)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{where}: the schedule must return a float, received {value!r} "
                         f"({type(value).__name__}) for epoch {epoch}")
    value = float(value)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{where}: the schedule must return a finite, non-negative learning rate, received "
                         f"{value} for epoch {epoch}")
    return value

__all__ = [
    "apply_schedule", "LRScheduler", "LambdaLR", "StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR",
    "ReduceLROnPlateau", "OneCycleLR",
]

_EPOCH_DEPRECATION = (
    "passing an epoch to scheduler.step() is deprecated (as in PyTorch): call step() once per epoch, and "
    "set last_epoch at construction to resume"
)


def _check_optimizer(scheduler: str, optimizer: Any) -> None:
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"{scheduler}: expected an ember.optim.Optimizer, received {type(optimizer).__name__}")


def _per_group(scheduler: str, name: str, optimizer: Optimizer, value: Any) -> list:
    """``value`` repeated for every parameter group, or the given per-group list after a length check."""
    count = len(optimizer.param_groups)
    if isinstance(value, (list, tuple)):
        if len(value) != count:
            raise ValueError(f"{scheduler}: expected {count} values for {name} (one per group), got {len(value)}")
        return list(value)
    return [value] * count


class LRScheduler:
    """Base class of the epoch-indexed schedulers.

    Args:
        optimizer: the optimizer whose groups' ``lr`` is scheduled.
        last_epoch: index of the last epoch completed; -1 (default) starts from scratch and records each
            group's ``initial_lr``. To resume, pass the epoch and keep ``initial_lr`` in the groups.

    Attributes:
        base_lrs: each group's ``initial_lr``.
        last_epoch: the epoch the current learning rates belong to.

    Subclasses implement ``get_lr()`` from the current state (PyTorch's chainable form) and may provide
    ``_get_closed_form_lr()`` for ``step(epoch)``.
    """

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1):
        _check_optimizer(type(self).__name__, optimizer)
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for index, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(
                        f"{type(self).__name__}: param 'initial_lr' is not specified in param_groups[{index}] "
                        f"when resuming at last_epoch={last_epoch}"
                    )
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._step_count = 0
        self.step()

    def get_lr(self) -> list[float]:
        """The learning rate of every group at ``self.last_epoch``."""
        raise NotImplementedError(f"{type(self).__name__} does not implement get_lr()")

    def get_last_lr(self) -> list[float]:
        """The learning rates set by the last ``step()`` (one per group)."""
        return self._last_lr

    def step(self, epoch: int | None = None) -> None:
        """Advance one epoch and set each group's ``lr``."""
        self._step_count += 1
        if epoch is None:
            self.last_epoch += 1
            values = self.get_lr()
        else:
            warnings.warn(_EPOCH_DEPRECATION, UserWarning, stacklevel=2)
            self.last_epoch = epoch
            closed_form = getattr(self, "_get_closed_form_lr", None)
            values = closed_form() if closed_form is not None else self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, values):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def state_dict(self) -> dict[str, Any]:
        """Everything but the optimizer (which saves its own state)."""
        return {key: value for key, value in self.__dict__.items() if key != "optimizer"}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a state saved by ``state_dict()``."""
        self.__dict__.update(state_dict)

    def _group_lrs(self) -> list[float]:
        return [group["lr"] for group in self.optimizer.param_groups]


_LRScheduler = LRScheduler  # the older PyTorch name, still used by custom schedulers


class LambdaLR(LRScheduler):
    """``lr = initial_lr * lr_lambda(epoch)``.

    Args:
        optimizer: the optimizer.
        lr_lambda: a function of the epoch index, or a list of such functions, one per group.
        last_epoch: see ``LRScheduler`` (default -1).

    Example: ``LambdaLR(optimizer, lambda epoch: 0.95 ** epoch)``.
    """

    def __init__(self, optimizer: Optimizer, lr_lambda: Callable[[int], float] | Sequence[Callable],
                 last_epoch: int = -1):
        _check_optimizer("LambdaLR", optimizer)
        if isinstance(lr_lambda, (list, tuple)):
            if len(lr_lambda) != len(optimizer.param_groups):
                raise ValueError(
                    f"LambdaLR: Expected {len(optimizer.param_groups)} lr_lambdas, but got {len(lr_lambda)}"
                )
            self.lr_lambdas = list(lr_lambda)
        else:
            self.lr_lambdas = [lr_lambda] * len(optimizer.param_groups)
        for function in self.lr_lambdas:
            if not callable(function):
                raise TypeError(f"LambdaLR: lr_lambda must be callable, received {type(function).__name__}")
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        return [base_lr * function(self.last_epoch) for function, base_lr in zip(self.lr_lambdas, self.base_lrs)]

    def state_dict(self) -> dict[str, Any]:
        """The state; plain functions are not saved, callable objects save their ``__dict__``."""
        state = {key: value for key, value in self.__dict__.items() if key not in ("optimizer", "lr_lambdas")}
        state["lr_lambdas"] = [
            None if isinstance(function, types.FunctionType) else function.__dict__.copy()
            for function in self.lr_lambdas
        ]
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state_dict = dict(state_dict)
        lr_lambdas = state_dict.pop("lr_lambdas")
        self.__dict__.update(state_dict)
        for function, saved in zip(self.lr_lambdas, lr_lambdas):
            if saved is not None:
                function.__dict__.update(saved)


class StepLR(LRScheduler):
    """Multiply each group's lr by ``gamma`` every ``step_size`` epochs.

    ``lr = initial_lr * gamma ** (epoch // step_size)``; e.g. ``StepLR(optimizer, 2, 0.5)`` from lr 1 gives
    1, 1, 0.5, 0.5, 0.25, ...

    Args:
        optimizer: the optimizer.
        step_size: period of the decay, in epochs.
        gamma: multiplicative factor (default 0.1).
        last_epoch: see ``LRScheduler`` (default -1).
    """

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1):
        if isinstance(step_size, bool) or not isinstance(step_size, int) or step_size <= 0:
            raise ValueError(f"StepLR: step_size must be a positive integer, received {step_size!r}")
        self.step_size = step_size
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return self._group_lrs()
        return [lr * self.gamma for lr in self._group_lrs()]

    def _get_closed_form_lr(self) -> list[float]:
        return [base_lr * self.gamma ** (self.last_epoch // self.step_size) for base_lr in self.base_lrs]


class MultiStepLR(LRScheduler):
    """Multiply each group's lr by ``gamma`` at each epoch listed in ``milestones``.

    Args:
        optimizer: the optimizer.
        milestones: epoch indices (a milestone listed twice applies ``gamma`` twice).
        gamma: multiplicative factor (default 0.1).
        last_epoch: see ``LRScheduler`` (default -1).
    """

    def __init__(self, optimizer: Optimizer, milestones: Sequence[int], gamma: float = 0.1, last_epoch: int = -1):
        self.milestones = Counter(milestones)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self.last_epoch not in self.milestones:
            return self._group_lrs()
        factor = self.gamma ** self.milestones[self.last_epoch]
        return [lr * factor for lr in self._group_lrs()]

    def _get_closed_form_lr(self) -> list[float]:
        milestones = sorted(self.milestones.elements())
        return [base_lr * self.gamma ** bisect_right(milestones, self.last_epoch) for base_lr in self.base_lrs]


class ExponentialLR(LRScheduler):
    """Multiply each group's lr by ``gamma`` every epoch: ``lr = initial_lr * gamma ** epoch``.

    Args:
        optimizer: the optimizer.
        gamma: multiplicative factor.
        last_epoch: see ``LRScheduler`` (default -1).
    """

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1):
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self.last_epoch == 0:
            return self._group_lrs()
        return [lr * self.gamma for lr in self._group_lrs()]

    def _get_closed_form_lr(self) -> list[float]:
        return [base_lr * self.gamma ** self.last_epoch for base_lr in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    """Cosine annealing from ``initial_lr`` down to ``eta_min`` over ``T_max`` epochs.

    ``lr = eta_min + (initial_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2`` (PyTorch's closed form;
    past ``T_max`` the cosine continues, rising again).

    Args:
        optimizer: the optimizer.
        T_max: number of epochs of the half cosine.
        eta_min: the minimum learning rate (default 0).
        last_epoch: see ``LRScheduler`` (default -1).
    """

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1):  # noqa: N803
        if isinstance(T_max, bool) or not isinstance(T_max, int) or T_max <= 0:
            raise ValueError(f"CosineAnnealingLR: T_max must be a positive integer, received {T_max!r}")
        self.T_max = T_max
        self.eta_min = eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        return self._get_closed_form_lr()

    def _get_closed_form_lr(self) -> list[float]:
        cosine = (1.0 + math.cos(math.pi * self.last_epoch / self.T_max)) / 2.0
        return [self.eta_min + (base_lr - self.eta_min) * cosine for base_lr in self.base_lrs]


class ReduceLROnPlateau(LRScheduler):
    """Reduce each group's lr by ``factor`` when a metric has stopped improving for ``patience`` epochs.

    Call ``step(metric)`` once per epoch with the monitored value (a float or one-element Tensor).

    Args:
        optimizer: the optimizer.
        mode: ``"min"`` (the metric should decrease) or ``"max"`` (default "min").
        factor: ``new_lr = lr * factor``; must be < 1 (default 0.1).
        patience: epochs without improvement tolerated before reducing (default 10).
        threshold: the smallest change that counts as an improvement (default 1e-4).
        threshold_mode: ``"rel"`` (relative to the best value) or ``"abs"`` (default "rel").
        cooldown: epochs to wait after a reduction before counting bad epochs again (default 0).
        min_lr: lower bound on the lr, a number or one per group (default 0).
        eps: a reduction smaller than ``eps`` is skipped (default 1e-8).
    """

    def __init__(
        self,
        optimizer: Optimizer,
        mode: str = "min",
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        threshold_mode: str = "rel",
        cooldown: int = 0,
        min_lr: float | Sequence[float] = 0,
        eps: float = 1e-8,
    ):
        _check_optimizer("ReduceLROnPlateau", optimizer)
        if factor >= 1.0:
            raise ValueError(f"ReduceLROnPlateau: Factor should be < 1.0, received factor={factor}")
        self.optimizer = optimizer
        self.factor = factor
        self.min_lrs = _per_group("ReduceLROnPlateau", "min_lr", optimizer, min_lr)
        self.patience = patience
        self.cooldown = cooldown
        self.cooldown_counter = 0
        self.mode = mode
        self.threshold = threshold
        self.threshold_mode = threshold_mode
        self.eps = eps
        self.last_epoch = 0
        self.best = None
        self.num_bad_epochs = None
        self.mode_worse = None
        self._last_lr = self._group_lrs()
        self._init_is_better()
        self._reset()

    def _init_is_better(self) -> None:
        if self.mode not in ("min", "max"):
            raise ValueError(f"ReduceLROnPlateau: mode {self.mode!r} is unknown; expected 'min' or 'max'")
        if self.threshold_mode not in ("rel", "abs"):
            raise ValueError(
                f"ReduceLROnPlateau: threshold mode {self.threshold_mode!r} is unknown; expected 'rel' or 'abs'"
            )
        self.mode_worse = math.inf if self.mode == "min" else -math.inf

    def _reset(self) -> None:
        self.best = self.mode_worse
        self.cooldown_counter = 0
        self.num_bad_epochs = 0

    @property
    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def is_better(self, current: float, best: float) -> bool:
        """Whether ``current`` improves on ``best`` by more than the threshold."""
        if self.mode == "min" and self.threshold_mode == "rel":
            return current < best * (1.0 - self.threshold)
        if self.mode == "min":
            return current < best - self.threshold
        if self.threshold_mode == "rel":
            return current > best * (self.threshold + 1.0)
        return current > best + self.threshold

    def step(self, metrics: Any, epoch: int | None = None) -> None:  # type: ignore[override]
        """Record this epoch's metric and reduce the learning rates if it has plateaued."""
        current = float(metrics)
        if epoch is None:
            epoch = self.last_epoch + 1
        else:
            warnings.warn(_EPOCH_DEPRECATION, UserWarning, stacklevel=2)
        self.last_epoch = epoch

        if self.is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1

        if self.in_cooldown:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0  # bad epochs during cooldown are not counted

        if self.num_bad_epochs > self.patience:
            self._reduce_lr()
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = self._group_lrs()

    def _reduce_lr(self) -> None:
        for group, min_lr in zip(self.optimizer.param_groups, self.min_lrs):
            old_lr = float(group["lr"])
            new_lr = max(old_lr * self.factor, min_lr)
            if old_lr - new_lr > self.eps:
                group["lr"] = new_lr

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.__dict__.update(state_dict)
        self._init_is_better()


def _annealing_cos(start: float, end: float, pct: float) -> float:
    return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1.0)


def _annealing_linear(start: float, end: float, pct: float) -> float:
    return (end - start) * pct + start


class OneCycleLR(LRScheduler):
    """The 1cycle policy: lr rises from ``max_lr / div_factor`` to ``max_lr``, then anneals far below.

    Step it once per batch. Phase 1 (``pct_start`` of the steps) goes from ``initial_lr = max_lr / div_factor``
    to ``max_lr``; phase 2 anneals to ``min_lr = initial_lr / final_div_factor`` at step ``total_steps - 1``.
    With ``three_phase`` the lr returns to ``initial_lr`` symmetrically before the final annealing. With
    ``cycle_momentum`` the momentum (SGD's ``momentum`` or Adam's beta1) moves inversely between
    ``max_momentum`` and ``base_momentum``.

    Args:
        optimizer: the optimizer.
        max_lr: peak learning rate, a number or one per group.
        total_steps: number of steps in the cycle; or give ``epochs`` and ``steps_per_epoch``.
        epochs, steps_per_epoch: ``total_steps = epochs * steps_per_epoch`` when ``total_steps`` is None.
        pct_start: fraction of the cycle spent increasing the lr (default 0.3).
        anneal_strategy: ``"cos"`` or ``"linear"`` (default "cos").
        cycle_momentum: cycle the momentum inversely to the lr (default True).
        base_momentum, max_momentum: momentum bounds, numbers or one per group (defaults 0.85, 0.95).
        div_factor: ``initial_lr = max_lr / div_factor`` (default 25).
        final_div_factor: ``min_lr = initial_lr / final_div_factor`` (default 1e4).
        three_phase: use the three-phase schedule (default False).
        last_epoch: index of the last step taken, to resume (default -1).
    """

    def __init__(
        self,
        optimizer: Optimizer,
        max_lr: float | Sequence[float],
        total_steps: int | None = None,
        epochs: int | None = None,
        steps_per_epoch: int | None = None,
        pct_start: float = 0.3,
        anneal_strategy: str = "cos",
        cycle_momentum: bool = True,
        base_momentum: float | Sequence[float] = 0.85,
        max_momentum: float | Sequence[float] = 0.95,
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
        three_phase: bool = False,
        last_epoch: int = -1,
    ):
        _check_optimizer("OneCycleLR", optimizer)
        if total_steps is not None:
            if isinstance(total_steps, bool) or not isinstance(total_steps, int) or total_steps <= 0:
                raise ValueError(f"OneCycleLR: Expected positive integer total_steps, but got {total_steps!r}")
            self.total_steps = total_steps
        elif epochs is not None and steps_per_epoch is not None:
            for name, value in (("epochs", epochs), ("steps_per_epoch", steps_per_epoch)):
                if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                    raise ValueError(f"OneCycleLR: Expected positive integer {name}, but got {value!r}")
            self.total_steps = epochs * steps_per_epoch
        else:
            raise ValueError("OneCycleLR: You must define either total_steps OR (epochs AND steps_per_epoch)")
        if isinstance(pct_start, bool) or not isinstance(pct_start, (int, float)) or not 0 <= pct_start <= 1:
            raise ValueError(f"OneCycleLR: Expected float between 0 and 1 pct_start, but got {pct_start!r}")
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(
                f"OneCycleLR: anneal_strategy must be one of 'cos' or 'linear', instead got {anneal_strategy!r}"
            )
        self._anneal = _annealing_cos if anneal_strategy == "cos" else _annealing_linear
        self.pct_start = pct_start

        if three_phase:
            self._schedule_phases = [
                dict(end_step=float(pct_start * self.total_steps) - 1, start_lr="initial_lr", end_lr="max_lr",
                     start_momentum="max_momentum", end_momentum="base_momentum"),
                dict(end_step=float(2 * pct_start * self.total_steps) - 2, start_lr="max_lr",
                     end_lr="initial_lr", start_momentum="base_momentum", end_momentum="max_momentum"),
                dict(end_step=self.total_steps - 1, start_lr="initial_lr", end_lr="min_lr",
                     start_momentum="max_momentum", end_momentum="max_momentum"),
            ]
        else:
            self._schedule_phases = [
                dict(end_step=float(pct_start * self.total_steps) - 1, start_lr="initial_lr", end_lr="max_lr",
                     start_momentum="max_momentum", end_momentum="base_momentum"),
                dict(end_step=self.total_steps - 1, start_lr="max_lr", end_lr="min_lr",
                     start_momentum="base_momentum", end_momentum="max_momentum"),
            ]

        max_lrs = _per_group("OneCycleLR", "max_lr", optimizer, max_lr)
        if last_epoch == -1:
            for lr, group in zip(max_lrs, optimizer.param_groups):
                group["initial_lr"] = lr / div_factor
                group["max_lr"] = lr
                group["min_lr"] = group["initial_lr"] / final_div_factor

        self.cycle_momentum = cycle_momentum
        if cycle_momentum:
            if "momentum" not in optimizer.defaults and "betas" not in optimizer.defaults:
                raise ValueError(
                    f"OneCycleLR: optimizer must support momentum or beta1 with `cycle_momentum` option enabled; "
                    f"{type(optimizer).__name__} has neither (pass cycle_momentum=False)"
                )
            self.use_beta1 = "betas" in optimizer.defaults
            max_momentums = _per_group("OneCycleLR", "max_momentum", optimizer, max_momentum)
            base_momentums = _per_group("OneCycleLR", "base_momentum", optimizer, base_momentum)
            if last_epoch == -1:
                for top, bottom, group in zip(max_momentums, base_momentums, optimizer.param_groups):
                    self._set_momentum(group, top)
                    group["max_momentum"] = top
                    group["base_momentum"] = bottom
        super().__init__(optimizer, last_epoch)

    def _set_momentum(self, group: dict[str, Any], value: float) -> None:
        if self.use_beta1:
            group["betas"] = (value, *group["betas"][1:])
        else:
            group["momentum"] = value

    def get_lr(self) -> list[float]:
        step_num = self.last_epoch
        if step_num > self.total_steps:
            raise ValueError(
                f"OneCycleLR: Tried to step {step_num} times. The specified number of total steps is "
                f"{self.total_steps}"
            )
        lrs = []
        for group in self.optimizer.param_groups:
            start_step = 0.0
            for index, phase in enumerate(self._schedule_phases):
                end_step = phase["end_step"]
                if step_num <= end_step or index == len(self._schedule_phases) - 1:
                    if end_step == start_step:
                        raise ValueError(
                            f"OneCycleLR: phase {index + 1} of the schedule has zero length at step {step_num} "
                            f"(pct_start={self.pct_start}, total_steps={self.total_steps}); change pct_start "
                            "or total_steps"
                        )
                    pct = (step_num - start_step) / (end_step - start_step)
                    lrs.append(self._anneal(group[phase["start_lr"]], group[phase["end_lr"]], pct))
                    if self.cycle_momentum:
                        momentum = self._anneal(group[phase["start_momentum"]], group[phase["end_momentum"]], pct)
                        self._set_momentum(group, momentum)
                    break
                start_step = phase["end_step"]
        return lrs

    def state_dict(self) -> dict[str, Any]:
        """The state; the annealing function is restored from the phases' strategy on load."""
        state = super().state_dict()
        state["_anneal"] = "cos" if self._anneal is _annealing_cos else "linear"
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state_dict = dict(state_dict)
        strategy = state_dict.pop("_anneal")
        self.__dict__.update(state_dict)
        self._anneal = _annealing_cos if strategy == "cos" else _annealing_linear
