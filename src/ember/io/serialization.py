"""``ember.save(obj, path)`` / ``ember.load(path)`` for model and optimizer state, without pickle.

``obj`` may nest dicts (string or int keys), lists and tuples of Tensors, NumPy arrays, numbers, strings,
bools and None: the arrays go to a safetensors file, the structure to its JSON metadata.
"""
from __future__ import annotations

import json
import warnings

import numpy as np

from ..autograd.tensor import Tensor
from .safetensors import load_file, save_file

_STRUCTURE_KEY = "ember.structure"


def _host(array):
    return array.get() if hasattr(array, "get") else array


def _encode(value, arrays: dict, where: str):
    if isinstance(value, Tensor):
        arrays[str(len(arrays))] = np.asarray(_host(value.array))
        return {"tensor": str(len(arrays) - 1)}
    if isinstance(value, np.ndarray):
        arrays[str(len(arrays))] = value
        return {"array": str(len(arrays) - 1)}
    if isinstance(value, dict):
        items = []
        for key, item in value.items():
            if not isinstance(key, (str, int)) or isinstance(key, bool):
                raise TypeError(f"ember.save: dict keys must be str or int, found {key!r} at {where}")
            items.append([key, _encode(item, arrays, f"{where}[{key!r}]")])
        return {"dict": items}
    if isinstance(value, (list, tuple)):
        kind = "list" if isinstance(value, list) else "tuple"
        return {kind: [_encode(item, arrays, f"{where}[{i}]") for i, item in enumerate(value)]}
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return {"value": value}
    raise TypeError(
        f"ember.save: cannot save a {type(value).__name__} at {where}; save tensors, arrays, numbers, strings "
        "and dicts/lists of them (e.g. model.state_dict())"
    )


def _decode(node, arrays: dict):
    if "tensor" in node:
        return Tensor(arrays[node["tensor"]])
    if "array" in node:
        return arrays[node["array"]]
    if "dict" in node:
        return {key: _decode(item, arrays) for key, item in node["dict"]}
    if "list" in node:
        return [_decode(item, arrays) for item in node["list"]]
    if "tuple" in node:
        return tuple(_decode(item, arrays) for item in node["tuple"])
    return node["value"]


def to_arrays(obj, where: str = "obj") -> tuple[dict, str]:
    """``obj`` taken apart as ``save`` stores it: its arrays (host NumPy), named "0", "1", ..., and its
    structure as JSON. ``where`` names ``obj`` in errors."""
    arrays: dict = {}
    structure = _encode(obj, arrays, where)
    return arrays, json.dumps(structure)


def from_arrays(structure: str, arrays: dict):
    """The object ``to_arrays`` took apart, from its JSON ``structure`` and ``arrays``. A damaged record raises
    ValueError (JSON), KeyError, TypeError or RecursionError."""
    return _decode(json.loads(structure), arrays)


def save(obj, path) -> None:
    """Save ``obj`` (e.g. ``model.state_dict()``) to ``path`` atomically, in safetensors format."""
    arrays, structure = to_arrays(obj)
    save_file(arrays, path, metadata={_STRUCTURE_KEY: structure})


def load(path, map_location=None, weights_only: bool = True):
    """Load what ``save`` wrote, onto ``map_location`` when given (default: the CPU).

    Files hold arrays and a JSON structure, never code, so every load is weights-only: ``weights_only=False``
    (PyTorch's permission to unpickle arbitrary objects) warns that it has no effect."""
    if not weights_only:
        warnings.warn("ember.load: weights_only=False has no effect in Ember: files hold arrays and their "
                      "structure, never pickled objects", UserWarning, stacklevel=2)
    arrays, metadata = load_file(path)
    if _STRUCTURE_KEY not in metadata:
        return {name: Tensor(array) for name, array in arrays.items()}  # a plain safetensors file
    try:
        result = from_arrays(metadata[_STRUCTURE_KEY], arrays)
    except RecursionError:
        raise ValueError(f"ember.load: '{path}' has a corrupt structure record (nested too deeply)") from None
    except (KeyError, TypeError, ValueError) as error:  # ValueError: JSONDecodeError, an item that is no pair
        raise ValueError(f"ember.load: '{path}' has a corrupt structure record ({error})") from None
    if map_location is not None and str(map_location) != "cpu":
        return _to_device(result, map_location)
    return result


def _to_device(value, device):
    if isinstance(value, Tensor):
        return value.to(device)
    if isinstance(value, dict):
        return {k: _to_device(v, device) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_to_device(v, device) for v in value)
    return value
