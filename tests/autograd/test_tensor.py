"""Tensor basics: attributes, conversion, repr, dtype rules, devices."""
from __future__ import annotations

import numpy as np
import pytest

import ember


def test_attributes():
    x = ember.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True)
    assert x.shape == (2, 3) and x.size() == (2, 3) and x.size(1) == 3 and x.size(-1) == 3
    assert x.ndim == 2 and x.dim() == 2 and x.numel() == 6 and len(x) == 2
    assert x.dtype == ember.float32 and str(x.device) == "cpu"
    assert x.is_leaf and x.requires_grad and x.grad is None
    y = x * 2.0
    assert not y.is_leaf and y.grad_fn is y.creator


def test_item_tolist_numpy():
    x = ember.tensor([[1.5]])
    assert x.item() == 1.5 and isinstance(x.item(), float)
    assert ember.tensor([[1, 2]]).tolist() == [[1, 2]]
    array = np.arange(3, dtype=np.float32)
    assert ember.from_numpy(array).numpy() is array
    with pytest.raises(ValueError, match=r"one-element.*\(2,\)"):
        ember.tensor([1.0, 2.0]).item()


def test_repr_looks_like_pytorch():
    assert repr(ember.tensor([1.0, 2.5])) == "tensor([1.0000, 2.5000])"
    assert repr(ember.tensor([1, 2])) == "tensor([1, 2])"
    assert repr(ember.tensor([1.0], requires_grad=True)) == "tensor([1.], requires_grad=True)"
    assert repr(ember.tensor([1.0], dtype=ember.float64)) == "tensor([1.], dtype=ember.float64)"
    assert "grad_fn=<MulBackward0>" in repr(ember.tensor([1.0], requires_grad=True) * 2.0)


def test_python_scalars_never_upcast_float32():
    x = ember.ones(3)
    for result in (x * 2.5, 2.5 * x, x + 1, x / 3, x - np.float64(1.0), x ** 2, np.float64(2.0) * x):
        assert result.dtype == ember.float32


def test_numpy_array_on_the_left_gives_a_tensor():
    x = ember.ones(3)
    result = np.ones(3, dtype=np.float32) * x
    assert isinstance(result, ember.Tensor)


def test_to_dtype_is_differentiable_and_to_same_returns_self():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    assert x.to(ember.float32) is x
    y = x.double()
    assert y.dtype == ember.float64
    (y * y).sum().backward()
    assert x.grad.dtype == ember.float32
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 4.0])


def test_device_strings_and_errors():
    assert ember.device("cpu") == "cpu"
    assert str(ember.device("cuda:1")) == "cuda:1"
    with pytest.raises(ValueError, match="tpu"):
        ember.device("tpu")
    assert ember.ones(2).to("cpu").device == ember.device("cpu")


def test_cuda_request_without_gpu_gives_install_line():
    if ember.cuda.is_available():
        pytest.skip("a GPU is available here")
    with pytest.raises(RuntimeError, match="pip install"):
        ember.ones(2).to("cuda")
    with pytest.raises(RuntimeError, match="pip install"):
        ember.zeros(2, device="cuda")


def test_bool_and_iteration():
    assert bool(ember.tensor([1.0]))
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(ember.tensor([1.0, 2.0]))
    rows = list(ember.tensor([[1.0, 2.0], [3.0, 4.0]]))
    assert len(rows) == 2 and rows[1].tolist() == [3.0, 4.0]
