"""Saving Keras models: ``model.save("m.keras")`` and ``keras.models.load_model("m.keras")``.

A ``.keras`` file is a zip archive holding ``config.json`` (the architecture: layer classes and their
configs), ``compile.json`` (optimizer, loss and metric names, when compiled) and ``model.weights.safetensors``
(the state dict). Nothing is pickled; files are written atomically (temporary file, then rename).
"""
from __future__ import annotations

import io
import json
import os
import zipfile

import numpy as np

from ..autograd.grad_mode import no_grad
from ..io.safetensors import atomic_write, dumps, load_file, loads, save_file
from . import layers as layers_module
from ._ignored import warn_no_effect
from .layers.base import Layer

FORMAT = "ember.keras/1"
CONFIG_NAME, COMPILE_NAME, WEIGHTS_NAME = "config.json", "compile.json", "model.weights.safetensors"


def serialize_layer(layer) -> dict:
    if not isinstance(layer, Layer):
        raise TypeError(
            f"save: layer {type(layer).__name__} is a plain nn.Module without a Keras config; "
            "save the weights with save_weights() and rebuild the model in code"
        )
    from .models import Model

    if isinstance(layer, Model):
        return {"class_name": "Sequential" if type(layer).__name__ == "Sequential" else "Functional",
                "config": layer.get_config()}
    return {"class_name": type(layer).__name__, "config": layer.get_config()}


def _layer_class(name: str, custom_objects):
    custom_objects = custom_objects or {}
    if name in custom_objects:
        return custom_objects[name]
    from . import models

    if name == "Sequential":
        return models.Sequential
    if name == "Functional":
        return models.Model
    cls = getattr(layers_module, name, None)
    if isinstance(cls, type) and issubclass(cls, Layer):
        return cls
    raise ValueError(f"load_model: unknown layer class {name!r}; pass it in custom_objects={{{name!r}: cls}}")


def deserialize_layer(config: dict, custom_objects=None):
    cls = _layer_class(config["class_name"], custom_objects)
    if config["class_name"] in ("Sequential", "Functional"):
        return _model_from_config(config, custom_objects)
    return cls.from_config(dict(config["config"]))


def serialize_functional(graph) -> dict:
    """Functional graph → config: each layer with the (layer, call index) of the tensors it was called on."""
    call_index, keys = {}, {}
    for tensor in graph.inputs:
        keys[id(tensor)] = [tensor.layer.name, 0]
    for node in graph.nodes:
        index = call_index.get(node.layer.name, 0)
        call_index[node.layer.name] = index + 1
        keys[id(node)] = [node.layer.name, index]
    layers, seen = [], {}
    for tensor in graph.inputs:
        layers.append({"class_name": "InputLayer", "config": tensor.layer.get_config(), "inbound_nodes": []})
        seen[tensor.layer.name] = layers[-1]
    for node in graph.nodes:
        entry = seen.get(node.layer.name)
        if entry is None:
            entry = {**serialize_layer(node.layer), "inbound_nodes": []}
            layers.append(entry)
            seen[node.layer.name] = entry
        entry["inbound_nodes"].append([keys[id(parent)] for parent in node.inputs])
    return {
        "layers": layers,
        "input_layers": [keys[id(t)] for t in graph.inputs],
        "output_layers": [keys[id(t)] for t in graph.outputs],
        "single_input": graph.single_input, "single_output": graph.single_output,
    }


def _functional_from_config(config: dict, custom_objects, name: str):
    from .layers.core import Input
    from .models import Model

    tensors = {}
    for entry in config["layers"]:
        if entry["class_name"] == "InputLayer":
            layer_config = entry["config"]
            symbolic = Input(batch_shape=tuple(layer_config["batch_input_shape"]), name=layer_config["name"])
            tensors[(layer_config["name"], 0)] = symbolic
    for entry in config["layers"]:
        if entry["class_name"] == "InputLayer":
            continue
        layer = deserialize_layer(entry, custom_objects)
        for index, inbound in enumerate(entry["inbound_nodes"]):
            parents = [tensors[tuple(key)] for key in inbound]
            tensors[(layer.name, index)] = layer(parents[0] if len(parents) == 1 else parents)
    inputs = [tensors[tuple(key)] for key in config["input_layers"]]
    outputs = [tensors[tuple(key)] for key in config["output_layers"]]
    return Model(inputs[0] if config["single_input"] else inputs,
                 outputs[0] if config["single_output"] else outputs, name=name)


def _model_from_config(record: dict, custom_objects):
    from .models import Sequential

    config = record["config"]
    if record["class_name"] == "Sequential":
        return Sequential.from_config(config, custom_objects)
    return _functional_from_config(config, custom_objects, config.get("name"))


def _host_state(model) -> dict:
    return {name: np.asarray(t.data.get() if hasattr(t.data, "get") else t.data)
            for name, t in model.state_dict().items()}


def save_model(model, filepath, overwrite: bool = True) -> None:
    filepath = os.fspath(filepath)
    if not filepath.endswith(".keras"):
        raise ValueError(f"save: the file name must end in .keras, received {filepath!r} "
                         "(use save_weights for a bare weights file)")
    if os.path.exists(filepath) and not overwrite:
        raise FileExistsError(f"save: {filepath!r} exists and overwrite=False")
    if not model.built:
        raise ValueError(f"save: model '{model.name}' is not built yet; call it on data or give an input shape")
    architecture = {"format": FORMAT, **serialize_layer(model)}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr(CONFIG_NAME, json.dumps(architecture, indent=1))
        compile_config = _compile_config(model)
        if compile_config is not None:
            archive.writestr(COMPILE_NAME, json.dumps(compile_config))
        archive.writestr(WEIGHTS_NAME, dumps(_host_state(model)))
    atomic_write(filepath, buffer.getvalue())


def _compile_config(model):
    if getattr(model, "optimizer", None) is None or getattr(model, "loss", None) is None:
        return None
    metrics = [m if isinstance(m, str) else getattr(m, "name", None) for m in model.compiled_metrics_spec]
    return {
        "optimizer": {"class_name": type(model.optimizer).__name__, "config": model.optimizer.get_config()},
        "loss": {"class_name": type(model.loss).__name__, "config": model.loss.get_config()},
        "metrics": [m for m in metrics if m],
        "loss_weights": model.loss_weight,
    }


def load_model(filepath, custom_objects=None, compile: bool = True, safe_mode: bool = True):  # noqa: A002
    """Rebuild a model saved with ``model.save`` (architecture, weights, and compile settings).

    ``safe_mode=False`` warns that it has no effect: an Ember archive holds no code to allow or refuse."""
    if not safe_mode:
        warn_no_effect("load_model", "safe_mode", safe_mode, "archives hold configs and arrays, never code",
                       stacklevel=4)
    filepath = os.fspath(filepath)
    try:
        with zipfile.ZipFile(filepath) as archive:
            names = set(archive.namelist())
            missing = {CONFIG_NAME, WEIGHTS_NAME} - names
            if missing:
                raise ValueError(f"load_model: '{filepath}' lacks {sorted(missing)}; it is not an Ember .keras file")
            architecture = json.loads(archive.read(CONFIG_NAME))
            weights, _ = loads(archive.read(WEIGHTS_NAME), f"{filepath}:{WEIGHTS_NAME}")
            compile_config = json.loads(archive.read(COMPILE_NAME)) if COMPILE_NAME in names else None
    except zipfile.BadZipFile as error:
        raise ValueError(f"load_model: '{filepath}' is not a valid .keras archive (corrupt or truncated: "
                         f"{error})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"load_model: '{filepath}' has a corrupt config ({error})") from None
    if architecture.get("format") != FORMAT:
        raise ValueError(f"load_model: '{filepath}' has format {architecture.get('format')!r}, expected {FORMAT!r}")
    model = _model_from_config(architecture, custom_objects)
    if not model.built:
        model.build(model._batch_input_shape)
    _load_state(model, weights, filepath)
    if compile and compile_config is not None:
        _recompile(model, compile_config)
    return model


def _recompile(model, config) -> None:
    from . import losses, optimizers

    optimizer_class = getattr(optimizers, config["optimizer"]["class_name"])
    optimizer_config = dict(config["optimizer"]["config"])
    optimizer = optimizer_class(**optimizer_config)
    loss_config = dict(config["loss"]["config"])
    loss = getattr(losses, config["loss"]["class_name"])(**loss_config)
    model.compile(optimizer=optimizer, loss=loss, metrics=config["metrics"], loss_weights=config.get("loss_weights"))


def _load_state(model, arrays: dict, source: str) -> None:
    state = model.state_dict()
    missing = sorted(set(state) - set(arrays))
    unexpected = sorted(set(arrays) - set(state))
    if missing or unexpected:
        raise ValueError(f"'{source}' does not match model '{model.name}': missing {missing}, unexpected {unexpected}")
    with no_grad():
        for name, target in state.items():
            if tuple(arrays[name].shape) != tuple(target.shape):
                raise ValueError(f"'{source}': weight {name!r} has shape {arrays[name].shape}, the model expects "
                                 f"{tuple(target.shape)}")
        model.load_state_dict({name: arrays[name] for name in state})


def save_weights(model, filepath, overwrite: bool = True) -> None:
    """Write the model's state dict to a safetensors file (``.weights.safetensors`` recommended)."""
    filepath = os.fspath(filepath)
    if os.path.exists(filepath) and not overwrite:
        raise FileExistsError(f"save_weights: {filepath!r} exists and overwrite=False")
    save_file(_host_state(model), filepath)


def load_weights(model, filepath) -> None:
    arrays, _ = load_file(filepath)
    _load_state(model, arrays, os.fspath(filepath))


__all__ = ["save_model", "load_model", "save_weights", "load_weights", "serialize_layer", "deserialize_layer"]
