"""``Tensor.data`` as in PyTorch (a detached Tensor sharing the memory) and ``Tensor.array``, the raw array."""
from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

import ember
import ember.nn as nn


def test_array_is_the_raw_array_and_data_a_tensor_sharing_it():
    t = ember.tensor([1.0, 2.0, 3.0])
    assert type(t.array) is np.ndarray
    d = t.data
    assert type(d) is ember.Tensor and d is not t
    assert d.array is t.array  # the same memory, not a copy
    assert d.shape == t.shape and d.dtype == t.dtype and d.device == t.device


def test_data_shares_memory_both_ways():
    w = ember.tensor([1.0, 2.0, 3.0], requires_grad=True)
    d = w.data
    d.mul_(2.0)
    np.testing.assert_array_equal(w.detach().numpy(), [2.0, 4.0, 6.0])
    with ember.no_grad():
        w.add_(1.0)
    np.testing.assert_array_equal(d.numpy(), [3.0, 5.0, 7.0])


def test_data_is_detached_from_the_graph():
    w = ember.tensor([1.0, 2.0], requires_grad=True)
    y = (w * 3.0).sum()
    for tensor in (w, y):
        d = tensor.data
        assert not d.requires_grad and d.grad_fn is None and d.is_leaf
    loss = (w.data * w).sum()  # the data factor is a constant: d/dw = w's values, no gradient through .data
    loss.backward()
    np.testing.assert_array_equal(w.grad.numpy(), [1.0, 2.0])


def test_in_place_methods_on_data_change_a_leaf_that_requires_grad():
    """PyTorch lets ``w.data.sub_(...)`` through where ``w.sub_(...)`` raises while recording."""
    w = ember.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="in place"):
        w.sub_(1.0)
    for method, argument, expected in [("sub_", 1.0, [0.0, 1.0]), ("add_", 2.0, [2.0, 3.0]),
                                       ("mul_", 2.0, [4.0, 6.0]), ("div_", 4.0, [1.0, 1.5]),
                                       ("fill_", 5.0, [5.0, 5.0]), ("zero_", None, [0.0, 0.0])]:
        result = getattr(w.data, method)(*(() if argument is None else (argument,)))
        assert not result.requires_grad
        np.testing.assert_array_equal(w.detach().numpy(), expected, err_msg=method)
    w.data.copy_(ember.tensor([7.0, -7.0]))
    w.data.clamp_(-1.0, 1.0)
    np.testing.assert_array_equal(w.detach().numpy(), [1.0, -1.0])
    assert w.requires_grad and w.grad_fn is None and w.grad is None


def test_update_through_data_leaves_the_recorded_graph_usable():
    """As PyTorch's ``.data``, a change made through it is not tracked: backward uses the numbers it finds."""
    w = ember.tensor([1.0, 2.0], requires_grad=True)
    y = (w * w).sum()
    w.data.add_(1.0)
    y.backward()
    np.testing.assert_array_equal(w.grad.numpy(), [4.0, 6.0])  # 2 * w, w read after the change


def test_the_lessons_gradient_descent_loop_converges():
    x = ember.zeros(2, requires_grad=True)
    target = ember.tensor([3.0, -2.0])
    for _ in range(100):
        y = (x - target).pow(2).sum()
        y.backward()
        x.data.add_(-0.1 * x.grad)
        x.grad.zero_()
    np.testing.assert_allclose(x.detach().numpy(), [3.0, -2.0], atol=1e-6)
    assert x.requires_grad and x.grad_fn is None


def test_sgd_step_by_hand_on_a_module_through_data():
    ember.manual_seed(0)
    model = nn.Linear(3, 1)
    x, y = ember.randn(16, 3), ember.randn(16, 1)
    first = float(((model(x) - y) ** 2).mean())
    for _ in range(50):
        loss = ((model(x) - y) ** 2).mean()
        model.zero_grad()
        loss.backward()
        for p in model.parameters():
            p.data.sub_(0.1 * p.grad)
    assert float(((model(x) - y) ** 2).mean()) < first
    assert all(type(p) is nn.Parameter and p.requires_grad for p in model.parameters())


def test_assigning_data_replaces_the_array():
    p = nn.Parameter(ember.zeros(2, 3))
    replacement = ember.ones(4, dtype=ember.float64)
    p.data = replacement  # shape and dtype may change, as in PyTorch
    assert p.shape == (4,) and p.dtype == ember.float64 and p.array is replacement.array
    assert type(p) is nn.Parameter and p.requires_grad
    replacement.array[0] = 9.0
    assert float(p[0]) == 9.0  # the memory is shared with the assigned tensor
    p.data = p.data * 2  # the common idiom: a computed tensor
    np.testing.assert_array_equal(p.detach().numpy(), [18.0, 2.0, 2.0, 2.0])


def test_assigning_a_non_tensor_to_data_raises_naming_it():
    t = ember.zeros(2)
    with pytest.raises(TypeError, match=r"Tensor\.data.*ndarray"):
        t.data = np.ones(2)
    with pytest.raises(TypeError, match=r"Tensor\.data.*list"):
        t.data = [1.0, 2.0]
    np.testing.assert_array_equal(t.numpy(), [0.0, 0.0])


def test_numpy_and_asarray_of_data():
    p = nn.Parameter(ember.tensor([1.0, 2.0]))
    with pytest.raises(RuntimeError, match="requires grad"):
        np.asarray(p)
    assert np.shares_memory(p.data.numpy(), p.array)
    np.testing.assert_array_equal(np.asarray(p.data), [1.0, 2.0])
    assert p.data.norm().item() == pytest.approx(np.sqrt(5.0))


def test_pickle_and_deepcopy_keep_the_array_and_the_format():
    w = ember.tensor([1.0, 2.0], requires_grad=True)
    _attributes, slots = w.__getstate__()
    assert "data" in slots and "array" not in slots  # pickles name the array "data", as before
    restored = pickle.loads(pickle.dumps(w))
    np.testing.assert_array_equal(restored.array, w.array)
    assert restored.requires_grad and type(restored.data) is ember.Tensor
    clone = copy.deepcopy(w)
    assert clone.array is not w.array and clone.requires_grad
    np.testing.assert_array_equal(clone.array, w.array)


def test_save_and_load_round_trip(tmp_path):
    model = nn.Linear(2, 2)
    ember.save(model.state_dict(), tmp_path / "model.safetensors")
    loaded = ember.load(tmp_path / "model.safetensors")
    for name, tensor in model.state_dict().items():
        np.testing.assert_array_equal(loaded[name].array, tensor.array)


@pytest.mark.cuda
def test_data_keeps_the_cuda_device():
    w = ember.tensor([1.0, 2.0], requires_grad=True, device="cuda")
    d = w.data
    assert d.device == w.device and d.array is w.array and type(d.array) is type(w.array)
    w.data.sub_(ember.tensor([1.0, 1.0], device="cuda"))
    np.testing.assert_array_equal(w.detach().cpu().numpy(), [0.0, 1.0])
    np.testing.assert_array_equal(w.data.cpu().numpy(), [0.0, 1.0])
