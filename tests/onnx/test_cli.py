"""``ember export model.keras [model.onnx]``: a saved Keras model to ONNX, its inputs, outputs and opset printed."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("onnx", reason='onnx is not installed: pip install "ember[onnx]"')
pytest.importorskip("onnxruntime", reason='onnxruntime is not installed: pip install "ember[onnx]"')

from ember import cli
from ember.keras.models import load_model
from ember.tutorials import mnist_codelab

from .helpers import assert_matches


def test_export_command_writes_onnx_beside_the_model(tmp_path, rng, capsys):
    model = mnist_codelab.convnet()
    source = tmp_path / "convnet.keras"
    model.save(str(source))
    assert cli.main(["export", str(source), "--opset", "18"]) == 0
    printed = capsys.readouterr().out
    target = tmp_path / "convnet.onnx"
    assert f"wrote {target} (ONNX opset 18" in printed
    assert "input  input_layer float32[batch, 784]" in printed
    assert "output output_0 float32[batch, 10]" in printed
    reloaded = load_model(str(source), compile=False)
    assert_matches(target, reloaded, [rng.random((3, 784), dtype=np.float32)], ["input_layer"])


def test_export_command_refuses_other_files(tmp_path, capsys):
    assert cli.main(["export", str(tmp_path / "weights.h5")]) == 2
    assert "expected a .keras file" in capsys.readouterr().err


def test_export_command_writes_the_pytorch_dialect_of_a_dense_model(tmp_path, rng, capsys):
    import importlib.util

    import ember

    model = mnist_codelab.dense_layers("relu", dropout=0.25)
    source = tmp_path / "dense.keras"
    model.save(str(source))
    (tmp_path / "out").mkdir()
    assert cli.main(["export", str(source), str(tmp_path / "out" / "dense.onnx"), "--pytorch"]) == 0
    assert "wrote" in capsys.readouterr().out
    spec = importlib.util.spec_from_file_location("dense_pytorch", tmp_path / "out" / "dense.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rebuilt = module.build_model()
    rebuilt.load_state_dict(ember.load(tmp_path / "out" / "dense.pt"))
    rebuilt.eval()
    model.eval()
    images = ember.tensor(rng.random((4, 784), dtype=np.float32))
    with ember.no_grad():
        np.testing.assert_allclose(rebuilt(images).numpy(), model(images).numpy(), rtol=1e-6, atol=1e-7)


def test_export_command_says_why_a_convnet_has_no_pytorch_dialect(tmp_path, capsys):
    source = tmp_path / "convnet.keras"
    mnist_codelab.convnet().save(str(source))
    assert cli.main(["export", str(source), "--pytorch"]) == 0
    assert "no PyTorch-dialect files: layer 'reshape" in capsys.readouterr().out
    assert not (tmp_path / "convnet.py").exists()
