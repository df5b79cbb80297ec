"""The diffusion UNet, Ember against PyTorch: one training step (forward, ε-MSE loss, backward, AdamW) of the
CPU configuration (32 base channels, multipliers 1-2-2, batch 64, 28×28), same weights and inputs, in one
process, the two frameworks alternating, medians of the repeats; then the sampling cost per image.

    PYTHONPATH=src .bench-venv/bin/python benchmarks/diffusion_step.py [--repeats 7] [--batch 64]

The FLOP floor counts what ``torch.utils.flop_counter`` counts for the twin's forward and backward
(convolutions, matrix products, attention), timed against the sgemm rate of ``np.matmul`` on 1024×1024
float32 measured in the same run. Sampling: seconds per denoising step of ``DiffusionModel.sample`` with
guidance (the UNet runs on 2n images), 16 images, times the step count (DDIM 50, DDPM 1000), after the
UNet's forward without gradients on those 2n images in both frameworks, alternating.
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


def time_inference(channels: int, images: int, repeats: int) -> tuple[list, list]:
    """Seconds of one no-grad UNet forward on ``images`` images (a guided sampling step's UNet call on 2n),
    Ember and PyTorch alternating, same weights."""
    torch.manual_seed(1)
    t_unet = diffusion_torch.UNet(channels=channels).eval()
    e_unet = UNet(channels=channels).eval()
    e_unet.load_state_dict({k: ember.tensor(v.detach().numpy().copy()) for k, v in t_unet.state_dict().items()})
    rng = np.random.default_rng(1)
    x = rng.standard_normal((images, 1, 28, 28), dtype=np.float32)
    t = np.full(images, 500)
    condition = rng.standard_normal((images, 4 * channels), dtype=np.float32) * 0.1
    e_inputs = (ember.tensor(x), t, ember.tensor(condition))
    t_inputs = (torch.from_numpy(x), torch.from_numpy(t), torch.from_numpy(condition))

    def ember_call():
        with ember.no_grad():
            return e_unet(*e_inputs)

    def torch_call():
        with torch.no_grad():
            return t_unet(*t_inputs)

    return time_alternating(ember_call, torch_call, repeats)


def sampling_seconds_per_step(channels: int, images: int, sampler: str, steps: int = 5) -> float:
    ember.manual_seed(0)
    model = DiffusionModel(DiffusionConfig(channels=channels))
    model.sample(["seven"] * images, steps=2, sampler=sampler, progress=False)  # warm-up
    start = time.perf_counter()
    model.sample(["seven"] * images, steps=steps, sampler=sampler, progress=False)
    return (time.perf_counter() - start) / steps


def conv_flop(node, arrays) -> float:
    """The multiply-adds ×2 of a convolution primitive ``node`` on its input ``arrays``; 0 for other ops."""
    name = type(node).__name__
    if name == "Conv2d":
        x, weight = arrays[:2]
        out_h, out_w = node.geometry.output_shape(*x.shape[2:])
        return 2.0 * x.shape[0] * out_h * out_w * weight.size
    if name in ("Conv2dGradInput", "Conv2dGradWeight"):
        grad = arrays[0] if name == "Conv2dGradInput" else arrays[1]
        weight_size = arrays[1].size if name == "Conv2dGradInput" else int(np.prod(node.weight_shape))
        return 2.0 * grad.shape[0] * grad.shape[2] * grad.shape[3] * weight_size
    return 0.0


def describe_shapes(node, arrays) -> str:
    """The shapes an op ran on: for convolutions input, weight (or output gradient) and stride."""
    shapes = " ".join("x".join(map(str, a.shape)) for a in arrays if hasattr(a, "shape"))
    stride = getattr(getattr(node, "geometry", None), "stride", None)
    return shapes + (f" s{stride[0]}" if stride and stride[0] != 1 else "")


def profile_ops(ember_step, steps: int, rate: float) -> None:
    """Ember's training step op by op: exclusive wall time of every primitive's forward and backward (an op
    run inside another's counts for itself, not for the outer one), by class and, for convolutions, by shape,
    with the achieved GFLOP/s against the sgemm ``rate``; the optimizer's step apart."""
    from collections import defaultdict

    from ember.autograd import engine
    from ember.autograd.function import Primitive

    spent, flop = defaultdict(float), defaultdict(float)
    stack = []  # [start, time spent in nested ops] per op running

    def timed(key, flops, function, *arguments):
        stack.append([time.perf_counter(), 0.0])
        try:
            return function(*arguments)
        finally:
            start, nested = stack.pop()
            total = time.perf_counter() - start
            spent[key] += total - nested
            flop[key] += flops
            if stack:
                stack[-1][1] += total

    primitive_call, call_backward = Primitive.__call__, engine._call_backward

    def call(self, *tensors):
        arrays = [t.array for t in tensors]
        name = type(self).__name__
        phase = "forward" if name.startswith("Conv2d") else "forward "
        shapes = describe_shapes(self, arrays) if name.startswith("Conv2d") else ""
        return timed((name, phase, shapes), conv_flop(self, arrays), primitive_call, self, *tensors)

    def backward(node, slots, *rest):
        return timed((type(node).__name__, "backward", ""), 0.0, call_backward, node, slots, *rest)

    ember_step()
    Primitive.__call__, engine._call_backward = call, backward
    optimizer_step = ember.optim.AdamW.step
    ember.optim.AdamW.step = lambda self: timed(("AdamW", "step", ""), 0.0, optimizer_step, self)
    start = time.perf_counter()
    try:
        for _ in range(steps):
            ember_step()
    finally:
        Primitive.__call__, engine._call_backward = primitive_call, call_backward
        ember.optim.AdamW.step = optimizer_step
    total = 1e3 * (time.perf_counter() - start) / steps
    by_class = defaultdict(float)
    for (name, phase, _), seconds in spent.items():
        by_class[name, phase.strip()] += seconds
    print(f"Ember op profile: {total:.0f} ms a step ({steps} steps), exclusive ms a step by op class:")
    for (name, phase), seconds in sorted(by_class.items(), key=lambda item: -item[1]):
        print(f"  {name:26s} {phase:9s} {1e3 * seconds / steps:7.1f}")
    print(f"  {'Python between ops':36s} {total - 1e3 * sum(spent.values()) / steps:7.1f}")
    print(f"convolutions by shape (ms a step, GFLOP/s; sgemm {rate:.0f} GFLOP/s):")
    for key, seconds in sorted(spent.items(), key=lambda item: -item[1]):
        if flop[key]:
            print(f"  {key[0]:17s} {key[2]:40s} {1e3 * seconds / steps:6.1f} {flop[key] / seconds / 1e9:6.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--channels", type=int, default=32)
    parser.add_argument("--sample-images", type=int, default=16, help="0: skip the sampling figures")
    parser.add_argument("--profile", type=int, default=0, help="then this many Ember steps timed op by op")
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
    if args.profile:
        profile_ops(ember_step, args.profile, gflops)
    if args.sample_images:
        ember_times, torch_times = time_inference(args.channels, 2 * args.sample_images, args.repeats)
        ember_median, torch_median = statistics.median(ember_times), statistics.median(torch_times)
        print(f"UNet forward without gradients on {2 * args.sample_images} images (one guided sampling step): "
              f"Ember {ember_median * 1e3:.1f} ms, PyTorch {torch_median * 1e3:.1f} ms; Ember/PyTorch "
              f"{ember_median / torch_median:.2f}x")
    for sampler, steps in (("ddim", 50), ("ddpm", 1000)) if args.sample_images else ():
        per_step = sampling_seconds_per_step(args.channels, args.sample_images, sampler)
        print(f"sampling {sampler}: {per_step * 1e3:.0f} ms per step for {args.sample_images} guided images; "
              f"{steps} steps: {per_step * steps / args.sample_images:.2f} s per image")
    print(f"load at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
