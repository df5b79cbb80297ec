"""Keras optimizers (``SGD``, ``Adam``, ``AdamW``, ``RMSprop``) as thin front ends to ``ember.optim``.

A Keras optimizer is created without parameters and bound to the model's trainable parameters by
``compile``/``fit``; ``optimizer.learning_rate`` reads and writes the learning rate of every group, which is
how ``LearningRateScheduler`` and ``ReduceLROnPlateau`` act on it.
"""
from __future__ import annotations

from .. import optim


class Optimizer:
    """Base: subclasses name their ``ember.optim`` class and map Keras arguments to it."""

    def __init__(self, learning_rate: float, name: str):
        if callable(learning_rate):
            raise TypeError(
                f"{type(self).__name__}: learning-rate schedule objects are not supported; pass a float and use "
                "the LearningRateScheduler callback"
            )
        if learning_rate < 0:
            raise ValueError(f"{type(self).__name__}: learning_rate must be non-negative, received {learning_rate}")
        self._learning_rate = float(learning_rate)
        self.name = name
        self.inner = None  # the ember.optim optimizer, once built
        self.iterations = 0

    def make(self, parameters) -> "optim.Optimizer":  # pragma: no cover - abstract
        raise NotImplementedError

    def build(self, parameters) -> None:
        """Bind to ``parameters`` (the model's trainable ones)."""
        parameters = [p for p in parameters if p.requires_grad]
        if not parameters:
            raise ValueError(f"{type(self).__name__}: the model has no trainable parameters")
        self.inner = self.make(parameters)

    @property
    def built(self) -> bool:
        return self.inner is not None

    @property
    def learning_rate(self) -> float:
        return self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value: float) -> None:
        self._learning_rate = float(value)
        if self.inner is not None:
            for group in self.inner.param_groups:
                group["lr"] = self._learning_rate

    lr = learning_rate

    def zero_grad(self) -> None:
        self.inner.zero_grad(set_to_none=True)

    def step(self) -> None:
        self.inner.step()
        self.iterations += 1

    def get_config(self) -> dict:
        return {"name": self.name, "learning_rate": self._learning_rate}


class SGD(Optimizer):
    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, weight_decay=None, name="SGD", **kwargs):
        super().__init__(learning_rate, name)
        self.momentum, self.nesterov, self.weight_decay = momentum, nesterov, weight_decay or 0.0

    def make(self, parameters):
        return optim.SGD(parameters, lr=self._learning_rate, momentum=self.momentum, nesterov=self.nesterov,
                         weight_decay=self.weight_decay)

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class Adam(Optimizer):
    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False,
                 weight_decay=None, name="adam", **kwargs):
        super().__init__(learning_rate, name)
        self.beta_1, self.beta_2, self.epsilon, self.amsgrad = beta_1, beta_2, epsilon, amsgrad
        self.weight_decay = weight_decay or 0.0

    def make(self, parameters):
        return optim.Adam(parameters, lr=self._learning_rate, betas=(self.beta_1, self.beta_2), eps=self.epsilon,
                          weight_decay=self.weight_decay, amsgrad=self.amsgrad)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
                "amsgrad": self.amsgrad}


class AdamW(Adam):
    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 amsgrad=False, name="adamw", **kwargs):
        super().__init__(learning_rate, beta_1, beta_2, epsilon, amsgrad, weight_decay, name)

    def make(self, parameters):
        return optim.AdamW(parameters, lr=self._learning_rate, betas=(self.beta_1, self.beta_2), eps=self.epsilon,
                           weight_decay=self.weight_decay, amsgrad=self.amsgrad)


class RMSprop(Optimizer):
    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False, name="rmsprop",
                 **kwargs):
        super().__init__(learning_rate, name)
        self.rho, self.momentum, self.epsilon, self.centered = rho, momentum, epsilon, centered

    def make(self, parameters):
        return optim.RMSprop(parameters, lr=self._learning_rate, alpha=self.rho, eps=self.epsilon,
                             momentum=self.momentum, centered=self.centered)

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "momentum": self.momentum, "epsilon": self.epsilon,
                "centered": self.centered}


class _Wrapped(Optimizer):
    """An ``ember.optim`` optimizer given to ``compile`` directly (already bound to its parameters)."""

    def __init__(self, inner):
        super().__init__(inner.param_groups[0]["lr"], type(inner).__name__)
        self.inner = inner

    def build(self, parameters) -> None:
        pass


_ALIASES = {"sgd": SGD, "adam": Adam, "adamw": AdamW, "rmsprop": RMSprop}


def get(identifier) -> Optimizer:
    """An optimizer from a name (``"adam"``), a Keras optimizer, or an ``ember.optim`` optimizer."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, optim.Optimizer):
        return _Wrapped(identifier)
    if isinstance(identifier, str) and identifier.lower() in _ALIASES:
        return _ALIASES[identifier.lower()]()
    raise ValueError(f"optimizers.get: unknown optimizer {identifier!r}; expected one of {sorted(_ALIASES)}")
