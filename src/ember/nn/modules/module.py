"""``Module``: the base class of every layer and model, with PyTorch's registration, traversal and state rules.

A module owns three kinds of state, registered by ``__setattr__``: parameters (``Parameter``), buffers
(tensors that are saved but not trained, e.g. BatchNorm's running statistics) and submodules. Everything else
(``state_dict``, ``to``, ``train``/``eval``, ``parameters()``) walks those three registries.
"""
from __future__ import annotations

import itertools
from collections import OrderedDict, namedtuple
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np

from ...autograd.tensor import Tensor, parse_to_arguments
from ...backend import dtypes
from ...backend.device import Device, cupy_if_loaded, get_array_module
from ..parameter import Parameter

_IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])

_hook_ids = itertools.count()


class RemovableHandle:
    """Returned by ``register_forward_hook`` and friends: ``handle.remove()`` unregisters the hook.

    Also a context manager: the hook is removed when the ``with`` block ends.
    """

    def __init__(self, hooks: OrderedDict):
        self.hooks = hooks
        self.id = next(_hook_ids)

    def remove(self) -> None:
        self.hooks.pop(self.id, None)

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc_info) -> None:
        self.remove()


def _add_indent(text: str, spaces: int) -> str:
    """Indent every line but the first (PyTorch's ``_addindent``), for nested reprs."""
    lines = text.split("\n")
    if len(lines) == 1:
        return text
    first = lines.pop(0)
    return first + "\n" + "\n".join(" " * spaces + line for line in lines)


def _check_member_name(kind: str, name) -> None:
    if not isinstance(name, str):
        raise TypeError(f"{kind} name should be a string, received {type(name).__name__}")
    if "." in name:
        raise KeyError(f'{kind} name can\'t contain ".", received {name!r}')
    if name == "":
        raise KeyError(f'{kind} name can\'t be empty string ""')


def _converted_array(array, device: Device | None, dtype):
    """``array`` moved to ``device`` and cast to ``dtype`` (either may be None: unchanged)."""
    converted = Tensor(array).to(device=device, dtype=dtype)
    return converted.array


def _array_for(source, target):
    """``source`` (Tensor, array or number) as an array on ``target``'s device with ``target``'s dtype."""
    if isinstance(source, Tensor):
        source = source.array
    xp = get_array_module(target)
    cupy = cupy_if_loaded()
    if xp is np and cupy is not None and isinstance(source, cupy.ndarray):
        source = source.get()  # device to host copy
    return xp.asarray(source, dtype=target.dtype)


def _quoted(keys: list) -> str:
    return ", ".join(f'"{key}"' for key in keys)


class Module:
    """Base class for all neural-network modules; subclass it and define ``forward``.

    Assigning a ``Parameter``, a ``Module`` or (after ``register_buffer``) a tensor as an attribute
    registers it, so that ``parameters()``, ``state_dict()``, ``to()`` and ``train()``/``eval()`` reach it.

    Example::

        class MLP(nn.Module):
            def __init__(self):
                super().__init__()
                self.hidden = nn.Linear(784, 128)
                self.out = nn.Linear(128, 10)

            def forward(self, x):
                return self.out(F.relu(self.hidden(x)))
    """

    training: bool

    def __init__(self) -> None:
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent_buffers_set", set())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_forward_pre_hooks", OrderedDict())
        object.__setattr__(self, "_forward_hooks", OrderedDict())

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f'Module [{type(self).__name__}] is missing the required "forward" function')

    # ------------------------------------------------------------------------------------ registration
    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Register ``param`` (a Parameter, or None for an absent optional weight) under ``name``."""
        if "_parameters" not in self.__dict__:
            raise AttributeError("cannot assign parameter before Module.__init__() call")
        _check_member_name("parameter", name)
        if hasattr(self, name) and name not in self._parameters:
            raise KeyError(f"{type(self).__name__}: attribute '{name}' already exists")
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(
                f"{type(self).__name__}: cannot assign '{type(param).__name__}' object to parameter '{name}' "
                "(ember.nn.Parameter or None required)"
            )
        if param is not None and param.creator is not None:
            raise ValueError(
                f"{type(self).__name__}: cannot assign non-leaf tensor as parameter '{name}'; parameters must be "
                "created explicitly, e.g. Parameter(tensor.detach())"
            )
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """Register a tensor that is part of the module's state but not trained (e.g. running statistics).

        Persistent buffers appear in ``state_dict()``; non-persistent ones only move with ``to()``.
        """
        if "_buffers" not in self.__dict__:
            raise AttributeError("cannot assign buffer before Module.__init__() call")
        _check_member_name("buffer", name)
        if hasattr(self, name) and name not in self._buffers:
            raise KeyError(f"{type(self).__name__}: attribute '{name}' already exists")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(
                f"{type(self).__name__}: cannot assign '{type(tensor).__name__}' object to buffer '{name}' "
                "(ember.Tensor or None required)"
            )
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers_set.discard(name)
        else:
            self._non_persistent_buffers_set.add(name)

    def add_module(self, name: str, module: Module | None) -> None:
        """Register ``module`` as a child under ``name`` (reachable as an attribute)."""
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        if "_modules" not in self.__dict__:
            raise AttributeError("cannot assign module before Module.__init__() call")
        _check_member_name("module", name)
        if hasattr(self, name) and name not in self._modules:
            raise KeyError(f"{type(self).__name__}: attribute '{name}' already exists")
        self._modules[name] = module

    register_module = add_module

    def __setattr__(self, name: str, value: Any) -> None:
        params = self.__dict__.get("_parameters")
        if isinstance(value, Parameter):
            if params is None:
                raise AttributeError("cannot assign parameters before Module.__init__() call")
            self.__dict__.pop(name, None)
            self._buffers.pop(name, None)
            self._modules.pop(name, None)
            self._non_persistent_buffers_set.discard(name)
            self.register_parameter(name, value)
        elif params is not None and name in params:
            if value is not None:
                raise TypeError(
                    f"{type(self).__name__}: cannot assign '{type(value).__name__}' as parameter '{name}' "
                    "(ember.nn.Parameter or None expected)"
                )
            self.register_parameter(name, None)
        else:
            modules = self.__dict__.get("_modules")
            if isinstance(value, Module):
                if modules is None:
                    raise AttributeError("cannot assign module before Module.__init__() call")
                self.__dict__.pop(name, None)
                self._parameters.pop(name, None)
                self._buffers.pop(name, None)
                self._non_persistent_buffers_set.discard(name)
                modules[name] = value
            elif modules is not None and name in modules:
                if value is not None:
                    raise TypeError(
                        f"{type(self).__name__}: cannot assign '{type(value).__name__}' as child module '{name}' "
                        "(ember.nn.Module or None expected)"
                    )
                modules[name] = None
            else:
                buffers = self.__dict__.get("_buffers")
                if buffers is not None and name in buffers:
                    if value is not None and not isinstance(value, Tensor):
                        raise TypeError(
                            f"{type(self).__name__}: cannot assign '{type(value).__name__}' as buffer '{name}' "
                            "(ember.Tensor or None expected)"
                        )
                    buffers[name] = value
                else:
                    object.__setattr__(self, name, value)

    def __getattr__(self, name: str) -> Any:
        # only called when normal lookup fails; read __dict__ directly so unpickling cannot recurse
        for registry in ("_parameters", "_buffers", "_modules"):
            members = self.__dict__.get(registry)
            if members is not None and name in members:
                return members[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        if name in self._parameters:
            del self._parameters[name]
        elif name in self._buffers:
            del self._buffers[name]
            self._non_persistent_buffers_set.discard(name)
        elif name in self._modules:
            del self._modules[name]
        else:
            object.__delattr__(self, name)

    def __dir__(self):
        names = list(dir(type(self))) + list(self.__dict__) + list(self._parameters) + list(self._modules)
        names += list(self._buffers)
        return sorted(name for name in set(names) if not name[0].isdigit())

    # --------------------------------------------------------------------------------------- traversal
    def named_modules(self, memo: set | None = None, prefix: str = "", remove_duplicate: bool = True):
        """Yield ``(dotted_name, module)`` for this module and every descendant, depth first, each once."""
        if memo is None:
            memo = set()
        if id(self) in memo:
            return
        if remove_duplicate:
            memo.add(id(self))
        yield prefix, self
        for name, module in self._modules.items():
            if module is None:
                continue
            yield from module.named_modules(memo, prefix + ("." if prefix else "") + name, remove_duplicate)

    def modules(self) -> Iterator[Module]:
        for _, module in self.named_modules():
            yield module

    def named_children(self) -> Iterator[tuple[str, Module]]:
        seen = set()
        for name, module in self._modules.items():
            if module is not None and id(module) not in seen:
                seen.add(id(module))
                yield name, module

    def children(self) -> Iterator[Module]:
        for _, module in self.named_children():
            yield module

    def _named_members(self, registry: str, prefix: str, recurse: bool, remove_duplicate: bool):
        seen = set()
        modules = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse else [(prefix, self)]
        for module_prefix, module in modules:
            for name, member in getattr(module, registry).items():
                if member is None or id(member) in seen:
                    continue
                if remove_duplicate:
                    seen.add(id(member))
                yield module_prefix + ("." if module_prefix else "") + name, member

    def named_parameters(self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True):
        """Yield ``(dotted_name, parameter)``, a shared parameter once, in registration order."""
        yield from self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, parameter in self.named_parameters(recurse=recurse):
            yield parameter

    def named_buffers(self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True):
        yield from self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, buffer in self.named_buffers(recurse=recurse):
            yield buffer

    def get_submodule(self, target: str) -> Module:
        """The descendant at dotted path ``target`` (``""`` is this module)."""
        module = self
        for part in target.split(".") if target else []:
            child = module._modules.get(part)
            if child is None:
                raise AttributeError(f"{module._get_name()} has no submodule '{part}' (looking up '{target}')")
            module = child
        return module

    def apply(self, fn: Callable[[Module], None]) -> Module:
        """Call ``fn`` on every submodule (children first), then on this module; returns self."""
        for module in self.children():
            module.apply(fn)
        fn(self)
        return self

    # ----------------------------------------------------------------------------------------- modes
    def train(self, mode: bool = True) -> Module:
        """Set training mode (``mode=True``) or evaluation mode on this module and all descendants."""
        if not isinstance(mode, bool):
            raise ValueError(f"train(): training mode is expected to be boolean, received {mode!r}")
        self.training = mode
        for module in self.children():
            module.train(mode)
        return self

    def eval(self) -> Module:
        """Evaluation mode: Dropout passes inputs through, BatchNorm uses its running statistics."""
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        for parameter in self.parameters():
            parameter.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients of all parameters: to None (default), or to zeros in place."""
        for parameter in self.parameters():
            if parameter.grad is None:
                continue
            if set_to_none:
                parameter.grad = None
            else:
                if parameter.grad.creator is not None:
                    parameter.grad = parameter.grad.detach()
                parameter.grad.requires_grad = False
                parameter.grad.array[...] = 0

    # ---------------------------------------------------------------------------------- device, dtype
    def _apply_to_arrays(self, convert: Callable, floating_only: bool) -> Module:
        """Replace the arrays of every parameter, gradient and buffer, keeping the Tensor objects."""
        seen = set()  # a parameter shared by two modules is converted once
        for module in self.modules():
            for member in itertools.chain(module._parameters.values(), module._buffers.values()):
                if member is None or id(member) in seen or (floating_only and member.dtype.kind not in "fc"):
                    continue
                seen.add(id(member))
                member.array = convert(member.array)
                if member.grad is not None:
                    member.grad.array = convert(member.grad.array)
        return self

    def to(self, *args, **kwargs) -> Module:
        """Move and/or cast parameters and buffers in place: ``to(device)``, ``to(dtype)``,
        ``to(device, dtype)`` or ``to(tensor)``. Only floating tensors change dtype; returns self."""
        device, dtype = parse_to_arguments("Module.to()", args, kwargs)
        if dtype is not None and dtype.kind not in "fc":
            raise TypeError(f"Module.to() only accepts floating point dtypes, but got desired dtype={dtype}")
        if device is not None:
            self._apply_to_arrays(lambda array: _converted_array(array, device, None), floating_only=False)
        if dtype is not None:
            self._apply_to_arrays(lambda array: _converted_array(array, None, dtype), floating_only=True)
        return self

    def cpu(self) -> Module:
        return self.to("cpu")

    def cuda(self, device: int | str | None = None) -> Module:
        if device is None:
            device = "cuda"
        elif isinstance(device, int):
            device = f"cuda:{device}"
        return self.to(device)

    def float(self) -> Module:
        return self.to(dtypes.float32)

    def double(self) -> Module:
        return self.to(dtypes.float64)

    def half(self) -> Module:
        return self.to(dtypes.float16)

    # ---------------------------------------------------------------------------------------- state
    def _save_to_state_dict(self, destination: OrderedDict, prefix: str, keep_vars: bool) -> None:
        for name, parameter in self._parameters.items():
            if parameter is not None:
                destination[prefix + name] = parameter if keep_vars else parameter.detach()
        for name, buffer in self._buffers.items():
            if buffer is not None and name not in self._non_persistent_buffers_set:
                destination[prefix + name] = buffer if keep_vars else buffer.detach()

    def state_dict(self, *, destination: OrderedDict | None = None, prefix: str = "",
                   keep_vars: bool = False) -> OrderedDict:
        """An OrderedDict of dotted name -> tensor: parameters and persistent buffers, detached (sharing
        memory with the module unless copied)."""
        if destination is None:
            destination = OrderedDict()
        self._save_to_state_dict(destination, prefix, keep_vars)
        for name, module in self._modules.items():
            if module is not None:
                module.state_dict(destination=destination, prefix=prefix + name + ".", keep_vars=keep_vars)
        return destination

    def _load_from_state_dict(self, state_dict: Mapping, prefix: str, missing_keys: list, unexpected_keys: list,
                              error_msgs: list) -> None:
        local_state = {name: p for name, p in self._parameters.items() if p is not None}
        local_state.update(
            (name, b) for name, b in self._buffers.items()
            if b is not None and name not in self._non_persistent_buffers_set
        )
        for name, target in local_state.items():
            key = prefix + name
            if key not in state_dict:
                missing_keys.append(key)
                continue
            value = state_dict[key]
            shape = tuple(value.shape) if hasattr(value, "shape") else np.shape(value)
            if shape != target.shape:
                error_msgs.append(
                    f"size mismatch for {key}: copying a param with shape {shape} from checkpoint, "
                    f"the shape in current model is {target.shape}."
                )
                continue
            target.array[...] = _array_for(value, target.array)
        for key in state_dict:
            if not key.startswith(prefix):
                continue
            parts = key[len(prefix):].split(".", 1)
            if len(parts) > 1:
                if parts[0] not in self._modules:
                    unexpected_keys.append(key)
            elif parts[0] not in local_state:
                unexpected_keys.append(key)

    def load_state_dict(self, state_dict: Mapping, strict: bool = True):
        """Copy values from ``state_dict`` into this module's parameters and buffers (same objects).

        Returns ``(missing_keys, unexpected_keys)``. With ``strict=True`` either list being non-empty raises
        RuntimeError; a shape mismatch always raises, naming the key and both shapes.
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"Expected state_dict to be dict-like, got {type(state_dict).__name__}.")
        missing_keys: list = []
        unexpected_keys: list = []
        error_msgs: list = []

        def load(module: Module, prefix: str) -> None:
            local = {key: value for key, value in state_dict.items() if key.startswith(prefix)}
            module._load_from_state_dict(local, prefix, missing_keys, unexpected_keys, error_msgs)
            for name, child in module._modules.items():
                if child is not None:
                    load(child, prefix + name + ".")

        load(self, "")
        if strict:
            if unexpected_keys:
                error_msgs.insert(0, f"Unexpected key(s) in state_dict: {_quoted(unexpected_keys)}. ")
            if missing_keys:
                error_msgs.insert(0, f"Missing key(s) in state_dict: {_quoted(missing_keys)}. ")
        if error_msgs:
            raise RuntimeError(f"Error(s) in loading state_dict for {self._get_name()}:\n\t" + "\n\t".join(error_msgs))
        return _IncompatibleKeys(missing_keys, unexpected_keys)

    # ------------------------------------------------------------------------------------------ hooks
    @staticmethod
    def _add_hook(hooks: OrderedDict, hook: Callable, prepend: bool, with_kwargs: bool) -> RemovableHandle:
        handle = RemovableHandle(hooks)
        hooks[handle.id] = (hook, with_kwargs)
        if prepend:
            hooks.move_to_end(handle.id, last=False)
        return handle

    def register_forward_pre_hook(self, hook: Callable, *, prepend: bool = False,
                                  with_kwargs: bool = False) -> RemovableHandle:
        """Call ``hook(module, args)`` before each ``forward``; a non-None result replaces the positional
        arguments (a single value is wrapped in a tuple). With ``with_kwargs=True``:
        ``hook(module, args, kwargs)`` returning None or ``(args, kwargs)``."""
        return self._add_hook(self._forward_pre_hooks, hook, prepend, with_kwargs)

    def register_forward_hook(self, hook: Callable, *, prepend: bool = False,
                              with_kwargs: bool = False) -> RemovableHandle:
        """Call ``hook(module, args, output)`` after each ``forward``; a non-None result replaces the output.
        With ``with_kwargs=True``: ``hook(module, args, kwargs, output)``."""
        return self._add_hook(self._forward_hooks, hook, prepend, with_kwargs)

    def __call__(self, *args, **kwargs):
        if not self._forward_pre_hooks and not self._forward_hooks:
            return self.forward(*args, **kwargs)
        for hook, with_kwargs in list(self._forward_pre_hooks.values()):
            if with_kwargs:
                result = hook(self, args, kwargs)
                if result is not None:
                    if not (isinstance(result, tuple) and len(result) == 2):
                        raise RuntimeError(
                            f"forward pre-hook of {self._get_name()} must return None or a tuple (args, kwargs), "
                            f"received {type(result).__name__}"
                        )
                    args, kwargs = result
            else:
                result = hook(self, args)
                if result is not None:
                    args = result if isinstance(result, tuple) else (result,)
        output = self.forward(*args, **kwargs)
        for hook, with_kwargs in list(self._forward_hooks.values()):
            result = hook(self, args, kwargs, output) if with_kwargs else hook(self, args, output)
            if result is not None:
                output = result
        return output

    # ------------------------------------------------------------------------------------------- repr
    def _get_name(self) -> str:
        return type(self).__name__

    def extra_repr(self) -> str:
        """The text inside this module's parentheses in ``repr`` (override to show hyper-parameters)."""
        return ""

    def __repr__(self) -> str:
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = [f"({name}): " + _add_indent(repr(module), 2) for name, module in self._modules.items()]
        lines = extra_lines + child_lines
        text = self._get_name() + "("
        if lines:
            if len(extra_lines) == 1 and not child_lines:
                text += extra_lines[0]
            else:
                text += "\n  " + "\n  ".join(lines) + "\n"
        return text + ")"


__all__ = ["Module", "RemovableHandle"]
