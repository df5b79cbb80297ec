"""The Keras dialect: ``model.export(path, format="onnx")`` for Sequential and functional models."""
from __future__ import annotations

import numpy as np

from ..autograd.tensor import Tensor
from ._export import DEFAULT_OPSET, export

_TRACED_BATCH = 1


def keras_input_signature(model) -> list[tuple[str, tuple, np.dtype]]:
    """(name, shape with None for the batch, dtype) of each model input, named after its ``keras.Input``."""
    if model.inputs is not None:
        return [(str(tensor.name), tuple(tensor.shape), np.dtype(getattr(tensor, "dtype", "float32") or "float32"))
                for tensor in model.inputs]
    shape = getattr(model, "_batch_input_shape", None)
    if shape is None:
        raise ValueError(
            f"Model '{model.name}'.export: the model is not built, so its input shape is unknown; give the first "
            "layer input_shape=, start it with keras.Input(shape=...), or call the model on data first")
    name = getattr(model, "_input_name", None) or "input_layer"
    return [(name, tuple(shape), np.dtype("float32"))]


def export_keras(model, filepath, verbose: bool = True, opset_version: int = DEFAULT_OPSET) -> None:
    """Write ``model`` as ONNX to ``filepath``: inputs named after the model's Inputs, the batch axis dynamic,
    outputs named ``output_0``, ``output_1``, ... (Keras 3's names)."""
    signature = keras_input_signature(model)
    rng = np.random.default_rng(0)
    examples = []
    for name, shape, dtype in signature:
        if any(size is None for size in shape[1:]):
            raise ValueError(f"Model '{model.name}'.export: input {name!r} has shape {shape}; only the batch axis "
                             "may be None")
        concrete = (_TRACED_BATCH,) + tuple(int(size) for size in shape[1:])
        if dtype.kind in "iu":
            examples.append(Tensor(np.zeros(concrete, dtype=dtype)))
        else:
            examples.append(Tensor(rng.standard_normal(concrete).astype(dtype)))
    input_names = [name for name, _, _ in signature]
    output_count = len(model.outputs) if model.outputs is not None else 1
    output_names = [f"output_{index}" for index in range(output_count)]
    dynamic_axes = {name: {0: "batch"} for name in input_names + output_names}
    export(model, tuple(examples), filepath, input_names=input_names, output_names=output_names,
           dynamic_axes=dynamic_axes, opset_version=opset_version,
           call=(lambda *tensors: model(list(tensors))) if len(examples) > 1 else None)
    if verbose:
        print(f"Saved artifact at '{filepath}' (ONNX opset {opset_version}): inputs {input_names}, "
              f"outputs {output_names}")
