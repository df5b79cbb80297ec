"""The group-norm gradient kernels sum in float over chunks of at most 32 rows and in double across chunks
(kernels/group_norm.c, ``chunk_sums``): their error against float64, on gradients whose mean is far from
zero (where a float sum over a whole channel would lose digits), stays within that of the float32 reference
path (NumPy's pairwise sums)."""
from __future__ import annotations

import numpy as np
import pytest

import ember
from ember import config
from ember.functions.normalization import group_norm_silu

CHWN = (1, 2, 3, 0)


def _in_chwn(array):
    return np.ascontiguousarray(array.transpose(CHWN)).transpose(3, 0, 1, 2)


def _grads(function, inputs, grad, fast: bool):
    with config.override(fast_paths=fast):
        tensors = [ember.tensor(a, requires_grad=True) for a in inputs]
        function(*tensors).backward(ember.tensor(grad))
        return [t.grad.numpy().astype(np.float64) for t in tensors]


@pytest.mark.parametrize("op_name", ["group_norm", "group_norm_silu", "group_norm_silu_shift"])
def test_group_norm_gradient_sums_hold_far_from_zero(kernels, rng, op_name):
    batch, channels = 64, 8  # 64 samples: the kernels' full register blocks
    x = _in_chwn((rng.standard_normal((batch, channels, 10, 10)) * 2 + 1).astype(np.float32))
    params = [(1 + 0.1 * rng.standard_normal(channels)).astype(np.float32) for _ in range(2)]
    params += [rng.standard_normal((batch, channels)).astype(np.float32)] if op_name.endswith("shift") else []
    grad = _in_chwn((100 + rng.standard_normal(x.shape)).astype(np.float32))  # mean 100 standard deviations out

    def op(x, weight, bias, *shift):
        if op_name == "group_norm":
            return ember.group_norm(x, 2, weight, bias)
        return group_norm_silu(x, 2, weight, bias, shift=shift[0] if shift else None)

    exact = _grads(op, [a.astype(np.float64) for a in (x, *params)], grad.astype(np.float64), False)
    fast = _grads(op, [x, *params], grad, True)
    reference = _grads(op, [x, *params], grad, False)
    for got, want, float32_reference in zip(fast, exact, reference):
        scale = np.abs(want).max()
        fast_error = np.abs(got - want).max() / scale
        reference_error = np.abs(float32_reference - want).max() / scale
        assert fast_error <= max(reference_error, 1e-7), (fast_error, reference_error)
