"""ember.onnx.export on the UNet, attention and transformer layers: transposed convolutions, padding modes,
resampling modes, group norm, Mish, tanh-GELU, einsum and tril/masked_fill, ``nn.MultiheadAttention`` and the
``nn.Transformer*`` layers, and Keras's Conv2DTranspose, UpSampling2D, GroupNormalization and
MultiHeadAttention. Each file passes ONNX's full check and onnxruntime gives Ember's outputs (rtol 1e-4,
atol 1e-5) at a batch size other than the traced one."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("onnx", reason='onnx is not installed: pip install "ember[onnx]"')
pytest.importorskip("onnxruntime", reason='onnxruntime is not installed: pip install "ember[onnx]"')

import ember
import ember.nn as nn
import ember.nn.functional as F
from ember import keras

from .helpers import assert_matches, load_checked

BATCH = {"input": {0: "batch"}, "output": {0: "batch"}}


def _floats(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


def _export(model, examples, path, names=("input",), **options):
    examples = examples if isinstance(examples, tuple) else (examples,)
    axes = {name: {0: "batch"} for name in names}
    axes["output"] = {0: "batch"}
    options.setdefault("dynamic_axes", axes)
    ember.onnx.export(model, tuple(ember.tensor(x) for x in examples), path, input_names=list(names),
                      output_names=["output"], **options)
    return path


def _op_types(path) -> set:
    return {node.op_type for node in load_checked(path).graph.node}


class Lambda(nn.Module):
    def __init__(self, function, *modules):
        super().__init__()
        self.function = function
        self.layers = nn.ModuleList(modules)

    def forward(self, x):
        return self.function(x, *self.layers)


# ------------------------------------------------------------------------------------- transposed convolution
@pytest.mark.parametrize("options", [
    {},
    {"stride": 2},
    {"stride": 2, "padding": 1, "output_padding": 1},
    {"stride": (2, 3), "padding": (1, 0), "output_padding": (0, 2), "dilation": (1, 2)},
    {"stride": 2, "groups": 2, "bias": False},
    {"stride": 3, "padding": 2, "dilation": 2, "output_padding": 2},
], ids=["plain", "stride-2", "padding-output-padding", "asymmetric-dilation", "groups-no-bias", "dilated"])
def test_conv_transpose2d(tmp_path, rng, options):
    model = nn.ConvTranspose2d(4, 6, 3, **options)
    path = _export(model, _floats(rng, 2, 4, 5, 6), tmp_path / "deconv.onnx")
    assert "ConvTranspose" in _op_types(path)
    assert_matches(path, model, [_floats(rng, 3, 4, 5, 6)], ["input"])


def test_conv_transpose1d_and_output_size(tmp_path, rng):
    deconv1d = nn.ConvTranspose1d(3, 4, 5, stride=2, padding=2, output_padding=1)
    deconv2d = nn.ConvTranspose2d(4, 2, 3, stride=2, padding=1)
    model = Lambda(lambda x, a, b: b(a(x).unsqueeze(2), output_size=(2, 44)), deconv1d, deconv2d)
    path = _export(model, _floats(rng, 2, 3, 11), tmp_path / "deconv1d.onnx")
    assert_matches(path, model, [_floats(rng, 4, 3, 11)], ["input"])


# -------------------------------------------------------------------------------------------------- padding
@pytest.mark.parametrize("opset", [17, 19])
@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular", "constant"])
def test_pad_modes(tmp_path, rng, mode, opset):
    model = Lambda(lambda x: F.pad(x, (2, 1, 0, 3), mode=mode) if mode != "constant"
                   else F.pad(x, (2, 1, 0, 3), value=0.5))
    path = _export(model, _floats(rng, 2, 3, 5, 4), tmp_path / "pad.onnx", opset_version=opset)
    assert ("Pad" in _op_types(path)) == (mode != "circular" or opset >= 19)
    assert_matches(path, model, [_floats(rng, 3, 3, 5, 4)], ["input"])


@pytest.mark.parametrize("opset", [13, 19])
def test_pad_1d_reflect_and_circular(tmp_path, rng, opset):
    model = Lambda(lambda x: F.pad(F.pad(x, (3, 2), mode="reflect"), (1, 4), mode="circular"))
    path = _export(model, _floats(rng, 2, 3, 6), tmp_path / "pad1d.onnx", opset_version=opset)
    assert_matches(path, model, [_floats(rng, 5, 3, 6)], ["input"])


# ---------------------------------------------------------------------------------------------- resampling
RESAMPLING = [
    ("nearest", None), ("nearest-exact", None), ("bilinear", False), ("bilinear", True),
]


@pytest.mark.parametrize("mode, align_corners", RESAMPLING,
                         ids=["nearest", "nearest-exact", "bilinear", "bilinear-align-corners"])
@pytest.mark.parametrize("in_size, out_size", [
    ((4, 5), (8, 10)), ((5, 7), (13, 9)), ((6, 9), (3, 4)), ((7, 3), (7, 11)), ((3, 4), (1, 6)), ((10, 6), (15, 4)),
])
def test_interpolate_sizes_as_resize(tmp_path, rng, mode, align_corners, in_size, out_size):
    model = nn.Upsample(size=out_size, mode=mode, align_corners=align_corners)
    path = _export(model, _floats(rng, 2, 3, *in_size), tmp_path / "resize.onnx")
    ops = [node.op_type for node in load_checked(path).graph.node]
    assert ops.count("Resize") == 1 and "Gather" not in ops  # both axes in one Resize
    assert_matches(path, model, [_floats(rng, 3, 3, *in_size)], ["input"])


@pytest.mark.parametrize("mode, align_corners", RESAMPLING,
                         ids=["nearest", "nearest-exact", "bilinear", "bilinear-align-corners"])
def test_resize_picks_embers_source_positions_at_every_size(tmp_path, rng, mode, align_corners):
    """Every output height 1..25 from every input height 1..12: one Resize each, equal to Ember's result."""
    out_sizes = range(1, 26)
    model = Lambda(lambda x: tuple(F.interpolate(x, size=(size, 2), mode=mode, align_corners=align_corners)
                                   for size in out_sizes))
    for in_size in range(1, 13):
        path = tmp_path / f"sweep{in_size}.onnx"
        ember.onnx.export(model, ember.tensor(_floats(rng, 1, 2, in_size, 2)), path)
        ops = [node.op_type for node in load_checked(path).graph.node]
        assert "Gather" not in ops and ops.count("Resize") >= len(out_sizes) - 1  # nearest skips out == in
        assert_matches(path, model, [_floats(rng, 1, 2, in_size, 2)], ["input"])


@pytest.mark.parametrize("mode, align_corners", RESAMPLING,
                         ids=["nearest", "nearest-exact", "bilinear", "bilinear-align-corners"])
@pytest.mark.parametrize("scale_factor", [2, 3, 1.5, (0.5, 2.5), 1.7])
def test_interpolate_scale_factors(tmp_path, rng, mode, align_corners, scale_factor):
    model = Lambda(lambda x: F.interpolate(x, scale_factor=scale_factor, mode=mode, align_corners=align_corners))
    path = _export(model, _floats(rng, 2, 3, 6, 5), tmp_path / "scale.onnx")
    assert_matches(path, model, [_floats(rng, 4, 3, 6, 5)], ["input"])


def test_linear_1d_interpolation(tmp_path, rng):
    model = Lambda(lambda x: F.interpolate(x, size=11, mode="linear"))
    path = _export(model, _floats(rng, 2, 3, 4), tmp_path / "linear.onnx")
    assert_matches(path, model, [_floats(rng, 3, 3, 4)], ["input"])


# -------------------------------------------------------------------------- group norm, Mish, tanh-GELU, einsum
def test_group_norm_mish_tanh_gelu_einsum_and_dropout(tmp_path, rng):
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3, padding=1)
            self.norm = nn.GroupNorm(4, 8)
            self.mish = nn.Mish()
            self.gelu = nn.GELU(approximate="tanh")
            self.drop = nn.Dropout2d(0.5)
            self.mix = nn.Parameter(ember.tensor(_floats(rng, 8, 5)))

        def forward(self, x):
            x = self.drop(self.mish(self.norm(self.conv(x))))
            return self.gelu(ember.einsum("nchw,cd->ndhw", x, self.mix))

    model = Block()
    model.norm.weight.array[...] = rng.uniform(0.5, 1.5, 8)
    model.norm.bias.array[...] = rng.normal(0, 0.5, 8)
    path = _export(model, _floats(rng, 2, 3, 6, 6), tmp_path / "block.onnx")
    ops = _op_types(path)
    assert "Einsum" in ops and "Dropout" not in ops
    assert_matches(path, model, [_floats(rng, 5, 3, 6, 6)], ["input"])


@pytest.mark.parametrize("affine", [True, False])
def test_group_norm_silu_with_a_per_sample_shift(tmp_path, rng, affine):
    """``group_norm_silu`` with its (N, C) shift (a UNet's time embedding, added before the normalization) as
    a graph input: Reshape and Add, then group norm and SiLU, at a batch size other than the traced one."""
    from ember.functions.normalization import group_norm_silu

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.norm = nn.GroupNorm(2, 4, affine=affine)

        def forward(self, x, shift):
            return group_norm_silu(x, 2, self.norm.weight, self.norm.bias, shift=shift)

    model = Block()
    if affine:
        model.norm.weight.array[...] = rng.uniform(0.5, 1.5, 4)
        model.norm.bias.array[...] = rng.normal(0, 0.5, 4)
    path = _export(model, (_floats(rng, 2, 4, 5, 5), _floats(rng, 2, 4)), tmp_path / "shifted.onnx",
                   names=("input", "shift"))
    assert {"Add", "Sigmoid", "LayerNormalization"} <= _op_types(path)
    assert_matches(path, model, [_floats(rng, 3, 4, 5, 5), _floats(rng, 3, 4) * 3], ["input", "shift"])


# ---------------------------------------------------------------------------------------------------- models
class TinyUNet(nn.Module):
    """Two resolutions: conv, GroupNorm, SiLU; downsampling by a strided conv; attention over (N, HW, C) at the
    lowest resolution; up by ConvTranspose2d and by Upsample, with skip concatenations."""

    def __init__(self, channels: int = 8):
        super().__init__()
        c = channels

        def block(cin, cout):
            return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.GroupNorm(4, cout), nn.SiLU())

        self.enc1 = block(3, c)
        self.down1 = nn.Conv2d(c, 2 * c, 3, stride=2, padding=1)
        self.enc2 = block(2 * c, 2 * c)
        self.down2 = nn.Conv2d(2 * c, 2 * c, 3, stride=2, padding=1, padding_mode="reflect")
        self.mid_norm = nn.GroupNorm(4, 2 * c)
        self.attention = nn.MultiheadAttention(2 * c, 2, batch_first=True)
        self.up2 = nn.ConvTranspose2d(2 * c, 2 * c, 4, stride=2, padding=1)
        self.dec2 = block(4 * c, 2 * c)
        self.up1 = nn.Upsample(scale_factor=2, mode="bilinear")
        self.dec1 = block(3 * c, c)
        self.head = nn.Conv2d(c, 3, 1)

    def forward(self, x):
        skip1 = self.enc1(x)
        skip2 = self.enc2(self.down1(skip1))
        low = self.down2(skip2)
        n, c, h, w = low.shape
        tokens = self.mid_norm(low).reshape(n, c, h * w).transpose(1, 2)  # (N, HW, C)
        attended, _ = self.attention(tokens, tokens, tokens, need_weights=False)
        low = low + attended.transpose(1, 2).reshape(n, c, h, w)
        up = self.dec2(ember.cat([self.up2(low), skip2], dim=1))
        up = self.dec1(ember.cat([self.up1(up), skip1], dim=1))
        return self.head(up)


def test_unet_like_model(tmp_path, rng):
    model = TinyUNet()
    path = _export(model, _floats(rng, 2, 3, 16, 16), tmp_path / "unet.onnx")
    ops = _op_types(path)
    assert {"ConvTranspose", "Resize", "Softmax", "MatMul", "Concat"} <= ops
    assert_matches(path, model, [_floats(rng, 3, 3, 16, 16)], ["input"])


class EncoderClassifier(nn.Module):
    """Token embedding + learned positions, a 2-layer batch_first encoder with a key padding mask, masked mean
    pooling and a linear head."""

    def __init__(self, vocabulary: int = 20, d_model: int = 16, length: int = 7, classes: int = 3):
        super().__init__()
        self.embed = nn.Embedding(vocabulary, d_model)
        self.positions = nn.Parameter(ember.randn(1, length, d_model) * 0.1)
        layer = nn.TransformerEncoderLayer(d_model, 4, dim_feedforward=32, dropout=0.1, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers=2)
        self.head = nn.Linear(d_model, classes)

    def forward(self, tokens, padding_mask):
        x = self.embed(tokens) + self.positions
        x = self.encoder(x, src_key_padding_mask=padding_mask)
        keep = 1.0 - padding_mask.to(ember.float32).unsqueeze(-1)  # (N, S, 1)
        pooled = (x * keep).sum(dim=1) / keep.sum(dim=1)
        return self.head(pooled)


def _padding_mask(rng, batch, length):
    lengths = rng.integers(2, length + 1, batch)
    return np.arange(length)[None, :] >= lengths[:, None]


def test_transformer_encoder_classifier_with_padding_mask(tmp_path, rng):
    model = EncoderClassifier()
    tokens = rng.integers(0, 20, (2, 7))
    path = _export(model, (tokens, _padding_mask(rng, 2, 7)), tmp_path / "encoder.onnx",
                   names=("tokens", "padding_mask"))
    graph = load_checked(path).graph
    assert [i.name for i in graph.input] == ["tokens", "padding_mask"]
    ops = {node.op_type for node in graph.node}
    assert {"Where", "Softmax", "LayerNormalization"} <= ops and "Dropout" not in ops
    other_tokens, other_mask = rng.integers(0, 20, (5, 7)), _padding_mask(rng, 5, 7)
    got = assert_matches(path, model, [other_tokens, other_mask], ["tokens", "padding_mask"])
    # the mask is a real input: changing a padded token changes nothing, changing the mask does
    changed = other_tokens.copy()
    changed[other_mask] = (changed[other_mask] + 1) % 20
    assert_matches(path, model, [changed, other_mask], ["tokens", "padding_mask"])
    from .helpers import run_onnx

    np.testing.assert_allclose(run_onnx(path, {"tokens": changed, "padding_mask": other_mask})[0], got[0],
                               rtol=1e-4, atol=1e-5)


class TinyGPT(nn.Module):
    """Decoder-only: embedding, learned positions, pre-norm blocks of causal self-attention and an MLP, the
    head tied to the embedding. ``manual`` blocks write attention with tril, masked_fill and softmax."""

    def __init__(self, vocabulary: int = 24, d_model: int = 16, heads: int = 2, length: int = 6,
                 manual: bool = False):
        super().__init__()
        self.heads, self.manual, self.length = heads, manual, length
        self.embed = nn.Embedding(vocabulary, d_model)
        self.positions = nn.Embedding(length, d_model)
        self.norm1 = nn.LayerNorm(d_model)
        self.attention = nn.MultiheadAttention(d_model, heads, dropout=0.1, batch_first=True)
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(nn.Linear(d_model, 4 * d_model), nn.GELU(approximate="tanh"),
                                 nn.Linear(4 * d_model, d_model), nn.Dropout(0.1))
        self.norm_final = nn.LayerNorm(d_model)

    def _manual_attention(self, x):
        n, t, d = x.shape
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        q, k, v = (z.reshape(n, t, self.heads, d // self.heads).transpose(1, 2) for z in (q, k, v))
        scores = q @ k.transpose(-2, -1) * (d // self.heads) ** -0.5
        causal = ember.tril(ember.ones(t, t)) == 0
        weights = F.softmax(scores.masked_fill(causal, float("-inf")), dim=-1)
        return self.proj((weights @ v).transpose(1, 2).reshape(n, t, d))

    def forward(self, tokens):
        t = tokens.shape[1]
        x = self.embed(tokens) + self.positions(ember.arange(t))
        h = self.norm1(x)
        if self.manual:
            x = x + self._manual_attention(h)
        else:
            causal = nn.Transformer.generate_square_subsequent_mask(t)
            x = x + self.attention(h, h, h, attn_mask=causal, need_weights=False, is_causal=True)[0]
        x = x + self.mlp(self.norm2(x))
        return self.norm_final(x) @ self.embed.weight.T  # tied head


@pytest.mark.parametrize("opset", [17, 20])
@pytest.mark.parametrize("manual", [False, True], ids=["multihead-attention", "tril-masked-fill"])
def test_decoder_only_causal_model(tmp_path, rng, manual, opset):
    model = TinyGPT(manual=manual)
    path = _export(model, rng.integers(0, 24, (2, 6)), tmp_path / "gpt.onnx", names=("tokens",),
                   opset_version=opset)
    proto = load_checked(path)
    assert "embed.weight" in {init.name for init in proto.graph.initializer}
    ops = [node.op_type for node in proto.graph.node]
    # MultiheadAttention adds the float causal mask (a constant); masked_fill is a Where on the scores
    assert "Dropout" not in ops and ("Where" in ops) == manual
    if opset >= 20:  # the tanh GELU is one node
        (gelu,) = [node for node in proto.graph.node if node.op_type == "Gelu"]
        assert gelu.attribute[0].s == b"tanh" and "Tanh" not in ops
    else:
        assert "Tanh" in ops and "Gelu" not in ops
    other = rng.integers(0, 24, (3, 6))
    got = assert_matches(path, model, [other], ["tokens"])[0]
    # causal: changing the last token changes only the last position's logits
    changed = other.copy()
    changed[:, -1] = (changed[:, -1] + 1) % 24
    from .helpers import run_onnx

    after = run_onnx(path, {"tokens": changed})[0]
    np.testing.assert_allclose(after[:, :-1], got[:, :-1], rtol=1e-5, atol=1e-6)
    assert not np.allclose(after[:, -1], got[:, -1])


class Seq2Seq(nn.Module):
    """``nn.Transformer`` (pre-norm, GELU) with a causal target mask and the source's padding mask given to
    the encoder and to the decoder's cross attention."""

    def __init__(self):
        super().__init__()
        self.transformer = nn.Transformer(d_model=8, nhead=2, num_encoder_layers=1, num_decoder_layers=2,
                                          dim_feedforward=16, batch_first=True, activation="gelu", norm_first=True)

    def forward(self, src, tgt, src_padding_mask):
        causal = nn.Transformer.generate_square_subsequent_mask(tgt.shape[1])
        return self.transformer(src, tgt, tgt_mask=causal, src_key_padding_mask=src_padding_mask,
                                memory_key_padding_mask=src_padding_mask)


def test_full_transformer_with_decoder_and_padding_masks(tmp_path, rng):
    model = Seq2Seq()
    names = ["src", "tgt", "src_padding_mask"]
    path = _export(model, (_floats(rng, 2, 5, 8), _floats(rng, 2, 4, 8), _padding_mask(rng, 2, 5)),
                   tmp_path / "transformer.onnx", names=tuple(names))
    assert_matches(path, model, [_floats(rng, 3, 5, 8), _floats(rng, 3, 4, 8), _padding_mask(rng, 3, 5)], names)


# ----------------------------------------------------------------------------------------------------- Keras
def test_keras_unet_layers(tmp_path, rng):
    inputs = keras.Input(shape=(8, 8, 3), name="image")
    x = keras.layers.Conv2D(8, 3, padding="same")(inputs)
    x = keras.layers.GroupNormalization(groups=4)(x)
    x = keras.layers.Activation("silu")(x)
    down = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")(x)
    up_transposed = keras.layers.Conv2DTranspose(4, 3, strides=2, padding="same")(down)
    up_valid = keras.layers.Conv2DTranspose(4, 2, strides=2, padding="valid")(down)
    up_nearest = keras.layers.UpSampling2D(2)(down)
    up_bilinear = keras.layers.UpSampling2D((2, 2), interpolation="bilinear")(down)
    merged = keras.layers.Concatenate()([x, up_transposed, up_valid, up_nearest, up_bilinear])
    outputs = keras.layers.Conv2D(2, 1)(keras.layers.Identity()(merged))
    # output_padding and dilation: (4 - 1) * 3 + 2 * 2 + 1 + 2 = 16 rows, (4 - 1) * 3 + 2 * 2 + 1 + 1 columns
    padded = keras.layers.Conv2DTranspose(3, 3, strides=3, output_padding=(2, 1), dilation_rate=2,
                                          activation="softplus")(down)
    same_padded = keras.layers.Conv2DTranspose(2, 4, strides=2, padding="same", output_padding=1)(down)
    model = keras.Model(inputs, [outputs, padded, same_padded])
    path = tmp_path / "keras_unet.onnx"
    model.export(path, format="onnx", verbose=False)
    ops = _op_types(path)
    assert {"ConvTranspose", "Resize"} <= ops
    got = assert_matches(path, model, [_floats(rng, 3, 8, 8, 3)], ["image"])
    assert got[1].shape == (3, 16, 15, 3)


def test_keras_multi_head_attention(tmp_path, rng):
    query = keras.Input(shape=(5, 8), name="query")
    context = keras.Input(shape=(7, 6), name="context")
    attended = keras.layers.MultiHeadAttention(num_heads=2, key_dim=4, dropout=0.2)(query, context)
    x = keras.layers.LayerNormalization()(keras.layers.Add()([query, attended]))
    self_attended = keras.layers.MultiHeadAttention(num_heads=2, key_dim=3, value_dim=5)(
        x, x, use_causal_mask=True)
    outputs = keras.layers.Dense(3)(keras.layers.GlobalAveragePooling1D()(self_attended))
    model = keras.Model([query, context], outputs)
    path = tmp_path / "keras_attention.onnx"
    model.export(path, format="onnx", verbose=False)
    assert_matches(path, model, [_floats(rng, 4, 5, 8), _floats(rng, 4, 7, 6)], ["query", "context"])


# ------------------------------------------------------------------------------------- tensor ops and limits
def test_tril_triu_baddbmm_split_and_attention_weights(tmp_path, rng):
    class Ops(nn.Module):
        def __init__(self):
            super().__init__()
            self.attention = nn.MultiheadAttention(6, 3, kdim=4, vdim=5)  # sequence first
            self.bias = nn.Parameter(ember.tensor(_floats(rng, 1, 5, 5)))

        def forward(self, query, memory):
            output, weights = self.attention(query, memory[..., :4], memory, average_attn_weights=False)
            pairs = ember.baddbmm(self.bias, output.transpose(0, 1)[..., :5], weights[:, 0, :5, :5], alpha=0.5,
                                  beta=2.0)  # (N, 5, 5)
            low, high = ember.tril(pairs, diagonal=-1), ember.triu(pairs, diagonal=1)
            first, second = (low + high).split([2, 3], dim=1)
            return first.sum(dim=1) * second.mean(dim=1), weights

    model = Ops()
    query, memory = _floats(rng, 5, 2, 6), _floats(rng, 7, 2, 4)
    memory = np.concatenate([memory, _floats(rng, 7, 2, 1)], axis=-1)
    path = tmp_path / "ops.onnx"
    ember.onnx.export(model, (ember.tensor(query), ember.tensor(memory)), path, input_names=["query", "memory"],
                      dynamic_axes={"query": {1: "batch"}, "memory": {1: "batch"}, "output": {0: "batch"},
                                    "output_1": {0: "batch"}})
    ops = _op_types(path)
    assert {"Trilu", "Split", "MatMul"} <= ops
    assert_matches(path, model, [_floats(rng, 5, 3, 6), _floats(rng, 7, 3, 5)], ["query", "memory"])


def test_topk_and_masks_computed_outside_recorded_ops_are_refused(tmp_path, rng):
    top = Lambda(lambda x: ember.topk(x, 2, dim=1).values)
    with pytest.raises(NotImplementedError, match="changes with the inputs"):
        ember.onnx.export(top, ember.tensor(_floats(rng, 2, 6)), tmp_path / "topk.onnx",
                          dynamic_axes={"input": {0: "batch"}})

    class Filled(nn.Module):
        def forward(self, x, mask):
            return x.masked_fill(mask, 0.0)

    with pytest.raises(NotImplementedError, match="changes with the inputs"):
        ember.onnx.export(Filled(), (ember.tensor(_floats(rng, 2, 6)), ember.tensor(rng.random((2, 6)) > 0.5)),
                          tmp_path / "filled.onnx", input_names=["x", "mask"])
    assert not any(tmp_path.iterdir())


def test_keras_attention_mask_from_an_input_is_refused(tmp_path, rng):
    class Masked(nn.Module):
        def __init__(self):
            super().__init__()
            self.attention = keras.layers.MultiHeadAttention(num_heads=1, key_dim=2)

        def forward(self, tokens, keep):
            return self.attention(tokens, tokens, value_mask=keep)

    keep = rng.random((2, 5)) > 0.3
    keep[:, 0] = True
    with pytest.raises(NotImplementedError, match="changes with the inputs"):
        ember.onnx.export(Masked(), (ember.tensor(_floats(rng, 2, 5, 4)), ember.tensor(keep)),
                          tmp_path / "masked.onnx", input_names=["tokens", "keep"])
    assert not (tmp_path / "masked.onnx").exists()


@pytest.mark.parametrize("mode, align_corners", RESAMPLING,
                         ids=["nearest", "nearest-exact", "bilinear", "bilinear-align-corners"])
def test_resampling_of_dynamic_spatial_axes(tmp_path, rng, mode, align_corners):
    """Height and width dynamic: a scale factor of 2 (and 0.5) becomes Resize scales; a fixed size stays."""
    model = Lambda(lambda x, conv, deconv: deconv(F.pad(F.interpolate(
        F.interpolate(conv(F.pad(x, (1, 1, 1, 1), mode="reflect")), scale_factor=2, mode=mode,
                      align_corners=align_corners),
        scale_factor=(0.5, 1) if mode != "bilinear" or align_corners else 0.5, mode=mode,
        align_corners=align_corners), (2, 1, 0, 1), mode="circular")),
        nn.Conv2d(3, 4, 3), nn.ConvTranspose2d(4, 2, 3, stride=2))
    axes = {0: "batch", 2: "height", 3: "width"}
    path = _export(model, _floats(rng, 2, 3, 6, 4), tmp_path / "dynamic.onnx",
                   dynamic_axes={"input": axes, "output": axes})
    resizes = [node for node in load_checked(path).graph.node if node.op_type == "Resize"]
    assert len(resizes) == 2 and all(len(node.input) == 3 for node in resizes)  # scales, not sizes
    for shape in [(3, 3, 6, 4), (1, 3, 10, 7), (2, 3, 4, 12)]:
        assert_matches(path, model, [_floats(rng, *shape)], ["input"])
    fixed = Lambda(lambda x: F.interpolate(x, size=(5, 3), mode=mode, align_corners=align_corners))
    path = _export(fixed, _floats(rng, 2, 3, 6, 4), tmp_path / "fixed.onnx",
                   dynamic_axes={"input": axes, "output": {0: "batch"}})
    assert_matches(path, fixed, [_floats(rng, 1, 3, 9, 2)], ["input"])


def test_resampling_a_dynamic_axis_by_an_inexact_factor_is_refused(tmp_path, rng):
    model = Lambda(lambda x: F.interpolate(x, scale_factor=1.7))
    with pytest.raises(NotImplementedError, match="not by one exact factor"):
        _export(model, _floats(rng, 2, 3, 6, 4), tmp_path / "inexact.onnx",
                dynamic_axes={"input": {0: "batch", 2: "height"}})
