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
