"""Graph nodes: ``Function`` (user-defined ops, PyTorch style) and ``Primitive`` (Ember's own ops).

A node is created each time an op runs. When the op needs a graph (grad mode on and an input requires grad),
the node keeps its input tensors, what ``save_for_backward`` declared, and the shapes of its outputs; the
outputs point back to it through ``Tensor.creator``. Nothing else is kept.

User-defined op::

    class Exp(ember.autograd.Function):
        @staticmethod
        def forward(ctx, x):            # x: Tensor (detached); runs without recording
            y = x.exp()
            ctx.save_for_backward(y)
            return y

        @staticmethod
        def backward(ctx, grad_y):      # one gradient per output; return one per forward argument
            y, = ctx.saved_tensors
            return grad_y * y

    y = Exp.apply(x)
"""
from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import config
from . import grad_mode
from .tensor import Tensor
from ..backend.device import cupy_if_loaded, device_of

_IN, _OUT, _VALUE = 0, 1, 2

# Called as ``trace_hook(node, input_tensors, result)`` after every op while a tracer (``ember.onnx``) has set
# it through ``set_trace_hook``; None otherwise, so that running an op costs one global look-up more.
trace_hook: Callable[[Any, tuple, Any], None] | None = None


def set_trace_hook(hook: Callable[[Any, tuple, Any], None] | None):
    """Install ``hook`` (or None) to see every op as it runs; returns the hook it replaces."""
    global trace_hook
    previous, trace_hook = trace_hook, hook
    return previous


class Function:
    """Base class of every graph node. Subclass it and call ``YourFunction.apply(*args)``.

    ``forward(ctx, *args)`` receives tensors (detached from the graph) and other arguments unchanged;
    ``backward(ctx, *grad_outputs)`` receives one gradient Tensor per output and returns one gradient per
    forward argument (``None`` for arguments without one). Write ``backward`` with Ember operations so that
    it can itself be differentiated (``create_graph=True``).
    """

    # Set on nodes that record a graph; class-level defaults keep subclasses free of __init__ boilerplate.
    inputs: tuple = ()
    _input_positions: tuple | None = ()
    _saved: tuple | None = None
    _output_specs: tuple = ()
    _outputs: tuple = ()
    _released = False
    backward_arrays: Callable[..., Any] | None = None  # a Primitive may define it: see Primitive

    @classmethod
    def apply(cls, *args):
        """Run the op on ``args``; returns a Tensor, or a tuple of Tensors for several outputs."""
        return cls()._apply(args)

    def forward(ctx, *args):  # pragma: no cover - always overridden
        raise NotImplementedError(f"{type(ctx).__name__} must define forward")

    def backward(ctx, *grad_outputs):  # pragma: no cover - always overridden
        raise NotImplementedError(f"{type(ctx).__name__} does not define backward, so it cannot be differentiated")

    # ----------------------------------------------------------------------------------------- recording
    def save_for_backward(self, *values) -> None:
        """Declare what backward needs: inputs, outputs (for Primitives: their arrays) or other values."""
        self._saved = values

    @property
    def saved_tensors(self) -> tuple:
        """The declared values as Tensors; inputs and outputs stay connected to the graph."""
        if self._released:
            raise RuntimeError(self._freed_message())
        if self._saved is None:
            return ()
        result = []
        for kind, where, array in self._saved:
            if kind == _IN:
                result.append(self.inputs[where])
            elif kind == _OUT:
                result.append(Tensor._from_node(array, self, where))
            else:
                result.append(array if not isinstance(array, np.ndarray) and not _is_cupy(array) else Tensor(array))
        return tuple(result)

    @property
    def saved_arrays(self) -> tuple:
        """The declared values as raw arrays (and other values as they are), for array-only backward paths."""
        if self._released:
            raise RuntimeError(self._freed_message())
        if self._saved is None:
            return ()
        return tuple(self.inputs[where].array if kind == _IN else array for kind, where, array in self._saved)

    @property
    def needs_input_grad(self) -> tuple:
        """One bool per forward argument: whether its gradient is needed."""
        positions = self._input_positions if self._input_positions is not None else range(len(self.inputs))
        flags = [False] * (max(positions, default=-1) + 1)
        for position, tensor in zip(positions, self.inputs):
            flags[position] = tensor.requires_grad
        return tuple(flags)

    @property
    def name(self) -> str:
        return type(self).__name__

    def _apply(self, args):
        """Run a user-defined Function: forward on detached Tensors without recording, then wire the graph."""
        tensors = []
        positions = []
        for position, arg in enumerate(args):
            if isinstance(arg, Tensor):
                tensors.append(arg)
                positions.append(position)
        if cupy_if_loaded() is not None and len(tensors) > 1:
            _check_same_device(self.name, tensors)
        self.inputs = tuple(tensors)
        self._input_positions = tuple(positions)
        detached = [Tensor(a.array) if isinstance(a, Tensor) else a for a in args]
        with grad_mode.no_grad():
            raw = type(self).forward(self, *detached)
        result = self._finish(raw, grad_mode.state.enabled and any(t.requires_grad for t in tensors))
        if trace_hook is not None:
            trace_hook(self, tuple(tensors), result)
        return result

    def _finish(self, raw, record: bool):
        """Wrap forward's arrays as output Tensors; when recording, point them at this node."""
        if type(raw) is tuple:
            outputs = tuple(Tensor(_as_array(y, self.name)) for y in raw)
            single = False
        else:
            outputs = (Tensor(raw if type(raw) is np.ndarray else _as_array(raw, self.name)),)
            single = True
            raw = (raw,)
        if record:
            specs = []
            for index, out in enumerate(outputs):
                y = out.array
                specs.append((y.shape, y.dtype))
                if y.dtype.kind in "fc":
                    out.requires_grad = True
                    out.creator = self
                    out._output_index = index
            self._output_specs = tuple(specs)
            self._outputs = tuple(weakref.ref(out) for out in outputs)
            if self._saved is not None:
                self._saved = self._classify_saved(self._saved, raw, [out.array for out in outputs])
        else:
            self.inputs = ()
            self._saved = None
        return outputs[0] if single else outputs

    def _classify_saved(self, saved: tuple, raw_outputs, output_arrays) -> tuple:
        """Mark each saved value as an input, an output (matched by identity with what forward returned,
        before 0-d NumPy scalars were turned into arrays) or a plain value."""
        classified = []
        for value in saved:
            array = value.array if isinstance(value, Tensor) else value
            entry = None
            for index, tensor in enumerate(self.inputs):
                if tensor.array is array:
                    entry = (_IN, index, None)
                    break
            if entry is None:
                for index, (returned, output) in enumerate(zip(raw_outputs, output_arrays)):
                    returned = returned.array if isinstance(returned, Tensor) else returned
                    if output is array or returned is array:
                        entry = (_OUT, index, output)
                        break
            classified.append(entry or (_VALUE, None, array))
        return tuple(classified)

    def _release(self) -> None:
        """Free what the node holds once backward has passed through it (unless retain_graph)."""
        self.inputs = ()
        self._saved = None
        self._released = True

    def _freed_message(self) -> str:
        return (
            f"{self.name}: trying to backward through the graph a second time; its saved values were freed "
            "after the first backward(). Pass retain_graph=True to the first backward() (or grad()) to keep them."
        )

    def __repr__(self):
        return f"<{self.name}>"


class Primitive(Function):
    """Base class of Ember's built-in ops: ``forward`` works on raw arrays (NumPy or CuPy), ``backward`` on Tensors.

    Parameters (axes, shapes, strides) go to ``__init__``; the op runs as ``Op(params)(*tensors)``. Save
    arrays with ``self.save_for_backward(...)``; an input's or output's own array comes back from
    ``saved_tensors`` as that input or output, still connected to the graph.

    ``forward`` and ``backward`` are the reference path: readable NumPy/CuPy, and Ember ops in ``backward`` so
    that it differentiates again. An op may add fast paths beside them, used while the ``fast_paths`` setting
    of ``ember.config`` is on:

    * ``fast_forward``: names of methods tried in order before ``forward``, each taking the same arrays and
      returning the outputs, or None to decline (nothing saved then);
    * ``backward_arrays(*grad_arrays)``: the engine's one array-only backward, used whenever the backward
      pass is not itself recorded (no ``create_graph``); it reads ``saved_arrays`` and returns one array (or
      None) per input, or None to decline, and ``backward`` runs instead.

    Both see only what ``save_for_backward`` declared, whichever forward ran. The path each took last is
    reported by ``ember.config.describe()``.
    """

    _input_positions = None  # every argument is a Tensor input: gradient i belongs to input i
    fast_forward: tuple = ()

    def __call__(self, *tensors):
        record = False
        if grad_mode.state.enabled:
            for tensor in tensors:
                if tensor.requires_grad:
                    record = True
                    break
        if len(tensors) > 1 and cupy_if_loaded() is not None:
            _check_same_device(self.name, tensors)
        self.inputs = tensors
        arrays = [tensor.array for tensor in tensors]
        outputs = self._fast_forward(arrays) if self.fast_forward else self.forward(*arrays)
        result = self._finish(outputs, record)
        if trace_hook is not None:
            trace_hook(self, tensors, result)
        return result

    def _fast_forward(self, arrays):
        """The first fast path that accepts ``arrays``, else the reference ``forward``."""
        if config.get("fast_paths"):
            for name in self.fast_forward:
                outputs = getattr(self, name)(*arrays)
                if outputs is not None:
                    config.record_path(f"{self.name}.forward", name)
                    return outputs
        config.record_path(f"{self.name}.forward", "forward")
        return self.forward(*arrays)


def _is_cupy(value) -> bool:
    cupy = cupy_if_loaded()
    return cupy is not None and isinstance(value, cupy.ndarray)


def _as_array(value, op_name: str):
    if isinstance(value, Tensor):
        return value.array
    if isinstance(value, np.ndarray) or _is_cupy(value):
        return value
    if isinstance(value, np.generic):  # 0-d ufunc results come back as NumPy scalars
        return np.asarray(value)
    raise TypeError(f"{op_name}.forward: expected to return arrays or Tensors, received {type(value).__name__}")


def _check_same_device(op_name: str, tensors) -> None:
    first = device_of(tensors[0].array)
    for tensor in tensors[1:]:
        other = device_of(tensor.array)
        if other != first:
            raise RuntimeError(
                f"{op_name}: expected all tensors on the same device, received {first} and {other}; "
                "move them with .to(device) first"
            )
