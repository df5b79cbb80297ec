"""Modules on a CUDA device (skipped without an NVIDIA GPU and CuPy)."""
from __future__ import annotations

import numpy as np
import pytest

import ember
import ember.nn as nn
from ember.nn import init
from ember.nn.utils import clip_grad_norm_

pytestmark = pytest.mark.cuda


def small_cnn():
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                         nn.Linear(4 * 6 * 6, 3))


def test_module_to_cuda_keeps_parameters_and_matches_cpu():
    model = small_cnn()
    x = ember.randn(2, 1, 6, 6)
    expected = model(x).array
    parameters = list(model.parameters())
    assert model.to("cuda") is model
    assert all(a is b for a, b in zip(parameters, model.parameters()))
    assert all(t.device.type == "cuda" for t in list(model.parameters()) + list(model.buffers()))
    y = model(x.to("cuda"))
    assert y.device.type == "cuda"
    np.testing.assert_allclose(y.cpu().array, expected, rtol=1e-4, atol=1e-5)
    y.sum().backward()
    assert all(p.grad.device.type == "cuda" for p in model.parameters())
    total = clip_grad_norm_(model.parameters(), 1e-3)
    assert total.device.type == "cuda" and total.item() > 1e-3


def test_state_dict_moves_between_devices():
    gpu_model = small_cnn().cuda()
    cpu_model = small_cnn()
    cpu_model.load_state_dict(gpu_model.state_dict())
    for (name, gpu_value), cpu_value in zip(gpu_model.state_dict().items(), cpu_model.state_dict().values()):
        np.testing.assert_array_equal(gpu_value.cpu().array, cpu_value.array, err_msg=name)
    gpu_model.cpu()
    assert gpu_model[0].weight.device.type == "cpu"


def test_init_on_cuda_stays_on_device():
    weight = nn.Parameter(ember.empty(256, 128).to("cuda"))
    init.kaiming_uniform_(weight)
    assert weight.device.type == "cuda" and weight.dtype == np.float32
    assert float(abs(weight).max().item()) <= (6 / 128) ** 0.5
    init.orthogonal_(weight)
    gram = (weight.T @ weight).cpu().array
    np.testing.assert_allclose(gram, np.eye(128), atol=1e-4)
