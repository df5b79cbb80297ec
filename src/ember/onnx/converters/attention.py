"""Attention: the fused ``ScaledDotProductAttention`` decomposes into MatMul(q * scale, kᵀ), the float mask
(Add), the hidden positions (Where with -inf: a bool mask and/or ``is_causal``, held by the op as a constant of
the traced shape), Softmax on the last axis and MatMul with v. Dropout is an inference no-op. A query row whose
keys are all hidden gives NaN in ONNX (Softmax of -inf), where Ember gives zeros."""
from __future__ import annotations

import numpy as np

from ...functions import attention as ops
from . import converts


@converts(ops.ScaledDotProductAttention)
def scaled_dot_product_attention(node, graph):
    names = graph.inputs(node)
    q, k, v = names[:3]
    dtype = node.outputs[0].array.dtype
    rank = node.inputs[1].array.ndim
    perm = list(range(rank - 2)) + [rank - 1, rank - 2]
    scaled = graph.add("Mul", [q, graph.constant(np.asarray(node.op.scale, dtype=dtype))])
    scores = graph.add("MatMul", [scaled, graph.add("Transpose", [k], perm=perm)])
    if len(names) > 3:
        scores = graph.add("Add", [scores, names[3]])
    if node.op.blocked is not None:
        hidden = graph.constant(np.asarray(node.op.blocked, dtype=bool))
        scores = graph.add("Where", [hidden, graph.constant(np.asarray(-np.inf, dtype=dtype)), scores])
    probabilities = graph.add("Softmax", [scores], axis=-1)
    return graph.add("MatMul", [probabilities, v])
