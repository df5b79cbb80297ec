"""The group-norm kernels: the gradient kernels sum in float over chunks of at most 32 rows and in double
across chunks (kernels/group_norm.c, ``chunk_sums``), and their error against float64, on gradients whose
mean is far from zero (where a float sum over a whole channel would lose digits), stays within that of the
float32 reference path (NumPy's pairwise sums); the GroupNormSiLU kernels refuse arrays that do not fit
before they run."""
from __future__ import annotations

import numpy as np
import pytest

import ember
from ember import config
from ember.backend import compiled
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


def test_group_norm_silu_kernels_refuse_arrays_that_do_not_fit(kernels):
    groups, count, batch = 2, 6, 4
    x = np.zeros((groups, count, batch), np.float32)
    y, grad, grad_input = (np.zeros_like(x) for _ in range(3))
    mean, inv_std = np.zeros((batch, groups), np.float32), np.ones((batch, groups), np.float32)
    weight, bias = np.ones(6, np.float32), np.zeros(6, np.float32)
    grad_weight, grad_bias = np.zeros(6, np.float32), np.zeros(6, np.float32)
    with pytest.raises(ValueError, match=r"group_norm_silu_forward: .*input_shift \(4, 4\)"):
        kernels.group_norm_silu_forward(x, True, groups, 2, True, weight, bias, 1e-5, None, y, mean, inv_std, 0,
                                        groups, input_shift=np.zeros((batch, batch), np.float32))
    with pytest.raises(ValueError, match="group_norm_silu_backward_from_x: arrays that do not fit"):
        kernels.group_norm_silu_backward_from_x(grad, x, groups, 2, mean, inv_std, weight, bias, grad_input,
                                                grad_weight, grad_bias, 0, groups + 1)  # a group too many
    with pytest.raises(ValueError, match="counter must be a writeable int64 array"):
        kernels.group_norm_silu_backward_from_x(grad, x, groups, 2, mean, inv_std, weight, bias, grad_input,
                                                grad_weight, grad_bias, 0, groups, counter=np.zeros(1, np.int32))
    kernels.group_norm_silu_forward(x, True, groups, 2, True, weight, bias, 1e-5, None, y, mean, inv_std, 0, groups,
                                    counter=compiled.new_counter())
    np.testing.assert_array_equal(y, np.zeros_like(y))  # silu(0 * inv_std + 0)
