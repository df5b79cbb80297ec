"""The character GPT in the Keras dialect (examples/keras_char_gpt.py) on small data: shapes, causal masking,
initialisation, windows, and a short training run whose loss falls."""
from __future__ import annotations

import importlib.util
import math

import numpy as np
import pytest

from ember import keras
from tests.conftest import REPO_ROOT

TEXT = "to be or not to be, that is the question.\n" * 40


@pytest.fixture(scope="module")
def program():
    spec = importlib.util.spec_from_file_location("keras_char_gpt", REPO_ROOT / "examples" / "keras_char_gpt.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _logits(model, ids) -> np.ndarray:
    return keras.ops.convert_to_numpy(model(np.asarray(ids, np.int64), training=False))


def test_default_model_has_the_pytorch_dialect_models_shapes_and_parameter_count(program):
    keras.utils.set_random_seed(0)
    model = program.GPT(65)
    ids = np.random.default_rng(0).integers(0, 65, (2, 64))
    assert _logits(model, ids).shape == (2, 64, 65)
    # nanoGPT's 0.80M: tied token embedding, positions, 4 blocks of (LayerNorm weights, attention, 4x MLP), ln_f
    block = 2 * 128 + 4 * 128 * 128 + 2 * 128 * 4 * 128
    assert model.count_params() == 65 * 128 + 64 * 128 + 4 * block + 128
    with pytest.raises(ValueError, match="GPT: received 65 positions, the position table holds block_size 64"):
        model(np.zeros((1, 65), np.int64))


def test_changing_a_later_character_leaves_earlier_logits_unchanged(program):
    keras.utils.set_random_seed(1)
    model = program.GPT(65, block_size=16, n_layer=2, n_head=2, n_embd=32)
    ids = np.random.default_rng(1).integers(0, 65, (3, 16))
    changed = ids.copy()
    changed[:, 9] = (changed[:, 9] + 7) % 65
    before, after = _logits(model, ids), _logits(model, changed)
    np.testing.assert_array_equal(before[:, :9], after[:, :9])
    assert np.abs(before[:, 9:] - after[:, 9:]).max() > 1e-3


def test_initialisation_and_weight_decay_follow_nanogpt(program):
    keras.utils.set_random_seed(2)
    args = program.parse_arguments(["--n-layer", "2", "--n-embd", "64", "--steps", "10", "--warmup-steps", "2"])
    model = program.build_and_compile(65, args)
    ids = np.random.default_rng(2).integers(0, 65, (4, 64))
    model.fit(ids, np.roll(ids, -1, axis=1), batch_size=4, verbose=0)
    residual_std = 0.02 / math.sqrt(2 * 2)
    for block in model.blocks:
        for projection, expected in ((block.fc.kernel, 0.02), (block.proj.kernel, residual_std),
                                     (block.attn.get_weights()[0], 0.02), (block.attn.get_weights()[-1], residual_std)):
            values = projection if isinstance(projection, np.ndarray) else projection.numpy()
            assert abs(values.std() - expected) < 0.15 * expected
    undecayed = {name for name, p in model.named_parameters() if id(p) in model.optimizer._no_decay_ids}
    assert undecayed == {"tok.embeddings", "pos.embeddings", "ln_f.gamma", "blocks.0.ln_1.gamma", "blocks.0.ln_2.gamma",
                         "blocks.1.ln_1.gamma", "blocks.1.ln_2.gamma"}
    schedule = model.optimizer._learning_rate
    assert [schedule(step) for step in (0, 2, 10)] == pytest.approx([0.0, 1e-3, 1e-4])


def test_random_windows_are_input_and_next_character_pairs(program):
    data = np.arange(1000, dtype=np.uint16)
    x, y = next(iter(program.random_windows(data, block_size=8, batch_size=5, batches=3, seed=0)))
    assert x.shape == y.shape == (5, 8) and x.dtype == np.int64
    np.testing.assert_array_equal(y, x + 1)  # in this text every character is followed by its id + 1
    np.testing.assert_array_equal(x[:, 1:], x[:, :-1] + 1)
    batches = list(program.random_windows(data, 8, 5, 3, seed=0).take(4))
    np.testing.assert_array_equal(batches[3][0], batches[0][0])  # 3 batches, then the same again


def test_trains_a_few_steps_and_generates_on_a_tiny_text(program, tmp_path, capsys):
    (tmp_path / "tinyshakespeare").mkdir()
    (tmp_path / "tinyshakespeare" / "input.txt").write_text(TEXT)
    args = program.parse_arguments([
        "--data-dir", str(tmp_path), "--steps", "60", "--eval-interval", "20", "--eval-iters", "4",
        "--eval-batches", "8", "--batch-size", "8", "--block-size", "16", "--n-layer", "2", "--n-head", "2",
        "--n-embd", "32", "--learning-rate", "1e-2", "--min-lr", "1e-3", "--warmup-steps", "5",
        "--max-new-tokens", "30", "--prompt", "to be", "--top-k", "5", "--verbose", "0"])
    result = program.train(args)
    history = result["history"]
    assert len(history["loss"]) == 3 and len(result["step_seconds"]) == 60
    assert history["loss"][-1] < history["loss"][0] - 0.5
    assert history["val_loss"][-1] < history["val_loss"][0]
    assert result["val_loss"] < math.log(len(set(TEXT)))  # better than a uniform guess
    assert result["sample"].startswith("to be") and len(result["sample"]) == 35
    assert set(result["sample"]) <= set(TEXT)
    assert f"val loss {result['val_loss']:.4f}" in capsys.readouterr().out
    with pytest.raises(ValueError, match="temperature must be > 0"):
        program.generate(result["model"], np.array([1, 2]), 3, temperature=0.0)
