"""``ember.onnx.export``: trace a model once on example inputs and write the ONNX graph of what it ran."""
from __future__ import annotations

import io
import os
from typing import Any

import numpy as np

from .. import config
from ..autograd.grad_mode import no_grad
from ..autograd.tensor import Tensor
from ..backend.files import atomic_writer
from ._fusion import GELU_OPSET, fuse_gelu, without_dead_nodes
from ._graph import GraphBuilder, UnsupportedOpError
from ._trace import TracedNode, TracedValue, Tracer
from .converters import converter_for

DEFAULT_OPSET = 17
_LOWEST_OPSET = 13


def import_onnx():
    """The ``onnx`` module, or an ImportError that names the install line."""
    try:
        import onnx
    except ImportError as error:
        raise ImportError(
            'ember.onnx needs the onnx package: pip install "ember[onnx]" (or pip install onnx onnxruntime)'
        ) from error
    return onnx


def export(model, args, f, input_names=None, output_names=None, dynamic_axes=None,
           opset_version: int = DEFAULT_OPSET, export_params: bool = True, do_constant_folding: bool = True,
           verbose: bool = False, training=None, keep_initializers_as_inputs: bool = False, call=None):
    """Export ``model`` to ONNX, as ``torch.onnx.export`` does: run it once on ``args`` and record the graph.

    Args:
        model: an ``nn.Module`` (a Keras model included). It runs in eval mode under ``no_grad``; its mode is
            restored afterwards.
        args: a Tensor or a tuple of Tensors (NumPy arrays are accepted), the example inputs.
        f: a path (``str`` or ``os.PathLike``), written atomically, or a binary file object.
        input_names, output_names: names of the graph's inputs and outputs in order (default ``input``,
            ``input_1``, ... and ``output``, ``output_1``, ...; a model returning tuples gives its outputs in
            flattened order).
        dynamic_axes: ``{name: {axis: label}}`` or ``{name: [axis, ...]}`` for inputs and outputs whose sizes
            vary, e.g. ``{"input": {0: "batch"}, "output": {0: "batch"}}``. Default: every size is fixed.
        opset_version: ONNX opset, 13 or later (17, the default, brings LayerNormalization).
        export_params, do_constant_folding, verbose, training, keep_initializers_as_inputs: accepted for
            PyTorch code; parameters are always stored, constants always folded, the model always exported in
            inference mode.
        call: ``call(*inputs)`` runs the model instead of ``model(*inputs)``, if given.

    Returns None. Raises ``NotImplementedError`` naming the op and module path for an op without a converter;
    ``f`` is left as it was when the export fails.
    """
    onnx = import_onnx()
    if not _LOWEST_OPSET <= int(opset_version) <= onnx.defs.onnx_opset_version():
        raise ValueError(f"ember.onnx.export: opset_version must lie in [{_LOWEST_OPSET}, "
                         f"{onnx.defs.onnx_opset_version()}], received {opset_version}")
    if not export_params:
        raise ValueError("ember.onnx.export: export_params=False is not supported; parameters are always stored")
    proto = build_model(model, args, input_names, output_names, dynamic_axes, int(opset_version), call)
    data = proto.SerializeToString()
    if isinstance(f, (str, os.PathLike)):
        with atomic_writer(f) as handle:
            handle.write(data)
    elif hasattr(f, "write"):
        f.write(data)
    else:
        raise TypeError(f"ember.onnx.export: f must be a path or a binary file object, received {type(f).__name__}")


def export_to_bytes(model, args, **options) -> bytes:
    """The serialized ONNX model, as ``export`` would write it."""
    buffer = io.BytesIO()
    export(model, args, buffer, **options)
    return buffer.getvalue()


# ----------------------------------------------------------------------------------------------- tracing
def _as_inputs(args) -> list[Tensor]:
    items = list(args) if isinstance(args, (tuple, list)) else [args]
    tensors = []
    for index, item in enumerate(items):
        if isinstance(item, Tensor):
            if item.device.type != "cpu":
                raise ValueError(f"ember.onnx.export: args[{index}] is on {item.device}; export from the CPU "
                                 "(model.to('cpu') and CPU example inputs)")
            tensors.append(item)
        elif isinstance(item, np.ndarray):
            tensors.append(Tensor(item))
        else:
            raise TypeError(f"ember.onnx.export: args[{index}] must be a Tensor or a NumPy array, received "
                            f"{type(item).__name__}")
    return tensors


def _flatten_outputs(result) -> list[Tensor]:
    """The model's output Tensors in order; None inside a tuple, list or dict (an optional output such as a
    loss without targets) is left out, as ``torch.onnx.export`` leaves it out."""
    if isinstance(result, Tensor):
        return [result]
    if isinstance(result, (tuple, list)):
        return [tensor for item in result if item is not None for tensor in _flatten_outputs(item)]
    if isinstance(result, dict):
        return [tensor for item in result.values() if item is not None for tensor in _flatten_outputs(item)]
    raise TypeError(f"ember.onnx.export: the model returned a {type(result).__name__}; expected Tensors "
                    "(or tuples, lists or dicts of them)")


def _trace(model, inputs: list[Tensor], input_names: list[str], call=None):
    tracer = Tracer(model, inputs, input_names)
    with tracer, no_grad(), config.override(fast_paths=True):
        result = model(*inputs) if call is None else call(*inputs)
    outputs = [tracer.value_of(tensor) for tensor in _flatten_outputs(result)]
    return tracer, outputs


def _varied(tensor: Tensor, axes) -> Tensor:
    """Other example values for the second trace: ``tensor`` one larger along each dynamic axis (the added
    entries copies of the first), its entries rolled by one place, and floats rescaled. A constant of the
    first trace that differs in the second was computed from the inputs outside the recorded ops."""
    array = np.asarray(tensor.array)
    for axis in axes:
        array = np.concatenate([array, np.take(array, [0], axis=axis)], axis=axis)
    array = np.roll(array.reshape(-1), 1).reshape(array.shape)
    if array.dtype.kind == "f":
        array = array * array.dtype.type(1.5) + array.dtype.type(0.25)
    return Tensor(np.ascontiguousarray(array))


def _normalize_dynamic_axes(dynamic_axes, names: list[str]) -> dict[str, dict[int, str]]:
    result: dict[str, dict[int, str]] = {}
    for name, axes in (dynamic_axes or {}).items():
        if name not in names:
            raise ValueError(f"ember.onnx.export: dynamic_axes names {name!r}, which is neither an input nor an "
                             f"output; the names are {names}")
        if isinstance(axes, dict):
            result[name] = {int(axis): str(label) for axis, label in axes.items()}
        else:
            result[name] = {int(axis): f"{name}_dynamic_axes_{position + 1}" for position, axis in enumerate(axes)}
    return result


def _needed(outputs: list[TracedValue]) -> set[int]:
    """ids of the nodes the outputs depend on (the rest of the trace is dead code for the graph)."""
    needed: set[int] = set()
    stack = [value.producer for value in outputs if value.producer is not None]
    while stack:
        node = stack.pop()
        if id(node) in needed:
            continue
        needed.add(id(node))
        sources = list(node.inputs) + list(node.key_values.values())
        stack.extend(value.producer for value in sources if value.producer is not None)
    return needed


def build_model(model, args, input_names=None, output_names=None, dynamic_axes=None,
                opset_version: int = DEFAULT_OPSET, call=None):
    """The ``onnx.ModelProto`` of ``model`` run on ``args`` (see ``export``); ``call(*inputs)``, if given,
    runs the model instead of ``model(*inputs)`` (a Keras model takes several inputs as one list)."""
    onnx = import_onnx()
    inputs = _as_inputs(args)
    input_names = list(input_names) if input_names else _default_names("input", len(inputs))
    if len(input_names) != len(inputs):
        raise ValueError(f"ember.onnx.export: {len(input_names)} input_names for {len(inputs)} inputs")
    was_training = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        tracer, outputs = _trace(model, inputs, input_names, call)
        output_names = list(output_names) if output_names else _default_names("output", len(outputs))
        if len(output_names) != len(outputs):
            raise ValueError(f"ember.onnx.export: {len(output_names)} output_names for {len(outputs)} outputs")
        axes = _normalize_dynamic_axes(dynamic_axes, input_names + output_names)
        varied = [_varied(tensor, axes.get(name, {})) for tensor, name in zip(inputs, input_names)]
        other, other_outputs = _trace(model, varied, input_names, call)
        _pair_traces(tracer.nodes, other.nodes)
    finally:
        for module, mode in was_training:
            module.training = mode
    graph = GraphBuilder(onnx, opset_version)
    graph.reserve(input_names + output_names)
    for value, name in zip(tracer.inputs, input_names):
        graph.bind(value, name)
    needed = _needed(outputs)
    for node in tracer.nodes:
        if id(node) in needed:
            _convert(node, graph)
    graph.node = None
    output_infos = []
    for value, other, name in zip(outputs, other_outputs, output_names):
        if value.producer is None and not value.dynamic:
            graph.alternates = {id(value): other}
        graph.nodes.append(onnx.helper.make_node("Identity", [graph.name_of(value)], [name], name=f"{name}/Identity"))
        output_infos.append(_value_info(onnx, name, value.array, other.array, axes.get(name, {})))
    if opset_version >= GELU_OPSET:  # after the outputs' Identity nodes, so that outputs count as consumers
        graph.nodes = fuse_gelu(graph.nodes, graph.initializer_values, onnx.helper.make_node)
    graph.nodes = without_dead_nodes(graph.nodes, output_names)
    used = {name for node in graph.nodes for name in node.input}
    graph.initializers = [tensor for tensor in graph.initializers if tensor.name in used]
    input_infos = [_value_info(onnx, name, value.array, value.array, axes.get(name, {}))
                   for value, name in zip(tracer.inputs, input_names)]
    onnx_graph = onnx.helper.make_graph(graph.nodes, _graph_name(model), input_infos, output_infos,
                                        initializer=graph.initializers)
    proto = onnx.helper.make_model(onnx_graph, opset_imports=[onnx.helper.make_opsetid("", opset_version)],
                                   producer_name="ember", producer_version=_version())
    proto.ir_version = min(proto.ir_version, _ir_version_for(onnx, opset_version))
    return proto


def _pair_traces(nodes: list[TracedNode], others: list[TracedNode]) -> None:
    ours = [node.op_name for node in nodes]
    theirs = [node.op_name for node in others]
    if ours != theirs:
        raise ValueError(
            "ember.onnx.export: the model runs different ops for other input values or sizes (control flow that "
            "depends on the data), which one ONNX graph cannot hold")
    for node, other in zip(nodes, others):
        node.alternate = other


def _convert(node: TracedNode, graph: GraphBuilder) -> None:
    graph.node = node
    graph.alternates = {} if node.alternate is None else {
        id(value): other for value, other in zip(node.inputs, node.alternate.inputs)}
    convert = converter_for(node.op)
    if convert is None:
        raise UnsupportedOpError(
            f"ember.onnx.export: no ONNX converter for op {node.op_name} ({type(node.op).__module__}), met in "
            f"module '{node.module_path}'; see docs/onnx.md for the ops that export and how to add one")
    names = convert(node, graph)
    names = [names] if isinstance(names, str) else list(names)
    if len(names) != len(node.outputs):  # pragma: no cover - a converter's own bug
        raise RuntimeError(f"ember.onnx: the converter of {node.op_name} gave {len(names)} outputs for "
                           f"{len(node.outputs)}")
    for value, name in zip(node.outputs, names):
        if name is not None:
            graph.bind(value, name)
        elif id(value) not in graph.unavailable:
            graph.unavailable[id(value)] = f"ember.onnx.export: output of {node.op_name} is not exported"


def _value_info(onnx, name: str, array: np.ndarray, other: np.ndarray, labels: dict[int, str]):
    shape: list[Any] = []
    for axis, (size, other_size) in enumerate(zip(array.shape, other.shape)):
        if axis in labels:
            shape.append(labels[axis])
        elif size != other_size:
            shape.append(f"{name}_dim_{axis}")
        else:
            shape.append(int(size))
    element_type = onnx.helper.np_dtype_to_tensor_dtype(np.dtype(array.dtype))
    return onnx.helper.make_tensor_value_info(name, element_type, shape)


def _default_names(stem: str, count: int) -> list[str]:
    return [stem if index == 0 else f"{stem}_{index}" for index in range(count)]


def _graph_name(model) -> str:
    return str(getattr(model, "name", None) or type(model).__name__)


def _version() -> str:
    from .. import __version__

    return str(__version__)


def _ir_version_for(onnx, opset: int) -> int:
    """The IR version that goes with ``opset``, so that older runtimes read the file."""
    for entry in onnx.helper.VERSION_TABLE:
        if entry[2] == opset:
            return int(entry[1])
    return int(onnx.IR_VERSION)
