"""The layers a diffusion UNet needs, against PyTorch: ConvTranspose1d/2d, Upsample/interpolate, GroupNorm,
Mish, SiLU, F.pad's modes, a self-attention block on feature maps, and their errors.

``fixtures/unet_ops.npz`` is written by ``fixtures/make_unet_ops_fixtures.py`` (run with PyTorch); each
case stores its call as JSON, the input, PyTorch's parameters, output and gradients.
"""
from __future__ import annotations

import json
import math
import pathlib

import numpy as np
import pytest

import ember
import ember.nn.functional as F
from ember import nn

FIXTURES = np.load(pathlib.Path(__file__).parent / "fixtures" / "unet_ops.npz")
# float32 sums: an element may differ from PyTorch's by 1e-5 of the largest element of its array
RTOL, ATOL = 1e-5, 1e-5
CASES = sorted({key.split("/", 1)[0] for key in FIXTURES.files if key.endswith("/spec")})


def fixture(prefix: str) -> dict:
    return {key.split("/", 1)[1]: FIXTURES[key] for key in FIXTURES.files if key.startswith(prefix + "/")}


def assert_close(got, want):
    got = got.numpy() if isinstance(got, ember.Tensor) else np.asarray(got)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL * max(1.0, float(np.abs(want).max(initial=0))))


class AttentionBlock(nn.Module):
    """A diffusion UNet's self-attention block: GroupNorm, pixels as a sequence, attention, back, residual."""

    def __init__(self, channels: int, heads: int, groups: int):
        super().__init__()
        self.norm = nn.GroupNorm(groups, channels)
        self.attn = nn.MultiheadAttention(channels, heads, batch_first=True)

    def forward(self, x):
        n, c, h, w = x.shape
        sequence = self.norm(x).flatten(2).transpose(1, 2)  # (N, H*W, C)
        attended, _ = self.attn(sequence, sequence, sequence, need_weights=False)
        return x + attended.transpose(1, 2).reshape(n, c, h, w)


def build(spec: dict):
    """The Ember call a fixture's spec names, and the module holding its parameters (or None)."""
    kwargs = {key: tuple(value) if isinstance(value, list) else value for key, value in spec["kwargs"].items()}
    if "function" in spec:
        return (lambda x: getattr(F, spec["function"])(x, **kwargs)), None
    if "block" in spec:
        module = AttentionBlock(**kwargs)
        return module, module
    module = getattr(nn, spec["module"])(**kwargs)
    forward = spec.get("forward", {})
    return (lambda x: module(x, **forward)), module


def run_case(prefix: str):
    recorded = fixture(prefix)
    call, module = build(json.loads(str(recorded["spec"])))
    parameters = dict(module.named_parameters()) if module is not None else {}
    assert sorted(parameters) == sorted(name for name in recorded if f"{name}_grad" in recorded and name != "input")
    for name, parameter in parameters.items():
        assert parameter.shape == recorded[name].shape
        parameter.array[...] = recorded[name]
    x = ember.tensor(recorded["input"], requires_grad=True)
    output = call(x)
    assert output.dtype == np.float32
    assert_close(output, recorded["output"])
    (output * ember.tensor(recorded["output_weights"])).sum().backward()
    assert_close(x.grad, recorded["input_grad"])
    for name, parameter in parameters.items():
        assert_close(parameter.grad, recorded[f"{name}_grad"])


@pytest.mark.parametrize("prefix", CASES)
def test_matches_pytorch(prefix):
    run_case(prefix)


@pytest.mark.parametrize("prefix", [case for case in CASES if case.startswith(("conv_transpose", "upsample", "pad"))])
def test_matches_pytorch_on_reference_paths(prefix):
    with ember.config.override(fast_paths=False):
        run_case(prefix)


def test_fixtures_cover_every_layer():
    kinds = {json.loads(str(FIXTURES[f"{case}/spec"])).get("module") for case in CASES}
    assert {"ConvTranspose1d", "ConvTranspose2d", "Upsample", "GroupNorm", "Mish", "SiLU"} <= kinds
    modes = {json.loads(str(FIXTURES[f"{case}/spec"]))["kwargs"].get("mode") for case in CASES}
    assert {"reflect", "replicate", "circular", "nearest-exact", "bilinear", "linear"} <= modes


# ------------------------------------------------------------------------------------------ ConvTranspose
def test_conv_transpose2d_parameters_init_and_repr():
    ember.manual_seed(0)
    layer = nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2)
    assert layer.weight.shape == (4, 3, 3, 3) and layer.bias.shape == (6,)
    bound = 1 / math.sqrt(3 * 3 * 3)  # fan_in from dim 1 of (in, out/groups, kh, kw), as PyTorch
    assert np.abs(layer.weight.numpy()).max() <= bound and np.abs(layer.weight.numpy()).max() > 0.8 * bound
    assert np.abs(layer.bias.numpy()).max() <= bound
    assert repr(layer) == ("ConvTranspose2d(4, 6, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), "
                           "output_padding=(1, 1), groups=2)")
    assert layer(ember.randn(2, 4, 5, 7)).shape == (2, 6, 10, 14)
    assert nn.ConvTranspose1d(2, 3, 4, stride=2, bias=False)(ember.randn(2, 5)).shape == (3, 12)


def test_conv_transpose2d_inverts_the_shape_of_conv2d_with_output_size():
    conv = nn.Conv2d(3, 5, 3, stride=2, padding=1)
    up = nn.ConvTranspose2d(5, 3, 3, stride=2, padding=1)
    for size in (8, 9):
        x = ember.randn(1, 3, size, size)
        assert up(conv(x), output_size=x.shape).shape == x.shape
        assert up(conv(x), output_size=x.shape[2:]).shape == x.shape


def test_conv_transpose2d_is_the_input_gradient_of_conv2d():
    rng = np.random.default_rng(0)
    weight = ember.tensor(rng.standard_normal((4, 3, 3, 3)).astype(np.float32))
    x = ember.tensor(rng.standard_normal((2, 3, 9, 8)).astype(np.float32), requires_grad=True)
    y = F.conv2d(x, weight, stride=2, padding=1)
    g = ember.tensor(rng.standard_normal(y.shape).astype(np.float32))
    (y * g).sum().backward()
    transposed = F.conv_transpose2d(g, weight, stride=2, padding=1, output_size=(9, 8))
    np.testing.assert_allclose(transposed.numpy(), x.grad.numpy(), rtol=1e-5, atol=1e-5)


def test_conv_transpose_errors_name_the_layer_and_shapes():
    with pytest.raises(ValueError, match=r"ConvTranspose2d: output_padding \(2, 2\) must be smaller"):
        nn.ConvTranspose2d(2, 2, 3, stride=2, output_padding=2)
    with pytest.raises(ValueError, match=r"ConvTranspose2d\(3, 4\): expected input of shape \(N, 3, H, W\).*"
                                         r"\(2, 5, 4, 4\)"):
        nn.ConvTranspose2d(3, 4, 3)(ember.randn(2, 5, 4, 4))
    with pytest.raises(ValueError, match="only padding_mode='zeros'"):
        nn.ConvTranspose2d(3, 4, 3, padding_mode="reflect")
    with pytest.raises(ValueError, match=r"output_size \(12, 12\) is not reachable from input shape \(1, 2, 4, 4\)"):
        nn.ConvTranspose2d(2, 2, 3, stride=2)(ember.randn(1, 2, 4, 4), output_size=(12, 12))
    with pytest.raises(ValueError, match=r"conv_transpose2d: output_padding \(1, 1\) must be smaller than stride"):
        F.conv_transpose2d(ember.randn(1, 2, 4, 4), ember.randn(2, 2, 3, 3), output_padding=1)
    with pytest.raises(ValueError, match=r"conv_transpose1d: expected input with 3 channels.*\(1, 2, 4\)"):
        F.conv_transpose1d(ember.randn(1, 2, 4), ember.randn(3, 2, 3))
    with pytest.raises(ValueError, match="divisible by groups"):
        nn.ConvTranspose2d(3, 4, 3, groups=2)


# ------------------------------------------------------------------------------------ interpolate, pad, ...
def test_interpolate_errors():
    x = ember.randn(1, 2, 4, 4)
    with pytest.raises(ValueError, match=r"exactly one of size and scale_factor, received size=\(8, 8\) and "
                                         r"scale_factor=2"):
        F.interpolate(x, size=(8, 8), scale_factor=2)
    with pytest.raises(ValueError, match="Upsample: give exactly one of size and scale_factor"):
        nn.Upsample()
    with pytest.raises(ValueError, match="align_corners can only be set with the linear modes"):
        F.interpolate(x, scale_factor=2, align_corners=True)
    with pytest.raises(ValueError, match=r"mode 'bilinear' expects a 4-d \(N, C, H, W\) input, received shape "
                                         r"\(1, 2, 4\)"):
        F.interpolate(ember.randn(1, 2, 4), size=8, mode="bilinear")
    with pytest.raises(ValueError, match="mode must be one of"):
        F.interpolate(x, scale_factor=2, mode="bicubic")
    with pytest.raises(ValueError, match=r"size must be a positive int or 2 positive ints"):
        F.interpolate(x, size=(8, 8, 8))


def test_pad_errors():
    x = ember.randn(1, 2, 3, 4)
    with pytest.raises(ValueError, match=r"padding \(4, 0\) of dimension 3 must be smaller than its size 4 for "
                                         r"mode 'reflect', received input shape \(1, 2, 3, 4\)"):
        F.pad(x, (4, 0, 0, 0), mode="reflect")
    with pytest.raises(ValueError, match=r"must be at most its size 3 for mode 'circular'"):
        F.pad(x, (0, 0, 4, 0), mode="circular")
    with pytest.raises(ValueError, match="doesn't take in value"):
        F.pad(x, (1, 1), mode="replicate", value=2.0)
    with pytest.raises(ValueError, match=r"expected 2, 4 or 6 values for a 4-d input, received pad=\(1, 1\)"):
        F.pad(x, (1, 1), mode="reflect")
    with pytest.raises(ValueError, match="mode must be"):
        F.pad(x, (1, 1), mode="symmetric")


def test_group_norm_errors_and_repr():
    with pytest.raises(ValueError, match=r"GroupNorm: num_channels \(6\) must be divisible by num_groups \(4\)"):
        nn.GroupNorm(4, 6)
    with pytest.raises(ValueError, match=r"GroupNorm\(2, 4\): expected input of shape \(N, 4, \*\), received "
                                         r"shape \(2, 3, 5\)"):
        nn.GroupNorm(2, 4)(ember.randn(2, 3, 5))
    assert repr(nn.GroupNorm(2, 4)) == "GroupNorm(2, 4, eps=1e-05, affine=True)"


def test_unet_stage_trains():
    """Down, attend, up and back: one small UNet stage learns an identity map on float32 data."""
    ember.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(2, 8, 3, padding=1), nn.GroupNorm(4, 8), nn.Mish(),
        nn.Conv2d(8, 8, 3, stride=2, padding=1), AttentionBlock(8, 2, 4),
        nn.ConvTranspose2d(8, 8, 4, stride=2, padding=1), nn.SiLU(),
        nn.Upsample(scale_factor=2, mode="bilinear"), nn.Conv2d(8, 2, 3, stride=2, padding=1, padding_mode="reflect"),
    )
    optimizer = ember.optim.Adam(model.parameters(), lr=3e-3)
    x = ember.randn(4, 2, 8, 8)
    losses = []
    for _ in range(40):
        optimizer.zero_grad()
        loss = F.mse_loss(model(x), x)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert model(x).shape == x.shape
    assert losses[-1] < 0.5 * losses[0]


def test_conv_transpose2d_takes_the_direct_kernels_where_they_apply():
    layer = nn.ConvTranspose2d(8, 16, 3, stride=2, padding=1, output_padding=1)
    x_np = np.random.default_rng(0).standard_normal((2, 8, 5, 6)).astype(np.float32)

    def run():
        x = ember.tensor(x_np, requires_grad=True)
        y = layer(x)
        y.backward(ember.ones_like(y))
        return y.numpy(), x.grad.numpy(), layer.weight.grad.numpy()

    fast = run()
    if ember.config.paths()["Conv2dGradInput.forward"] != "forward_direct":
        pytest.skip("no compiled direct convolution kernels on this machine")
    layer.zero_grad()
    with ember.config.override(fast_paths=False):
        reference = run()
    assert ember.config.paths()["Conv2dGradInput.forward"] == "forward"
    for got, want in zip(fast, reference):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
