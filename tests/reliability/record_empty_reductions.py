"""Record PyTorch's behaviour of reductions over empty tensors into ``empty_reductions.json``.

Run with a Python that has PyTorch (2.x): ``python tests/reliability/record_empty_reductions.py``. For each
op, input shape and ``dim`` it stores either the result's shape and values or the exception's type and
message; ``test_threads_and_edges.py`` checks Ember against the table.
"""
from __future__ import annotations

import json
import math
import pathlib

import torch

OPS = ["sum", "mean", "prod", "max", "min", "amax", "amin", "argmax", "argmin", "logsumexp", "var", "std",
       "any", "all", "norm"]
SHAPES = [(0,), (0, 3), (3, 0), (2, 0, 3)]
DIMS = [None, 0, 1, -1]


def call(op, x, dim):
    function = getattr(torch, op)
    if dim is None:
        return function(x)
    return function(x, dim=dim)


def describe(value):
    if isinstance(value, tuple):  # max/min with dim: (values, indices)
        value = value[0]
    values = [None if math.isnan(v) else v for v in value.double().flatten().tolist()]
    return {"shape": list(value.shape), "values": values}


def main():
    table = []
    for op in OPS:
        for shape in SHAPES:
            for dim in DIMS:
                if dim is not None and dim >= len(shape):
                    continue
                x = torch.zeros(shape, dtype=torch.bool if op in ("any", "all") else torch.float32)
                entry = {"op": op, "shape": list(shape), "dim": dim}
                try:
                    entry["result"] = describe(call(op, x, dim))
                except Exception as error:  # noqa: BLE001 - record whatever PyTorch raises
                    entry["error"] = {"type": type(error).__name__, "message": str(error).split("\n")[0]}
                table.append(entry)
    path = pathlib.Path(__file__).with_name("empty_reductions.json")
    path.write_text(json.dumps({"torch": torch.__version__, "cases": table}, indent=1) + "\n")


if __name__ == "__main__":
    main()
