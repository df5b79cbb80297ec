"""``Optimizer``: the base class of Ember's optimizers (parameter groups, lazy state, ``state_dict``).

An optimizer holds ``param_groups`` (a list of dicts: ``"params"`` plus every option, e.g. ``"lr"``) and
``state`` (a dict keyed by parameter, filled on the first step that sees a gradient). Subclasses validate
their options in ``_check_options`` and implement ``step``; the update math lives in a plain function per
optimizer that works on arrays in place, so models that hold views of ``param.array`` see every update.
"""
from __future__ import annotations

import numbers
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from itertools import chain
from typing import Any

import numpy as np

from ..autograd import Tensor, enable_grad
from ..backend.device import cupy_if_loaded, get_array_module


class _RequiredParameter:
    """Marks an option that every parameter group must set (PyTorch's ``required``)."""

    def __repr__(self) -> str:
        return "<required parameter>"


required = _RequiredParameter()


class Optimizer:
    """Base class of all optimizers.

    Args:
        params: an iterable of Tensors, or of dicts (parameter groups) each holding ``"params"`` and any
            options that override ``defaults`` for that group. The order must be deterministic (no sets).
        defaults: the default value of every option (``required`` for options without one).

    Attributes:
        param_groups: list of dicts, one per group, each with ``"params"`` and every option.
        state: dict keyed by parameter holding its per-parameter state (arrays and the step count).
        defaults: the options given at construction.
    """

    def __init__(self, params: Iterable[Tensor] | Iterable[dict], defaults: dict[str, Any]):
        self.defaults = defaults
        self._check_options(defaults)
        self.state: defaultdict[Tensor, dict[str, Any]] = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []
        if isinstance(params, Tensor):
            raise TypeError(
                f"{type(self).__name__}: params should be an iterable of Tensors or dicts, but got a Tensor; "
                "wrap it in a list"
            )
        param_groups = list(params)
        if not param_groups:
            raise ValueError(f"{type(self).__name__}: optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for param_group in param_groups:
            self.add_param_group(param_group)

    # ------------------------------------------------------------------------------------- options
    def _check_options(self, options: dict[str, Any]) -> None:
        """Raise ValueError for invalid hyper-parameters; subclasses check their own options."""

    def _name(self) -> str:
        return type(self).__name__

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters with its own options (missing options take the defaults)."""
        if not isinstance(param_group, dict):
            raise TypeError(f"{self._name()}: param_group must be a dict, but got {type(param_group).__name__}")
        if "params" not in param_group:
            raise ValueError(f"{self._name()}: param_group must have a 'params' entry, got keys {sorted(param_group)}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, (set, frozenset)):
            raise TypeError(
                f"{self._name()}: optimizer parameters need to be organized in ordered collections, but the "
                "ordering of tensors in sets will change between runs. Please use a list instead."
            )
        else:
            params = list(params)
        for param in params:
            if not isinstance(param, Tensor):
                raise TypeError(
                    f"{self._name()}: optimizer can only optimize Tensors, but one of the params is "
                    f"{type(param).__name__}"
                )
            if not param.is_leaf:
                raise ValueError(f"{self._name()}: can't optimize a non-leaf Tensor (shape {param.shape})")
        param_group["params"] = params

        for name, default in self.defaults.items():
            if default is required and name not in param_group:
                raise ValueError(
                    f"{self._name()}: parameter group didn't specify a value of required optimization "
                    f"parameter {name}"
                )
            param_group.setdefault(name, default)
        self._check_options(param_group)

        ids = [id(param) for param in params]
        if len(set(ids)) != len(ids):
            warnings.warn(
                f"{self._name()}: a parameter group contains duplicate parameters; each would be updated "
                "more than once per step",
                UserWarning,
                stacklevel=3,
            )
        existing = {id(param) for group in self.param_groups for param in group["params"]}
        if not existing.isdisjoint(ids):
            raise ValueError(f"{self._name()}: some parameters appear in more than one parameter group")
        self.param_groups.append(param_group)

    # ----------------------------------------------------------------------------------------- step
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients of all parameters: to None (default), or to zeros in place."""
        for group in self.param_groups:
            for param in group["params"]:
                grad = param.grad
                if grad is None:
                    continue
                if set_to_none:
                    param.grad = None
                else:
                    # a gradient recorded with create_graph=True is cut from its graph before zeroing
                    grad.detach_()
                    grad.array.fill(0)

    def step(self, closure: Callable[[], Any] | None = None):
        """Update every parameter that has a gradient; returns the closure's loss (or None)."""
        raise NotImplementedError(f"{self._name()} does not implement step()")

    @staticmethod
    def _evaluate_closure(closure: Callable[[], Any] | None):
        if closure is None:
            return None
        with enable_grad():
            return closure()

    def _params_with_grad(self, group: dict[str, Any]) -> Iterator[tuple[Tensor, Any]]:
        """Yield ``(param, grad_array)`` for the group's parameters whose gradient is set."""
        for param in group["params"]:
            if param.grad is None:
                continue
            grad = param.grad.array
            if grad.shape != param.array.shape:
                raise RuntimeError(
                    f"{self._name()}.step: a gradient of shape {grad.shape} was found for a parameter of "
                    f"shape {param.array.shape}"
                )
            yield param, grad

    # ----------------------------------------------------------------------------------- state dict
    def state_dict(self) -> dict[str, Any]:
        """The optimizer's state in PyTorch's format, with parameters replaced by their indices.

        Returns ``{"state": {index: {name: value}}, "param_groups": [{option: value, "params": [index]}]}``;
        parameters are numbered in group order. State arrays are copies.
        """
        index_of: dict[int, int] = {}
        param_groups = []
        for group in self.param_groups:
            packed = {key: value for key, value in group.items() if key != "params"}
            for param in group["params"]:
                index_of.setdefault(id(param), len(index_of))
            packed["params"] = [index_of[id(param)] for param in group["params"]]
            param_groups.append(packed)
        state = {
            index_of[id(param)]: {key: _copy_value(value) for key, value in param_state.items()}
            for param, param_state in self.state.items()
            if id(param) in index_of
        }
        return {"state": state, "param_groups": param_groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the state and options saved by ``state_dict()`` onto this optimizer's parameters.

        Groups are matched by position and must hold the same number of parameters. State arrays are copied
        and cast to their parameter's dtype and device.
        """
        if not isinstance(state_dict, dict) or "state" not in state_dict or "param_groups" not in state_dict:
            received = sorted(state_dict) if isinstance(state_dict, dict) else type(state_dict).__name__
            raise ValueError(
                f"{self._name()}.load_state_dict: expected a dict with 'state' and 'param_groups', "
                f"received {received}"
            )
        groups = self.param_groups
        saved_groups = state_dict["param_groups"]
        if len(groups) != len(saved_groups):
            raise ValueError(
                f"{self._name()}.load_state_dict: loaded state dict has a different number of parameter groups "
                f"({len(saved_groups)}) than the optimizer ({len(groups)})"
            )
        for position, (group, saved) in enumerate(zip(groups, saved_groups)):
            if len(group["params"]) != len(saved["params"]):
                raise ValueError(
                    f"{self._name()}.load_state_dict: loaded state dict contains a parameter group that doesn't "
                    f"match the size of optimizer's group: group {position} has {len(saved['params'])} "
                    f"parameters in the state dict and {len(group['params'])} in the optimizer"
                )
        param_of = dict(zip(
            chain.from_iterable(saved["params"] for saved in saved_groups),
            chain.from_iterable(group["params"] for group in groups),
        ))
        state: defaultdict[Tensor, dict[str, Any]] = defaultdict(dict)
        for index, param_state in state_dict["state"].items():
            if index not in param_of:
                raise ValueError(
                    f"{self._name()}.load_state_dict: state entry {index!r} refers to no parameter of the "
                    f"saved groups (indices {sorted(param_of)})"
                )
            param = param_of[index]
            state[param] = {key: _cast_like(value, param.array) for key, value in param_state.items()}
        new_groups = []
        for group, saved in zip(groups, saved_groups):
            new_group = {key: value for key, value in saved.items() if key != "params"}
            new_group["params"] = group["params"]
            new_groups.append(new_group)
        self.state = state
        self.param_groups = new_groups

    def __repr__(self) -> str:
        lines = [f"{self._name()} ("]
        for index, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {index}")
            for key in sorted(group):
                if key != "params":
                    lines.append(f"    {key}: {group[key]}")
        lines.append(")")
        return "\n".join(lines)


# -------------------------------------------------------------------------------------------- helpers
def check_non_negative(optimizer: str, label: str, value: Any) -> None:
    """Raise ValueError (PyTorch's wording) unless ``value`` is a real number >= 0."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{optimizer}: {label} must be a real number, received {type(value).__name__} {value!r}")
    if not value >= 0.0:
        raise ValueError(f"{optimizer}: Invalid {label}: {value}")


def adjusted_gradient(param, grad, weight_decay: float, maximize: bool):
    """The gradient with sign flipped for ``maximize`` and ``weight_decay * param`` added, as a new array.

    Returns ``grad`` itself when neither applies: callers must treat it as read-only.
    """
    if weight_decay == 0 and not maximize:
        return grad
    xp = get_array_module(param)
    if weight_decay == 0:
        return xp.negative(grad)
    adjusted = xp.multiply(param, weight_decay)
    if maximize:
        adjusted -= grad
    else:
        adjusted += grad
    return adjusted


def _is_array(value) -> bool:
    cupy = cupy_if_loaded()
    return isinstance(value, np.ndarray) or (cupy is not None and isinstance(value, cupy.ndarray))


def _copy_value(value):
    if _is_array(value):
        return value.copy()
    if isinstance(value, Tensor):
        return value.array.copy()
    return value


def _cast_like(value, param_array):
    """A copy of a saved state value on the parameter's device; floating arrays take its dtype."""
    if isinstance(value, Tensor):
        value = value.array
    if not _is_array(value):
        return value
    xp = get_array_module(param_array)
    if xp is np and not isinstance(value, np.ndarray):
        value = value.get()  # a CuPy array saved from a GPU run, loaded onto a CPU parameter
    dtype = param_array.dtype if value.dtype.kind == "f" else value.dtype
    return xp.array(value, dtype=dtype, copy=True)
