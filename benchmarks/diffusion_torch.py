"""The PyTorch twin of ``ember.diffusion.UNet`` and of the whole ``DiffusionModel`` (text encoder, learned null
condition, the ε-prediction loss's forward process, the DDIM sampler with classifier-free guidance): the same
layers under the same names, so that one state_dict loads into both. Used by benchmarks/diffusion_step.py and
benchmarks/diffusion_torch_train.py (benchmark venv only; Ember never imports torch)."""
from __future__ import annotations

import math

import numpy as np
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


class TextEncoder(nn.Module):
    """Token embedding + learned positions → pre-norm GELU transformer encoder layers → mean over the prompt's
    tokens (0 is padding) → Linear to ``output_dim``; ids (N, L) int64 → (N, output_dim)."""

    def __init__(self, output_dim, vocabulary_size, width=64, heads=4, layers=2, max_tokens=8):
        super().__init__()
        self.max_tokens = max_tokens
        self.token_embedding = nn.Embedding(vocabulary_size, width)
        self.position_embedding = nn.Parameter(torch.randn(1, max_tokens, width) * 0.02)
        layer = nn.TransformerEncoderLayer(width, heads, dim_feedforward=2 * width, dropout=0.0, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.output = nn.Linear(width, output_dim)

    def forward(self, ids):
        padding = ids == 0
        h = self.token_embedding(ids) + self.position_embedding[:, :ids.shape[1]]
        h = self.encoder(h, src_key_padding_mask=padding)
        present = (~padding).to(h.dtype)[:, :, None]
        pooled = (h * present).sum(dim=1) / present.sum(dim=1).clamp(min=1.0)
        return self.output(pooled)


class DiffusionModel(nn.Module):
    """UNet + text encoder + learned null condition, built from an ``ember.diffusion.DiffusionConfig`` (or any
    object with its fields). ``forward(x_t, t, ids, drop=None)`` → predicted ε; ``drop`` (N,) bool tensor,
    True where the condition is replaced by the null condition."""

    def __init__(self, config, vocabulary_size):
        super().__init__()
        self.config = config
        self.unet = UNet(config.in_channels, config.channels, config.channel_multipliers, config.groups,
                         config.attention_heads, config.dropout)
        self.text_encoder = TextEncoder(self.unet.embedding_dim, vocabulary_size, config.text_width,
                                        config.text_heads, config.text_layers)
        self.null_condition = nn.Parameter(torch.zeros(1, self.unet.embedding_dim))

    def condition(self, ids, drop=None):
        encoded = self.text_encoder(ids)
        if drop is None or not bool(drop.any()):
            return encoded
        keep = (~drop).reshape(-1, 1).to(encoded.dtype)
        return encoded * keep + self.null_condition * (1.0 - keep)

    def forward(self, x_t, t, ids, drop=None):
        return self.unet(x_t, t, self.condition(ids, drop))


def per_sample(values, t, like):
    """``values[t]`` (a float64 NumPy schedule constant) as a (N, 1, 1, 1) tensor of ``like``'s dtype."""
    return torch.as_tensor(values[t.numpy() if isinstance(t, torch.Tensor) else t].reshape(-1, 1, 1, 1),
                           dtype=like.dtype)


def q_sample(alphas_cumprod, x0, t, noise):
    """√ᾱ_t · x0 + √(1 - ᾱ_t) · noise, with ᾱ the float64 NumPy array of the noise schedule."""
    return per_sample(np.sqrt(alphas_cumprod), t, x0) * x0 + per_sample(np.sqrt(1.0 - alphas_cumprod), t, x0) * noise


def ddim_step(alphas_cumprod, x_t, t, t_prev, noise):
    """One deterministic DDIM step (η = 0) x_t → x_{t_prev}, x̂0 clipped to [-1, 1] and ε recomputed from it."""
    alpha_bar = float(alphas_cumprod[t])
    alpha_bar_prev = 1.0 if t_prev < 0 else float(alphas_cumprod[t_prev])
    x0 = ((x_t - math.sqrt(1.0 - alpha_bar) * noise) / math.sqrt(alpha_bar)).clamp(-1.0, 1.0)
    noise = (x_t - math.sqrt(alpha_bar) * x0) / math.sqrt(1.0 - alpha_bar)
    return math.sqrt(alpha_bar_prev) * x0 + math.sqrt(max(1.0 - alpha_bar_prev, 0.0)) * noise


@torch.no_grad()
def ddim_sample(model, ids, noise, timesteps, alphas_cumprod, guidance=2.0):
    """DDIM sampling with classifier-free guidance ε = (1 + w) ε(x, c) - w ε(x) (conditional and unconditional
    in one batch), as ``ember.diffusion.DiffusionModel.sample``: ``ids`` (N, L) token ids, ``noise`` (N, C, H, W)
    the starting x_T, ``timesteps`` decreasing. Returns (N, C, H, W) clipped to [-1, 1]."""
    was_training = model.training
    model.eval()
    try:
        n = ids.shape[0]
        condition = model.text_encoder(ids)
        null = model.null_condition.expand(n, -1)
        x = noise
        for index, t in enumerate(timesteps):
            t_prev = int(timesteps[index + 1]) if index + 1 < len(timesteps) else -1
            if guidance:
                both = model.unet(torch.cat([x, x]), torch.full((2 * n,), int(t), dtype=torch.int64),
                                  torch.cat([condition, null]))
                predicted = (1.0 + guidance) * both[:n] - guidance * both[n:]
            else:
                predicted = model.unet(x, torch.full((n,), int(t), dtype=torch.int64), condition)
            x = ddim_step(alphas_cumprod, x, int(t), t_prev, predicted)
    finally:
        model.train(was_training)
    return x.clamp(-1.0, 1.0)
