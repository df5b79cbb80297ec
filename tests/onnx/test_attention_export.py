"""ONNX export of ``F.scaled_dot_product_attention`` (causal, bool and float masks) and of the character GPT's
forward over a window; onnxruntime's outputs equal Ember's."""
from __future__ import annotations

import numpy as np
import pytest

import ember
import ember.nn.functional as F
from ember import nn

onnx = pytest.importorskip("onnx", reason='ONNX export needs onnx and onnxruntime: pip install "ember[onnx]"')
onnxruntime = pytest.importorskip("onnxruntime", reason='pip install "ember[onnx]"')


def _run(path, feeds):
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


class Attend(nn.Module):
    def __init__(self, mode):
        super().__init__()
        self.mode = mode
        self.proj = nn.Linear(8, 24)
        rng = np.random.default_rng(1)
        self.bool_mask = ember.tensor(rng.random((5, 5)) > 0.3)
        self.bool_mask.array[:, 0] = True  # every query keeps a key
        self.float_mask = ember.tensor(rng.standard_normal((5, 5)).astype(np.float32))

    def forward(self, x):
        n, length, _ = x.shape
        q, k, v = self.proj(x).reshape(n, length, 3, 2, 4).permute(2, 0, 3, 1, 4)
        if self.mode == "causal":
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        elif self.mode == "bool":
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=self.bool_mask)
        else:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=self.float_mask, scale=0.3)
        return y.permute(0, 2, 1, 3).reshape(n, length, 8)


@pytest.mark.parametrize("mode", ["causal", "bool", "float"])
def test_scaled_dot_product_attention_exports(tmp_path, mode):
    ember.manual_seed(0)
    model = Attend(mode).eval()
    x = np.random.default_rng(0).standard_normal((2, 5, 8)).astype(np.float32)
    path = tmp_path / "attend.onnx"
    ember.onnx.export(model, (ember.tensor(x),), str(path), input_names=["x"], output_names=["y"],
                      dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    other = np.random.default_rng(1).standard_normal((3, 5, 8)).astype(np.float32)
    with ember.no_grad():
        expected = model(ember.tensor(other)).numpy()
    (got,) = _run(path, {"x": other})
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


def test_character_gpt_window_exports(tmp_path):
    from ember.tutorials import char_gpt

    config = char_gpt.GPTConfig(vocab_size=65, block_size=16, n_layer=2, n_head=2, n_embd=32, dropout=0.0)
    ember.manual_seed(0)
    model = char_gpt.GPT(config).eval()
    tokens = np.random.default_rng(0).integers(0, 65, (2, 16))
    path = tmp_path / "gpt.onnx"
    ember.onnx.export(model, (ember.tensor(tokens),), str(path), input_names=["tokens"], output_names=["logits"],
                      dynamic_axes={"tokens": {0: "batch"}, "logits": {0: "batch"}})
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    other = np.random.default_rng(1).integers(0, 65, (3, 16))
    with ember.no_grad():
        expected = model(ember.tensor(other))
    expected = (expected[0] if isinstance(expected, tuple) else expected).numpy()
    (got,) = _run(path, {"tokens": other.astype(np.int64)})
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


def test_diffusion_unet_exports(tmp_path):
    """The text-conditioned model's noise predictor (``ember.diffusion.UNet``, small widths): image, timesteps
    and condition embedding are graph inputs; GroupNorm, SiLU, strided and upsampling convolutions, skip
    concatenations and attention at the lowest resolution all reach onnxruntime."""
    from ember.diffusion.unet import UNet

    ember.manual_seed(0)
    model = UNet(channels=8, channel_multipliers=(1, 2), groups=4, attention_heads=2).eval()
    rng = np.random.default_rng(0)

    def inputs(n):
        return (rng.standard_normal((n, 1, 8, 8)).astype(np.float32), rng.integers(0, 1000, n),
                rng.standard_normal((n, model.embedding_dim)).astype(np.float32))

    x, t, condition = inputs(2)
    path = tmp_path / "unet.onnx"
    names = ["x", "t", "condition"]
    ember.onnx.export(model, (ember.tensor(x), ember.tensor(t), ember.tensor(condition)), str(path),
                      input_names=names, output_names=["noise"],
                      dynamic_axes={**{name: {0: "batch"} for name in names}, "noise": {0: "batch"}})
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    x, t, condition = inputs(3)
    with ember.no_grad():
        expected = model(ember.tensor(x), ember.tensor(t), ember.tensor(condition)).numpy()
    (got,) = _run(path, {"x": x, "t": t.astype(np.int64), "condition": condition})
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
