"""The PyTorch-style CNN program: the tutorial's parameter counts, and a run on a slice of real MNIST."""
from __future__ import annotations

import importlib.util
import json

import pytest

from tests.conftest import REPO_ROOT


def _load_program():
    spec = importlib.util.spec_from_file_location("pytorch_style_cnn", REPO_ROOT / "examples" / "pytorch_style_cnn.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_layer_parameter_counts_match_the_48x48x3_tutorial():
    program = _load_program()
    model = program.MY_NET(image_size=48)
    counts = [sum(p.numel() for p in layer.parameters()) for layer in model.modules()
              if type(layer).__name__ in ("Conv2d", "Linear")]
    assert counts == [896, 18_496, 73_856, (128 * 12 * 12 + 1) * 512, 5_130]


def test_runs_end_to_end_on_a_slice_of_mnist(mnist_data_root, tmp_path, capsys):
    program = _load_program()
    out = tmp_path / "metrics.json"
    history = program.main(["--epochs", "1", "--limit", "1024", "--test-limit", "1000", "--data-root", str(mnist_data_root),
                            "--out", str(out)])
    printed = capsys.readouterr().out
    assert "precision    recall  f1-score   support" in printed
    assert "macro avg" in printed and "weighted avg" in printed
    assert history[0]["test_accuracy"] > 0.6  # one epoch on 1,024 images
    assert json.loads(out.read_text())["history"][0]["test_accuracy"] == pytest.approx(history[0]["test_accuracy"])
