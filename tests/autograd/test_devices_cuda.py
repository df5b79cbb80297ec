"""Device plumbing on a GPU (marked cuda: skipped without an NVIDIA GPU and CuPy)."""
from __future__ import annotations

import numpy as np
import pytest

import ember

pytestmark = pytest.mark.cuda


def test_to_cuda_and_back_keeps_values_and_gradients_flow_across():
    x = ember.tensor([1.0, 2.0, 3.0], requires_grad=True)
    on_gpu = x.to("cuda")
    assert on_gpu.device == ember.device("cuda:0") and on_gpu.is_cuda
    (on_gpu * on_gpu).sum().backward()
    assert x.grad.device == ember.device("cpu")
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 4.0, 6.0])


def test_mixing_devices_raises_naming_the_op_and_devices():
    with pytest.raises(RuntimeError, match=r"Add: expected all tensors on the same device, received cpu and cuda:0"):
        ember.ones(2) + ember.ones(2, device="cuda")


def test_numpy_of_a_cuda_tensor_asks_for_cpu_first():
    with pytest.raises(TypeError, match=r"\.cpu\(\)"):
        ember.ones(2, device="cuda").numpy()


def test_manual_seed_makes_cuda_draws_reproducible():
    ember.manual_seed(3)
    first = ember.randn(5, device="cuda").cpu().numpy()
    ember.manual_seed(3)
    np.testing.assert_array_equal(first, ember.randn(5, device="cuda").cpu().numpy())


def test_module_to_cuda_keeps_parameter_identity():
    layer = ember.nn.Linear(3, 2)
    weight = layer.weight
    layer.to("cuda")
    assert layer.weight is weight and weight.is_cuda
    assert layer(ember.ones(4, 3, device="cuda")).is_cuda
    ember.cuda.empty_cache()
