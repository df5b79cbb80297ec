"""benchmarks/diffusion_eval.py's --fid sampling: the prompt cycle, batches seeded by index, resuming from the
.npy file, and the checks on samples read from a file."""
import sys
from pathlib import Path

import numpy as np
import pytest

import ember
from ember.diffusion import DiffusionConfig, DiffusionModel

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import diffusion_eval  # the benchmark script (after the path insert above)

TINY = DiffusionConfig(channels=8, channel_multipliers=(1, 2), groups=4, attention_heads=2, timesteps=20,
                       text_width=8, text_layers=1, text_heads=2)


def test_prompts_cycle_over_digits_then_phrasings():
    prompts, digits = diffusion_eval.fid_prompts(8, 22)
    assert list(digits) == [8, 9, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]
    assert prompts[:3] == ["the digit 8", "the digit 9", "a handwritten zero"]
    assert prompts[-1] == "the digit 1"  # sample 21: phrasing (21 div 10) mod 2 = 0


def test_resumed_run_draws_the_same_samples(tmp_path, capsys):
    ember.manual_seed(0)
    model = DiffusionModel(TINY)
    whole = diffusion_eval.draw_fid_samples(model, 10, 3, "ddim", 1.0, 4, seed=7)
    assert whole.shape == (10, 1, 28, 28) and whole.dtype == np.float32
    path = tmp_path / "samples.npy"
    first = diffusion_eval.draw_fid_samples(model, 6, 3, "ddim", 1.0, 4, seed=7, samples_out=path)
    assert np.load(path).shape == (6, 1, 28, 28)
    np.testing.assert_array_equal(first[:4], whole[:4])  # the first batch; the second held only 2 samples
    resumed = diffusion_eval.draw_fid_samples(model, 10, 3, "ddim", 1.0, 4, seed=7, samples_out=path)
    assert "6 samples already drawn" in capsys.readouterr().out
    np.testing.assert_array_equal(resumed, whole)  # the partial batch (4, 5) is drawn again with its own seed
    np.testing.assert_array_equal(np.load(path), whole)
    again = diffusion_eval.draw_fid_samples(model, 8, 3, "ddim", 1.0, 4, seed=7, samples_out=path)
    np.testing.assert_array_equal(again, whole[:8])  # enough on file: nothing drawn


def test_samples_from_a_file_are_checked(tmp_path):
    good = tmp_path / "good.npy"
    np.save(good, np.zeros((3, 28, 28), dtype=np.float64))
    loaded = diffusion_eval.load_samples(good)
    assert loaded.shape == (3, 1, 28, 28) and loaded.dtype == np.float32
    bad = tmp_path / "bad.npy"
    np.save(bad, np.zeros((3, 1, 32, 32), dtype=np.float32))
    with pytest.raises(SystemExit, match=r"shape \(3, 1, 32, 32\); expected \(N, 1, 28, 28\)"):
        diffusion_eval.load_samples(bad)
    np.save(bad, np.full((2, 1, 28, 28), 3.0, dtype=np.float32))
    with pytest.raises(SystemExit, match=r"in \[-1, 1\]"):
        diffusion_eval.load_samples(bad)
