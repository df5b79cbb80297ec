"""Noise schedules, the forward process, the ε-prediction loss and the DDPM/DDIM sampling steps.

Notation of Ho et al. (2020): ``betas[t]`` is β_t, ``alphas[t] = 1 - β_t`` and ``alphas_cumprod[t]`` is
ᾱ_t = ∏_{s≤t} (1 - β_s), for t = 0 … T-1. The forward process is q(x_t | x_0) = N(√ᾱ_t x_0, (1 - ᾱ_t) I).
Schedules are float64 NumPy arrays (exact constants); the values handed to tensors are cast to the tensors'
dtype.
"""
from __future__ import annotations

import math

import numpy as np

from .. import functions as _functions
from ..autograd.tensor import Tensor
from ..nn import functional as F

SCHEDULES = ("linear", "cosine")


def linear_beta_schedule(timesteps: int, beta_start: float = 1e-4, beta_end: float = 0.02,
                         max_beta: float = 0.999) -> np.ndarray:
    """Ho et al.'s β_t, evenly spaced from ``beta_start`` to ``beta_end`` (given for T = 1000) and rescaled by
    1000 / T so that other T keep the same total noise (as Nichol & Dhariwal do), clipped at ``max_beta`` so
    that ᾱ stays positive for small T. Returns (T,) float64."""
    scale = 1000.0 / timesteps
    return np.minimum(np.linspace(beta_start * scale, beta_end * scale, timesteps, dtype=np.float64), max_beta)


def cosine_beta_schedule(timesteps: int, s: float = 0.008, max_beta: float = 0.999) -> np.ndarray:
    """Nichol & Dhariwal's schedule: ᾱ(t) = f(t)/f(0), f(t) = cos²(((t/T) + s)/(1 + s) · π/2), and
    β_t = 1 - ᾱ(t+1)/ᾱ(t) clipped at ``max_beta``. Returns (T,) float64."""
    steps = np.arange(timesteps + 1, dtype=np.float64) / timesteps
    f = np.cos((steps + s) / (1 + s) * math.pi / 2) ** 2
    alphas_cumprod = f / f[0]
    return np.minimum(1.0 - alphas_cumprod[1:] / alphas_cumprod[:-1], max_beta)


class NoiseSchedule:
    """The constants of a diffusion process of ``timesteps`` steps (default 1000) with a ``"linear"`` or
    ``"cosine"`` β schedule.

    Attributes (float64 NumPy arrays of shape (T,)): ``betas``, ``alphas``, ``alphas_cumprod`` (ᾱ_t),
    ``alphas_cumprod_prev`` (ᾱ_{t-1}, 1 at t = 0), ``posterior_variance`` (β̃_t = β_t (1-ᾱ_{t-1})/(1-ᾱ_t)).
    """

    def __init__(self, timesteps: int = 1000, kind: str = "linear"):
        if not isinstance(timesteps, int) or timesteps < 1:
            raise ValueError(f"NoiseSchedule: timesteps must be a positive int, received {timesteps!r}")
        if kind not in SCHEDULES:
            raise ValueError(f"NoiseSchedule: kind must be one of {SCHEDULES}, received {kind!r}")
        self.timesteps, self.kind = timesteps, kind
        self.betas = linear_beta_schedule(timesteps) if kind == "linear" else cosine_beta_schedule(timesteps)
        self.alphas = 1.0 - self.betas
        self.alphas_cumprod = np.cumprod(self.alphas)
        self.alphas_cumprod_prev = np.concatenate([[1.0], self.alphas_cumprod[:-1]])
        self.posterior_variance = self.betas * (1.0 - self.alphas_cumprod_prev) / (1.0 - self.alphas_cumprod)

    def __repr__(self) -> str:
        return f"NoiseSchedule(timesteps={self.timesteps}, kind={self.kind!r})"

    def sampling_timesteps(self, steps: int) -> np.ndarray:
        """``steps`` timesteps evenly spread over 0 … T-1, in decreasing order (int64), for a shortened sampler."""
        if not isinstance(steps, int) or not 1 <= steps <= self.timesteps:
            raise ValueError(f"NoiseSchedule: sampling steps must be an int in [1, {self.timesteps}], "
                             f"received {steps!r}")
        return np.unique(np.linspace(0, self.timesteps - 1, steps).round().astype(np.int64))[::-1].copy()


def _per_sample(values: np.ndarray, t, like: Tensor) -> Tensor:
    """``values[t]`` as a (N, 1, 1, 1) tensor of ``like``'s dtype and device, to broadcast over images."""
    indices = np.asarray(t.numpy() if isinstance(t, Tensor) else t, dtype=np.int64).reshape(-1)
    shape = (len(indices),) + (1,) * (like.ndim - 1)
    return _functions.tensor(values[indices].reshape(shape), dtype=like.dtype, device=like.device)


def q_sample(schedule: NoiseSchedule, x0: Tensor, t, noise: Tensor) -> Tensor:
    """Draw x_t ~ q(x_t | x_0): ``√ᾱ_t · x0 + √(1 - ᾱ_t) · noise``.

    Shapes: x0 and noise (N, C, H, W); t (N,) int timesteps (a Tensor or array)."""
    if tuple(noise.shape) != tuple(x0.shape):
        raise ValueError(f"q_sample: noise must have x0's shape {tuple(x0.shape)}, received {tuple(noise.shape)}")
    scale = _per_sample(np.sqrt(schedule.alphas_cumprod), t, x0)
    spread = _per_sample(np.sqrt(1.0 - schedule.alphas_cumprod), t, x0)
    return scale * x0 + spread * noise


def noise_prediction_loss(predicted_noise: Tensor, noise: Tensor) -> Tensor:
    """Ho et al.'s simplified objective: mean squared error between the predicted and the true ε."""
    return F.mse_loss(predicted_noise, noise)


def predicted_x0(schedule: NoiseSchedule, x_t: Tensor, t, noise: Tensor) -> Tensor:
    """Invert q_sample for x0 given ε: ``(x_t - √(1-ᾱ_t) ε) / √ᾱ_t``."""
    scale = _per_sample(np.sqrt(schedule.alphas_cumprod), t, x_t)
    spread = _per_sample(np.sqrt(1.0 - schedule.alphas_cumprod), t, x_t)
    return (x_t - spread * noise) / scale


def _alpha_bar(schedule: NoiseSchedule, t: int) -> float:
    return 1.0 if t < 0 else float(schedule.alphas_cumprod[t])


def ddpm_step(schedule: NoiseSchedule, x_t: Tensor, t: int, t_prev: int, noise: Tensor, fresh_noise: Tensor | None,
              clip: bool = True) -> Tensor:
    """One ancestral step x_t → x_{t_prev} of the (respaced) DDPM chain, given the predicted ε ``noise``.

    With ᾱ, ᾱ' the cumulative alphas at t and t_prev (ᾱ' = 1 for t_prev = -1) the chain's own
    β = 1 - ᾱ/ᾱ'; x̂0 = (x_t - √(1-ᾱ) ε)/√ᾱ, clipped to [-1, 1] when ``clip``; the posterior mean is
    √ᾱ' β/(1-ᾱ) · x̂0 + √(1-β)(1-ᾱ')/(1-ᾱ) · x_t (without clipping this equals (x_t - β/√(1-ᾱ) ε)/√(1-β),
    Ho et al.'s Algorithm 2) and the variance β̃ = β (1-ᾱ')/(1-ᾱ). ``fresh_noise`` (z ~ N(0, I), x_t's shape)
    is added with standard deviation √β̃; it is unused at the last step (t_prev = -1)."""
    alpha_bar, alpha_bar_prev = _alpha_bar(schedule, t), _alpha_bar(schedule, t_prev)
    beta = 1.0 - alpha_bar / alpha_bar_prev
    x0 = (x_t - math.sqrt(1.0 - alpha_bar) * noise) / math.sqrt(alpha_bar)
    if clip:
        x0 = x0.clamp(-1.0, 1.0)
    mean = (math.sqrt(alpha_bar_prev) * beta / (1.0 - alpha_bar)) * x0 \
        + (math.sqrt(1.0 - beta) * (1.0 - alpha_bar_prev) / (1.0 - alpha_bar)) * x_t
    if t_prev < 0:
        return mean
    if fresh_noise is None:
        raise ValueError("ddpm_step: fresh_noise is required before the last step")
    variance = beta * (1.0 - alpha_bar_prev) / (1.0 - alpha_bar)
    return mean + math.sqrt(variance) * fresh_noise


def ddim_step(schedule: NoiseSchedule, x_t: Tensor, t: int, t_prev: int, noise: Tensor, eta: float = 0.0,
              fresh_noise: Tensor | None = None, clip: bool = True) -> Tensor:
    """One DDIM step x_t → x_{t_prev} (Song et al. 2021, eq. 12), given the predicted ε ``noise``.

    x̂0 = (x_t - √(1-ᾱ) ε)/√ᾱ (clipped to [-1, 1] when ``clip``, ε then recomputed from it);
    σ = η √((1-ᾱ')/(1-ᾱ)) √(1 - ᾱ/ᾱ'); x_{t'} = √ᾱ' x̂0 + √(1-ᾱ'-σ²) ε + σ z. ``eta=0`` (default) is
    deterministic; ``eta=1`` is the ancestral DDPM step."""
    alpha_bar, alpha_bar_prev = _alpha_bar(schedule, t), _alpha_bar(schedule, t_prev)
    x0 = (x_t - math.sqrt(1.0 - alpha_bar) * noise) / math.sqrt(alpha_bar)
    if clip:
        x0 = x0.clamp(-1.0, 1.0)
        noise = (x_t - math.sqrt(alpha_bar) * x0) / math.sqrt(1.0 - alpha_bar)
    sigma = eta * math.sqrt((1.0 - alpha_bar_prev) / (1.0 - alpha_bar)) * math.sqrt(1.0 - alpha_bar / alpha_bar_prev)
    x_prev = math.sqrt(alpha_bar_prev) * x0 + math.sqrt(max(1.0 - alpha_bar_prev - sigma ** 2, 0.0)) * noise
    if sigma > 0.0:
        if fresh_noise is None:
            raise ValueError("ddim_step: fresh_noise is required when eta > 0")
        x_prev = x_prev + sigma * fresh_noise
    return x_prev


def guided_noise(conditional: Tensor, unconditional: Tensor, guidance: float) -> Tensor:
    """Classifier-free guidance (Ho & Salimans): ε = (1 + w) ε(x, c) - w ε(x); ``guidance`` w = 0 is plain
    conditional sampling."""
    return (1.0 + guidance) * conditional - guidance * unconditional
