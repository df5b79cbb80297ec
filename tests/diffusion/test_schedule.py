"""Noise schedules against their closed forms, q_sample's statistics, and the sampler steps' algebra."""
import math

import numpy as np
import pytest

import ember
from ember.diffusion import (
    NoiseSchedule, cosine_beta_schedule, ddim_step, ddpm_step, guided_noise, linear_beta_schedule, predicted_x0,
    q_sample,
)


def test_linear_schedule_is_ho_et_al():
    betas = linear_beta_schedule(1000)
    assert betas.dtype == np.float64 and betas.shape == (1000,)
    assert betas[0] == pytest.approx(1e-4) and betas[-1] == pytest.approx(0.02)
    assert np.allclose(np.diff(betas), (0.02 - 1e-4) / 999)
    # fewer steps: rescaled by 1000 / T
    assert linear_beta_schedule(100)[[0, -1]] == pytest.approx([1e-3, 0.2])


def test_cosine_schedule_matches_its_closed_form():
    T, s = 1000, 0.008
    schedule = NoiseSchedule(T, "cosine")

    def f(t):
        return math.cos((t / T + s) / (1 + s) * math.pi / 2) ** 2

    for t in (0, 1, 250, 500, 900):
        assert schedule.alphas_cumprod[t] == pytest.approx(f(t + 1) / f(0), rel=1e-9)
    assert np.all(cosine_beta_schedule(T) <= 0.999)
    assert cosine_beta_schedule(T)[-1] == pytest.approx(0.999)


def test_schedule_constants():
    schedule = NoiseSchedule(1000, "linear")
    assert np.allclose(schedule.alphas_cumprod, np.cumprod(1 - linear_beta_schedule(1000)))
    assert schedule.alphas_cumprod_prev[0] == 1.0
    assert np.allclose(schedule.alphas_cumprod_prev[1:], schedule.alphas_cumprod[:-1])
    t = 500
    expected = schedule.betas[t] * (1 - schedule.alphas_cumprod[t - 1]) / (1 - schedule.alphas_cumprod[t])
    assert schedule.posterior_variance[t] == pytest.approx(expected)
    # small T stays positive (betas clipped below 1)
    assert np.all(NoiseSchedule(10).alphas_cumprod > 0)


def test_schedule_errors():
    with pytest.raises(ValueError, match="kind must be one of"):
        NoiseSchedule(1000, "quadratic")
    with pytest.raises(ValueError, match="positive int"):
        NoiseSchedule(0)
    with pytest.raises(ValueError, match=r"sampling steps must be an int in \[1, 1000\]"):
        NoiseSchedule().sampling_timesteps(1001)


def test_sampling_timesteps_are_decreasing_and_span_the_chain():
    steps = NoiseSchedule(1000).sampling_timesteps(50)
    assert steps.dtype == np.int64 and len(steps) == 50
    assert steps[0] == 999 and steps[-1] == 0 and np.all(np.diff(steps) < 0)


def test_q_sample_statistics():
    schedule = NoiseSchedule(1000)
    rng = np.random.default_rng(0)
    n = 20000
    x0 = ember.tensor(np.full((n, 1, 2, 2), 0.5, dtype=np.float32))
    noise = ember.tensor(rng.standard_normal((n, 1, 2, 2), dtype=np.float32))
    t = 300
    x_t = q_sample(schedule, x0, np.full(n, t), noise)
    assert x_t.dtype == ember.float32 and tuple(x_t.shape) == (n, 1, 2, 2)
    values = x_t.numpy()
    ab = schedule.alphas_cumprod[t]
    assert values.mean() == pytest.approx(0.5 * math.sqrt(ab), abs=0.01)
    assert values.var() == pytest.approx(1 - ab, rel=0.02)
    # exact per sample, and predicted_x0 inverts it
    assert np.allclose(values, math.sqrt(ab) * 0.5 + math.sqrt(1 - ab) * noise.numpy(), atol=1e-6)
    assert np.allclose(predicted_x0(schedule, x_t, np.full(n, t), noise).numpy(), 0.5, atol=1e-5)
    with pytest.raises(ValueError, match="noise must have x0's shape"):
        q_sample(schedule, x0, np.full(n, t), noise[:, :, :1])


def _known(shape=(3, 1, 4, 4), seed=1):
    rng = np.random.default_rng(seed)
    return (ember.tensor(rng.standard_normal(shape)), ember.tensor(rng.standard_normal(shape)),
            ember.tensor(rng.standard_normal(shape)))


def test_ddpm_step_is_ho_et_al_algorithm_2():
    schedule = NoiseSchedule(1000)
    x, eps, z = _known()
    t = 700
    got = ddpm_step(schedule, x, t, t - 1, eps, z, clip=False).numpy()
    alpha, ab = schedule.alphas[t], schedule.alphas_cumprod[t]
    expected = (x.numpy() - schedule.betas[t] / math.sqrt(1 - ab) * eps.numpy()) / math.sqrt(alpha) \
        + math.sqrt(schedule.posterior_variance[t]) * z.numpy()
    assert np.allclose(got, expected, atol=1e-12)
    # the last step adds no noise
    last = ddpm_step(schedule, x, 0, -1, eps, None, clip=False).numpy()
    assert np.allclose(last, (x.numpy() - math.sqrt(1 - schedule.alphas_cumprod[0]) * eps.numpy())
                       / math.sqrt(schedule.alphas_cumprod[0]), atol=1e-12)


def test_ddim_step_algebra():
    schedule = NoiseSchedule(1000, "cosine")
    x, eps, z = _known()
    t, t_prev = 800, 600
    ab, abp = schedule.alphas_cumprod[t], schedule.alphas_cumprod[t_prev]
    x0 = (x.numpy() - math.sqrt(1 - ab) * eps.numpy()) / math.sqrt(ab)
    got = ddim_step(schedule, x, t, t_prev, eps, eta=0.0, clip=False).numpy()
    assert np.allclose(got, math.sqrt(abp) * x0 + math.sqrt(1 - abp) * eps.numpy(), atol=1e-12)
    # eta = 1 is the ancestral step of the respaced chain
    assert np.allclose(ddim_step(schedule, x, t, t_prev, eps, eta=1.0, fresh_noise=z, clip=False).numpy(),
                       ddpm_step(schedule, x, t, t_prev, eps, z, clip=False).numpy(), atol=1e-12)
    with pytest.raises(ValueError, match="fresh_noise is required"):
        ddim_step(schedule, x, t, t_prev, eps, eta=0.5)


def test_ddim_recovers_x0_when_the_noise_is_known():
    schedule = NoiseSchedule(1000)
    rng = np.random.default_rng(2)
    x0 = ember.tensor(rng.uniform(-1, 1, (2, 1, 4, 4)))
    eps = ember.tensor(rng.standard_normal((2, 1, 4, 4)))
    x_t = q_sample(schedule, x0, np.array([999, 999]), eps)
    # with the true ε at every step, the deterministic chain keeps x0 fixed and ends on it
    x = x_t
    steps = schedule.sampling_timesteps(10)
    for index, t in enumerate(steps):
        t_prev = int(steps[index + 1]) if index + 1 < len(steps) else -1
        x = ddim_step(schedule, x, int(t), t_prev, eps)
        eps = ember.tensor((x.numpy() - math.sqrt(schedule.alphas_cumprod[t_prev]) * x0.numpy())
                           / math.sqrt(1 - schedule.alphas_cumprod[t_prev])) if t_prev >= 0 else eps
    assert np.allclose(x.numpy(), x0.numpy(), atol=1e-9)


def test_guidance_formula():
    conditional = ember.tensor(np.array([1.0, 2.0], dtype=np.float32))
    unconditional = ember.tensor(np.array([0.5, -1.0], dtype=np.float32))
    got = guided_noise(conditional, unconditional, 2.0)
    assert got.dtype == ember.float32
    assert np.allclose(got.numpy(), 3 * conditional.numpy() - 2 * unconditional.numpy())
    assert np.allclose(guided_noise(conditional, unconditional, 0.0).numpy(), conditional.numpy())
