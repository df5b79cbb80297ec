"""``keras.optimizers.schedules``: learning rates as functions of the optimizer's step.

A schedule passed as an optimizer's ``learning_rate`` is evaluated at ``optimizer.iterations`` (0 for the
first update) before every update, as Keras does; ``optimizer.learning_rate`` reads its current value.

    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=1000, decay_rate=0.96)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=schedule), loss="mse")

Values are computed in float64 and returned as Python floats.
"""
from __future__ import annotations

import itertools
import math


class LearningRateSchedule:
    """Base class: subclasses implement ``__call__(step) -> float`` and ``get_config()``."""

    def __call__(self, step) -> float:
        raise NotImplementedError(f"Learning rate schedule '{type(self).__name__}' must override __call__(step)")

    def get_config(self) -> dict:
        raise NotImplementedError(f"Learning rate schedule '{type(self).__name__}' must override get_config() to "
                                  "be serializable")

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)


def _positive(where: str, argument: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ValueError(f"{where}: {argument} must be > 0, received {argument}={value!r}")


def _step(where: str, step) -> float:
    value = float(step)
    if value < 0:
        raise ValueError(f"{where}: step must be non-negative, received {step!r}")
    return value


class _StepDecay(LearningRateSchedule):
    """The arguments ExponentialDecay and InverseTimeDecay share; ``_progress(step)`` is ``step / decay_steps``,
    floored when ``staircase``."""

    def __init__(self, initial_learning_rate: float, decay_steps, decay_rate: float, staircase: bool, name: str):
        _positive(type(self).__name__, "decay_steps", decay_steps)
        self.initial_learning_rate, self.decay_steps, self.decay_rate = initial_learning_rate, decay_steps, decay_rate
        self.staircase, self.name = staircase, name

    def _progress(self, step) -> float:
        progress = _step(self.name, step) / self.decay_steps
        return math.floor(progress) if self.staircase else progress

    def get_config(self) -> dict:
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "decay_rate": self.decay_rate, "staircase": self.staircase, "name": self.name}


class ExponentialDecay(_StepDecay):
    """``initial_learning_rate * decay_rate ** (step / decay_steps)`` (the exponent floored when
    ``staircase``)."""

    def __init__(self, initial_learning_rate: float, decay_steps, decay_rate: float, staircase: bool = False,
                 name: str = "ExponentialDecay"):
        super().__init__(initial_learning_rate, decay_steps, decay_rate, staircase, name)

    def __call__(self, step) -> float:
        return self.initial_learning_rate * self.decay_rate ** self._progress(step)


class PiecewiseConstantDecay(LearningRateSchedule):
    """``values[0]`` while ``step <= boundaries[0]``, ``values[i]`` while ``boundaries[i-1] < step <=
    boundaries[i]``, ``values[-1]`` after ``boundaries[-1]``."""

    def __init__(self, boundaries, values, name: str = "PiecewiseConstant"):
        if len(boundaries) != len(values) - 1:
            raise ValueError(f"PiecewiseConstantDecay: boundaries must have one entry fewer than values, received "
                             f"boundaries={list(boundaries)} of length {len(boundaries)} and values={list(values)} "
                             f"of length {len(values)}")
        if any(later <= earlier for earlier, later in itertools.pairwise(boundaries)):
            raise ValueError(f"PiecewiseConstantDecay: boundaries must be strictly increasing, received "
                             f"{list(boundaries)}")
        self.boundaries, self.values, self.name = list(boundaries), list(values), name

    def __call__(self, step) -> float:
        step = _step(self.name, step)
        for boundary, value in zip(self.boundaries, self.values):
            if step <= boundary:
                return float(value)
        return float(self.values[-1])

    def get_config(self) -> dict:
        return {"boundaries": self.boundaries, "values": self.values, "name": self.name}


class PolynomialDecay(LearningRateSchedule):
    """``(initial - end) * (1 - step / decay_steps) ** power + end`` with ``step`` capped at ``decay_steps``;
    with ``cycle``, ``decay_steps`` grows to the first multiple of itself not below ``step``."""

    def __init__(self, initial_learning_rate: float, decay_steps, end_learning_rate: float = 0.0001,
                 power: float = 1.0, cycle: bool = False, name: str = "PolynomialDecay"):
        _positive("PolynomialDecay", "decay_steps", decay_steps)
        self.initial_learning_rate, self.decay_steps = initial_learning_rate, decay_steps
        self.end_learning_rate, self.power, self.cycle, self.name = end_learning_rate, power, cycle, name

    def __call__(self, step) -> float:
        step = _step(self.name, step)
        decay_steps = float(self.decay_steps)
        if self.cycle:
            decay_steps *= 1.0 if step == 0 else math.ceil(step / self.decay_steps)
        else:
            step = min(step, decay_steps)
        fraction = step / decay_steps
        return ((self.initial_learning_rate - self.end_learning_rate) * (1 - fraction) ** self.power
                + self.end_learning_rate)

    def get_config(self) -> dict:
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "end_learning_rate": self.end_learning_rate, "power": self.power, "cycle": self.cycle,
                "name": self.name}


class InverseTimeDecay(_StepDecay):
    """``initial_learning_rate / (1 + decay_rate * step / decay_steps)`` (the quotient floored when
    ``staircase``)."""

    def __init__(self, initial_learning_rate: float, decay_steps, decay_rate: float, staircase: bool = False,
                 name: str = "InverseTimeDecay"):
        super().__init__(initial_learning_rate, decay_steps, decay_rate, staircase, name)

    def __call__(self, step) -> float:
        return self.initial_learning_rate / (1 + self.decay_rate * self._progress(step))


class CosineDecay(LearningRateSchedule):
    """Cosine decay from ``initial_learning_rate`` to ``alpha * initial_learning_rate`` over ``decay_steps``,
    constant after; with ``warmup_target``, first a linear warm-up from ``initial_learning_rate`` to
    ``warmup_target`` over ``warmup_steps``, then the cosine decay from ``warmup_target``."""

    def __init__(self, initial_learning_rate: float, decay_steps, alpha: float = 0.0, name: str = "CosineDecay",
                 warmup_target: float | None = None, warmup_steps: int = 0):
        _positive("CosineDecay", "decay_steps", decay_steps)
        if warmup_steps < 0:
            raise ValueError(f"CosineDecay: warmup_steps must be non-negative, received warmup_steps={warmup_steps!r}")
        self.initial_learning_rate, self.decay_steps, self.alpha, self.name = (
            initial_learning_rate, decay_steps, alpha, name)
        self.warmup_target, self.warmup_steps = warmup_target, warmup_steps

    def _decay(self, step: float, decay_from: float) -> float:
        cosine = 0.5 * (1.0 + math.cos(math.pi * step / self.decay_steps))
        return decay_from * ((1 - self.alpha) * cosine + self.alpha)

    def __call__(self, step) -> float:
        step = _step(self.name, step)
        if self.warmup_target is None:
            return self._decay(min(step, self.decay_steps), self.initial_learning_rate)
        step = min(step, self.decay_steps + self.warmup_steps)
        if step < self.warmup_steps:
            rise = self.warmup_target - self.initial_learning_rate
            return rise * step / self.warmup_steps + self.initial_learning_rate
        return self._decay(step - self.warmup_steps, self.warmup_target)

    def get_config(self) -> dict:
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "alpha": self.alpha, "name": self.name, "warmup_target": self.warmup_target,
                "warmup_steps": self.warmup_steps}


class CosineDecayRestarts(LearningRateSchedule):
    """Cosine decay with warm restarts (SGDR): the first period lasts ``first_decay_steps``, each next one
    ``t_mul`` times longer and starting from ``m_mul`` times the previous peak; the floor is ``alpha`` times
    the peak."""

    def __init__(self, initial_learning_rate: float, first_decay_steps, t_mul: float = 2.0, m_mul: float = 1.0,
                 alpha: float = 0.0, name: str = "SGDRDecay"):
        _positive("CosineDecayRestarts", "first_decay_steps", first_decay_steps)
        _positive("CosineDecayRestarts", "t_mul", t_mul)
        self.initial_learning_rate, self.first_decay_steps = initial_learning_rate, first_decay_steps
        self.t_mul, self.m_mul, self.alpha, self.name = t_mul, m_mul, alpha, name

    def __call__(self, step) -> float:
        fraction = _step(self.name, step) / self.first_decay_steps
        if self.t_mul == 1.0:
            restart = math.floor(fraction)
            fraction -= restart
        else:
            restart = math.floor(math.log(1.0 - fraction * (1.0 - self.t_mul)) / math.log(self.t_mul))
            completed = (1.0 - self.t_mul ** restart) / (1.0 - self.t_mul)  # length of the finished periods
            fraction = (fraction - completed) / self.t_mul ** restart
        cosine = 0.5 * self.m_mul ** restart * (1.0 + math.cos(math.pi * fraction))
        return self.initial_learning_rate * ((1 - self.alpha) * cosine + self.alpha)

    def get_config(self) -> dict:
        return {"initial_learning_rate": self.initial_learning_rate, "first_decay_steps": self.first_decay_steps,
                "t_mul": self.t_mul, "m_mul": self.m_mul, "alpha": self.alpha, "name": self.name}


_SCHEDULES = {cls.__name__: cls for cls in (ExponentialDecay, PiecewiseConstantDecay, PolynomialDecay,
                                              InverseTimeDecay, CosineDecay, CosineDecayRestarts)}


def serialize(schedule: LearningRateSchedule) -> dict:
    """``{"class_name": ..., "config": ...}`` for a schedule."""
    return {"class_name": type(schedule).__name__, "config": schedule.get_config()}


def deserialize(config: dict, custom_objects=None) -> LearningRateSchedule:
    """The schedule that ``serialize`` described (custom classes through ``custom_objects``)."""
    known = {**_SCHEDULES, **(custom_objects or {})}
    name = config.get("class_name") if isinstance(config, dict) else None
    if name not in known:
        raise ValueError(f"schedules.deserialize: unknown learning rate schedule {name!r}; expected one of "
                         f"{sorted(known)}")
    return known[name].from_config(dict(config.get("config", {})))


__all__ = [
    "LearningRateSchedule", "ExponentialDecay", "PiecewiseConstantDecay", "PolynomialDecay", "InverseTimeDecay",
    "CosineDecay", "CosineDecayRestarts", "serialize", "deserialize",
]
