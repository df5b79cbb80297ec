"""``ember diffusion train`` → checkpoint → ``ember diffusion sample`` → PNG, with a tiny configuration."""
import json

import numpy as np
import pytest

import ember
from ember.cli import main
from ember.diffusion import DiffusionConfig, load_checkpoint, read_checkpoint, save_checkpoint, train

TINY_FLAGS = ["--channels", "8", "--channel-multipliers", "1,2", "--groups", "4", "--timesteps", "20",
              "--text-width", "8", "--text-layers", "1"]
TINY = DiffusionConfig(channels=8, channel_multipliers=(1, 2), groups=4, timesteps=20, text_width=8, text_layers=1)


def _png_size(path) -> tuple:
    payload = path.read_bytes()
    assert payload[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(payload[16:20], "big"), int.from_bytes(payload[20:24], "big")


def test_train_on_generated_digits_then_sample_from_the_checkpoint_alone(tmp_path, capsys):
    rng = np.random.default_rng(0)
    images = rng.uniform(-1, 1, (32, 1, 28, 28)).astype(np.float32)
    labels = rng.integers(0, 10, 32)
    checkpoint = tmp_path / "tiny.safetensors"
    _, ema, losses = train(TINY, steps=4, batch_size=8, out=checkpoint, save_every=2, images=images,
                               labels=labels, progress=False, log=None)
    assert len(losses) == 4 and all(np.isfinite(losses))
    config, tensors, metadata = read_checkpoint(checkpoint)
    assert config == TINY and metadata["step"] == "4"
    assert any(name.startswith("ema.module.") for name in tensors)
    # sampling uses the averaged weights
    loaded = load_checkpoint(checkpoint)
    for (name, a), (_, b) in zip(ema.module.state_dict().items(), loaded.state_dict().items()):
        assert np.array_equal(a.numpy(), b.numpy()), name

    grid = tmp_path / "grid.png"
    assert main(["diffusion", "sample", "--checkpoint", str(checkpoint), "--prompt", "a handwritten seven",
                 "--n", "4", "--steps", "3", "--sampler", "ddim", "--guidance", "2", "--out", str(grid)]) == 0
    assert _png_size(grid) == (2 * 30 + 2, 2 * 30 + 2)
    assert "wrote" in capsys.readouterr().out
    ddpm = tmp_path / "ddpm.png"
    assert main(["diffusion", "sample", "--checkpoint", str(checkpoint), "--prompt", "7", "--n", "3", "--steps", "3",
                 "--sampler", "ddpm", "--out", str(ddpm)]) == 0
    assert _png_size(ddpm) == (2 * 30 + 2, 2 * 30 + 2)
    capsys.readouterr()
    assert main(["diffusion", "sample", "--checkpoint", str(checkpoint), "--prompt", "a cat", "--out",
                 str(tmp_path / "cat.png")]) == 2
    assert "cannot encode ['cat'] in the prompt 'a cat'" in capsys.readouterr().err
    assert not (tmp_path / "cat.png").exists()
    assert main(["diffusion", "sample", "--checkpoint", str(tmp_path / "missing.safetensors"), "--prompt", "7",
                 "--out", str(grid)]) == 2


def test_train_refuses_images_of_another_size():
    with pytest.raises(ValueError, match="do not match the configuration"):
        train(TINY, 1, images=np.zeros((4, 1, 32, 32), dtype=np.float32), labels=np.zeros(4, dtype=np.int64),
              progress=False)


def test_cli_train_on_mnist_then_sample(tmp_path, mnist_data_root, capsys):
    checkpoint = tmp_path / "ckpt.safetensors"
    assert main(["diffusion", "train", "--steps", "3", "--batch", "8", "--limit", "64", "--data-dir",
                 str(mnist_data_root), "--out", str(checkpoint), *TINY_FLAGS]) == 0
    assert "trained 3 steps" in capsys.readouterr().out
    grid = tmp_path / "grid.png"
    assert main(["diffusion", "sample", "--checkpoint", str(checkpoint), "--prompt", "seven", "--n", "2",
                 "--steps", "2", "--out", str(grid)]) == 0
    assert grid.exists()
    ember.manual_seed(0)
    assert load_checkpoint(checkpoint).config == TINY


def _generated_digits(count=32):
    rng = np.random.default_rng(0)
    return rng.uniform(-1, 1, (count, 1, 28, 28)).astype(np.float32), rng.integers(0, 10, count)


class TenSecondsPerReading:
    """A clock for ``train``: every reading is 10 s after the one before."""

    def __init__(self):
        self.now = 0.0

    def perf_counter(self) -> float:
        self.now += 10.0
        return self.now


def test_resumed_training_takes_the_uninterrupted_runs_steps(tmp_path, monkeypatch):
    monkeypatch.setattr("ember.diffusion.training.time", TenSecondsPerReading())
    images, labels = _generated_digits()
    whole, half, resumed = tmp_path / "whole.safetensors", tmp_path / "half.safetensors", tmp_path / "resumed.st"
    options = dict(batch_size=8, save_every=2, images=images, labels=labels, progress=False, log=None, seed=3)
    _, _, losses = train(TINY, steps=4, out=whole, **options)
    train(TINY, steps=2, out=half, **options)
    _, _, resumed_losses = train(TINY, steps=4, out=resumed, resume=half, **options)
    assert resumed_losses == losses[2:]
    _, expected, expected_metadata = read_checkpoint(whole)
    _, found, metadata = read_checkpoint(resumed)
    assert sorted(found) == sorted(expected)
    ember.manual_seed(0)
    parameters = list(ember.diffusion.DiffusionModel(TINY).parameters())
    assert sum(name.startswith("optimizer.") for name in found) == 2 * len(parameters)  # exp_avg, exp_avg_sq
    for name in expected:  # weights, averaged weights and their count, Adam's moments
        assert np.array_equal(found[name], expected[name]), name
    # step, generator states and seconds of training (both runs' on the resumed one: 10 + 10 on this clock)
    assert metadata["ember.diffusion.training"] == expected_metadata["ember.diffusion.training"]
    assert json.loads(metadata["ember.diffusion.training"])["seconds"] == 20.0 and metadata["seconds"] == "20.0"
    assert metadata["ember.diffusion.optimizer"] == expected_metadata["ember.diffusion.optimizer"]


def test_resume_refuses_other_configurations_and_sampling_checkpoints(tmp_path, capsys):
    images, labels = _generated_digits(16)
    checkpoint = tmp_path / "tiny.safetensors"
    train(TINY, steps=2, batch_size=4, out=checkpoint, images=images, labels=labels, progress=False, log=None)
    other = DiffusionConfig(channels=16, channel_multipliers=(1, 2), groups=4, timesteps=20, text_width=8,
                            text_layers=1)
    with pytest.raises(ValueError, match="another configuration; channels: checkpoint 8, expected 16"):
        train(other, steps=4, images=images, labels=labels, progress=False, log=None, resume=checkpoint)
    with pytest.raises(ValueError, match="saved after step 2, beyond the 1 steps"):
        train(TINY, steps=1, images=images, labels=labels, progress=False, log=None, resume=checkpoint)
    for_sampling = tmp_path / "sampling.safetensors"
    save_checkpoint(load_checkpoint(checkpoint), for_sampling)
    with pytest.raises(ValueError, match="holds no training state"):
        train(TINY, steps=4, images=images, labels=labels, progress=False, log=None, resume=for_sampling)
    # the command names the entry a flag changes, before it reads any data
    assert main(["diffusion", "train", "--resume", str(checkpoint), "--channels", "16", "--steps", "4",
                 "--data-dir", str(tmp_path / "no-data")]) == 2
    assert "channels: checkpoint 8, expected 16" in capsys.readouterr().err
    assert main(["diffusion", "train", "--resume", str(tmp_path / "missing.safetensors"), "--steps", "4"]) == 2
    assert "missing.safetensors" in capsys.readouterr().err


def test_cli_resumes_on_mnist(tmp_path, mnist_data_root, capsys):
    checkpoint = tmp_path / "ckpt.safetensors"
    flags = ["--batch", "8", "--limit", "64", "--data-dir", str(mnist_data_root), "--out", str(checkpoint)]
    assert main(["diffusion", "train", "--steps", "2", *flags, *TINY_FLAGS]) == 0
    capsys.readouterr()
    # the configuration comes from the checkpoint; flags that agree with it may be given again
    assert main(["diffusion", "train", "--steps", "3", "--resume", str(checkpoint), *flags, "--channels", "8"]) == 0
    assert "trained 1 steps" in capsys.readouterr().out
    assert read_checkpoint(checkpoint)[2]["step"] == "3"


@pytest.mark.parametrize("damage, message", [
    (lambda tensors, metadata: metadata.update({"ember.diffusion.training": "{not json"}),
     "its training state is unreadable"),
    (lambda tensors, metadata: metadata.update({"ember.diffusion.training": '{"step": 2}'}),
     "its training state is unreadable"),
    (lambda tensors, metadata: metadata.update({"ember.diffusion.training": metadata["ember.diffusion.training"]
                                                .replace('"bit_generator": "PCG64"', '"bit_generator": "MT19937"')}),
     "its training state is unreadable"),
    (lambda tensors, metadata: metadata.update({"ember.diffusion.optimizer": '{"param_groups": []}'}),
     "its optimizer state is unreadable"),
    (lambda tensors, metadata: metadata.pop("ember.diffusion.optimizer"), "holds no optimizer state"),
    (lambda tensors, metadata: tensors.update({name: np.zeros(1, dtype=np.float32) for name in tensors
                                                if name.startswith("optimizer.")}),
     r"optimizer state 0 'exp_avg' has shape \(1,\), its parameter"),
    (lambda tensors, metadata: tensors.pop("optimizer.0"), "its optimizer state is unreadable"),
])
def test_resume_refuses_damaged_training_state(tmp_path, damage, message):
    images, labels = _generated_digits(16)
    checkpoint = tmp_path / "tiny.safetensors"
    train(TINY, steps=2, batch_size=4, out=checkpoint, images=images, labels=labels, progress=False, log=None)
    _, tensors, metadata = read_checkpoint(checkpoint)
    damage(tensors, metadata)
    damaged = tmp_path / "damaged.safetensors"
    ember.io.save_file(tensors, damaged, metadata)
    with pytest.raises(ValueError, match=message):
        train(TINY, steps=4, batch_size=4, images=images, labels=labels, progress=False, log=None, resume=damaged)
