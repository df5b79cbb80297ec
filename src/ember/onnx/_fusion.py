"""Rewrites of the converted graph where ONNX has one op for what Ember computes in several.

``fuse_gelu``: from opset 20 ONNX has Gelu. Ember's exact GELU is ``x * (erf(x * (1/sqrt 2)) + 1) * 0.5``,
which arrives as Mul, Erf, Add, Mul, Mul; when every intermediate feeds only the next step, the five nodes become
one Gelu (with ``approximate="none"``). The tanh approximation ``x * (tanh((x + x*x*x * 0.044715) *
sqrt(2/π)) + 1) * 0.5`` (Mul, Mul, Mul, Add, Mul, Tanh, Add, Mul, Mul) becomes one Gelu with
``approximate="tanh"`` the same way.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

GELU_OPSET = 20


def _scalar(values: dict[str, np.ndarray], name: str, expected: float) -> bool:
    value = values.get(name)
    return value is not None and value.size == 1 and bool(np.isclose(float(value.reshape(-1)[0]), expected,
                                                                      rtol=1e-6, atol=0))


def _other(node, name: str) -> str | None:
    """The input of a two-input node that is not ``name`` (None if ``name`` is not one of them)."""
    inputs = list(node.input)
    if len(inputs) != 2 or name not in inputs:
        return None
    return inputs[1] if inputs[0] == name else inputs[0]


def fuse_gelu(nodes: list[Any], values: dict[str, np.ndarray], make_node) -> list[Any]:
    """``nodes`` with each GELU chain (exact or tanh) replaced by one Gelu node."""
    producer = {output: node for node in nodes for output in node.output}
    consumers: dict[str, list[Any]] = {}
    for node in nodes:
        for name in node.input:
            consumers.setdefault(name, []).append(node)

    def only_consumer(name: str, op_type: str):
        users = consumers.get(name, [])
        if len(users) != 1 or users[0].op_type != op_type:
            return None
        return users[0]

    removed: set[int] = set()
    replacement: dict[int, Any] = {}
    for erf in nodes:
        if erf.op_type != "Erf":
            continue
        scale = producer.get(erf.input[0])
        if scale is None or scale.op_type != "Mul" or only_consumer(erf.input[0], "Erf") is None:
            continue
        x = next((name for name in scale.input if _scalar(values, _other(scale, name) or "", 1 / math.sqrt(2))),
                 None)
        add = only_consumer(erf.output[0], "Add")
        if x is None or add is None or not _scalar(values, _other(add, erf.output[0]) or "", 1.0):
            continue
        times_x = only_consumer(add.output[0], "Mul")
        if times_x is None or _other(times_x, add.output[0]) != x:
            continue
        half = only_consumer(times_x.output[0], "Mul")
        if half is None or not _scalar(values, _other(half, times_x.output[0]) or "", 0.5):
            continue
        removed.update(id(node) for node in (scale, erf, add, times_x))
        replacement[id(half)] = make_node("Gelu", [x], list(half.output), name=f"{half.name}:Gelu")
    for tanh in nodes:
        if tanh.op_type != "Tanh":
            continue
        chain = _tanh_gelu_chain(tanh, producer, only_consumer, values)
        if chain is None:
            continue
        x, inner_nodes, half = chain
        removed.update(id(node) for node in inner_nodes)
        replacement[id(half)] = make_node("Gelu", [x], list(half.output), name=f"{half.name}:Gelu",
                                          approximate="tanh")
    return [replacement.get(id(node), node) for node in nodes if id(node) not in removed]


def _tanh_gelu_chain(tanh, producer, only_consumer, values):
    """For a Tanh of Ember's tanh-GELU ``x * (tanh((x + x*x*x * 0.044715) * sqrt(2/π)) + 1) * 0.5``: ``(x,
    the nodes before the last, the last Mul)``; None for any other Tanh. Every intermediate must feed only the
    next step."""
    scaled = producer.get(tanh.input[0])
    if scaled is None or scaled.op_type != "Mul" or only_consumer(tanh.input[0], "Tanh") is None:
        return None
    total = next((name for name in scaled.input
                  if _scalar(values, _other(scaled, name) or "", math.sqrt(2 / math.pi))), None)
    sum_node = producer.get(total) if total is not None else None
    if sum_node is None or sum_node.op_type != "Add" or only_consumer(total, "Mul") is None:
        return None
    for x in sum_node.input:
        cubic = producer.get(_other(sum_node, x) or "")
        if cubic is None or cubic.op_type != "Mul" or only_consumer(cubic.output[0], "Add") is None:
            continue
        cube_name = next((name for name in cubic.input if _scalar(values, _other(cubic, name) or "", 0.044715)),
                         None)
        cube = producer.get(cube_name) if cube_name is not None else None
        if cube is None or cube.op_type != "Mul" or only_consumer(cube_name, "Mul") is None:
            continue
        square_name = _other(cube, x)
        square = producer.get(square_name) if square_name is not None else None
        if square is None or square.op_type != "Mul" or list(square.input) != [x, x] \
                or only_consumer(square_name, "Mul") is None:
            continue
        add = only_consumer(tanh.output[0], "Add")
        if add is None or not _scalar(values, _other(add, tanh.output[0]) or "", 1.0):
            return None
        times_x = only_consumer(add.output[0], "Mul")
        if times_x is None or _other(times_x, add.output[0]) != x:
            return None
        half = only_consumer(times_x.output[0], "Mul")
        if half is None or not _scalar(values, _other(half, times_x.output[0]) or "", 0.5):
            return None
        return x, (square, cube, cubic, sum_node, scaled, tanh, add, times_x), half
    return None


def without_dead_nodes(nodes: list[Any], outputs: list[str]) -> list[Any]:
    """``nodes`` (in topological order) less those whose outputs reach neither another node nor ``outputs``
    (what a rewrite, such as two Resizes merged into one, left unused)."""
    needed = set(outputs)
    kept = []
    for node in reversed(nodes):
        if any(name in needed for name in node.output):
            kept.append(node)
            needed.update(node.input)
    return kept[::-1]
