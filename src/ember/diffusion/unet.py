"""A small UNet that predicts the noise ε in a noisy image, written with ``ember.nn``.

Shape of the network for 28×28 MNIST with ``channels=32, channel_multipliers=(1, 2, 2)``::

    conv 3×3 → 32 @ 28×28
    down: ResBlock 32 @ 28 ─skip─┐  stride-2 conv → 14
          ResBlock 64 @ 14 ─skip─┤  stride-2 conv → 7
          ResBlock 64 @ 7  ─skip─┤
    middle: ResBlock, self-attention, ResBlock @ 7×7
    up:   ResBlock(64 + 64) @ 7  ←─┤  nearest ×2 + conv → 14
          ResBlock(64 + 64) @ 14 ←─┤  nearest ×2 + conv → 28
          ResBlock(64 + 32) @ 28 ←─┘
    GroupNorm, SiLU, conv 3×3 → 1 channel

Every ResBlock receives the embedding of the timestep (sinusoidal, then an MLP) plus the embedding of the
condition, projected to its channels and added after its first convolution.
"""
from __future__ import annotations

import math

import numpy as np

from .. import functions as _functions
from .. import nn
from ..autograd.tensor import Tensor
from ..functions.normalization import group_norm_silu
from ..nn import functional as F


def sinusoidal_embedding(t: Tensor, dim: int, max_period: float = 10000.0) -> Tensor:
    """Transformer-style embedding of timesteps: (N,) → (N, dim), ``[cos(t·f_k), sin(t·f_k)]`` with
    frequencies f_k = max_period^(-k/(dim/2)), k = 0 … dim/2-1 (``dim`` even). float32."""
    if dim % 2:
        raise ValueError(f"sinusoidal_embedding: dim must be even, received {dim}")
    half = dim // 2
    frequencies = np.exp(-math.log(max_period) * np.arange(half, dtype=np.float64) / half)
    if isinstance(t, Tensor):  # in Ember ops (float64, as below), so that a traced t stays a graph input
        angles = t.reshape(-1, 1).to(np.float64) * _functions.tensor(frequencies.reshape(1, -1), device=t.device)
        return _functions.cat([angles.cos(), angles.sin()], dim=1).to(np.float32)
    times = np.asarray(t, dtype=np.float64).reshape(-1, 1)
    angles = times * frequencies.reshape(1, -1)
    return _functions.tensor(np.concatenate([np.cos(angles), np.sin(angles)], axis=1), dtype=np.float32)


def _norm_silu(norm: nn.Module, x: Tensor, shift: Tensor | None = None) -> Tensor:
    """``F.silu(norm(x + shift[:, :, None, None]))``, ``shift`` (N, C) or None.

    For a plain ``nn.GroupNorm`` without hooks this is one node (``group_norm_silu``): the same numbers, fewer
    passes over memory. A norm module with forward hooks, or one that is not exactly ``nn.GroupNorm`` (a user's
    replacement), is called as a module so that its hooks and its own ``forward`` run."""
    if type(norm) is nn.GroupNorm and not norm._forward_pre_hooks and not norm._forward_hooks:
        return group_norm_silu(x, norm.num_groups, norm.weight, norm.bias, norm.eps, shift=shift)
    if shift is not None:
        x = x + shift.reshape(*shift.shape, 1, 1)
    return F.silu(norm(x))


class ResidualBlock(nn.Module):
    """GroupNorm → SiLU → conv 3×3, + projected embedding, GroupNorm → SiLU → dropout → conv 3×3, + shortcut
    (a 1×1 conv when the channel count changes).

    Shape: x (N, in_channels, H, W), embedding (N, embedding_dim) → (N, out_channels, H, W)."""

    def __init__(self, in_channels: int, out_channels: int, embedding_dim: int, groups: int, dropout: float = 0.0):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.embedding_projection = nn.Linear(embedding_dim, out_channels)
        self.norm2 = nn.GroupNorm(groups, out_channels)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.shortcut = nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels else nn.Identity()

    def forward(self, x: Tensor, embedding: Tensor) -> Tensor:
        h = self.conv1(_norm_silu(self.norm1, x))
        # the projected embedding added to h inside the next node, as it reads h (h alone is used nowhere else)
        shift = self.embedding_projection(F.silu(embedding))
        h = self.conv2(self.dropout(_norm_silu(self.norm2, h, shift)))
        return h + self.shortcut(x)


class SelfAttention2d(nn.Module):
    """Multi-head self-attention over the H·W positions of a feature map, with a GroupNorm before and a
    residual connection. Shape: (N, C, H, W) → (N, C, H, W)."""

    def __init__(self, channels: int, groups: int, heads: int = 4):
        super().__init__()
        self.norm = nn.GroupNorm(groups, channels)
        self.attention = nn.MultiheadAttention(channels, heads, batch_first=True)

    def forward(self, x: Tensor) -> Tensor:
        n, c, h, w = x.shape
        sequence = self.norm(x).reshape(n, c, h * w).transpose(1, 2)  # (N, HW, C)
        attended, _ = self.attention(sequence, sequence, sequence, need_weights=False)
        return x + attended.transpose(1, 2).reshape(n, c, h, w)


class Downsample(nn.Module):
    """Halve H and W with a stride-2 3×3 convolution."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x)


class Upsample(nn.Module):
    """Double H and W: nearest-neighbour ×2, then a 3×3 convolution."""

    def __init__(self, channels: int):
        super().__init__()
        self.upsample = nn.Upsample(scale_factor=2, mode="nearest")
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(self.upsample(x))


class UNet(nn.Module):
    """The noise predictor ε_θ(x_t, t, c).

    Args:
        in_channels: image channels (default 1).
        channels: channels of the first level (default 32); level i has ``channels * channel_multipliers[i]``.
        channel_multipliers: one per resolution (default (1, 2, 2): 28 → 14 → 7 for MNIST).
        groups: GroupNorm groups (default 8; must divide every level's channels).
        attention_heads: heads of the self-attention at the lowest resolution (default 4).
        dropout: dropout inside the residual blocks (default 0).

    ``embedding_dim`` (= 4 · channels) is the width of the time embedding, and of the condition embedding that
    the caller adds to it.

    Shape (``forward``): x (N, in_channels, H, W) with H and W divisible by 2^(levels-1); t (N,) int64
    timesteps; condition (N, embedding_dim) or None → (N, in_channels, H, W).
    """

    def __init__(self, in_channels: int = 1, channels: int = 32, channel_multipliers=(1, 2, 2), groups: int = 8,
                 attention_heads: int = 4, dropout: float = 0.0):
        super().__init__()
        widths = [channels * m for m in channel_multipliers]
        for width in widths:
            if width % groups:
                raise ValueError(f"UNet: GroupNorm groups={groups} must divide every level's channels {widths}")
        if widths[-1] % attention_heads:
            raise ValueError(f"UNet: attention_heads={attention_heads} must divide the lowest level's channels "
                             f"{widths[-1]}")
        self.channels, self.levels = channels, len(widths)
        self.embedding_dim = 4 * channels
        self.time_mlp = nn.Sequential(nn.Linear(channels, self.embedding_dim), nn.SiLU(),
                                      nn.Linear(self.embedding_dim, self.embedding_dim))
        self.input_conv = nn.Conv2d(in_channels, channels, 3, padding=1)
        self.down_blocks = nn.ModuleList()
        self.downsamples = nn.ModuleList()
        previous = channels
        for level, width in enumerate(widths):
            self.down_blocks.append(ResidualBlock(previous, width, self.embedding_dim, groups, dropout))
            if level < self.levels - 1:
                self.downsamples.append(Downsample(width))
            previous = width
        self.middle_block1 = ResidualBlock(previous, previous, self.embedding_dim, groups, dropout)
        self.middle_attention = SelfAttention2d(previous, groups, attention_heads)
        self.middle_block2 = ResidualBlock(previous, previous, self.embedding_dim, groups, dropout)
        self.up_blocks = nn.ModuleList()
        self.upsamples = nn.ModuleList()
        for level in reversed(range(self.levels)):
            self.up_blocks.append(ResidualBlock(previous + widths[level], widths[level], self.embedding_dim, groups,
                                                dropout))
            previous = widths[level]
            if level > 0:
                self.upsamples.append(Upsample(previous))
        self.output_norm = nn.GroupNorm(groups, previous)
        self.output_conv = nn.Conv2d(previous, in_channels, 3, padding=1)

    def forward(self, x: Tensor, t, condition: Tensor | None = None) -> Tensor:
        if x.ndim != 4:
            raise ValueError(f"UNet: expected input (N, C, H, W), received shape {tuple(x.shape)}")
        factor = 2 ** (self.levels - 1)
        if x.shape[2] % factor or x.shape[3] % factor:
            raise ValueError(f"UNet: {self.levels} levels halve the image {self.levels - 1} times, so H and W must "
                             f"be divisible by {factor}; received shape {tuple(x.shape)}")
        embedding = self.time_mlp(sinusoidal_embedding(t, self.channels).to(x.device).to(x.dtype))
        if embedding.shape[0] != x.shape[0]:
            raise ValueError(f"UNet: expected {x.shape[0]} timesteps, one per image, received {embedding.shape[0]}")
        if condition is not None:
            embedding = embedding + condition
        h = self.input_conv(x)
        skips = []
        for level, block in enumerate(self.down_blocks):
            h = block(h, embedding)
            skips.append(h)
            if level < self.levels - 1:
                h = self.downsamples[level](h)
        h = self.middle_block2(self.middle_attention(self.middle_block1(h, embedding)), embedding)
        for index, block in enumerate(self.up_blocks):
            h = block(_functions.cat([h, skips.pop()], dim=1), embedding)
            if index < self.levels - 1:
                h = self.upsamples[index](h)
        return self.output_conv(_norm_silu(self.output_norm, h))
