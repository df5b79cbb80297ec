"""Indexing: ``x[key]`` (Slice, Gather, Squeeze, Unsqueeze), an embedding lookup ``weight[indices]`` (Gather
with the indices a graph input), ``gather`` (GatherElements) and ``tril``/``triu`` (Trilu)."""
from __future__ import annotations

from typing import Any

import numpy as np

from ...functions import indexing as ops
from . import converts

_INT64_MAX = np.iinfo(np.int64).max


def _simulate(parts, array):
    """The same steps on the traced array, to check that they give NumPy's result for this key."""
    axis = 0
    for kind, item in parts:
        if kind == "none":
            array = np.expand_dims(array, axis)
            axis += 1
        elif kind == "slice":
            array = array[(slice(None),) * axis + (item,)]
            axis += 1
        else:  # an int or an integer array: Gather
            index = np.asarray(item)
            array = np.take(array, index, axis=axis)
            axis += index.ndim
    return array


def _parts(key, ndim: int, graph) -> list:
    """The key as ("none" | "slice" | "take", item) steps, one per key entry, the ellipsis expanded."""
    entries = list(key) if isinstance(key, tuple) else [key]
    consumed = sum(1 for entry in entries if entry is not None and entry is not Ellipsis
                   and not (isinstance(entry, np.ndarray) and entry.dtype == np.bool_))
    parts: list[tuple[str, Any]] = []
    for entry in entries:
        if entry is Ellipsis:
            parts.extend(("slice", slice(None)) for _ in range(ndim - consumed))
        elif entry is None:
            parts.append(("none", None))
        elif isinstance(entry, slice):
            parts.append(("slice", entry))
        elif isinstance(entry, (int, np.integer)) and not isinstance(entry, bool):
            parts.append(("take", int(entry)))
        elif isinstance(entry, np.ndarray) and entry.dtype.kind in "iu":
            parts.append(("take", entry))
        else:
            raise graph.unsupported(f"index key entries of type {type(entry).__name__} (boolean masks) are not "
                                    "exported; use where() or integer indices")
    return parts


@converts(ops.Index)
def index(node, graph):
    final = graph.final_states.get(id(node.inputs[0]))
    key = node.op.key if isinstance(node.op.key, tuple) else (node.op.key,)
    if final is not None and len(key) == 1 and isinstance(key[0], (int, np.integer)) and key[0] % final[1] == final[0]:
        return graph.add("Identity", [final[2]])
    (x,) = graph.inputs(node)
    parts = _parts(node.op.key, node.inputs[0].array.ndim, graph)
    arrays = [item for kind, item in parts if kind == "take" and isinstance(item, np.ndarray)]
    expected = node.outputs[0].array
    simulated = _simulate(parts, node.inputs[0].array)
    if len(arrays) > 1 or simulated.shape != expected.shape or not np.array_equal(simulated, expected):
        raise graph.unsupported(f"the index key {node.op.key!r} (several index arrays) is not exported")
    _check_same_key(node, graph)
    axis = 0
    for kind, item in parts:
        if kind == "none":
            x = graph.add("Unsqueeze", [x, graph.ints([axis])])
            axis += 1
        elif kind == "slice":
            if item != slice(None):
                x = _slice(graph, x, item, axis)
            axis += 1
        else:
            dynamic = node.key_values.get(id(item)) if isinstance(item, np.ndarray) else None
            if dynamic is not None:
                indices = graph.name_of(dynamic)
            else:
                indices = graph.constant(np.asarray(item, dtype=np.int64))
            x = graph.add("Gather", [x, indices], axis=axis)
            axis += np.ndim(item)
    return graph.add("Identity", [x]) if x == graph.name_of(node.inputs[0]) else x


def _check_same_key(node, graph) -> None:
    """Index arrays in the key that are not graph values must be the same in both traces (else they were
    computed from the inputs, with argmax or a comparison, outside the recorded ops)."""
    if node.alternate is None:
        return
    ours = node.op.key if isinstance(node.op.key, tuple) else (node.op.key,)
    theirs = node.alternate.op.key if isinstance(node.alternate.op.key, tuple) else (node.alternate.op.key,)
    for mine, other in zip(ours, theirs):
        if isinstance(mine, np.ndarray):
            same = id(mine) in node.key_values or (isinstance(other, np.ndarray) and np.array_equal(mine, other))
        else:
            same = type(mine) is type(other) and mine == other
        if not same:
            raise graph.unsupported(
                f"the index key entry {mine!r} changes with the inputs ({other!r} in a trace with other input "
                "values and dynamic sizes): it was computed from them outside the ops Ember records (argmax, "
                "nonzero, a comparison, a size read from a shape)")


def _slice(graph, x: str, item: slice, axis: int) -> str:
    step = 1 if item.step is None else int(item.step)
    if step > 0:
        start = 0 if item.start is None else int(item.start)
        stop = _INT64_MAX if item.stop is None else int(item.stop)
    else:
        start = -1 if item.start is None else int(item.start)
        stop = -_INT64_MAX if item.stop is None else int(item.stop)
    return graph.add("Slice", [x, graph.ints([start]), graph.ints([stop]), graph.ints([axis]), graph.ints([step])])


@converts(ops.Gather)
def gather(node, graph):
    (x,) = graph.inputs(node)
    indices = np.asarray(node.op.indices, dtype=np.int64)
    if node.alternate is not None and not np.array_equal(indices, np.asarray(node.alternate.op.indices)):
        raise graph.unsupported(
            f"its index of shape {indices.shape} changes with the inputs (shape "
            f"{np.shape(node.alternate.op.indices)} in a trace with other input values and dynamic sizes); "
            "an index expanded to the batch size or computed from the inputs is not exported")
    if indices.shape != node.inputs[0].array.shape:
        x = graph.add("Slice", [x, graph.ints([0] * indices.ndim), graph.ints(indices.shape),
                                graph.ints(range(indices.ndim))])
    return graph.add("GatherElements", [x, graph.constant(indices)], axis=int(node.op.axis))


@converts(ops.Triangle)
def triangle(node, graph):
    (x,) = graph.inputs(node)
    return graph.add("Trilu", [x, graph.constant(np.asarray(node.op.diagonal, dtype=np.int64))],
                     upper=int(node.op.upper))
