"""``ember export model.keras [model.onnx]`` (a saved Keras model) and ``ember export model.py --checkpoint ckpt``
(a PyTorch-dialect model script and its state_dict) to ONNX, its inputs, outputs and opset printed."""
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


MODEL_SCRIPT = '''
import ember
from ember import nn


def build_model():
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3))


def example_inputs():
    return ember.zeros(2, 1, 6, 6)
'''


def test_export_command_takes_a_model_script_and_its_checkpoint(tmp_path, rng, capsys):
    import importlib.util

    import ember

    import onnxruntime

    script = tmp_path / "small_cnn.py"
    script.write_text(MODEL_SCRIPT)
    spec = importlib.util.spec_from_file_location("small_cnn", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    ember.manual_seed(3)
    trained = module.build_model()
    checkpoint = tmp_path / "small_cnn.safetensors"
    ember.save(trained.state_dict(), checkpoint)
    assert cli.main(["export", str(script), str(tmp_path / "small.onnx"), "--checkpoint", str(checkpoint)]) == 0
    printed = capsys.readouterr().out
    assert "input  input0 float32[batch, 1, 6, 6]" in printed
    assert "output output0 float32[batch, 3]" in printed
    x = rng.random((5, 1, 6, 6), dtype=np.float32)
    session = onnxruntime.InferenceSession(str(tmp_path / "small.onnx"), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {"input0": x})
    with ember.no_grad():
        expected = trained.eval()(ember.tensor(x)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


def test_export_command_needs_a_checkpoint_for_a_script(tmp_path, capsys):
    script = tmp_path / "model.py"
    script.write_text(MODEL_SCRIPT)
    assert cli.main(["export", str(script)]) == 2
    assert "needs --checkpoint" in capsys.readouterr().err
