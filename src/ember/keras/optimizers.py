"""Keras optimizers (``SGD``, ``Adam``, ``AdamW``, ``RMSprop``) as thin front ends to ``ember.optim``.

A Keras optimizer is created without parameters and bound to the model's trainable parameters by
``compile``/``fit``; ``optimizer.learning_rate`` reads and writes the learning rate of every group, which is
how ``LearningRateScheduler`` and ``ReduceLROnPlateau`` act on it.

Each step does what Keras's does around the update: clip the gradients (``clipnorm`` per gradient,
``global_clipnorm`` over all of them, or ``clipvalue`` per element; one of the three), then apply
``weight_decay`` decoupled from the gradient (``w -= w * weight_decay * learning_rate``), then let the
``ember.optim`` optimizer update.

``learning_rate`` may also be a schedule from ``keras.optimizers.schedules`` (evaluated at
``optimizer.iterations`` before every update, as Keras does) or a callable without arguments. When the
learning rate changes between updates, the momentum buffers are rescaled so that momentum accumulates
``learning_rate * gradient`` as Keras's SGD and RMSprop do (PyTorch's accumulate the bare gradient). At a
rate of exactly 0, SGD's momentum still moves the weights as in Keras; RMSprop's stops (Keras's would not).
"""
from __future__ import annotations

import math
import re
import warnings

import numpy as np

from .. import optim
from ..autograd.tensor import Tensor
from ..backend.device import get_array_module
from . import schedules
from ._ignored import warn_no_effect
from .schedules import LearningRateSchedule


class Optimizer:
    """Base: subclasses name their ``ember.optim`` class and map Keras arguments to it.

    ``use_ema=True`` keeps an exponential moving average of the trainable weights, as Keras does: after
    each update ``average = ema_momentum * average + (1 - ema_momentum) * weight`` (the first update copies
    the weight); every ``ema_overwrite_frequency`` updates (when set) the weights take the averages, and
    ``finalize_variable_values`` (called by ``fit`` at the end) gives them the averages for good.

    Keras's ``loss_scale_factor`` and ``gradient_accumulation_steps`` warn that they have no effect;
    ``decay`` warns and is ignored, as in Keras; ``lr`` is the old name of ``learning_rate``.
    """

    def __init__(self, learning_rate: float, name: str, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, use_ema: bool = False, ema_momentum: float = 0.99,
                 ema_overwrite_frequency=None, loss_scale_factor=None, gradient_accumulation_steps=None,
                 **kwargs):
        where = type(self).__name__
        if "lr" in kwargs:
            warnings.warn(f"{where}: the `lr` argument is deprecated, use `learning_rate` instead",
                          UserWarning, stacklevel=3)
            learning_rate = kwargs.pop("lr")
        if kwargs.pop("decay", None) is not None:
            warnings.warn(f"{where}: argument `decay` is no longer supported and is ignored (as in Keras); use a "
                          "LearningRateScheduler callback", UserWarning, stacklevel=3)
        if kwargs:
            raise TypeError(f"{where}: unexpected keyword arguments {sorted(kwargs)}")
        if isinstance(learning_rate, dict):  # a serialized schedule, as get_config writes it
            learning_rate = schedules.deserialize(learning_rate)
        if not callable(learning_rate):
            if isinstance(learning_rate, bool) or not isinstance(learning_rate, (int, float, np.number)):
                raise TypeError(f"{where}: learning_rate must be a float, a LearningRateSchedule or a callable, "
                                f"received {learning_rate!r}")
            if learning_rate < 0:
                raise ValueError(f"{where}: learning_rate must be non-negative, received {learning_rate}")
        clipping = {"clipnorm": clipnorm, "clipvalue": clipvalue, "global_clipnorm": global_clipnorm}
        if sum(value is not None for value in clipping.values()) > 1:
            raise ValueError(f"{where}: only one of clipnorm, clipvalue and global_clipnorm can be set, received "
                             + ", ".join(f"{key}={value}" for key, value in clipping.items()))
        for argument, value in (*clipping.items(), ("weight_decay", weight_decay)):
            if value is not None and (isinstance(value, bool) or value < 0):
                raise ValueError(f"{where}: {argument} must be a non-negative number or None, received {value!r}")
        if use_ema:
            if isinstance(ema_momentum, bool) or not isinstance(ema_momentum, (int, float)) \
                    or not 0 <= ema_momentum <= 1:
                raise ValueError(f"{where}: ema_momentum must be in the range [0, 1], received {ema_momentum!r}")
            if ema_overwrite_frequency is not None and (
                    isinstance(ema_overwrite_frequency, bool) or not isinstance(ema_overwrite_frequency, int)
                    or ema_overwrite_frequency < 1):
                raise ValueError(f"{where}: ema_overwrite_frequency must be an integer >= 1 or None, received "
                                 f"{ema_overwrite_frequency!r}")
        self.use_ema = bool(use_ema)
        self.ema_momentum = float(ema_momentum)
        self.ema_overwrite_frequency = ema_overwrite_frequency
        self._moving_averages: dict = {}  # id(parameter) -> (parameter, its average), when use_ema
        if loss_scale_factor is not None:
            warn_no_effect(where, "loss_scale_factor", loss_scale_factor, "float32 training needs no loss scaling",
                           stacklevel=4)
        if gradient_accumulation_steps is not None:
            warn_no_effect(where, "gradient_accumulation_steps", gradient_accumulation_steps,
                           "every step applies its own gradients", stacklevel=4)
        # a float, or a schedule / callable evaluated before every update
        self._learning_rate = learning_rate if callable(learning_rate) else float(learning_rate)
        self._applied_learning_rate: float | None = None  # the value the inner optimizer's groups hold
        self.weight_decay = weight_decay
        self.clipnorm, self.clipvalue, self.global_clipnorm = clipnorm, clipvalue, global_clipnorm
        self.name = name
        self.inner = None  # the ember.optim optimizer, once built
        self.iterations = 0
        self._excluded_ids: set = set()  # parameters that exclude_from_weight_decay named by identity
        self._excluded_pattern: re.Pattern | None = None  # ... or by name
        self._no_decay_ids: set = set()  # the parameters left undecayed, fixed by build

    def make(self, parameters) -> optim.Optimizer:  # pragma: no cover - abstract
        raise NotImplementedError

    def exclude_from_weight_decay(self, var_list=None, var_names=None) -> None:
        """Leave some weights undecayed (Keras's method); call it before the optimizer is built.

        ``var_list``: weights to exclude. ``var_names``: regular expressions; a weight is excluded when one of
        them is found in its name, the last part of its path in the model (``"kernel"``, ``"bias"``,
        ``"gamma"``, ``"embeddings"``…, as Keras names variables), e.g. ``var_names=["bias", "gamma"]``.
        """
        if self.built:
            raise ValueError(f"{type(self).__name__}: exclude_from_weight_decay() can only be configured before the "
                             "optimizer is built")
        self._excluded_ids = {id(variable) for variable in var_list or ()}
        self._excluded_pattern = re.compile("|".join(sorted(set(var_names)))) if var_names else None

    def build(self, parameters, names=None) -> None:
        """Bind to ``parameters`` (the model's trainable ones); ``names``, when given, are their paths in the
        model (``model.named_parameters()``), which ``exclude_from_weight_decay(var_names=...)`` matches."""
        parameters = list(parameters)
        names = [None] * len(parameters) if names is None else list(names)
        if len(names) != len(parameters):
            raise ValueError(f"{type(self).__name__}.build: received {len(parameters)} parameters and "
                             f"{len(names)} names")
        named = [(name, p) for name, p in zip(names, parameters) if p.requires_grad]
        if not named:
            raise ValueError(f"{type(self).__name__}: the model has no trainable parameters")
        self._no_decay_ids = {id(p) for name, p in named if self._excluded(name, p)}
        self.inner = self.make([p for _, p in named])
        self._applied_learning_rate = self.learning_rate
        if self.use_ema:
            self._moving_averages = {id(p): (p, get_array_module(p.array).zeros_like(p.array)) for p in parameters}

    def _excluded(self, path: str | None, parameter) -> bool:
        if id(parameter) in self._excluded_ids:
            return True
        if self._excluded_pattern is None or path is None:
            return False
        return self._excluded_pattern.search(path.rpartition(".")[2]) is not None

    @property
    def built(self) -> bool:
        return self.inner is not None

    @property
    def learning_rate(self) -> float:
        """The learning rate of the next update: the schedule's value at ``iterations`` when there is one."""
        if isinstance(self._learning_rate, LearningRateSchedule):
            return float(self._learning_rate(self.iterations))
        if callable(self._learning_rate):
            return float(self._learning_rate())
        return self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value) -> None:
        if callable(value):
            self._learning_rate = value
        elif isinstance(self._learning_rate, LearningRateSchedule):
            raise TypeError(f"{type(self).__name__}: this optimizer was created with a LearningRateSchedule as its "
                            "learning_rate, hence its learning rate is not settable; create it with a float "
                            "learning_rate to set it")
        else:
            self._learning_rate = float(value)
        if self.inner is not None:
            self._apply_learning_rate(self.learning_rate)

    def _apply_learning_rate(self, value: float) -> None:
        """Give every group ``value``, rescaling momentum buffers by old/new so that they hold what Keras's
        momentum (an accumulation of ``learning_rate * gradient``) holds, divided by the new rate."""
        previous = self._applied_learning_rate
        if previous == value:
            return
        if previous and value:
            for state in self.inner.state.values():
                buffer = state.get("momentum_buffer") if isinstance(state, dict) else None
                if buffer is not None:
                    buffer *= buffer.dtype.type(previous / value)
        for group in self.inner.param_groups:
            group["lr"] = value
        self._applied_learning_rate = value

    lr = learning_rate

    def zero_grad(self) -> None:
        self.inner.zero_grad(set_to_none=True)

    def step(self) -> None:
        """Clip the gradients, decay the weights that have one, then update (Keras's order), at the learning
        rate of this step."""
        if callable(self._learning_rate):
            self._apply_learning_rate(self.learning_rate)
        if self.clipnorm or self.global_clipnorm or self.clipvalue or self.weight_decay:
            parameters = [p for group in self.inner.param_groups for p in group["params"] if p.grad is not None]
            self._clip_gradients([p.grad.array for p in parameters])
            self._decay_weights(parameters)
        self._prepare_update()
        self.inner.step()
        if self.use_ema:
            self._update_moving_averages()
            if self.ema_overwrite_frequency and (self.iterations + 1) % self.ema_overwrite_frequency == 0:
                self._overwrite_with_moving_averages(None)
        self.iterations += 1

    def _prepare_update(self) -> None:
        """Set what the inner optimizer needs for update ``iterations + 1`` beyond the learning rate; by
        default nothing."""

    def _update_moving_averages(self) -> None:
        """Keras's EMA of the weights, in place; momentum 0 at the first iteration copies them."""
        momentum = self.ema_momentum if self.iterations != 0 else 0.0
        for parameter, average in self._moving_averages.values():
            dtype = average.dtype.type
            average *= dtype(momentum)
            average += parameter.array * dtype(1 - momentum)

    def _overwrite_with_moving_averages(self, var_list) -> None:
        """Give each weight of ``var_list`` (default: all the optimizer updates) its moving average."""
        if var_list is None:
            pairs = list(self._moving_averages.values())
        else:
            pairs = []
            for variable in var_list:
                entry = self._moving_averages.get(id(variable))
                if entry is None:
                    raise ValueError(f"{type(self).__name__}: a variable of shape {tuple(variable.shape)} has no "
                                     "moving average: this optimizer was not built on it")
                pairs.append(entry)
        for parameter, average in pairs:
            parameter.array[...] = average

    def finalize_variable_values(self, var_list) -> None:
        """With ``use_ema``, set the weights of ``var_list`` to their moving averages (Keras's end of ``fit``);
        otherwise nothing."""
        if self.use_ema and self._moving_averages:
            self._overwrite_with_moving_averages(list(var_list))

    def apply_gradients(self, grads_and_vars) -> int:
        """Update each variable with its gradient: ``apply_gradients(zip(gradients, model.trainable_variables))``,
        for training loops written with a ``GradientTape`` (``ember.tensorflow``) or ``ember.grad``.

        Variables are Tensors (a Keras model's ``trainable_variables``) or ``ember.tensorflow.Variable`` objects; the
        first call binds the optimizer to the variables it receives, later calls may pass any of them. A None
        gradient leaves its variable unchanged. Clipping, weight decay and schedules apply as in ``fit``.
        Returns ``iterations``, the number of updates made so far.
        """
        where = f"{type(self).__name__}.apply_gradients"
        pairs = []
        for index, pair in enumerate(grads_and_vars):
            if not isinstance(pair, (tuple, list)) or len(pair) != 2:
                raise TypeError(f"{where}: expected (gradient, variable) pairs, as zip(gradients, variables) gives; "
                                f"item {index} is {type(pair).__name__}")
            gradient, variable = pair
            parameter = _as_parameter(variable, where, index)
            if gradient is not None:
                pairs.append((_as_gradient(gradient, parameter, where, index), parameter))
        if not pairs:
            raise ValueError(f"{where}: no gradients provided for any variable")
        if self.inner is None:
            self.build([parameter for _, parameter in pairs])
        bound = {id(p): p for group in self.inner.param_groups for p in group["params"]}
        for index, (_, parameter) in enumerate(pairs):
            if id(parameter) not in bound:
                raise ValueError(f"{where}: variable {index} of shape {tuple(parameter.shape)} is not one this "
                                 f"optimizer was built with ({len(bound)} variables, from its first use)")
        saved = {key: parameter.grad for key, parameter in bound.items()}
        for parameter in bound.values():
            parameter.grad = None
        for gradient, parameter in pairs:
            parameter.grad = gradient
        try:
            self.step()
        finally:
            for key, parameter in bound.items():
                parameter.grad = saved[key]
        return self.iterations

    def _decay_weights(self, parameters) -> None:
        """Keras's decoupled weight decay, in place: ``w -= w * weight_decay * learning_rate`` (but for the
        weights excluded by ``exclude_from_weight_decay``)."""
        if self.weight_decay:
            for parameter in parameters:
                if id(parameter) in self._no_decay_ids:
                    continue
                weights = parameter.array
                dtype = weights.dtype.type
                weights -= weights * dtype(self.weight_decay) * dtype(self.learning_rate)

    def _clip_gradients(self, gradients) -> None:
        """Keras's clipping, in place: ``g * c / max(norm, c)`` per gradient or over all, or ``clip(g, -c, c)``."""
        if self.clipnorm:
            for gradient in gradients:
                _scale_down(gradient, self.clipnorm, _norm(gradient))
        elif self.global_clipnorm:
            total = math.sqrt(sum(_norm(gradient) ** 2 for gradient in gradients))
            for gradient in gradients:
                _scale_down(gradient, self.global_clipnorm, total)
        elif self.clipvalue:
            for gradient in gradients:
                get_array_module(gradient).clip(gradient, -self.clipvalue, self.clipvalue, out=gradient)

    def save_own_variables(self, store: dict) -> None:
        """Put the optimizer's state into ``store`` as NumPy arrays (Keras's method name).

        Keys: ``"iterations"`` (0-d int64), and ``"{index}/{name}"`` for each parameter's state, parameters
        numbered as in ``model.parameters()`` (e.g. ``"0/exp_avg"``; step counts become 0-d int64 arrays);
        with ``use_ema``, ``"{index}/average"`` for each moving average.
        """
        store["iterations"] = np.asarray(self.iterations, dtype=np.int64)
        if self.inner is None:
            return
        for index, entries in self.inner.state_dict()["state"].items():
            for name, value in entries.items():
                store[f"{index}/{name}"] = np.asarray(value.get() if hasattr(value, "get") else value)
        parameters = [p for group in self.inner.param_groups for p in group["params"]]
        for index, parameter in enumerate(parameters):
            if id(parameter) in self._moving_averages:
                average = self._moving_averages[id(parameter)][1]
                store[f"{index}/average"] = np.asarray(average.get() if hasattr(average, "get") else average).copy()

    def load_own_variables(self, store: dict) -> None:
        """Restore what ``save_own_variables`` wrote; the optimizer must be built on the same parameters.

        Raises ValueError when a key names no parameter or an array's shape differs from its parameter's."""
        where = type(self).__name__
        if self.inner is None:
            raise ValueError(f"{where}: build the optimizer before loading its state")
        parameters = [p for group in self.inner.param_groups for p in group["params"]]
        state: dict[int, dict] = {}
        for key, value in store.items():
            if key == "iterations":
                continue
            index_text, _, name = key.partition("/")
            if not index_text.isdigit() or not name or int(index_text) >= len(parameters):
                raise ValueError(f"{where}: state entry {key!r} names no parameter (the model has "
                                 f"{len(parameters)})")
            index = int(index_text)
            value = np.asarray(value)
            if name == "average":  # a moving average of use_ema, kept by this front end
                entry = self._moving_averages.get(id(parameters[index]))
                if entry is None or entry[1].shape != value.shape:
                    raise ValueError(f"{where}: state entry {key!r} of shape {value.shape} is a moving average, "
                                     f"and this optimizer keeps none of that shape (use_ema={self.use_ema})")
                entry[1][...] = value
                continue
            if value.ndim == 0 and value.dtype.kind in "iu":
                state.setdefault(index, {})[name] = int(value)  # a step count, a Python int as in training
                continue
            if value.shape != tuple(parameters[index].shape):
                raise ValueError(f"{where}: state entry {key!r} has shape {value.shape}, its parameter has "
                                 f"{tuple(parameters[index].shape)}")
            state.setdefault(index, {})[name] = value
        groups = self.inner.state_dict()["param_groups"]
        self.inner.load_state_dict({"state": state, "param_groups": groups})
        self.iterations = int(np.asarray(store.get("iterations", 0)))
        # the restored momentum buffers are relative to the learning rate of the last update taken
        self._applied_learning_rate = None
        last_step = self.iterations
        self.iterations = max(last_step - 1, 0)
        self._apply_learning_rate(self.learning_rate)
        self.iterations = last_step

    def get_config(self) -> dict:
        learning_rate = self._learning_rate
        if isinstance(learning_rate, LearningRateSchedule):
            learning_rate = schedules.serialize(learning_rate)
        elif callable(learning_rate):
            learning_rate = self.learning_rate  # a plain callable cannot be saved: keep its current value
        return {"name": self.name, "learning_rate": learning_rate, "weight_decay": self.weight_decay,
                "clipnorm": self.clipnorm, "clipvalue": self.clipvalue, "global_clipnorm": self.global_clipnorm,
                "use_ema": self.use_ema, "ema_momentum": self.ema_momentum,
                "ema_overwrite_frequency": self.ema_overwrite_frequency}


def _as_parameter(variable, where: str, index: int) -> Tensor:
    """The leaf tensor updated in place for ``variable``: a Tensor itself, or the value an
    ``ember.tensorflow.Variable`` holds (its ``_value``, read without importing the TensorFlow dialect)."""
    if isinstance(variable, Tensor):
        parameter = variable
    elif isinstance(getattr(variable, "_value", None), Tensor):  # ember.tensorflow.Variable (no import needed)
        parameter = variable._value
    else:
        raise TypeError(f"{where}: variable {index} must be a Tensor or a Variable, received {type(variable).__name__}")
    if parameter.creator is not None or parameter.array.dtype.kind != "f":
        raise ValueError(f"{where}: variable {index} must be a floating leaf tensor (a weight), received "
                         f"{'the output of an op' if parameter.creator is not None else parameter.dtype}")
    return parameter


def _as_gradient(gradient, parameter: Tensor, where: str, index: int) -> Tensor:
    """``gradient`` as a detached Tensor of ``parameter``'s dtype; its shape must be the variable's."""
    if not isinstance(gradient, Tensor):
        gradient = Tensor(np.asarray(gradient))
    if tuple(gradient.shape) != tuple(parameter.shape):
        raise ValueError(f"{where}: gradient {index} has shape {tuple(gradient.shape)}, its variable "
                         f"{tuple(parameter.shape)}")
    array = gradient.array if gradient.array.dtype == parameter.array.dtype else gradient.array.astype(parameter.dtype)
    return Tensor(array.copy())  # clipping works in place: never on the caller's array


def _norm(gradient) -> float:
    return float(get_array_module(gradient).linalg.norm(gradient.reshape(-1)))


def _scale_down(gradient, limit: float, norm: float) -> None:
    if norm > limit:
        gradient *= gradient.dtype.type(limit / norm)


class SGD(Optimizer):
    """Keras's SGD: ``m = momentum * m - learning_rate * g``; ``w += m`` (``w += momentum * m - learning_rate *
    g`` with nesterov), also when the learning rate changes or reaches 0 (the momentum still moves the weights
    then, as in Keras)."""

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, name="SGD", **kwargs):
        super().__init__(learning_rate, name, **kwargs)
        self.momentum, self.nesterov = momentum, nesterov
        self._zero_rate = False  # this step's rate is 0 while the groups keep the last nonzero one

    def make(self, parameters):
        return optim.SGD(parameters, lr=self.learning_rate, momentum=self.momentum, nesterov=self.nesterov)

    def _apply_learning_rate(self, value: float) -> None:
        # PyTorch's update ``w -= lr * buffer`` moves nothing at lr = 0, where Keras's momentum still moves the
        # weights: keep the last nonzero rate in the groups and give this step zero gradients instead.
        self._zero_rate = bool(self.momentum) and value == 0 and bool(self._applied_learning_rate)
        if not self._zero_rate:
            super()._apply_learning_rate(value)

    def step(self) -> None:
        if callable(self._learning_rate):
            self._apply_learning_rate(self.learning_rate)
        if self._zero_rate:
            for group in self.inner.param_groups:
                for parameter in group["params"]:
                    if parameter.grad is not None:
                        parameter.grad.array[...] = 0
        super().step()

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class Adam(Optimizer):
    """Keras's Adam: ``w -= lr * sqrt(1 - beta_2^t) / (1 - beta_1^t) * m / (sqrt(v) + epsilon)``.

    Keras adds epsilon to the uncorrected ``sqrt(v)``, PyTorch (and ``ember.optim.Adam``) to
    ``sqrt(v) / sqrt(1 - beta_2^t)``: the inner optimizer is given ``epsilon / sqrt(1 - beta_2^t)`` before each
    update, which makes the two the same step.
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False, name="adam",
                 **kwargs):
        super().__init__(learning_rate, name, **kwargs)
        self.beta_1, self.beta_2, self.epsilon, self.amsgrad = beta_1, beta_2, epsilon, amsgrad

    def make(self, parameters):
        return optim.Adam(parameters, lr=self.learning_rate, betas=(self.beta_1, self.beta_2), eps=self.epsilon,
                          amsgrad=self.amsgrad)

    def _prepare_update(self) -> None:
        correction = math.sqrt(1.0 - self.beta_2 ** (self.iterations + 1))
        for group in self.inner.param_groups:
            group["eps"] = self.epsilon / correction

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
                "amsgrad": self.amsgrad}


class AdamW(Adam):
    """Adam with a decoupled weight decay of 0.004 by default (Keras's AdamW is exactly that)."""

    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 amsgrad=False, name="adamw", **kwargs):
        super().__init__(learning_rate, beta_1, beta_2, epsilon, amsgrad, name, weight_decay=weight_decay, **kwargs)


class RMSprop(Optimizer):
    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False, name="rmsprop",
                 **kwargs):
        super().__init__(learning_rate, name, **kwargs)
        self.rho, self.momentum, self.epsilon, self.centered = rho, momentum, epsilon, centered

    def make(self, parameters):
        return optim.RMSprop(parameters, lr=self.learning_rate, alpha=self.rho, eps=self.epsilon,
                             momentum=self.momentum, centered=self.centered)

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "momentum": self.momentum, "epsilon": self.epsilon,
                "centered": self.centered}


class _Wrapped(Optimizer):
    """An ``ember.optim`` optimizer given to ``compile`` directly (already bound to its parameters)."""

    def __init__(self, inner):
        super().__init__(inner.param_groups[0]["lr"], type(inner).__name__)
        self.inner = inner
        self._applied_learning_rate = self.learning_rate

    def build(self, parameters, names=None) -> None:
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
