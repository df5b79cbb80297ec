"""The op table on the GPU: every case's forward and gradients match the CPU (float32, rel. error ≤ 1e-4), and
float64 gradcheck passes on CuPy arrays. Skipped without an NVIDIA GPU and CuPy."""
from __future__ import annotations

import numpy as np
import pytest

import ember
from ember.autograd import gradcheck

from .test_op_table import CASES, _as_tuple, _grad_positions

pytestmark = pytest.mark.cuda


def _tensors(arrays, dtype, positions, device):
    result = []
    for position, array in enumerate(arrays):
        if array.dtype.kind == "f":
            result.append(ember.tensor(array.astype(dtype), device=device, requires_grad=position in positions))
        else:
            result.append(ember.tensor(array, device=device))
    return result


def _host(tensor):
    return tensor.cpu().numpy().astype(np.float64) if tensor.dtype.kind == "f" else tensor.cpu().numpy()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_gpu_forward_and_gradients_match_cpu(case):
    arrays = [np.asarray(a) for a in case.make_inputs(np.random.default_rng(0))]
    positions = _grad_positions(case, arrays)
    results = {}
    for device in ("cpu", "cuda"):
        inputs = _tensors(arrays, np.float32, positions, device)
        outputs = [out for out in _as_tuple(case.op(*inputs))]
        differentiable = [out for out in outputs if out.requires_grad]
        if differentiable:
            ember.autograd.backward(differentiable, [ember.ones_like(out) for out in differentiable])
        results[device] = ([_host(out) for out in outputs],
                           [_host(inputs[i].grad) if inputs[i].grad is not None else None for i in sorted(positions)])
    for cpu, gpu in zip(results["cpu"][0] + results["cpu"][1], results["cuda"][0] + results["cuda"][1]):
        if cpu is None:
            assert gpu is None
            continue
        np.testing.assert_allclose(gpu, cpu, rtol=1e-4, atol=1e-5, err_msg=case.name)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_gpu_gradcheck_float64(case):
    arrays = [np.asarray(a) for a in case.make_inputs(np.random.default_rng(1))]
    positions = _grad_positions(case, arrays)
    rtol, atol = case.grad_tol
    assert gradcheck(case.op, _tensors(arrays, np.float64, positions, "cuda"), rtol=rtol, atol=atol)
