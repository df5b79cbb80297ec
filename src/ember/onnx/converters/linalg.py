"""Matrix products: MatMul, Linear/Dense (``Affine``: Gemm for 2-d inputs, else MatMul and Add), Einsum."""
from __future__ import annotations

from ...functions import linalg as ops
from . import converts


@converts(ops.MatMul)
def matmul(node, graph):
    return graph.add("MatMul", graph.inputs(node))


@converts(ops.Affine)
def affine(node, graph):
    """``x @ W.T + b`` (nn.Linear's (out, in) weight) or ``x @ W + b`` (Keras Dense's (in, out) kernel)."""
    names = graph.inputs(node)
    x, weight = names[0], names[1]
    bias = names[2] if len(names) > 2 else ""
    if node.inputs[0].array.ndim == 2:
        return graph.add("Gemm", [x, weight, bias] if bias else [x, weight], transB=int(node.op.transposed))
    if node.op.transposed:
        weight = graph.add("Transpose", [weight], perm=[1, 0])
    y = graph.add("MatMul", [x, weight])
    return graph.add("Add", [y, bias]) if bias else y


@converts(ops.Einsum)
def einsum(node, graph):
    equation = ",".join(node.op.subscripts) + "->" + node.op.output
    return graph.add("Einsum", graph.inputs(node), equation=equation)
