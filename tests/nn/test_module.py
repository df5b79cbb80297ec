"""Module: registration, traversal, modes, device/dtype moves, state_dict, hooks and repr."""
from __future__ import annotations

import copy
import pickle
from collections import OrderedDict

import numpy as np
import pytest

import ember
import ember.nn as nn


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(ember.ones(3))
        self.register_buffer("count", ember.zeros(1))
        self.register_buffer("scratch", ember.zeros(2), persistent=False)
        self.inner = nn.Linear(3, 2)

    def forward(self, x):
        return self.inner(x * self.scale)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.first = Block()
        self.bias = nn.Parameter(ember.zeros(2))
        self.second = nn.Linear(2, 2)

    def forward(self, x):
        return self.second(self.first(x) + self.bias)


# ------------------------------------------------------------------------------------------ registration
def test_parameter_is_a_tensor_and_shares_data():
    data = ember.randn(2, 3)
    parameter = nn.Parameter(data)
    assert isinstance(parameter, ember.Tensor)
    assert parameter.requires_grad and parameter.is_leaf
    assert parameter.array is data.array
    assert nn.Parameter(np.zeros(3, dtype=np.float32)).dtype == np.float32
    assert nn.Parameter([1.0, 2.0]).dtype == np.float32
    assert not nn.Parameter(ember.zeros(2), requires_grad=False).requires_grad


def test_parameter_repr():
    parameter = nn.Parameter(ember.tensor([1.0, 2.0]))
    assert repr(parameter) == "Parameter containing:\ntensor([1., 2.], requires_grad=True)"


def test_named_parameters_order_and_prefixes():
    net = Net()
    names = [name for name, _ in net.named_parameters()]
    assert names == ["bias", "first.scale", "first.inner.weight", "first.inner.bias", "second.weight", "second.bias"]
    assert [name for name, _ in net.named_parameters(prefix="model")][0] == "model.bias"
    assert [name for name, _ in net.named_parameters(recurse=False)] == ["bias"]
    assert [p.shape for p in net.parameters()] == [(2,), (3,), (2, 3), (2,), (2, 2), (2,)]


def test_buffers_children_and_modules():
    net = Net()
    assert [name for name, _ in net.named_buffers()] == ["first.count", "first.scratch"]
    assert len(list(net.buffers())) == 2
    assert [name for name, _ in net.named_children()] == ["first", "second"]
    assert list(net.children()) == [net.first, net.second]
    assert [name for name, _ in net.named_modules()] == ["", "first", "first.inner", "second"]
    assert list(net.modules())[0] is net


def test_shared_parameters_and_modules_are_listed_once():
    shared = nn.Linear(2, 2)
    model = nn.Sequential(shared, nn.ReLU(), shared)
    assert len(list(model.parameters())) == 2
    assert [name for name, _ in model.named_modules()] == ["", "0", "1"]
    tied = nn.Module()
    tied.a = nn.Linear(2, 2)
    tied.b = nn.Linear(2, 2)
    tied.b.weight = tied.a.weight
    assert [name for name, _ in tied.named_parameters()] == ["a.weight", "a.bias", "b.bias"]
    assert len(list(tied.named_parameters(remove_duplicate=False))) == 4


def test_setattr_replaces_and_deletes_members():
    module = nn.Module()
    module.weight = nn.Parameter(ember.zeros(2))
    module.child = nn.Linear(1, 1)
    module.register_buffer("stat", ember.zeros(1))
    module.plain = 3
    assert list(module._parameters) == ["weight"] and list(module._modules) == ["child"]
    assert module.plain == 3 and "plain" not in module._parameters
    module.weight = None
    assert module.weight is None and list(module.parameters(recurse=False)) == []
    module.stat = ember.ones(1)
    assert module.stat.array[0] == 1 and module._buffers["stat"] is module.stat
    module.child = nn.Parameter(ember.zeros(1))  # a Parameter replaces a module of that name
    assert "child" not in module._modules and "child" in module._parameters
    del module.child
    del module.stat
    assert not hasattr(module, "child") and not hasattr(module, "stat")


def test_setattr_type_errors_name_the_member():
    module = nn.Linear(2, 2)
    with pytest.raises(TypeError, match="parameter 'weight'"):
        module.weight = ember.zeros(2, 2)
    holder = nn.Module()
    holder.child = nn.ReLU()
    with pytest.raises(TypeError, match="child module 'child'"):
        holder.child = 5
    holder.register_buffer("stat", None)
    with pytest.raises(TypeError, match="buffer 'stat'"):
        holder.stat = [1.0]


def test_register_errors():
    module = nn.Module()
    module.attribute = 1
    with pytest.raises(KeyError, match="already exists"):
        module.register_buffer("attribute", ember.zeros(1))
    with pytest.raises(KeyError, match="contain"):
        module.register_parameter("a.b", nn.Parameter(ember.zeros(1)))
    with pytest.raises(KeyError, match="empty"):
        module.add_module("", nn.ReLU())
    with pytest.raises(TypeError, match="Parameter or None"):
        module.register_parameter("w", ember.zeros(1))
    with pytest.raises(TypeError, match="not a Module"):
        module.add_module("m", "relu")
    with pytest.raises(TypeError, match="Tensor or None"):
        module.register_buffer("b", np.zeros(1))

    class Forgetful(nn.Module):
        def __init__(self):
            self.weight = nn.Parameter(ember.zeros(1))

    with pytest.raises(AttributeError, match="before Module.__init__"):
        Forgetful()


def test_getattr_error_and_missing_forward():
    module = nn.Module()
    with pytest.raises(AttributeError, match="'Module' object has no attribute 'nothing'"):
        module.nothing
    with pytest.raises(NotImplementedError, match="missing the required \"forward\""):
        module(ember.zeros(1))


def test_add_module_and_get_submodule():
    net = Net()
    net.add_module("extra", nn.ReLU())
    assert net.extra is net._modules["extra"]
    assert net.get_submodule("first.inner") is net.first.inner
    assert net.get_submodule("") is net
    with pytest.raises(AttributeError, match="no submodule 'missing'"):
        net.get_submodule("first.missing")


def test_apply_visits_children_first():
    net = Net()
    seen = []
    assert net.apply(lambda m: seen.append(type(m).__name__)) is net
    assert seen == ["Linear", "Block", "Linear", "Net"]


# ----------------------------------------------------------------------------------------------- modes
def test_train_and_eval_are_recursive():
    net = Net()
    assert all(m.training for m in net.modules())
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())
    with pytest.raises(ValueError, match="boolean"):
        net.train("no")


def test_requires_grad_and_zero_grad():
    net = Net()
    net.requires_grad_(False)
    assert not any(p.requires_grad for p in net.parameters())
    net.requires_grad_()
    net(ember.randn(4, 3)).sum().backward()
    grads = [p.grad for p in net.parameters()]
    assert all(g is not None for g in grads)
    net.zero_grad(set_to_none=False)
    assert all(p.grad is g and not g.array.any() for p, g in zip(net.parameters(), grads))
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


# --------------------------------------------------------------------------------------- device, dtype
def test_to_double_keeps_parameter_identity_and_converts_grads():
    net = Net()
    net(ember.randn(4, 3)).sum().backward()
    parameters = list(net.parameters())
    buffer = net.first.count
    assert net.to(ember.float64) is net
    assert all(a is b for a, b in zip(parameters, net.parameters()))
    assert all(p.dtype == np.float64 and p.grad.dtype == np.float64 for p in parameters)
    assert net.first.count is buffer and buffer.dtype == np.float64
    assert net(ember.randn(2, 3, dtype=ember.float64)).dtype == np.float64
    net.float()
    assert all(p.dtype == np.float32 for p in net.parameters())
    net.double()
    assert net.second.weight.dtype == np.float64
    assert net.to("cpu", dtype="float32").second.weight.dtype == np.float32


def test_to_keeps_integer_buffers_and_rejects_integer_dtype():
    bn = nn.BatchNorm1d(3).double()
    assert bn.num_batches_tracked.dtype == np.int64
    assert bn.running_mean.dtype == np.float64
    with pytest.raises(TypeError, match="floating point"):
        bn.to(ember.int64)


def test_to_tensor_argument_and_cpu():
    net = nn.Linear(2, 2)
    net.to(ember.zeros(1, dtype=ember.float64))
    assert net.weight.dtype == np.float64
    assert net.cpu() is net and net.weight.device.type == "cpu"


# ------------------------------------------------------------------------------------------ state_dict
def test_state_dict_keys_detached_and_sharing_memory():
    net = Net()
    state = net.state_dict()
    assert isinstance(state, OrderedDict)
    assert list(state) == [
        "bias", "first.scale", "first.count", "first.inner.weight", "first.inner.bias", "second.weight",
        "second.bias",
    ]  # non-persistent buffers are left out
    weight = state["second.weight"]
    assert type(weight) is ember.Tensor and not weight.requires_grad
    assert weight.array is net.second.weight.array
    assert net.state_dict(keep_vars=True)["second.weight"] is net.second.weight


def test_state_dict_round_trip_gives_identical_outputs():
    source = Net()
    x = ember.randn(5, 3)
    expected = source(x).array.copy()
    saved = {key: ember.tensor(value.array.copy()) for key, value in source.state_dict().items()}
    ember.manual_seed(99)
    target = Net()
    assert not np.allclose(target(x).array, expected)
    weight = target.second.weight
    result = target.load_state_dict(saved)
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert target.second.weight is weight  # values copied into the existing tensors
    np.testing.assert_array_equal(target(x).array, expected)


def test_load_state_dict_strict_reports_missing_and_unexpected():
    net = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1))
    state = net.state_dict()
    del state["1.bias"]
    state["1.extra"] = ember.zeros(1)
    state["5.weight"] = ember.zeros(1)
    with pytest.raises(RuntimeError) as error:
        net.load_state_dict(state)
    message = str(error.value)
    assert message.startswith("Error(s) in loading state_dict for Sequential:")
    assert 'Missing key(s) in state_dict: "1.bias".' in message
    assert 'Unexpected key(s) in state_dict: "5.weight", "1.extra".' in message
    result = net.load_state_dict(state, strict=False)
    assert result == (["1.bias"], ["5.weight", "1.extra"])


def test_load_state_dict_shape_mismatch_names_key_and_shapes():
    net = nn.Linear(3, 2)
    state = nn.Linear(4, 2).state_dict()
    with pytest.raises(RuntimeError, match=r"size mismatch for weight: copying a param with shape \(2, 4\) from "
                                           r"checkpoint, the shape in current model is \(2, 3\)"):
        net.load_state_dict(state, strict=False)
    with pytest.raises(TypeError, match="dict-like"):
        net.load_state_dict([("weight", ember.zeros(2, 3))])


def test_load_state_dict_casts_into_existing_dtype_and_accepts_arrays():
    net = nn.Linear(2, 1)
    state = {"weight": np.array([[1.0, 2.0]]), "bias": ember.tensor([0.5], dtype=ember.float64)}
    net.load_state_dict(state)
    assert net.weight.dtype == np.float32
    np.testing.assert_array_equal(net.weight.array, [[1.0, 2.0]])
    np.testing.assert_array_equal(net.bias.array, [0.5])


def test_batchnorm_state_includes_running_stats():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2))
    assert list(model.state_dict()) == [
        "0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var", "1.num_batches_tracked",
    ]


def test_deepcopy_and_pickle_make_independent_modules():
    net = Net()
    x = ember.randn(2, 3)
    for clone in (copy.deepcopy(net), pickle.loads(pickle.dumps(net))):
        np.testing.assert_array_equal(clone(x).array, net(x).array)
        assert isinstance(clone.second.weight, nn.Parameter)
        clone.second.weight.array[...] = 0
        assert net.second.weight.array.any()


# ----------------------------------------------------------------------------------------------- hooks
def test_forward_hooks_fire_modify_and_remove():
    layer = nn.Linear(2, 2)
    calls = []

    def pre_hook(module, args):
        calls.append(("pre", module))
        return args[0] * 0.0

    def hook(module, args, output):
        calls.append(("post", args[0].array.copy()))
        return output + 1.0

    pre_handle = layer.register_forward_pre_hook(pre_hook)
    handle = layer.register_forward_hook(hook)
    out = layer(ember.ones(1, 2))
    assert [c[0] for c in calls] == ["pre", "post"] and calls[0][1] is layer
    np.testing.assert_array_equal(calls[1][1], np.zeros((1, 2)))  # the hook saw the pre-hook's input
    np.testing.assert_allclose(out.array, layer.bias.array[None] + 1.0, rtol=1e-6)
    pre_handle.remove()
    handle.remove()
    calls.clear()
    x = ember.ones(1, 2)
    np.testing.assert_allclose(layer(x).array, x.array @ layer.weight.array.T + layer.bias.array, rtol=1e-6)
    assert calls == []


def test_hook_order_prepend_kwargs_and_context_manager():
    layer = nn.Identity()
    order = []
    layer.register_forward_hook(lambda m, a, o: order.append("a"))
    layer.register_forward_hook(lambda m, a, o: order.append("b"), prepend=True)
    with layer.register_forward_hook(lambda m, a, k, o: order.append(k), with_kwargs=True):
        layer(ember.zeros(1))
    assert order == ["b", "a", {}]
    order.clear()
    layer(ember.zeros(1))
    assert order == ["b", "a"]


def test_forward_hook_sees_backward_graph():
    layer = nn.Linear(3, 1)
    captured = {}
    layer.register_forward_hook(lambda m, args, out: captured.setdefault("out", out))
    layer(ember.randn(4, 3)).sum().backward()
    assert captured["out"].shape == (4, 1) and layer.weight.grad is not None


# ------------------------------------------------------------------------------------------------ repr
def test_sequential_repr_matches_pytorch():
    model = nn.Sequential(nn.Linear(784, 10))
    assert repr(model) == "Sequential(\n  (0): Linear(in_features=784, out_features=10, bias=True)\n)"


def test_nested_repr_matches_pytorch():
    model = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Sequential(nn.Flatten(), nn.Dropout(0.25), nn.Linear(8 * 14 * 14, 10, bias=False)),
    )
    expected = (
        "Sequential(\n"
        "  (0): Conv2d(1, 8, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))\n"
        "  (1): BatchNorm2d(8, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)\n"
        "  (2): ReLU()\n"
        "  (3): MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)\n"
        "  (4): Sequential(\n"
        "    (0): Flatten(start_dim=1, end_dim=-1)\n"
        "    (1): Dropout(p=0.25, inplace=False)\n"
        "    (2): Linear(in_features=1568, out_features=10, bias=False)\n"
        "  )\n"
        ")"
    )
    assert repr(model) == expected


def test_custom_module_repr_with_extra_repr_and_children():
    class Custom(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Linear(2, 2)

        def extra_repr(self):
            return "width=2"

    assert repr(Custom()) == "Custom(\n  width=2\n  (body): Linear(in_features=2, out_features=2, bias=True)\n)"
    assert repr(nn.Module()) == "Module()"


def test_dir_lists_registered_members():
    names = dir(Net())
    assert {"first", "second", "bias", "forward"} <= set(names)
