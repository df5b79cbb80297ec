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


# Keras activation names and the PyTorch-dialect module that computes the same function
_ACTIVATION_MODULES = {"relu": "nn.ReLU()", "sigmoid": "nn.Sigmoid()", "tanh": "nn.Tanh()", "gelu": "nn.GELU()",
                       "elu": "nn.ELU()", "softmax": "nn.Softmax(dim=-1)", "log_softmax": "nn.LogSoftmax(dim=-1)",
                       "silu": "nn.SiLU()", "swish": "nn.SiLU()", "linear": None}


def pytorch_dialect(model) -> tuple[str, dict] | str:
    """The PyTorch-dialect form of a Sequential model of Dense, Activation, Dropout and Flatten layers: the
    source of a Python file defining ``build_model()`` (an ``nn.Sequential``) and its ``state_dict``
    (``weight`` = the Dense kernel transposed). For other models, the reason there is none."""
    from ..keras import activations, layers
    from ..keras.models import Sequential

    if not isinstance(model, Sequential):
        return f"model '{model.name}' is not a Sequential model"
    lines: list[str] = []
    state: dict[str, Tensor] = {}

    def activation(function) -> str | None:
        name = activations.serialize(function)
        if name not in _ACTIVATION_MODULES:
            raise KeyError(name)
        return _ACTIVATION_MODULES[name]

    for layer in model.layers:
        try:
            if isinstance(layer, layers.Dense):
                kernel = np.asarray(layer.kernel.array)
                index = len(lines)
                lines.append(f"nn.Linear({kernel.shape[0]}, {kernel.shape[1]}, bias={bool(layer.use_bias)})")
                state[f"{index}.weight"] = Tensor(np.ascontiguousarray(kernel.T))
                if layer.use_bias:
                    state[f"{index}.bias"] = Tensor(np.asarray(layer.bias.array).copy())
                module = activation(layer.activation)
            elif isinstance(layer, layers.Activation):
                module = activation(layer.activation)
            elif isinstance(layer, layers.Dropout):
                module = f"nn.Dropout({float(layer.rate)!r})"
            elif isinstance(layer, layers.Flatten):
                module = "nn.Flatten()"
            else:
                return (f"layer '{getattr(layer, 'name', '?')}' ({type(layer).__name__}) has no PyTorch-dialect "
                        "rewrite here (Dense, Activation, Dropout and Flatten have)")
        except KeyError as error:
            return f"layer '{layer.name}': activation {error.args[0]!r} has no PyTorch-dialect module here"
        if module is not None:
            lines.append(module)
    body = "".join(f"        {line},\n" for line in lines)
    source = (
        f'"""The PyTorch-dialect form of the Keras model {model.name!r}, written by `ember export`.\n\n'
        "    model = build_model()\n"
        '    model.load_state_dict(ember.load("<checkpoint>"))\n'
        '"""\n'
        "from ember import nn\n\n\n"
        "def build_model() -> nn.Sequential:\n"
        "    return nn.Sequential(\n"
        f"{body}"
        "    )\n"
    )
    return source, state
