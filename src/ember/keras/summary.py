"""``model.summary()``: Keras's table of layers, output shapes and parameter counts."""
from __future__ import annotations

from .layers.base import Layer, module_weights


def _weights(layer):
    return layer.weights if isinstance(layer, Layer) else module_weights(layer)


def _trainable(weight) -> bool:
    from ..nn import Parameter

    return isinstance(weight, Parameter) and weight.requires_grad


def _shape_text(layer) -> str:
    shape = getattr(layer, "_output_shape", None) if isinstance(layer, Layer) else getattr(
        layer, "_ember_output_shape", None)
    if shape is None:
        return "?"
    if isinstance(shape, list):
        return ", ".join(str(tuple(s)) for s in shape)
    return str(tuple(shape))


def summary_text(model, line_length: int = 65) -> str:
    """The summary as text (what ``summary()`` prints)."""
    layers = [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]
    if not model.built and not all(getattr(layer, "built", True) for layer in layers):
        raise ValueError(
            f"Model '{model.name}': the model has not been built yet; give the first layer input_shape=, start "
            "with keras.Input(shape=...), or call the model on data first"
        )
    columns = [int(line_length * p) for p in (0.45, 0.85, 1.0)]
    rule = "_" * line_length
    double_rule = "=" * line_length

    def row(fields):
        line = ""
        for field, end in zip(fields, columns):
            line = (line + " " + str(field))[:end - 1].ljust(end)
        return line.rstrip().ljust(line_length)

    lines = [f'Model: "{model.name}"', rule, row(["Layer (type)", "Output Shape", "Param #"]), double_rule]
    for index, layer in enumerate(layers):
        name = getattr(layer, "name", None) or str(index)
        count = sum(w.numel() for w in _weights(layer))
        lines.append(row([f"{name} ({type(layer).__name__})", _shape_text(layer), count]))
        if index != len(layers) - 1:
            lines.append(" " * line_length)
    weights = _weights(model)
    trainable = sum(w.numel() for w in weights if _trainable(w))
    total = sum(w.numel() for w in weights)
    lines += [
        double_rule,
        f"Total params: {total:,}",
        f"Trainable params: {trainable:,}",
        f"Non-trainable params: {total - trainable:,}",
        rule,
    ]
    return "\n".join(lines)
