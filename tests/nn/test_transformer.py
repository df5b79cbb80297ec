"""The Transformer modules against PyTorch's numbers (fixtures/transformer_fixtures.npz, written by
fixtures/make_attention_fixtures.py), their structure and state_dict keys, a short training run, and their
errors on bad input."""
from __future__ import annotations

import numpy as np
import pytest

import ember
from ember import nn
from ember.nn import functional as F

from .test_attention import check_against_pytorch, inputs_of, load_fixtures, load_pytorch_weights

FIXTURES, META = load_fixtures("transformer_fixtures.npz")


def _build(class_name: str, kwargs: dict) -> nn.Module:
    """The module of a fixture case, dropout off, as the fixture script builds PyTorch's."""
    layer_kwargs = {key: value for key, value in kwargs.items() if key != "num_layers"}
    if class_name in ("TransformerEncoderLayer", "TransformerDecoderLayer", "Transformer"):
        return getattr(nn, class_name)(**layer_kwargs, dropout=0.0)
    norm = nn.LayerNorm(kwargs["d_model"])
    if class_name == "TransformerEncoder":
        return nn.TransformerEncoder(nn.TransformerEncoderLayer(**layer_kwargs, dropout=0.0), kwargs["num_layers"],
                                     norm=norm)
    return nn.TransformerDecoder(nn.TransformerDecoderLayer(**layer_kwargs, dropout=0.0), kwargs["num_layers"],
                                 norm=norm)


@pytest.mark.parametrize("fast_paths", [True, False], ids=["fast", "reference"])
@pytest.mark.parametrize("name", sorted(META))
def test_outputs_and_gradients_match_pytorch(name, fast_paths):
    spec = META[name]
    module = _build(spec["class"], spec["kwargs"]).eval()
    load_pytorch_weights(module, FIXTURES, name, spec["params"])
    inputs = inputs_of(FIXTURES, name)
    with ember.config.override(fast_paths=fast_paths):
        output = module(**inputs, **spec["call"])
        check_against_pytorch(FIXTURES, name, spec["params"], module, inputs, [output])


def test_fixtures_cover_every_module_and_option():
    assert {spec["class"] for spec in META.values()} == {
        "TransformerEncoderLayer", "TransformerEncoder", "TransformerDecoderLayer", "TransformerDecoder",
        "Transformer"}
    options = {(key, str(value)) for spec in META.values() for key, value in spec["kwargs"].items()}
    assert {("norm_first", "True"), ("norm_first", "False"), ("activation", "relu"), ("activation", "gelu"),
            ("batch_first", "True"), ("bias", "False")} <= options
    masks = {key.split("/")[-1] for key in FIXTURES.files if "/input/" in key and key.endswith("mask")}
    assert {"src_mask", "src_key_padding_mask", "mask", "tgt_mask", "memory_mask", "tgt_key_padding_mask",
            "memory_key_padding_mask"} <= masks


def test_state_dict_keys_are_pytorchs():
    model = nn.Transformer(d_model=8, nhead=2, num_encoder_layers=1, num_decoder_layers=1, dim_feedforward=16)
    keys = list(model.state_dict())
    assert keys[:12] == [
        "encoder.layers.0.self_attn.in_proj_weight", "encoder.layers.0.self_attn.in_proj_bias",
        "encoder.layers.0.self_attn.out_proj.weight", "encoder.layers.0.self_attn.out_proj.bias",
        "encoder.layers.0.linear1.weight", "encoder.layers.0.linear1.bias", "encoder.layers.0.linear2.weight",
        "encoder.layers.0.linear2.bias", "encoder.layers.0.norm1.weight", "encoder.layers.0.norm1.bias",
        "encoder.layers.0.norm2.weight", "encoder.layers.0.norm2.bias"]
    assert "decoder.layers.0.multihead_attn.in_proj_weight" in keys and "decoder.layers.0.norm3.bias" in keys
    assert keys[-2:] == ["decoder.norm.weight", "decoder.norm.bias"]
    # every matrix re-initialised xavier-uniform, as PyTorch's Transformer does
    linear1 = model.encoder.layers[0].linear1.weight.numpy()
    assert np.abs(linear1).max() <= np.sqrt(6 / (8 + 16))


def test_encoder_layers_are_independent_deep_copies():
    layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16)
    encoder = nn.TransformerEncoder(layer, 3)
    first, second = encoder.layers[0], encoder.layers[1]
    assert first is not layer and first.self_attn.in_proj_weight is not second.self_attn.in_proj_weight
    np.testing.assert_array_equal(first.linear1.weight.numpy(), second.linear1.weight.numpy())
    first.linear1.weight.array[...] = 0
    assert second.linear1.weight.numpy().any() and layer.linear1.weight.numpy().any()
    assert encoder.norm is None and encoder.num_layers == 3 and len(list(encoder.parameters())) == 3 * 12


def test_generate_square_subsequent_mask():
    mask = nn.Transformer.generate_square_subsequent_mask(3)
    assert mask.dtype == np.float32 and mask.shape == (3, 3)
    np.testing.assert_array_equal(mask.numpy(), [[0, -np.inf, -np.inf], [0, 0, -np.inf], [0, 0, 0]])
    assert nn.Transformer.generate_square_subsequent_mask(2, dtype=ember.float64).dtype == np.float64


def test_activation_by_name_function_or_module(rng):
    src = ember.tensor(rng.standard_normal((5, 2, 8)).astype(np.float32))
    by_name = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, activation="gelu").eval()
    by_module = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, activation=nn.GELU()).eval()
    by_function = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, activation=F.gelu).eval()
    state = by_name.state_dict()
    by_module.load_state_dict(state)
    by_function.load_state_dict(state)
    expected = by_name(src).numpy()
    np.testing.assert_array_equal(by_module(src).numpy(), expected)
    np.testing.assert_array_equal(by_function(src).numpy(), expected)
    with pytest.raises(ValueError, match="TransformerEncoderLayer: activation should be 'relu', 'gelu' or a "
                                         "callable, received 'tanh'"):
        nn.TransformerEncoderLayer(8, 2, activation="tanh")
    with pytest.raises(TypeError, match=r"TransformerDecoderLayer: activation should be .* received int"):
        nn.TransformerDecoderLayer(8, 2, activation=3)


def test_dropout_in_training_only(rng):
    src = ember.tensor(rng.standard_normal((5, 2, 8)).astype(np.float32))
    layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.3)
    assert not np.array_equal(layer(src).numpy(), layer(src).numpy())
    layer.eval()
    np.testing.assert_array_equal(layer(src).numpy(), layer(src).numpy())


def test_fully_padded_sample_stays_finite(rng):
    model = nn.Transformer(8, 2, 1, 1, 16, dropout=0.0).eval()
    src = ember.tensor(rng.standard_normal((5, 2, 8)).astype(np.float32), requires_grad=True)
    tgt = ember.tensor(rng.standard_normal((4, 2, 8)).astype(np.float32), requires_grad=True)
    padding = ember.tensor(np.array([[True] * 5, [False] * 4 + [True]]))
    output = model(src, tgt, src_key_padding_mask=padding, memory_key_padding_mask=padding,
                   tgt_mask=nn.Transformer.generate_square_subsequent_mask(4))
    output.sum().backward()
    assert np.isfinite(output.numpy()).all() and np.isfinite(src.grad.numpy()).all()
    assert all(np.isfinite(parameter.grad.numpy()).all() for parameter in model.parameters())


def test_a_small_encoder_learns_to_reverse_sequences():
    """A 2-layer encoder learns a task that needs attention across positions: reversing the sequence."""
    ember.manual_seed(0)
    length, vocabulary = 6, 8
    embedding = nn.Embedding(vocabulary, 32)
    positions = nn.Embedding(length, 32)
    encoder = nn.TransformerEncoder(nn.TransformerEncoderLayer(32, 4, 64, dropout=0.0, batch_first=True), 2)
    head = nn.Linear(32, vocabulary)
    modules = [embedding, positions, encoder, head]
    optimizer = ember.optim.Adam([p for module in modules for p in module.parameters()], lr=3e-3)
    generator = np.random.default_rng(0)
    order = ember.arange(length)
    losses = []
    for _ in range(80):
        tokens = generator.integers(0, vocabulary, size=(32, length))
        logits = head(encoder(embedding(ember.tensor(tokens)) + positions(order)))
        loss = F.cross_entropy(logits.reshape(-1, vocabulary), ember.tensor(tokens[:, ::-1].copy()).reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert np.mean(losses[:10]) > 1.9  # about log(8) = 2.08 at the start
    assert np.mean(losses[-10:]) < 0.2, losses[-10:]  # 0.04 by step 70 with this seed


@pytest.mark.parametrize("call, message", [
    (lambda model: model(ember.zeros(5, 2, 8), ember.zeros(4, 3, 8)),
     r"Transformer: expected src and tgt with the same batch size \(axis 1\), received src \(5, 2, 8\) and "
     r"tgt \(4, 3, 8\)"),
    (lambda model: model(ember.zeros(5, 2, 6), ember.zeros(4, 2, 8)),
     r"Transformer: expected src of shape \(S, N, 8\), \(N, S, 8\) with batch_first, or \(S, 8\) unbatched, "
     r"received \(5, 2, 6\)"),
    (lambda model: model(ember.zeros(5, 2, 8), ember.zeros(4, 8)),
     r"Transformer: expected src and tgt both batched \(3-d\) or both unbatched \(2-d\)"),
    (lambda model: model.encoder(ember.zeros(5, 2, 8), mask=ember.zeros(4, 4)),
     r"MultiheadAttention\(embed_dim=8, num_heads=2\): expected attn_mask of shape \(5, 5\)"),
    (lambda model: model.decoder(ember.zeros(4, 2, 8), ember.zeros(5, 2, 8),
                                 memory_key_padding_mask=ember.zeros(2, 4, dtype=ember.bool)),
     r"expected key_padding_mask of shape \(2, 5\) \(N, S\)"),
    (lambda model: model.encoder.layers[0](ember.zeros(5, 2, 8), is_causal=True),
     r"is_causal=True is a hint that attn_mask is the causal mask and needs attn_mask"),
])
def test_bad_input_is_named(call, message):
    model = nn.Transformer(8, 2, 1, 1, 16)
    with pytest.raises(ValueError, match=message):
        call(model)


def test_d_model_must_divide_into_heads():
    with pytest.raises(ValueError, match="MultiheadAttention: embed_dim must be divisible by num_heads, received "
                                         "embed_dim=10 and num_heads=4"):
        nn.Transformer(d_model=10, nhead=4, num_encoder_layers=1, num_decoder_layers=1)


def test_a_float32_training_step_has_no_float64(monkeypatch, rng):
    from ember.autograd.function import Function

    seen = []
    original = Function._finish

    def recording_finish(self, raw, record):
        result = original(self, raw, record)
        seen.extend((type(self).__name__, out.dtype) for out in (result if isinstance(result, tuple) else (result,)))
        return result

    monkeypatch.setattr(Function, "_finish", recording_finish)
    model = nn.Transformer(8, 2, 1, 1, 16, dropout=0.1, batch_first=True, activation="gelu")
    optimizer = ember.optim.Adam(model.parameters(), lr=1e-3)
    src = ember.tensor(rng.standard_normal((2, 5, 8)).astype(np.float32))
    tgt = ember.tensor(rng.standard_normal((2, 4, 8)).astype(np.float32))
    padding = ember.tensor(rng.standard_normal((2, 5)))  # a float64 mask is used as float32
    output = model(src, tgt, tgt_mask=nn.Transformer.generate_square_subsequent_mask(4),
                   src_key_padding_mask=padding)
    output.square().mean().backward()
    optimizer.step()
    assert not sorted({name for name, dtype in seen if dtype == np.float64})
    assert all(parameter.grad.dtype == np.float32 for parameter in model.parameters())
