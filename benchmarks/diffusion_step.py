"""The diffusion UNet, Ember against PyTorch: one training step (forward, ε-MSE loss, backward, AdamW) of the
CPU configuration (32 base channels, multipliers 1-2-2, batch 64, 28×28), same weights and inputs, in one
process, the two frameworks alternating, medians of the repeats; then the sampling cost per image.

    PYTHONPATH=src .bench-venv/bin/python benchmarks/diffusion_step.py [--repeats 7] [--batch 64]

The FLOP floor counts what ``torch.utils.flop_counter`` counts for the twin's forward and backward
(convolutions, matrix products, attention), timed against the sgemm rate of ``np.matmul`` on 1024×1024
float32 measured in the same run. Sampling: seconds per denoising step of ``DiffusionModel.sample`` with
guidance (the UNet runs on 2n images), 16 images, times the step count (DDIM 50, DDPM 1000).
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

import ember
from ember.diffusion import DiffusionConfig, DiffusionModel, UNet

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import diffusion_torch  # the twin beside this file (after the path insert above)


def sgemm_gflops(repeats: int = 7) -> float:
    a = np.random.default_rng(0).standard_normal((1024, 1024), dtype=np.float32)
    np.matmul(a, a)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        np.matmul(a, a)
        times.append(time.perf_counter() - start)
    return 2 * 1024 ** 3 / statistics.median(times) / 1e9


def build(channels: int, batch: int, seed: int = 0):
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    t_unet = diffusion_torch.UNet(channels=channels)
    e_unet = UNet(channels=channels)
    e_unet.load_state_dict({k: ember.tensor(v.detach().numpy().copy()) for k, v in t_unet.state_dict().items()})
    x = rng.standard_normal((batch, 1, 28, 28), dtype=np.float32)
    t = rng.integers(0, 1000, batch)
    condition = rng.standard_normal((batch, 4 * channels), dtype=np.float32) * 0.1
    noise = rng.standard_normal((batch, 1, 28, 28), dtype=np.float32)
    e_inputs = (ember.tensor(x), t, ember.tensor(condition), ember.tensor(noise))
    t_inputs = (torch.from_numpy(x), torch.from_numpy(t), torch.from_numpy(condition), torch.from_numpy(noise))
    e_optimizer = ember.optim.AdamW(e_unet.parameters(), lr=1e-4)
    t_optimizer = torch.optim.AdamW(t_unet.parameters(), lr=1e-4)

    def ember_step():
        xs, ts, cs, ns = e_inputs
        e_optimizer.zero_grad()
        loss = ember.nn.functional.mse_loss(e_unet(xs, ts, cs), ns)
        loss.backward()
        e_optimizer.step()
        return loss.item()

    def torch_step():
        xs, ts, cs, ns = t_inputs
        t_optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(t_unet(xs, ts, cs), ns)
        loss.backward()
        t_optimizer.step()
        return loss.item()

    with ember.no_grad(), torch.no_grad():
        difference = np.abs(e_unet(*e_inputs[:3]).numpy() - t_unet(*t_inputs[:3]).numpy()).max()
    with FlopCounterMode(display=False) as counter:
        torch.nn.functional.mse_loss(t_unet(*t_inputs[:3]), t_inputs[3]).backward()
    t_optimizer.zero_grad()
    return ember_step, torch_step, float(difference), counter.get_total_flops()


def time_alternating(ember_step, torch_step, repeats: int) -> tuple[list, list]:
    ember_step(), torch_step()  # warm-up (first-use kernels, allocator)
    ember_times, torch_times = [], []
    for _ in range(repeats):
        for step, times in ((ember_step, ember_times), (torch_step, torch_times)):
            start = time.perf_counter()
            step()
            times.append(time.perf_counter() - start)
    return ember_times, torch_times


def sampling_seconds_per_step(channels: int, images: int, sampler: str, steps: int = 5) -> float:
    ember.manual_seed(0)
    model = DiffusionModel(DiffusionConfig(channels=channels))
    model.sample(["seven"] * images, steps=2, sampler=sampler, progress=False)  # warm-up
    start = time.perf_counter()
    model.sample(["seven"] * images, steps=steps, sampler=sampler, progress=False)
    return (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--channels", type=int, default=32)
    parser.add_argument("--sample-images", type=int, default=16, help="0: skip the sampling figures")
    parser.add_argument("--torch-threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    args = parser.parse_args()
    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; "
          f"NumPy {np.__version__}, PyTorch {torch.__version__} ({torch.get_num_threads()} threads)")
    gflops_before = sgemm_gflops()
    ember_step, torch_step, difference, flops = build(args.channels, args.batch)
    print(f"UNet {args.channels} channels, batch {args.batch}: forward outputs agree to {difference:.2e}; "
          f"training step {flops / 1e9:.2f} GFLOP (forward + backward)")
    ember_times, torch_times = time_alternating(ember_step, torch_step, args.repeats)
    gflops = (gflops_before + sgemm_gflops()) / 2
    ember_median, torch_median = statistics.median(ember_times), statistics.median(torch_times)
    floor = flops / (gflops * 1e9)
    print(f"sgemm {gflops_before:.0f} GFLOP/s before, {gflops:.0f} mean; FLOP floor {floor * 1e3:.0f} ms")
    print(f"training step: Ember {ember_median * 1e3:.0f} ms, PyTorch {torch_median * 1e3:.0f} ms (medians of "
          f"{args.repeats}); Ember/PyTorch {ember_median / torch_median:.2f}x; Ember/floor {ember_median / floor:.1f}x")
    print(f"  Ember runs {[round(s * 1e3) for s in ember_times]} ms; PyTorch {[round(s * 1e3) for s in torch_times]}")
    for sampler, steps in (("ddim", 50), ("ddpm", 1000)) if args.sample_images else ():
        per_step = sampling_seconds_per_step(args.channels, args.sample_images, sampler)
        print(f"sampling {sampler}: {per_step * 1e3:.0f} ms per step for {args.sample_images} guided images; "
              f"{steps} steps: {per_step * steps / args.sample_images:.2f} s per image")
    print(f"load at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
