"""AveragedModel (weight averaging and EMA) against PyTorch's ``torch.optim.swa_utils``.

The numbers come from ``tests/nn/fixtures/unet_ops.npz`` (written by ``make_unet_ops_fixtures.py`` with
PyTorch): a Linear-BatchNorm-Linear model moved through four parameter states, averaged after each.
"""
from __future__ import annotations

import copy
import pathlib

import numpy as np
import pytest

import ember
from ember import nn
from ember.optim.swa_utils import AveragedModel, get_ema_avg_fn, get_ema_multi_avg_fn

FIXTURES = np.load(pathlib.Path(__file__).parents[1] / "nn" / "fixtures" / "unet_ops.npz")
RUNS = {
    "ema_multi_avg_fn": lambda model: AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(0.9)),
    "ema_avg_fn_use_buffers": lambda model: AveragedModel(model, avg_fn=get_ema_avg_fn(0.8), use_buffers=True),
    "swa_mean": lambda model: AveragedModel(model),
}


def recorded(prefix: str) -> dict:
    return {key.split("/", 1)[1]: FIXTURES[key] for key in FIXTURES.files if key.startswith(prefix + "/")}


def load(model: nn.Module, values: dict, prefix: str) -> None:
    for name, tensor in model.state_dict().items():
        tensor.array[...] = values[f"{prefix}/{name}"]


@pytest.mark.parametrize("run", sorted(RUNS))
def test_averaged_model_matches_pytorch(run):
    values = recorded(run)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    load(model, values, "start")
    averaged = RUNS[run](model)
    assert int(averaged.n_averaged.item()) == 0 and averaged.n_averaged.dtype == np.int64
    for step in range(4):
        load(model, values, f"step{step}/model")
        averaged.update_parameters(model)
        assert int(averaged.n_averaged.item()) == int(values[f"step{step}/n_averaged"]) == step + 1
        for name, tensor in averaged.module.state_dict().items():
            want = values[f"step{step}/averaged/{name}"]
            assert tensor.dtype == want.dtype, name
            np.testing.assert_allclose(tensor.numpy(), want, rtol=1e-5, atol=1e-6, err_msg=f"step {step}: {name}")


def test_averaged_model_is_a_separate_copy_that_runs_and_saves():
    ember.manual_seed(0)
    model = nn.Linear(3, 2)
    ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(0.5))
    assert ema.module is not model and ema.module.weight is not model.weight
    before = ema.module.weight.numpy().copy()
    with ember.no_grad():
        model.weight.add_(1.0)
    np.testing.assert_array_equal(ema.module.weight.numpy(), before)  # untouched until update_parameters
    ema.update_parameters(model)  # the first update copies
    np.testing.assert_array_equal(ema.module.weight.numpy(), model.weight.numpy())
    with ember.no_grad():
        model.weight.add_(2.0)
    ema.update_parameters(model)
    np.testing.assert_allclose(ema.module.weight.numpy(), model.weight.numpy() - 1.0, rtol=1e-6)
    x = ember.randn(4, 3)
    np.testing.assert_array_equal(ema(x).numpy(), ema.module(x).numpy())
    state = ema.state_dict()
    assert list(state)[:1] == ["n_averaged"] and "module.weight" in state
    restored = AveragedModel(copy.deepcopy(model))
    restored.load_state_dict(state)
    assert int(restored.n_averaged.item()) == 2
    np.testing.assert_array_equal(restored.module.weight.numpy(), ema.module.weight.numpy())


def test_averaged_model_trains_alongside_an_optimizer():
    ember.manual_seed(0)
    model = nn.Linear(2, 1)
    ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(0.9))
    optimizer = ember.optim.SGD(model.parameters(), lr=0.1)
    x = ember.randn(32, 2)
    y = x @ ember.tensor([[2.0], [-1.0]])
    for _ in range(200):
        optimizer.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        optimizer.step()
        ema.update_parameters(model)
    assert ema.module.weight.grad is None
    np.testing.assert_allclose(ema.module.weight.numpy(), [[2.0, -1.0]], atol=1e-3)


def test_update_parameters_checks_the_model():
    ema = AveragedModel(nn.Linear(3, 2))
    with pytest.raises(ValueError, match=r"AveragedModel.update_parameters: model's tensors \[\(2, 4\), \(2,\)\]"):
        ema.update_parameters(nn.Linear(4, 2))
    with pytest.raises(TypeError, match="AveragedModel: model must be an ember.nn.Module"):
        AveragedModel("model")
