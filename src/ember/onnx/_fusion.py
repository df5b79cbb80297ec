"""Rewrites of the converted graph where ONNX has one op for what Ember computes in several.

``fuse_gelu``: from opset 20 ONNX has Gelu. Ember's exact GELU is ``x * (erf(x * (1/sqrt 2)) + 1) * 0.5``,
which arrives as Mul, Erf, Add, Mul, Mul; when every intermediate feeds only the next step, the five nodes become
one Gelu (with ``approximate="none"``).
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
    """``nodes`` with each exact-GELU chain replaced by one Gelu node."""
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
    return [replacement.get(id(node), node) for node in nodes if id(node) not in removed]
