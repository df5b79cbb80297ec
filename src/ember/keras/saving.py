"""Saving Keras models: ``model.save("m.keras")`` and ``keras.models.load_model("m.keras")``.

A ``.keras`` file is a zip archive holding ``config.json`` (the architecture: layer classes and their
configs), ``compile.json`` (optimizer, loss and metric names, when compiled) and ``model.weights.safetensors``
(the state dict, and unless ``include_optimizer=False`` the optimizer's state under ``optimizer/``, as
Keras 3 keeps it). Nothing is pickled; files are written atomically (temporary file, then rename).

Loading checks the archive before reading it: the zip directory's sizes must be plausible for the file's
size, and every class, argument and name in ``config.json`` and ``compile.json`` must be known, so that a
bad archive fails in ``load_model`` with a ValueError naming the file, not later in ``fit``.
"""
from __future__ import annotations

import inspect
import io
import json
import os
import zipfile
import zlib

import numpy as np

from ..autograd.grad_mode import no_grad
from ..io.safetensors import atomic_write, dumps, load_file, loads, save_file
from . import layers as layers_module
from ._ignored import warn_no_effect
from .layers.base import Layer

FORMAT = "ember.keras/1"
CONFIG_NAME, COMPILE_NAME, WEIGHTS_NAME = "config.json", "compile.json", "model.weights.safetensors"
OPTIMIZER_PREFIX = "optimizer/"
# Ember writes archives uncompressed; a member may expand at most this much over its stored bytes, and all
# members together at most this much over the archive's size (plus a small allowance for tiny archives)
MAX_EXPANSION = 64
EXPANSION_ALLOWANCE = 1 << 20
MAX_MEMBERS = 64


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
    return {name: np.asarray(t.array.get() if hasattr(t.array, "get") else t.array)
            for name, t in model.state_dict().items()}


def save_model(model, filepath, overwrite: bool = True, include_optimizer: bool = True) -> None:
    """Write ``model`` to a ``.keras`` archive; ``include_optimizer=False`` leaves the optimizer's state out
    (its compile settings are kept either way)."""
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
        arrays = _host_state(model)
        if include_optimizer:
            arrays.update(_optimizer_state(model))
        archive.writestr(WEIGHTS_NAME, dumps(arrays))
    atomic_write(filepath, buffer.getvalue())


def _optimizer_state(model) -> dict:
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None or not optimizer.built:
        return {}
    store: dict = {}
    optimizer.save_own_variables(store)
    return {OPTIMIZER_PREFIX + key: value for key, value in store.items()}


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
    """Rebuild a model saved with ``model.save`` (architecture, weights, compile settings and, when saved,
    the optimizer's state, so that ``fit`` continues where it stopped).

    Raises ValueError naming the file for anything wrong with it: not a zip archive, sizes out of proportion
    to the file, malformed or too deeply nested JSON, unknown layers, losses, metrics or optimizer arguments,
    weights that do not fit the model. ``safe_mode=False`` warns that it has no effect: an Ember archive
    holds no code to allow or refuse."""
    if not safe_mode:
        warn_no_effect("load_model", "safe_mode", safe_mode, "archives hold configs and arrays, never code",
                       stacklevel=4)
    filepath = os.fspath(filepath)
    architecture, weights, compile_config = _read_archive(filepath)
    try:
        if not isinstance(architecture, dict) or architecture.get("format") != FORMAT:
            found = architecture.get("format") if isinstance(architecture, dict) else type(architecture).__name__
            raise ValueError(f"has format {found!r}, expected {FORMAT!r}")
        model = _model_from_config(architecture, custom_objects)
        if not model.built:
            model.build(model._batch_input_shape)
        optimizer_state = {key[len(OPTIMIZER_PREFIX):]: weights.pop(key)
                           for key in [key for key in weights if key.startswith(OPTIMIZER_PREFIX)]}
        _load_state(model, weights, filepath)
        if compile and compile_config is not None:
            _recompile(model, compile_config, custom_objects)
            if optimizer_state:
                model.optimizer.build(model.parameters())
                model.optimizer.load_own_variables(optimizer_state)
    except (ValueError, KeyError, TypeError, AttributeError, IndexError, RecursionError) as error:
        message = str(error) if isinstance(error, ValueError) else f"malformed ({type(error).__name__}: {error})"
        if filepath in message:
            raise
        raise ValueError(f"load_model: '{filepath}': {message}") from error
    return model


def _read_archive(filepath: str) -> tuple:
    """``(architecture, weights, compile_config or None)`` from the archive, its directory checked first."""
    archive_size = os.path.getsize(filepath)  # a missing or unreadable file keeps its own OSError
    with open(filepath, "rb") as handle:
        return _read_open_archive(handle, filepath, archive_size)


def _read_open_archive(handle, filepath: str, archive_size: int) -> tuple:
    try:
        with zipfile.ZipFile(handle) as archive:
            _check_directory(archive, filepath, archive_size)
            names = set(archive.namelist())
            missing = {CONFIG_NAME, WEIGHTS_NAME} - names
            if missing:
                raise ValueError(f"load_model: '{filepath}' lacks {sorted(missing)}; it is not an Ember .keras file")
            architecture = json.loads(_read_member(archive, CONFIG_NAME, filepath))
            weights, _ = loads(_read_member(archive, WEIGHTS_NAME, filepath), f"{filepath}:{WEIGHTS_NAME}")
            compile_config = None
            if COMPILE_NAME in names:
                compile_config = json.loads(_read_member(archive, COMPILE_NAME, filepath))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError, RuntimeError, zlib.error,
            OSError) as error:  # the file is open: an OSError here comes from seeking in a damaged directory
        raise ValueError(f"load_model: '{filepath}' is not a valid .keras archive (corrupt or truncated: "
                         f"{error})") from None
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as error:
        reason = "nested too deeply" if isinstance(error, RecursionError) else error
        raise ValueError(f"load_model: '{filepath}' has a corrupt config ({reason})") from None
    return architecture, weights, compile_config


def _check_directory(archive: zipfile.ZipFile, filepath: str, archive_size: int) -> None:
    """Refuse, before reading any member, an archive whose directory promises more bytes than its size allows."""
    members = archive.infolist()
    if len(members) > MAX_MEMBERS:
        raise ValueError(f"load_model: '{filepath}' holds {len(members)} members, an Ember .keras archive at most "
                         f"{MAX_MEMBERS}")
    total = sum(member.file_size for member in members)
    limit = MAX_EXPANSION * archive_size + EXPANSION_ALLOWANCE
    if total > limit:
        raise ValueError(f"load_model: '{filepath}' ({archive_size} bytes) claims {total} bytes uncompressed, "
                         f"more than the {limit} allowed for its size (a zip bomb or a corrupt directory)")
    for member in members:
        if member.compress_size > archive_size:
            raise ValueError(f"load_model: '{filepath}': member {member.filename!r} claims {member.compress_size} "
                             f"stored bytes, more than the archive's {archive_size} (corrupt directory)")
        if member.file_size > EXPANSION_ALLOWANCE and member.file_size > MAX_EXPANSION * member.compress_size:
            raise ValueError(f"load_model: '{filepath}': member {member.filename!r} expands from "
                             f"{member.compress_size} to {member.file_size} bytes, more than {MAX_EXPANSION} "
                             "times (a zip bomb?)")


def _read_member(archive: zipfile.ZipFile, name: str, filepath: str) -> bytes:
    """A member's bytes, never more than the directory declares."""
    size = archive.getinfo(name).file_size
    with archive.open(name) as stream:
        data = stream.read(size + 1)
    if len(data) != size:
        raise ValueError(f"load_model: '{filepath}': member {name!r} holds {len(data)} bytes, the directory "
                         f"declares {size}")
    return data


def _known_class(kind: str, name, known: dict, custom_objects):
    if isinstance(name, str) and custom_objects and name in custom_objects:
        return custom_objects[name]
    if not isinstance(name, str) or name not in known:
        raise ValueError(f"unknown {kind} {name!r} in {COMPILE_NAME}; expected one of {sorted(known)} or a class "
                         "in custom_objects")
    return known[name]


def _recompile(model, config, custom_objects=None) -> None:
    """Compile ``model`` as ``compile.json`` says, checking every name and argument first."""
    from . import losses, metrics, optimizers

    if not isinstance(config, dict):
        raise ValueError(f"{COMPILE_NAME} is not a JSON object")
    known_optimizers = {cls.__name__: cls for cls in (optimizers.SGD, optimizers.Adam, optimizers.AdamW,
                                                       optimizers.RMSprop)}
    optimizer_class = _known_class("optimizer", config["optimizer"]["class_name"], known_optimizers,
                                   custom_objects)
    optimizer_config = dict(config["optimizer"]["config"])
    try:
        optimizer = optimizer_class(**optimizer_config)
    except TypeError as error:
        raise ValueError(f"optimizer {optimizer_class.__name__} in {COMPILE_NAME} has invalid arguments "
                         f"({error})") from None
    loss_class = _known_class("loss", config["loss"]["class_name"], losses._CLASSES, custom_objects)
    try:
        loss = loss_class(**dict(config["loss"]["config"]))
        if getattr(loss_class, "function", None) is not None:
            inspect.signature(loss_class.function).bind(None, None, **loss.options)
    except TypeError as error:
        raise ValueError(f"loss {loss_class.__name__} in {COMPILE_NAME} has invalid arguments ({error})") from None
    metric_names = config["metrics"]
    if not isinstance(metric_names, list) or not all(isinstance(name, str) for name in metric_names):
        raise ValueError(f"{COMPILE_NAME}: metrics must be a list of names, found {metric_names!r}")
    for name in metric_names:
        metrics.get(name, loss)  # an unknown name raises ValueError now rather than on the first batch
    model.compile(optimizer=optimizer, loss=loss, metrics=metric_names, loss_weights=config.get("loss_weights"))


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
