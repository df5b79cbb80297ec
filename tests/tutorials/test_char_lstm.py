"""The character-level LSTM program on a tiny generated text: the loss falls and generation stays in the vocabulary."""
from __future__ import annotations

import importlib.util

import pytest

from tests.conftest import REPO_ROOT

TEXT = "to be or not to be, that is the question.\n" * 40


def _load_program():
    spec = importlib.util.spec_from_file_location("char_lstm", REPO_ROOT / "examples" / "char_lstm.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_default_model_has_pytorchs_parameter_count():
    model = _load_program().CharLSTM(65)
    lstm = 4 * 256 * (256 + 256 + 2) * 2
    assert sum(p.numel() for p in model.parameters()) == 65 * 256 + lstm + 256 * 65 + 65


@pytest.mark.parametrize("top_k", [None, 3])
def test_trains_and_generates_on_a_tiny_text(tmp_path, capsys, top_k):
    (tmp_path / "tinyshakespeare").mkdir()
    (tmp_path / "tinyshakespeare" / "input.txt").write_text(TEXT)
    arguments = ["--data-dir", str(tmp_path), "--steps", "30", "--eval-interval", "15", "--eval-iters", "2",
                 "--batch-size", "8", "--block-size", "16", "--embedding-dim", "16", "--hidden-size", "32",
                 "--lr", "1e-2", "--prompt", "to be", "--length", "40", "--temperature", "0.8"]
    if top_k is not None:
        arguments += ["--top-k", str(top_k)]
    result = _load_program().main(arguments)
    history = result["history"]
    assert [entry["step"] for entry in history] == [0, 15, 30]
    assert history[-1]["train"] < history[0]["train"] - 0.5
    assert history[-1]["val"] < history[0]["val"]
    assert len(result["sample"]) == 40 and set(result["sample"]) <= set(TEXT)
    printed = capsys.readouterr().out
    assert "step 30: train loss" in printed and "to be" + result["sample"] in printed
