"""ember.save / ember.load: nested state round trips exactly, in a safetensors file, never through pickle."""
from __future__ import annotations

import json
import pickle
import struct

import numpy as np
import pytest

import ember
import ember.nn as nn
from ember.io import load_file, save_file


def assert_same_structure(loaded, expected):
    """Equal values, and the same containers, key types, dtypes and shapes all the way down."""
    assert type(loaded) is type(expected), (type(loaded), type(expected))
    if isinstance(expected, ember.Tensor):
        assert loaded.dtype == expected.dtype and loaded.shape == expected.shape
        np.testing.assert_array_equal(loaded.numpy(), expected.numpy())
    elif isinstance(expected, np.ndarray):
        assert loaded.dtype == expected.dtype and loaded.shape == expected.shape
        np.testing.assert_array_equal(loaded, expected)
    elif isinstance(expected, dict):
        assert list(loaded) == list(expected)  # keys, their types and their order
        for key in expected:
            assert_same_structure(loaded[key], expected[key])
    elif isinstance(expected, (list, tuple)):
        assert len(loaded) == len(expected)
        for got, want in zip(loaded, expected):
            assert_same_structure(got, want)
    else:
        assert loaded == expected


def test_nested_dicts_of_tensors_and_numbers_round_trip(tmp_path):
    state = {
        "model": {"layer.weight": ember.randn(3, 2), "layer.bias": ember.zeros(3),
                  "steps": ember.tensor(5), "mask": ember.tensor([True, False])},
        "optimizer": {"state": {0: {"step": 12, "exp_avg": ember.randn(3, 2)}, 1: {}},
                      "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.999), "params": [0, 1], "amsgrad": False}]},
        "epoch": 3, "best": 0.9925, "name": "run-7", "notes": None,
        "history": [0.5, 0.25, 0.125],
        "raw": np.arange(4, dtype=np.int16),
        "loss": ember.tensor(0.5),  # 0-d
        "double": ember.randn(2, dtype=ember.float64),
        "empty": ember.zeros(0, 4),
    }
    ember.save(state, tmp_path / "checkpoint.safetensors")
    loaded = ember.load(tmp_path / "checkpoint.safetensors")
    assert_same_structure(loaded, state)


def test_a_tensor_or_a_list_at_the_top_level(tmp_path):
    for obj in (ember.arange(6).reshape(2, 3), [ember.ones(2), 3, "x"], {}):
        ember.save(obj, str(tmp_path / "x.safetensors"))  # str paths as well as Path
        assert_same_structure(ember.load(str(tmp_path / "x.safetensors")), obj)


def test_views_are_saved_as_their_values(tmp_path):
    base = ember.arange(12, dtype=ember.float32).reshape(3, 4)
    state = {"transposed": base.t(), "sliced": base[:, 1::2]}
    ember.save(state, tmp_path / "views.safetensors")
    loaded = ember.load(tmp_path / "views.safetensors")
    np.testing.assert_array_equal(loaded["transposed"].numpy(), base.numpy().T)
    np.testing.assert_array_equal(loaded["sliced"].numpy(), base.numpy()[:, 1::2])


def test_a_model_and_its_optimizer_restore_exactly(tmp_path):
    ember.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3), nn.ReLU(), nn.Linear(3, 2))
    optimizer = ember.optim.Adam(model.parameters(), lr=0.01)
    x = ember.randn(8, 4)
    for _ in range(2):
        optimizer.zero_grad()
        model(x).square().mean().backward()
        optimizer.step()
    ember.save({"model": model.state_dict(), "optimizer": optimizer.state_dict()}, tmp_path / "ckpt.safetensors")

    ember.manual_seed(1)
    restored = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3), nn.ReLU(), nn.Linear(3, 2))
    restored_optimizer = ember.optim.Adam(restored.parameters(), lr=0.5)
    checkpoint = ember.load(tmp_path / "ckpt.safetensors")
    restored.load_state_dict(checkpoint["model"])
    restored_optimizer.load_state_dict(checkpoint["optimizer"])
    for module in (model, restored):
        module.eval()
    np.testing.assert_array_equal(restored(x).numpy(), model(x).numpy())
    # one more step from the same state gives the same parameters
    for net, opt in ((model, optimizer), (restored, restored_optimizer)):
        net.train()
        opt.zero_grad()
        net(x).square().mean().backward()
        opt.step()
    for a, b in zip(model.parameters(), restored.parameters()):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_the_file_is_safetensors_with_the_structure_in_its_metadata(tmp_path):
    path = tmp_path / "state.safetensors"
    ember.save({"w": ember.ones(2, 2), "epoch": 4}, path)
    payload = path.read_bytes()
    (length,) = struct.unpack("<Q", payload[:8])
    header = json.loads(payload[8:8 + length])
    assert header["0"]["dtype"] == "F32" and header["0"]["shape"] == [2, 2]
    assert json.loads(header["__metadata__"]["ember.structure"]) == {
        "dict": [["w", {"tensor": "0"}], ["epoch", {"value": 4}]]
    }
    arrays, _ = load_file(path)
    np.testing.assert_array_equal(arrays["0"], np.ones((2, 2), np.float32))


def test_a_plain_safetensors_file_loads_as_a_dict_of_tensors(tmp_path):
    path = tmp_path / "plain.safetensors"
    save_file({"weight": np.eye(2, dtype=np.float32), "bias": np.zeros(2, np.float32)}, path)
    loaded = ember.load(path, map_location="cpu", weights_only=True)  # PyTorch's keywords are accepted
    assert set(loaded) == {"weight", "bias"} and all(isinstance(v, ember.Tensor) for v in loaded.values())
    np.testing.assert_array_equal(loaded["weight"].numpy(), np.eye(2))


def test_what_cannot_be_saved_is_refused_naming_where_it_is(tmp_path):
    with pytest.raises(TypeError, match=r"cannot save a set at obj\['model'\]\['ids'\]"):
        ember.save({"model": {"ids": {1, 2}}}, tmp_path / "bad.safetensors")
    with pytest.raises(TypeError, match=r"dict keys must be str or int, found \(1, 2\) at obj\[0\]"):
        ember.save([{(1, 2): 3}], tmp_path / "bad.safetensors")
    with pytest.raises(TypeError, match=r"dict keys must be str or int, found True"):
        ember.save({True: 1}, tmp_path / "bad.safetensors")
    assert not (tmp_path / "bad.safetensors").exists()


def test_a_corrupt_structure_record_names_the_file(tmp_path):
    path = tmp_path / "corrupt.safetensors"
    save_file({"0": np.ones(2, np.float32)}, path, metadata={"ember.structure": '{"dict": [["w", {"tensor": "9"}]]}'})
    with pytest.raises(ValueError, match=r"ember.load: '.*corrupt.safetensors' has a corrupt structure record"):
        ember.load(path)


def test_a_truncated_checkpoint_names_the_file(tmp_path):
    path = tmp_path / "ckpt.safetensors"
    ember.save({"w": ember.ones(64)}, path)
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(ValueError, match=r"safetensors file '.*ckpt.safetensors'.*truncated"):
        ember.load(path)


def test_a_pickled_checkpoint_is_refused(tmp_path):
    path = tmp_path / "model.pth"
    path.write_bytes(pickle.dumps({"weight": np.ones(3)}))
    with pytest.raises(ValueError, match=r"model.pth"):
        ember.load(path)


def test_save_and_load_never_pickle(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("pickle used")

    for name in ("dump", "dumps", "load", "loads", "Pickler", "Unpickler"):
        monkeypatch.setattr(pickle, name, refuse)
    ember.save({"w": ember.ones(2), "n": 1}, tmp_path / "s.safetensors")
    assert ember.load(tmp_path / "s.safetensors")["n"] == 1
