"""UNet shapes and errors, the text encoder and tokenizer, a float64 gradcheck of the loss, checkpoints, PNG."""
import struct
import zlib

import numpy as np
import pytest

import ember
from ember.autograd import gradcheck
from ember.diffusion import (
    DiffusionConfig, DiffusionModel, UNet, encode_prompts, image_grid, load_checkpoint, png_bytes, prompt_for,
    read_checkpoint, save_checkpoint, sinusoidal_embedding, tokenize, write_png,
)
from ember.diffusion.model import CONFIG_KEY

TINY = DiffusionConfig(channels=8, channel_multipliers=(1, 2), groups=4, attention_heads=2, timesteps=20,
                       text_width=8, text_layers=1, text_heads=2)


def test_unet_shapes_for_mnist():
    ember.manual_seed(0)
    unet = UNet(channels=8, groups=4)  # (1, 2, 2): 28 → 14 → 7
    x = ember.randn(3, 1, 28, 28)
    out = unet(x, np.array([0, 10, 999]), ember.randn(3, unet.embedding_dim))
    assert tuple(out.shape) == (3, 1, 28, 28) and out.dtype == ember.float32
    assert tuple(unet(x, np.array([5, 5, 5])).shape) == (3, 1, 28, 28)  # no condition


@pytest.mark.parametrize("batch", [1, 3])
def test_unet_trains_on_small_batches_with_the_reference_paths_numbers(batch):
    # one image: the convolutions' (C, H, W, N) memory with N = 1 carries strides on a length-one axis that
    # copies do not share; three: a batch the direct convolutions do not take
    rng = np.random.default_rng(batch)
    x = rng.standard_normal((batch, 1, 8, 8)).astype(np.float32)
    condition = rng.standard_normal((batch, 32)).astype(np.float32)
    t = np.arange(batch) * 7
    results = []
    for fast in (True, False):
        ember.manual_seed(0)
        unet = UNet(channels=8, channel_multipliers=(1, 2), groups=4, attention_heads=2)
        with ember.config.override(fast_paths=fast):
            y = unet(ember.tensor(x), t, ember.tensor(condition))
            (y * y).sum().backward()
        results.append([y.numpy()] + [p.grad.numpy() for p in unet.parameters()])
    for fast, reference in zip(*results):
        np.testing.assert_allclose(fast, reference, rtol=2e-3, atol=2e-4)


def test_residual_block_runs_group_norm_hooks_and_replaced_norms():
    # the fused group norm + SiLU node stands in for a plain GroupNorm only: hooks and replacements run
    from ember.diffusion.unet import ResidualBlock

    ember.manual_seed(0)
    block = ResidualBlock(8, 16, 12, groups=4)
    x, embedding = ember.randn(2, 8, 6, 6), ember.randn(2, 12)
    fused = block(x, embedding).numpy()
    seen = []
    handles = [block.norm1.register_forward_hook(lambda module, args, out: seen.append(tuple(out.shape))),
               block.norm2.register_forward_pre_hook(lambda module, args: seen.append(tuple(args[0].shape)))]
    np.testing.assert_allclose(block(x, embedding).numpy(), fused, rtol=1e-5, atol=1e-5)
    assert seen == [(2, 8, 6, 6), (2, 16, 6, 6)]
    for handle in handles:
        handle.remove()
    block.norm2 = ember.nn.Identity()
    expected = block.conv2(ember.nn.functional.silu(
        block.conv1(ember.nn.functional.silu(block.norm1(x)))
        + block.embedding_projection(ember.nn.functional.silu(embedding)).reshape(2, 16, 1, 1)))
    np.testing.assert_allclose(block(x, embedding).numpy(), (expected + block.shortcut(x)).numpy(), rtol=1e-5,
                               atol=1e-5)


def test_unet_refuses_sizes_it_cannot_halve():
    unet = UNet(channels=8, groups=4)
    with pytest.raises(ValueError, match=r"divisible by 4; received shape \(2, 1, 30, 30\)"):
        unet(ember.randn(2, 1, 30, 30), np.array([1, 2]))
    with pytest.raises(ValueError, match=r"expected input \(N, C, H, W\)"):
        unet(ember.randn(1, 28, 28), np.array([1]))
    with pytest.raises(ValueError, match="expected 2 timesteps"):
        unet(ember.randn(2, 1, 28, 28), np.array([1, 2, 3]))
    with pytest.raises(ValueError, match="groups=8 must divide"):
        UNet(channels=12)


def test_sinusoidal_embedding():
    embedding = sinusoidal_embedding(np.array([0, 3]), 8).numpy()
    assert embedding.shape == (2, 8) and embedding.dtype == np.float32
    assert np.allclose(embedding[0], [1, 1, 1, 1, 0, 0, 0, 0])
    frequencies = 10000.0 ** (-np.arange(4) / 4)
    assert np.allclose(embedding[1], np.concatenate([np.cos(3 * frequencies), np.sin(3 * frequencies)]), atol=1e-6)


def test_tokenizer():
    assert tokenize("7") == tokenize("seven")[:0] + tokenize("7")
    assert len(tokenize("a handwritten seven")) == 3
    assert tokenize("The Digit 7!") == tokenize("the digit 7")
    assert tokenize("17") == tokenize("1") + tokenize("7")  # each digit character is a token
    ids = encode_prompts(["seven", "the digit 7"])
    assert ids.dtype == np.int64 and ids.shape == (2, 8) and ids[0, 1:].sum() == 0
    with pytest.raises(ValueError, match=r"cannot encode \['cat'\] in the prompt 'a cat'"):
        tokenize("a cat")
    with pytest.raises(ValueError, match="has no words"):
        tokenize("  !")
    with pytest.raises(ValueError, match="at most 8 fit"):
        tokenize("a " * 9 + "seven")
    assert prompt_for(8, "a {w}") == "an eight" and prompt_for(7, "the digit {d}") == "the digit 7"


def test_text_encoder_ignores_padding_and_positions_matter():
    ember.manual_seed(0)
    model = DiffusionModel(TINY)
    ids = ember.tensor(encode_prompts(["a handwritten seven", "seven a handwritten"]))
    embedded = model.text_encoder(ids).numpy()
    assert embedded.shape == (2, model.unet.embedding_dim)
    assert not np.allclose(embedded[0], embedded[1])
    short = model.text_encoder(ember.tensor(encode_prompts(["seven"], max_tokens=3))).numpy()
    long = model.text_encoder(ember.tensor(encode_prompts(["seven"]))).numpy()
    assert np.allclose(short, long, atol=1e-5)  # padding changes nothing


def test_loss_gradcheck_float64():
    ember.manual_seed(0)
    model = DiffusionModel(TINY).double()
    rng = np.random.default_rng(0)
    x_t = ember.tensor(rng.standard_normal((2, 1, 4, 4)))
    noise = ember.tensor(rng.standard_normal((2, 1, 4, 4)))
    ids = ember.tensor(encode_prompts(["seven", "the digit 2"]))
    t = np.array([3, 17])
    drop = np.array([False, True])  # one conditioned, one on the null condition
    model.null_condition.array[...] = rng.standard_normal((1, model.unet.embedding_dim))
    checked = [model.null_condition, model.unet.output_conv.bias, model.unet.middle_attention.attention.out_proj.bias,
               model.text_encoder.output.bias, model.unet.time_mlp[2].bias]
    assert all(p.dtype == ember.float64 for p in checked)

    def loss(*parameters):  # the parameters are perturbed in place: the model sees them
        return ember.nn.functional.mse_loss(model(x_t, t, ids, drop), noise)

    assert loss().dtype == ember.float64
    assert gradcheck(loss, checked, eps=1e-6, atol=1e-7, rtol=1e-4)


def test_training_loss_trains_and_sampling_returns_images():
    ember.manual_seed(0)
    model = DiffusionModel(TINY)
    loss = model.loss(ember.randn(4, 1, 28, 28), ["seven", "3", "a handwritten two", "the digit 9"],
                      np.random.default_rng(0))
    assert loss.dtype == ember.float32 and loss.ndim == 0
    loss.backward()
    assert all(p.grad is not None for p in model.unet.parameters())
    assert model.text_encoder.output.weight.grad is not None
    with pytest.raises(ValueError, match="4 images but 1 prompts"):
        model.loss(ember.randn(4, 1, 28, 28), ["seven"])
    for sampler in ("ddim", "ddpm"):
        images = model.sample(["seven", "2"], steps=4, sampler=sampler, progress=False)
        assert images.shape == (2, 1, 28, 28) and images.dtype == np.float32
        assert images.min() >= -1 and images.max() <= 1
    a = model.sample(["seven"], steps=4, rng=np.random.default_rng(3), progress=False)
    b = model.sample(["seven"], steps=4, rng=np.random.default_rng(3), progress=False)
    assert np.array_equal(a, b)  # DDIM with eta=0 and the same starting noise
    with pytest.raises(ValueError, match="sampler must be one of"):
        model.sample(["seven"], sampler="euler")
    with pytest.raises(ValueError, match="cannot encode"):
        model.sample(["a dog"], steps=4)


def test_checkpoint_round_trip_and_configuration_errors(tmp_path):
    ember.manual_seed(0)
    model = DiffusionModel(TINY)
    path = tmp_path / "tiny.safetensors"
    save_checkpoint(model, path)
    config, tensors, metadata = read_checkpoint(path)
    assert config == TINY and CONFIG_KEY in metadata
    loaded = load_checkpoint(path, expected=TINY)
    for (name, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert np.array_equal(a.numpy(), b.numpy()), name
    other = DiffusionConfig(channels=16, channel_multipliers=(1, 2), groups=4, timesteps=20)
    with pytest.raises(ValueError, match="another configuration; channels: checkpoint 8, expected 16"):
        load_checkpoint(path, expected=other)
    with pytest.raises(ValueError, match="weights must be 'ema' or 'model'"):
        load_checkpoint(path, weights="best")
    with pytest.raises(ValueError, match="condition_dropout must be in"):
        DiffusionConfig(condition_dropout=1.5)
    plain = tmp_path / "plain.safetensors"
    ember.io.save_file({"w": np.zeros(3, dtype=np.float32)}, plain)
    with pytest.raises(ValueError, match="without a diffusion configuration"):
        load_checkpoint(plain)
    # tensors that do not fit the configuration they carry
    ember.io.save_file(tensors, tmp_path / "lying.safetensors", {CONFIG_KEY: other.to_json()})
    with pytest.raises(ValueError, match="do not match its configuration"):
        load_checkpoint(tmp_path / "lying.safetensors")


def _decode_png(payload: bytes) -> np.ndarray:
    assert payload[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", payload[16:24])
    data, offset = b"", 8
    while offset < len(payload):
        length, kind = struct.unpack(">I4s", payload[offset:offset + 8])
        chunk = payload[offset + 8:offset + 8 + length]
        assert struct.unpack(">I", payload[offset + 8 + length:offset + 12 + length])[0] == zlib.crc32(kind + chunk)
        if kind == b"IDAT":
            data += chunk
        offset += 12 + length
    rows = np.frombuffer(zlib.decompress(data), dtype=np.uint8).reshape(height, width + 1)
    assert np.all(rows[:, 0] == 0)
    return rows[:, 1:]


def test_png_grid_round_trip(tmp_path):
    images = np.linspace(-1, 1, 5 * 28 * 28, dtype=np.float32).reshape(5, 1, 28, 28)
    grid = image_grid(images, padding=2)
    assert grid.shape == (2 * 30 + 2, 3 * 30 + 2) and grid.dtype == np.uint8  # ⌈√5⌉ = 3 columns
    assert np.array_equal(_decode_png(png_bytes(grid)), grid)
    assert grid[2, 2] == 0 and grid[2 + 27, 2 + 30 * 1 + 27] > 0
    path = tmp_path / "grid.png"
    write_png(grid, path)
    assert np.array_equal(_decode_png(path.read_bytes()), grid)
    with pytest.raises(ValueError, match=r"expected \(H, W\) uint8"):
        png_bytes(grid.astype(np.float32))


def test_interrupted_png_write_leaves_the_old_file(tmp_path, monkeypatch):
    import contextlib

    import ember.diffusion.training as training

    path = tmp_path / "grid.png"
    old = np.full((4, 4), 7, dtype=np.uint8)
    write_png(old, path)
    real_writer = training.atomic_writer

    @contextlib.contextmanager
    def interrupted_writer(target):
        with real_writer(target) as handle:
            class HalfThenInterrupt:
                def write(self, payload):
                    handle.write(payload[:len(payload) // 2])
                    raise KeyboardInterrupt

            yield HalfThenInterrupt()

    monkeypatch.setattr(training, "atomic_writer", interrupted_writer)
    with pytest.raises(KeyboardInterrupt):
        training.write_png(np.zeros((8, 8), dtype=np.uint8), path)
    assert [p.name for p in tmp_path.iterdir()] == ["grid.png"]  # no temporary file left
    assert np.array_equal(_decode_png(path.read_bytes()), old)
