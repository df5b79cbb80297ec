"""Containers: ``Sequential``, ``ModuleList``, ``ModuleDict`` and ``ParameterList``."""
from __future__ import annotations

import operator
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping

from ...autograd.tensor import Tensor
from ..parameter import Parameter
from .module import Module, _add_indent


def _normalized_index(container: str, index, length: int) -> int:
    index = operator.index(index)
    if not -length <= index < length:
        raise IndexError(f"{container}: index {index} is out of range for a container of length {length}")
    return index % length


class Sequential(Module):
    """Run modules one after another, each taking the previous one's output.

    Build it from modules (named ``"0"``, ``"1"``, ...) or from an ``OrderedDict`` of name -> module.
    Indexing with an int returns a module; with a slice, a new ``Sequential`` sharing the modules.

    Example::

        model = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
        model = nn.Sequential(OrderedDict([("flatten", nn.Flatten()), ("fc", nn.Linear(784, 10))]))
    """

    def __init__(self, *args: Module):
        super().__init__()
        if len(args) == 1 and isinstance(args[0], OrderedDict):
            for name, module in args[0].items():
                self.add_module(name, module)
        else:
            for index, module in enumerate(args):
                self.add_module(str(index), module)

    def __getitem__(self, index) -> Module | Sequential:
        if isinstance(index, slice):
            return type(self)(OrderedDict(list(self._modules.items())[index]))
        keys = list(self._modules)
        return self._modules[keys[_normalized_index("Sequential", index, len(keys))]]

    def __setitem__(self, index, module: Module) -> None:
        keys = list(self._modules)
        self.add_module(keys[_normalized_index("Sequential", index, len(keys))], module)

    def __delitem__(self, index) -> None:
        keys = list(self._modules)
        if isinstance(index, slice):
            for key in keys[index]:
                del self._modules[key]
        else:
            del self._modules[keys[_normalized_index("Sequential", index, len(keys))]]
        # renumbered like PyTorch, so that positional names stay 0..n-1
        self.__dict__["_modules"] = OrderedDict((str(i), m) for i, m in enumerate(self._modules.values()))

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __add__(self, other: Sequential) -> Sequential:
        if not isinstance(other, Sequential):
            raise TypeError(f"Sequential + expects another Sequential, received {type(other).__name__}")
        return Sequential(*self, *other)

    def append(self, module: Module) -> Sequential:
        """Add ``module`` at the end; returns self."""
        self.add_module(str(len(self)), module)
        return self

    def insert(self, index: int, module: Module) -> Sequential:
        """Insert ``module`` before position ``index`` (positions renumbered); returns self."""
        if not isinstance(module, Module):
            raise TypeError(f"Sequential.insert: expected a Module, received {type(module).__name__}")
        length = len(self)
        if not -length <= index <= length:
            raise IndexError(f"Sequential.insert: index {index} is out of range for length {length}")
        if index < 0:
            index += length
        modules = list(self._modules.values())
        modules.insert(index, module)
        self.__dict__["_modules"] = OrderedDict((str(i), m) for i, m in enumerate(modules))
        return self

    def extend(self, modules: Iterable[Module]) -> Sequential:
        for module in modules:
            self.append(module)
        return self

    def pop(self, index: int = -1) -> Module:
        module = self[index]
        del self[index]
        return module

    def forward(self, input):
        for module in self._modules.values():
            input = module(input)
        return input


class ModuleList(Module):
    """Hold submodules in a list (registered, so their parameters are found); has no ``forward``.

    Example::

        self.blocks = nn.ModuleList([nn.Linear(64, 64) for _ in range(4)])
    """

    def __init__(self, modules: Iterable[Module] | None = None):
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def __getitem__(self, index) -> Module | ModuleList:
        if isinstance(index, slice):
            return type(self)(list(self._modules.values())[index])
        return self._modules[str(_normalized_index("ModuleList", index, len(self)))]

    def __setitem__(self, index: int, module: Module) -> None:
        self.add_module(str(_normalized_index("ModuleList", index, len(self))), module)

    def __delitem__(self, index) -> None:
        modules = list(self._modules.values())
        if isinstance(index, slice):
            del modules[index]
        else:
            del modules[_normalized_index("ModuleList", index, len(self))]
        self.__dict__["_modules"] = OrderedDict((str(i), m) for i, m in enumerate(modules))

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __iadd__(self, modules: Iterable[Module]) -> ModuleList:
        return self.extend(modules)

    def __add__(self, other: Iterable[Module]) -> ModuleList:
        return ModuleList(list(self) + list(other))

    def append(self, module: Module) -> ModuleList:
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules: Iterable[Module]) -> ModuleList:
        if isinstance(modules, (Module, Tensor)) or not hasattr(modules, "__iter__"):
            raise TypeError(f"ModuleList.extend should be called with an iterable, received {type(modules).__name__}")
        for module in modules:
            self.append(module)
        return self

    def insert(self, index: int, module: Module) -> None:
        modules = list(self._modules.values())
        modules.insert(index, module)
        self.__dict__["_modules"] = OrderedDict()
        self.extend(modules)

    def pop(self, index: int = -1) -> Module:
        module = self[index]
        del self[index]
        return module

    def __repr__(self) -> str:
        """Like PyTorch: runs of identical children are shown once, as ``(0-2): 3 x Linear(...)``."""
        reprs = [repr(module) for module in self]
        if not reprs:
            return self._get_name() + "()"
        runs = [[0, 0, reprs[0]]]
        for index, text in enumerate(reprs[1:], 1):
            if text == runs[-1][2]:
                runs[-1][1] = index
            else:
                runs.append([index, index, text])
        lines = []
        for start, end, text in runs:
            line = f"({start}): {text}" if start == end else f"({start}-{end}): {end - start + 1} x {text}"
            lines.append(_add_indent(line, 2))
        return self._get_name() + "(\n  " + "\n  ".join(lines) + "\n)"


class ModuleDict(Module):
    """Hold submodules in an ordered dict (registered); has no ``forward``.

    Example::

        self.heads = nn.ModuleDict({"digit": nn.Linear(64, 10), "parity": nn.Linear(64, 2)})
    """

    def __init__(self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]] | None = None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key: str) -> Module:
        if key not in self._modules:
            raise KeyError(f"ModuleDict: no module named {key!r}; keys are {list(self._modules)}")
        return self._modules[key]

    def __setitem__(self, key: str, module: Module) -> None:
        self.add_module(key, module)

    def __delitem__(self, key: str) -> None:
        del self._modules[key]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[str]:
        return iter(self._modules)

    def __contains__(self, key: str) -> bool:
        return key in self._modules

    def clear(self) -> None:
        self._modules.clear()

    def pop(self, key: str) -> Module:
        module = self[key]
        del self[key]
        return module

    def keys(self):
        return self._modules.keys()

    def items(self):
        return self._modules.items()

    def values(self):
        return self._modules.values()

    def update(self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]]) -> None:
        items = modules.items() if isinstance(modules, (Mapping, ModuleDict)) else modules
        for entry in items:
            if not isinstance(entry, (tuple, list)) or len(entry) != 2:
                raise ValueError(f"ModuleDict.update: expected (name, module) pairs, received {entry!r}")
            self[entry[0]] = entry[1]


class ParameterList(Module):
    """Hold parameters in a list (registered as ``"0"``, ``"1"``, ...); tensors are wrapped as Parameters."""

    def __init__(self, values: Iterable[Tensor] | None = None):
        super().__init__()
        if values is not None:
            self.extend(values)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return type(self)(list(self._parameters.values())[index])
        return self._parameters[str(_normalized_index("ParameterList", index, len(self)))]

    def __setitem__(self, index: int, value: Tensor) -> None:
        name = str(_normalized_index("ParameterList", index, len(self)))
        if not isinstance(value, Parameter):
            value = Parameter(value)
        self.register_parameter(name, value)

    def __len__(self) -> int:
        return len(self._parameters)

    def __iter__(self) -> Iterator[Parameter]:
        return iter(self._parameters.values())

    def __iadd__(self, values: Iterable[Tensor]) -> ParameterList:
        return self.extend(values)

    def append(self, value: Tensor) -> ParameterList:
        if not isinstance(value, Parameter):
            value = Parameter(value)
        self.register_parameter(str(len(self)), value)
        return self

    def extend(self, values: Iterable[Tensor]) -> ParameterList:
        if isinstance(values, Tensor) or not hasattr(values, "__iter__"):
            raise TypeError(f"ParameterList.extend should be called with an iterable, received {type(values).__name__}")
        for value in values:
            self.append(value)
        return self

    def extra_repr(self) -> str:
        lines = []
        for index, parameter in enumerate(self):
            size = "x".join(str(s) for s in parameter.shape)
            device = f" ({parameter.device})" if parameter.device.type == "cuda" else ""
            lines.append(f"  ({index}): Parameter containing: [ember.{parameter.dtype} of size {size}{device}]")
        return "\n".join(lines)


__all__ = ["Sequential", "ModuleList", "ModuleDict", "ParameterList"]
