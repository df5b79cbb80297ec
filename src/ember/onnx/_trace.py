"""Record the ops a model runs: one ``TracedNode`` per primitive that depends on a graph input.

The tracer installs ``ember.autograd.function.set_trace_hook`` for one forward pass. Every tensor it meets is
classified once, by identity:

* a graph input (one of the ``args``), or a value computed from one: *dynamic*, converted to ONNX nodes;
* a parameter or buffer of the model: a constant named by its ``state_dict`` name (an initializer);
* anything else (a Python number turned into a tensor, ``zeros`` made inside ``forward``): a constant.

An op whose inputs are all constants is folded: its outputs are constants holding the traced arrays, so no
ONNX node is emitted for it (batch-norm's ``rsqrt(running_var + eps)``, a Keras kernel's transpose).
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..autograd import function as function_module
from ..autograd.tensor import Tensor


@dataclass(eq=False)
class TracedValue:
    """One tensor of the trace: its traced array, and for constants the name they came with (or None)."""

    array: np.ndarray
    dynamic: bool
    name: str | None = None  # a graph input's or a parameter's name
    producer: TracedNode | None = None
    output_index: int = 0


@dataclass(eq=False)
class TracedNode:
    """One op that depends on a graph input: the node object (its attributes), its inputs and outputs."""

    op: Any
    inputs: list[TracedValue]
    outputs: list[TracedValue]
    module_path: str
    key_values: dict[int, TracedValue] = field(default_factory=dict)  # id(array in Index key) -> value
    alternate: TracedNode | None = None  # the same op in a trace at other dynamic sizes, if one was run

    @property
    def op_name(self) -> str:
        return type(self.op).__name__


class Tracer:
    """Collects the nodes of one forward pass; use as a context manager around the call."""

    def __init__(self, model, inputs: list[Tensor], input_names: list[str]):
        self.model = model
        self.nodes: list[TracedNode] = []
        self._values: dict[int, TracedValue] = {}
        self._keep: list[Any] = []  # every tensor seen stays alive, so that ids are not reused
        self._dynamic_arrays: dict[int, TracedValue] = {}
        self._module_stack: list[str] = []
        self._thread = threading.get_ident()
        self._handles: list[Any] = []
        self._previous_hook: Any = None
        self.inputs = [self._register(tensor, True, name) for tensor, name in zip(inputs, input_names)]
        seen: set[int] = set()
        for name, tensor in list(model.named_parameters()) + list(model.named_buffers()):
            if tensor is not None and id(tensor) not in seen:
                seen.add(id(tensor))
                self._register(tensor, False, name)

    # --------------------------------------------------------------------------------------- values
    def _register(self, tensor: Tensor, dynamic: bool, name: str | None = None,
                  producer: TracedNode | None = None, output_index: int = 0) -> TracedValue:
        value = TracedValue(np.asarray(tensor.array), dynamic, name, producer, output_index)
        self._values[id(tensor)] = value
        self._keep.append(tensor)
        if dynamic:
            self._dynamic_arrays[id(tensor.array)] = value
        return value

    def value_of(self, tensor: Tensor) -> TracedValue:
        """The traced value of ``tensor``; a tensor never seen before is a constant."""
        value = self._values.get(id(tensor))
        return value if value is not None else self._register(tensor, False)

    # ----------------------------------------------------------------------------------------- hook
    def _on_op(self, op, tensors: tuple, result) -> None:
        if threading.get_ident() != self._thread:
            return
        inputs = [self.value_of(tensor) for tensor in tensors]
        key_values = self._dynamic_key_arrays(op)
        outputs = result if isinstance(result, tuple) else (result,)
        dynamic = any(value.dynamic for value in inputs) or bool(key_values)
        node = TracedNode(op, inputs, [], self.module_path, key_values) if dynamic else None
        for index, tensor in enumerate(outputs):
            value = self._register(tensor, dynamic, None, node, index)
            if node is not None:
                node.outputs.append(value)
        if node is not None:
            self.nodes.append(node)

    def _dynamic_key_arrays(self, op) -> dict[int, TracedValue]:
        """Arrays of graph-dependent values used inside an index key (``weight[indices]`` of an embedding)."""
        key = getattr(op, "key", None)
        if key is None:
            return {}
        parts = key if isinstance(key, tuple) else (key,)
        found = {}
        for part in parts:
            value = self._dynamic_arrays.get(id(part)) if isinstance(part, np.ndarray) else None
            if value is not None:
                found[id(part)] = value
        return found

    @property
    def module_path(self) -> str:
        return self._module_stack[-1] if self._module_stack else "<model>"

    def __enter__(self) -> Tracer:
        for path, module in self.model.named_modules():
            # a Keras layer is known by its name (its path is its position in the model)
            name = getattr(module, "name", None) if path else None
            label = name if isinstance(name, str) else path or f"<{type(module).__name__}>"

            def enter(module, args, label=label):
                self._module_stack.append(label)

            def leave(module, args, output):
                if self._module_stack:
                    self._module_stack.pop()

            self._handles.append(module.register_forward_pre_hook(enter))
            self._handles.append(module.register_forward_hook(leave))
        self._previous_hook = function_module.set_trace_hook(self._on_op)
        return self

    def __exit__(self, *exc_info) -> None:
        function_module.set_trace_hook(self._previous_hook)
        for handle in self._handles:
            handle.remove()
