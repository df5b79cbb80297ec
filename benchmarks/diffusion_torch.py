"""The PyTorch twin of ``ember.diffusion.UNet``: the same layers under the same names, so that one state_dict
loads into both. Used by benchmarks/diffusion_step.py (benchmark venv only; Ember never imports torch)."""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F


def sinusoidal_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    half = dim // 2
    frequencies = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float64) / half)
    angles = t.to(torch.float64).reshape(-1, 1) * frequencies.reshape(1, -1)
    return torch.cat([torch.cos(angles), torch.sin(angles)], dim=1).to(torch.float32)


class ResidualBlock(nn.Module):
    def __init__(self, in_channels, out_channels, embedding_dim, groups, dropout=0.0):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.embedding_projection = nn.Linear(embedding_dim, out_channels)
        self.norm2 = nn.GroupNorm(groups, out_channels)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.shortcut = nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels else nn.Identity()

    def forward(self, x, embedding):
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.embedding_projection(F.silu(embedding))[:, :, None, None]
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return h + self.shortcut(x)


class SelfAttention2d(nn.Module):
    def __init__(self, channels, groups, heads=4):
        super().__init__()
        self.norm = nn.GroupNorm(groups, channels)
        self.attention = nn.MultiheadAttention(channels, heads, batch_first=True)

    def forward(self, x):
        n, c, h, w = x.shape
        sequence = self.norm(x).reshape(n, c, h * w).transpose(1, 2)
        attended, _ = self.attention(sequence, sequence, sequence, need_weights=False)
        return x + attended.transpose(1, 2).reshape(n, c, h, w)


class Downsample(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=1)

    def forward(self, x):
        return self.conv(x)


class Upsample(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.upsample = nn.Upsample(scale_factor=2, mode="nearest")
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x):
        return self.conv(self.upsample(x))


class UNet(nn.Module):
    def __init__(self, in_channels=1, channels=32, channel_multipliers=(1, 2, 2), groups=8, attention_heads=4,
                 dropout=0.0):
        super().__init__()
        widths = [channels * m for m in channel_multipliers]
        self.channels, self.levels = channels, len(widths)
        self.embedding_dim = 4 * channels
        self.time_mlp = nn.Sequential(nn.Linear(channels, self.embedding_dim), nn.SiLU(),
                                      nn.Linear(self.embedding_dim, self.embedding_dim))
        self.input_conv = nn.Conv2d(in_channels, channels, 3, padding=1)
        self.down_blocks, self.downsamples = nn.ModuleList(), nn.ModuleList()
        previous = channels
        for level, width in enumerate(widths):
            self.down_blocks.append(ResidualBlock(previous, width, self.embedding_dim, groups, dropout))
            if level < self.levels - 1:
                self.downsamples.append(Downsample(width))
            previous = width
        self.middle_block1 = ResidualBlock(previous, previous, self.embedding_dim, groups, dropout)
        self.middle_attention = SelfAttention2d(previous, groups, attention_heads)
        self.middle_block2 = ResidualBlock(previous, previous, self.embedding_dim, groups, dropout)
        self.up_blocks, self.upsamples = nn.ModuleList(), nn.ModuleList()
        for level in reversed(range(self.levels)):
            self.up_blocks.append(ResidualBlock(previous + widths[level], widths[level], self.embedding_dim, groups,
                                                dropout))
            previous = widths[level]
            if level > 0:
                self.upsamples.append(Upsample(previous))
        self.output_norm = nn.GroupNorm(groups, previous)
        self.output_conv = nn.Conv2d(previous, in_channels, 3, padding=1)

    def forward(self, x, t, condition=None):
        embedding = self.time_mlp(sinusoidal_embedding(t, self.channels))
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
            h = block(torch.cat([h, skips.pop()], dim=1), embedding)
            if index < self.levels - 1:
                h = self.upsamples[index](h)
        return self.output_conv(F.silu(self.output_norm(h)))
