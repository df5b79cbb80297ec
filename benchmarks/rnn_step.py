"""Recurrent layers, Ember against PyTorch: one forward+backward of an LSTM, same weights, same input, in one
process, the two frameworks alternating, medians of the repeats.

    PYTHONPATH=src .bench-venv/bin/python benchmarks/rnn_step.py [--repeats 15] [--reference] [--profile] [--threads 1]

Cases: LSTM(28 -> 128) on (L=28, N=128, 28), MNIST read row by row; a 2-layer LSTM(65 -> 256) on (L=100, N=64, 65),
the character model's shape. ``--reference`` times Ember with ``fast_paths=False`` as well (the per-step reference
path); ``--profile`` adds, per case, the functions where Ember's forward+backward spends its time (cProfile, own
time: a per-step GEMM counts in the Python function that calls np.matmul, the compiled step in the ``step`` closures
of backend/compiled.py). The FLOP floor counts the GEMMs only: forward ``2*L*N*4H*(in + H)`` per layer, training 3x,
timed against the sgemm rate of ``np.matmul`` on 1024x1024 float32 measured in the same run.
"""
from __future__ import annotations

import argparse
import cProfile
import io
import platform
import pstats
import statistics
import time

import numpy as np
import torch

import ember
from ember import nn

CASES = [
    # name, input size, hidden size, layers, steps L, batch N
    ("lstm28x128_L28_N128", 28, 128, 1, 28, 128),
    ("lstm65x256x2_L100_N64", 65, 256, 2, 100, 64),
]


def sgemm_gflops(repeats: int = 7) -> float:
    a = np.random.default_rng(0).standard_normal((1024, 1024), dtype=np.float32)
    np.matmul(a, a)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        np.matmul(a, a)
        times.append(time.perf_counter() - start)
    return 2 * 1024 ** 3 / statistics.median(times) / 1e9


def training_flops(inputs: int, hidden: int, layers: int, steps: int, batch: int) -> float:
    forward = 0.0
    for layer in range(layers):
        layer_in = inputs if layer == 0 else hidden
        forward += 2.0 * steps * batch * 4 * hidden * (layer_in + hidden)
    return 3 * forward


def build(inputs, hidden, layers, steps, batch, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((steps, batch, inputs), dtype=np.float32)
    upstream = rng.standard_normal((steps, batch, hidden), dtype=np.float32)
    t_model = torch.nn.LSTM(inputs, hidden, layers)
    e_model = nn.LSTM(inputs, hidden, layers)
    e_model.load_state_dict({k: ember.tensor(v.detach().numpy().copy()) for k, v in t_model.state_dict().items()})

    def run_ember():
        for p in e_model.parameters():
            p.grad = None
        xe = ember.tensor(x, requires_grad=True)
        out, _ = e_model(xe)
        out.backward(ember.tensor(upstream))
        return out.numpy(), xe.grad.numpy(), e_model.weight_hh_l0.grad.numpy()

    def run_torch():
        t_model.zero_grad(set_to_none=True)
        xt = torch.from_numpy(x).requires_grad_(True)
        out, _ = t_model(xt)
        out.backward(torch.from_numpy(upstream))
        return out.detach().numpy(), xt.grad.numpy(), t_model.weight_hh_l0.grad.numpy()

    return run_ember, run_torch


def timed(function) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def print_profile(run_ember, repeats: int, top: int = 20) -> None:
    """The functions with the most own time over ``repeats`` forward+backward passes of Ember's model."""
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(repeats):
        run_ember()
    profiler.disable()
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(top)
    lines = text.getvalue().splitlines()
    start = next(index for index, line in enumerate(lines) if line.lstrip().startswith("ncalls"))
    print("\n".join("    " + line for line in lines[start - 3:start + top + 1] if line.strip()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--reference", action="store_true", help="also time Ember with fast_paths=False")
    parser.add_argument("--profile", action="store_true", help="print where Ember's time goes (cProfile)")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for both frameworks (torch.set_num_threads, ember.set_num_threads)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
        ember.set_num_threads(args.threads)
    rate = sgemm_gflops()
    print(f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, "
          f"ember {ember.config.get('num_threads')} threads; numpy {np.__version__}, torch {torch.__version__}")
    print(f"sgemm 1024^3 (np.matmul): {rate:.1f} GFLOP/s")
    for name, inputs, hidden, layers, steps, batch in CASES:
        run_ember, run_torch = build(inputs, hidden, layers, steps, batch)
        for got, want in zip(run_ember(), run_torch()):  # warm-up, and the numbers agree
            np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-4)
        run_torch()
        if args.reference:
            with ember.config.override(fast_paths=False):
                run_ember()
        times: dict[str, list] = {"ember": [], "torch": [], "ember_reference": []}
        for _ in range(args.repeats):
            times["ember"].append(timed(run_ember))
            times["torch"].append(timed(run_torch))
            if args.reference:
                with ember.config.override(fast_paths=False):
                    times["ember_reference"].append(timed(run_ember))
        ember_ms = statistics.median(times["ember"]) * 1e3
        torch_ms = statistics.median(times["torch"]) * 1e3
        floor_ms = training_flops(inputs, hidden, layers, steps, batch) / (rate * 1e9) * 1e3
        best = min(times["ember"]) / min(times["torch"])
        line = (f"{name}: ember {ember_ms:.1f} ms, torch {torch_ms:.1f} ms, ratio {ember_ms / torch_ms:.2f}x "
                f"(best {min(times['ember']) * 1e3:.1f} / {min(times['torch']) * 1e3:.1f} ms = {best:.2f}x); "
                f"GEMM floor {floor_ms:.1f} ms ({training_flops(inputs, hidden, layers, steps, batch) / 1e9:.2f} "
                f"GFLOP)")
        if args.reference:
            line += f"; ember fast_paths=False {statistics.median(times['ember_reference']) * 1e3:.1f} ms"
        print(line, flush=True)
        if args.profile:
            print_profile(run_ember, args.repeats)


if __name__ == "__main__":
    main()
