"""Sequential, ModuleList, ModuleDict and ParameterList."""
from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest

import ember
import ember.nn as nn


def test_sequential_runs_modules_in_order():
    first, second = nn.Linear(3, 4), nn.Linear(4, 2)
    model = nn.Sequential(first, nn.ReLU(), second)
    x = ember.randn(5, 3)
    hidden = np.maximum(x.array @ first.weight.array.T + first.bias.array, 0)
    expected = hidden @ second.weight.array.T + second.bias.array
    np.testing.assert_allclose(model(x).array, expected, rtol=1e-5, atol=1e-6)


def test_sequential_from_ordered_dict_and_indexing():
    model = nn.Sequential(OrderedDict([("fc", nn.Linear(2, 2)), ("act", nn.Tanh()), ("out", nn.Linear(2, 1))]))
    assert [name for name, _ in model.named_children()] == ["fc", "act", "out"]
    assert model.fc is model[0] and model[-1] is model.out
    assert len(model) == 3
    assert list(model) == [model.fc, model.act, model.out]
    head = model[:2]
    assert isinstance(head, nn.Sequential) and list(head._modules) == ["fc", "act"] and head[0] is model.fc
    with pytest.raises(IndexError, match="out of range"):
        model[3]


def test_sequential_append_insert_delete_renumber():
    model = nn.Sequential(nn.Linear(1, 1))
    relu = nn.ReLU()
    assert model.append(relu) is model and model[1] is relu
    tanh = nn.Tanh()
    model.insert(1, tanh)
    assert list(model) == [model[0], tanh, relu] and list(model._modules) == ["0", "1", "2"]
    del model[0]
    assert list(model._modules) == ["0", "1"] and model[0] is tanh
    assert model.pop(0) is tanh and len(model) == 1
    model.extend([nn.Sigmoid(), nn.Identity()])
    assert [type(m).__name__ for m in model] == ["ReLU", "Sigmoid", "Identity"]
    model[1] = nn.Tanh()
    assert isinstance(model[1], nn.Tanh)
    combined = model + nn.Sequential(nn.ReLU())
    assert len(combined) == 4


def test_module_list_registers_parameters():
    layers = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    holder = nn.Module()
    holder.layers = layers
    assert len(list(holder.parameters())) == 6
    assert [name for name, _ in holder.named_parameters()][:2] == ["layers.0.weight", "layers.0.bias"]
    layers.append(nn.ReLU())
    layers += [nn.Tanh()]
    layers.insert(0, nn.Identity())
    assert [type(m).__name__ for m in layers] == ["Identity", "Linear", "Linear", "Linear", "ReLU", "Tanh"]
    assert isinstance(layers[1:3], nn.ModuleList) and len(layers[1:3]) == 2
    del layers[0]
    assert list(layers._modules) == [str(i) for i in range(5)]
    assert isinstance(layers[-1], nn.Tanh)
    with pytest.raises(TypeError, match="iterable"):
        layers.extend(nn.ReLU())


def test_module_list_repr_compresses_repeats():
    layers = nn.ModuleList([nn.Linear(2, 2), nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 2)])
    assert repr(layers) == (
        "ModuleList(\n"
        "  (0-1): 2 x Linear(in_features=2, out_features=2, bias=True)\n"
        "  (2): ReLU()\n"
        "  (3): Linear(in_features=2, out_features=2, bias=True)\n"
        ")"
    )
    assert repr(nn.ModuleList()) == "ModuleList()"


def test_module_dict():
    heads = nn.ModuleDict({"digit": nn.Linear(4, 10), "parity": nn.Linear(4, 2)})
    assert list(heads) == ["digit", "parity"] and "digit" in heads and len(heads) == 2
    assert list(heads.keys()) == ["digit", "parity"]
    assert [name for name, _ in heads.named_parameters()][0] == "digit.weight"
    heads["extra"] = nn.ReLU()
    heads.update([("more", nn.Tanh())])
    assert list(heads) == ["digit", "parity", "extra", "more"]
    assert isinstance(heads.pop("extra"), nn.ReLU) and "extra" not in heads
    with pytest.raises(KeyError, match="no module named 'missing'"):
        heads["missing"]
    with pytest.raises(ValueError, match="pairs"):
        heads.update(["bad"])
    heads.clear()
    assert len(heads) == 0


def test_parameter_list():
    params = nn.ParameterList([nn.Parameter(ember.zeros(2)), ember.ones(3)])
    assert all(isinstance(p, nn.Parameter) for p in params)
    assert [name for name, _ in params.named_parameters()] == ["0", "1"]
    params.append(ember.zeros(1, 4))
    assert len(params) == 3 and params[-1].shape == (1, 4)
    assert repr(params) == (
        "ParameterList(\n"
        "    (0): Parameter containing: [ember.float32 of size 2]\n"
        "    (1): Parameter containing: [ember.float32 of size 3]\n"
        "    (2): Parameter containing: [ember.float32 of size 1x4]\n"
        ")"
    )


def test_sequential_runs_a_relu_then_a_pool_as_written(monkeypatch):
    """No rewrite inside the container: the ReLU sees the whole input (fusing is ember.nn.utils.fuse's)."""
    relu_inputs, relu = [], nn.functional.relu
    monkeypatch.setattr(nn.functional, "relu", lambda x: relu_inputs.append(tuple(x.shape)) or relu(x))
    x = ember.tensor(np.random.default_rng(2).standard_normal((1, 2, 4, 4)).astype(np.float32))
    nn.Sequential(nn.ReLU(), nn.MaxPool2d(2))(x)
    assert relu_inputs == [(1, 2, 4, 4)]
