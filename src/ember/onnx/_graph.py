"""The ONNX graph being built: node and initializer lists, unique names, and the helpers converters use."""
from __future__ import annotations

from typing import Any

import numpy as np

from ._trace import TracedNode, TracedValue


class UnsupportedOpError(NotImplementedError):
    """An op met while tracing has no ONNX converter, or a form of it that ONNX cannot express."""


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    return bool(np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))


class GraphBuilder:
    """Holds what the converters emit; ``onnx`` is the imported module (imported only when exporting)."""

    def __init__(self, onnx, opset: int):
        self.onnx = onnx
        self.opset = opset
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self.initializer_values: dict[str, np.ndarray] = {}
        self._names: dict[int, str] = {}  # id(TracedValue) -> ONNX name
        self._used: set[str] = set()
        self._constants: dict[tuple, str] = {}
        self.node: TracedNode | None = None  # the node being converted, for names and errors
        # outputs a converter could not produce, by id(TracedValue): why, for the error if one is used
        self.unavailable: dict[int, str] = {}
        # LSTM cell-state sequences: id(TracedValue) -> (index of the last step, steps, name of that step)
        self.final_states: dict[int, tuple[int, int, str]] = {}
        self.alternates: dict[int, TracedValue] = {}  # inputs of the node being converted -> the other trace's
        # Resize outputs, by id(TracedValue): (the resized source's name, {axis: ("size", n) or ("scale", f)},
        # Resize's attributes, the (Resample, input size, dtype) of each axis), so that resampling the next axis
        # the same way extends that Resize instead of adding another
        self.resized: dict[int, tuple[str, dict[int, tuple], dict, list]] = {}

    # ---------------------------------------------------------------------------------------- names
    def unique(self, hint: str) -> str:
        name, count = hint, 1
        while name in self._used:
            name, count = f"{hint}_{count}", count + 1
        self._used.add(name)
        return name

    def reserve(self, names) -> None:
        """Keep ``names`` (the graph's inputs and outputs) from being given to anything else."""
        self._used.update(names)

    def bind(self, value: TracedValue, name: str) -> None:
        self._names[id(value)] = name

    def name_of(self, value: TracedValue) -> str:
        """The ONNX name of a traced value; a constant becomes an initializer the first time it is used."""
        name = self._names.get(id(value))
        if name is not None:
            return name
        if id(value) in self.unavailable:
            raise UnsupportedOpError(self.unavailable[id(value)])
        if value.dynamic:  # pragma: no cover - values are converted in trace order
            raise RuntimeError("ember.onnx: a value was used before the node producing it was converted")
        other = self.alternates.get(id(value))
        if other is not None and not _same(value.array, other.array):
            raise self.unsupported(
                f"a constant of shape {value.array.shape} changes with the inputs (shape {other.array.shape} in a "
                "trace with other input values and dynamic sizes): it was computed from them outside the ops Ember "
                "records (a comparison, argmax, a NumPy call, .item(), a size read from a shape)")
        hint = value.name or self._constant_hint(value)
        name = self.initializer(value.array, hint)
        self._names[id(value)] = name
        return name

    def _constant_hint(self, value: TracedValue) -> str:
        where = self.node.module_path if self.node is not None else "model"
        where = "" if where.startswith("<") else where + "."
        return f"{where}constant"

    # ------------------------------------------------------------------------------------ emitting
    def initializer(self, array, hint: str) -> str:
        array = np.asarray(array)
        name = self.unique(hint)
        self.initializer_values[name] = array
        self.initializers.append(self.onnx.numpy_helper.from_array(array.copy(order="C"), name))
        return name

    def constant(self, array, dtype=None) -> str:
        """A small constant (shapes, axes, scalars), shared between the nodes that use the same one."""
        array = np.asarray(array, dtype=dtype)
        key = (array.dtype.str, array.shape, array.tobytes())
        name = self._constants.get(key)
        if name is None:
            name = self.initializer(array, "const")
            self._constants[key] = name
        return name

    def ints(self, values) -> str:
        """A 1-d int64 constant (axes, shapes, starts/ends)."""
        return self.constant(np.asarray(list(values), dtype=np.int64))

    def add(self, op_type: str, inputs: list, outputs: int | list[str] = 1, **attributes) -> Any:
        """Emit one node; returns its output name (or the list of them when ``outputs`` is not 1).

        ``inputs`` holds ONNX names, or "" for an omitted optional input."""
        base = self.node.module_path if self.node is not None else "model"
        base = (type(self.node.op).__name__ if base.startswith("<") else base) if self.node is not None else base
        if isinstance(outputs, int):
            names = [self.unique(f"{base}/{op_type}" + ("" if count == 0 else f":{count}"))
                     for count in range(outputs)]
        else:
            names = outputs
        attributes = {key: value for key, value in attributes.items() if value is not None}
        self.nodes.append(self.onnx.helper.make_node(op_type, inputs, names, name=self.unique(f"{base}/{op_type}#"),
                                                     **attributes))
        return names[0] if isinstance(outputs, int) and outputs == 1 else names

    # -------------------------------------------------------------------------------- conveniences
    def inputs(self, node: TracedNode) -> list[str]:
        return [self.name_of(value) for value in node.inputs]

    def reduce(self, op_type: str, data: str, axes, keepdims: bool) -> str:
        """A Reduce* node over ``axes`` (None: all), with axes as an attribute or an input as the opset needs."""
        axes_input = op_type == "ReduceSum" or self.opset >= 18
        if axes is None:
            return self.add(op_type, [data], keepdims=int(keepdims))
        axes = [int(a) for a in axes]
        if axes_input:
            return self.add(op_type, [data, self.ints(axes)], keepdims=int(keepdims))
        return self.add(op_type, [data], axes=axes, keepdims=int(keepdims))

    def unsupported(self, what: str) -> UnsupportedOpError:
        node = self.node
        where = f" in module '{node.module_path}'" if node is not None else ""
        op = f"{node.op_name} ({type(node.op).__module__})" if node is not None else "op"
        return UnsupportedOpError(f"ember.onnx.export: {op}{where}: {what}")
