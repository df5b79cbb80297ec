"""ember.nn.utils.fuse: the opt-in pass that pools before the ReLU, with the same numbers."""
from __future__ import annotations

import numpy as np
import pytest

import ember
import ember.nn as nn
from ember.nn.utils import MaxPool2dReLU, fuse


def _relu_pool_net():
    return nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Sequential(nn.ReLU(), nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True)))


def _outputs_and_gradients(model, x_np):
    model.zero_grad()
    x = ember.tensor(x_np, requires_grad=True)
    y = model(x)
    upstream = np.random.default_rng(1).standard_normal(y.shape).astype(np.float32)
    (y * ember.tensor(upstream)).sum().backward()
    return [y.numpy(), x.grad.numpy()] + [p.grad.numpy() for p in model.parameters()]


def test_fuse_pools_before_relu_with_the_same_outputs_and_gradients(monkeypatch):
    """Outputs and gradients equal the model as written, windows of negative numbers, zeros and ties
    included; the ReLU runs on the pooled numbers; the original model is untouched (a copy)."""
    ember.manual_seed(0)
    model = _relu_pool_net()
    fused = fuse(model)
    assert isinstance(fused[1], MaxPool2dReLU) and isinstance(fused[2], nn.Identity)
    assert isinstance(fused[3][0], MaxPool2dReLU) and type(model[1]) is nn.ReLU  # nested too; a copy
    assert list(fused.state_dict()) == list(model.state_dict())
    assert "MaxPool2dReLU" in repr(fused)
    rng = np.random.default_rng(0)
    x_np = np.round(rng.standard_normal((3, 2, 9, 9)), 1).astype(np.float32)  # ties and zeros
    x_np[0, :, :4, :4] = -1.0  # windows with nothing positive
    plain = _outputs_and_gradients(model, x_np)
    relu_inputs, relu = [], nn.functional.relu
    monkeypatch.setattr(nn.functional, "relu", lambda x: relu_inputs.append(tuple(x.shape)) or relu(x))
    faster = _outputs_and_gradients(fused, x_np)
    assert relu_inputs == [(3, 4, 4, 4), (3, 4, 3, 3)]  # after each pool
    for got, want in zip(faster, plain):
        np.testing.assert_array_equal(got, want)


def test_fuse_leaves_pairs_whose_difference_would_show():
    """Hooks on either module, indices asked of the pool, a subclass: left as written."""

    class Counting(nn.ReLU):
        pass

    hooked = nn.ReLU()
    hooked.register_forward_hook(lambda module, inputs, output: None)
    model = nn.Sequential(Counting(), nn.MaxPool2d(2), hooked, nn.MaxPool2d(2), nn.ReLU(),
                          nn.MaxPool2d(2, return_indices=True))
    fused = fuse(model, inplace=True)
    assert fused is model
    assert [type(m).__name__ for m in fused] == ["Counting", "MaxPool2d", "ReLU", "MaxPool2d", "ReLU", "MaxPool2d"]


def test_fuse_refuses_what_is_not_a_module():
    with pytest.raises(TypeError, match="fuse: expected an nn.Module, received list"):
        fuse([nn.ReLU()])
