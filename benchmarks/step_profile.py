"""Where a training step's time goes: the measurements behind BENCHMARKS.md's profile, one command each.

    .bench-venv/bin/python benchmarks/step_profile.py step convnet               # one framework, this process alone
    .bench-venv/bin/python benchmarks/step_profile.py step convnet --framework torch
    .bench-venv/bin/python benchmarks/step_profile.py step convnet --alternate torch   # PyTorch in the same process
    EMBER_MALLOC=system .bench-venv/bin/python benchmarks/step_profile.py step convnet   # glibc's defaults
    .bench-venv/bin/python benchmarks/step_profile.py ops pytorch_cnn                # Ember's step, op by op
    .bench-venv/bin/python benchmarks/step_profile.py calls lstm_mnist               # time in kernels and GEMMs
    .bench-venv/bin/python benchmarks/step_profile.py conv-layers                # Ember's convolutions, layer by layer
    .bench-venv/bin/python benchmarks/step_profile.py conv-layers unet           # the diffusion UNet's alone
    .bench-venv/bin/python benchmarks/step_profile.py gemm                       # sgemm rate at the convnet's shapes
    .bench-venv/bin/python benchmarks/step_profile.py recurrent                  # an LSTM step's products, sequences
    .bench-venv/bin/python benchmarks/step_profile.py kernels convnet            # compiled kernels against NumPy's
    .bench-venv/bin/python benchmarks/step_profile.py build                      # building and loading the kernels

``step`` trains one workload on random MNIST-shaped batches and prints the median and best step time and the
minor page faults per step (``getrusage``) during the timed steps; ``--alternate torch`` builds the same
model on PyTorch in the same process and, in 3 rounds, runs 10 PyTorch steps before each third of the timed
steps, as a benchmark that shares one process would; ``--cprofile`` adds the top functions (``--sort cumtime``,
``--top N``). ``calls`` times every compiled kernel call and every ``threads.matmul`` (the GEMMs Ember may
split) inside Ember's training step and prints each one's share per step. ``ops`` times
every op of Ember's step by class, forward and backward apart, plus the optimizer's update, as wall time on
the calling thread (which includes waiting for Ember's helper threads); what is left of the step is Python
between ops. ``conv-layers`` times the forward, input-gradient and weight-gradient primitives of each
workload's convolutions on (C, H, W, N) inputs, as inside a network (best of 15 calls), with the direct
kernels and with im2col + GEMM, and the GEMM floor of each at the measured 1024³ sgemm rate. ``gemm`` gives
NumPy's float32 GEMM rate for the convnet's three GEMM shapes.
``kernels`` trains one workload in rounds that alternate Ember's CPU paths in the same process, so that all see
the same machine, and prints the median step time of each: the compiled kernels (backend/kernels/) with direct
convolutions, the compiled kernels with im2col + GEMM convolutions, and NumPy alone. Once a direct round
has run, OpenBLAS is down to one thread for the rest of the process (see ``ember/backend/threads.py``), so
the other paths' GEMMs run on one core there: ``--paths im2col numpy`` compares those two as they run alone.
``build`` times, in fresh processes, the first use of the compiled kernels with an empty cache (the build)
and with a full one (loading only).
"""
from __future__ import annotations

import argparse
import collections
import cProfile
import pstats
import resource
import time

import numpy as np

import frameworks
from workloads import CHAR_VOCABULARY, WORKLOADS, make_input, text_pool

CONV_LAYERS = {  # (batch, C_in, size, C_out, kernel, stride, ((top, bottom), (left, right)))
    "convnet": [(128, 1, 28, 12, 3, 1, ((1, 1), (1, 1))), (128, 12, 28, 24, 6, 2, ((2, 2), (2, 2))),
                (128, 24, 14, 32, 6, 2, ((2, 2), (2, 2)))],
    "bn_convnet": [(64, 1, 28, 24, 6, 1, ((2, 3), (2, 3))), (64, 24, 28, 48, 5, 2, ((1, 2), (1, 2))),
                   (64, 48, 14, 64, 4, 2, ((1, 1), (1, 1)))],
    "pytorch_cnn": [(64, 3, 28, 32, 3, 1, ((1, 1), (1, 1))), (64, 32, 28, 64, 3, 1, ((1, 1), (1, 1))),
                    (64, 64, 14, 128, 3, 1, ((1, 1), (1, 1)))],
    # ember.diffusion's CPU UNet (32 base channels, 1-2-2, batch 64, 28x28): each distinct convolution once
    "unet": [(64, channels, size, out_channels, kernel, stride, ((kernel // 2,) * 2,) * 2)
             for channels, size, out_channels, kernel, stride in [
                 (1, 28, 32, 3, 1), (32, 28, 32, 3, 1), (32, 28, 32, 3, 2), (32, 14, 64, 3, 1), (64, 14, 64, 3, 1),
                 (32, 14, 64, 1, 1), (64, 14, 64, 3, 2), (64, 7, 64, 3, 1), (128, 7, 64, 3, 1), (128, 7, 64, 1, 1),
                 (128, 14, 64, 3, 1), (128, 14, 64, 1, 1), (64, 28, 64, 3, 1), (96, 28, 32, 3, 1),
                 (96, 28, 32, 1, 1), (32, 28, 1, 3, 1)]],
}


def best_ms(call, repeats: int = 15) -> float:
    """The shortest of ``repeats`` timed calls (after one untimed), in milliseconds."""
    call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return 1e3 * min(times)


def sgemm_gflops(m: int, k: int, n: int) -> float:
    a, b = np.ones((m, k), np.float32), np.ones((k, n), np.float32)
    return 2 * m * k * n / best_ms(lambda: a @ b) / 1e6


def random_trainer(workload_name: str, framework_name: str):
    """A trainer of one workload on one framework over 4 batches of random MNIST-shaped images (seed 0)."""
    from training import Trainer

    workload = WORKLOADS[workload_name]
    rng = np.random.default_rng(0)
    count = 4 * workload.batch_size
    if workload.inputs == "text":  # windows of random character ids
        images, labels = text_pool(rng.integers(0, CHAR_VOCABULARY, 10_000), count, seed=0)
    else:
        images = make_input(rng.integers(0, 256, (count, 28, 28), dtype=np.uint8), workload)
        labels = rng.integers(0, 10, count)
    return Trainer(workload, frameworks.load(framework_name), images, labels, seed=0)


def profile_step(args) -> None:
    other = random_trainer(args.workload, args.alternate) if args.alternate else None
    trainer = random_trainer(args.workload, args.framework)
    framework = trainer.framework
    for _ in range(3):
        trainer.step()
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    times = []
    for index in range(args.steps):
        if other is not None and index % -(-args.steps // 3) == 0:
            for _ in range(10):
                other.step()
        start = time.perf_counter()
        trainer.step()
        times.append(time.perf_counter() - start)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
    shared = f" sharing the process with {frameworks.DISPLAY[args.alternate]}" if args.alternate else ""
    print(f"{args.workload} on {framework.display}{shared}: median {1e3 * np.median(times):.1f} ms/step, best "
          f"{1e3 * min(times):.1f} ms; {faults / args.steps:,.0f} minor page faults per step ({args.steps} steps)")
    if args.cprofile:
        profiler = cProfile.Profile()
        profiler.runcall(lambda: [trainer.step() for _ in range(args.steps)])
        pstats.Stats(profiler).sort_stats(args.sort).print_stats(args.top)


def profile_ops(args) -> None:
    from measure import time_ops

    trainer = random_trainer(args.workload, "ember")
    for _ in range(3):
        trainer.step()
    steps, spent = time_ops(trainer.step, args.steps, ((trainer.optimizer, "step", ("optimizer", "step")),))
    total = 1e3 * sum(steps) / args.steps
    print(f"{args.workload} on Ember: {total:.1f} ms/step on average over {args.steps} steps (timed); "
          f"ms per step by op:")
    for (name, phase), seconds in sorted(spent.items(), key=lambda item: -item[1]):
        print(f"  {name:24s} {phase:9s} {1e3 * seconds / args.steps:7.2f}")
    print(f"  {'everything else':34s} {total - 1e3 * sum(spent.values()) / args.steps:7.2f}")


PATHS = {  # the ember.config settings of each CPU path of ``kernels``
    "direct": {"kernels": "compiled", "conv": "direct"},
    "im2col": {"kernels": "compiled", "conv": "im2col"},
    "numpy": {"kernels": "numpy"},
}


def profile_kernels(args) -> None:
    from ember import config
    from ember.backend import compiled

    kernels = compiled.kernels()
    if kernels is None:
        raise SystemExit(f"kernels: no compiled kernels to compare: {compiled.status()}")
    trainer = random_trainer(args.workload, "ember")
    times = {name: [] for name in args.paths}
    for round_index in range(len(args.paths) * args.rounds):
        name = args.paths[round_index % len(args.paths)]
        with config.override(**PATHS[name]):
            for _ in range(2):  # settle
                trainer.step()
            for _ in range(args.steps):
                start = time.perf_counter()
                trainer.step()
                times[name].append(time.perf_counter() - start)
    medians = {name: 1e3 * np.median(values) for name, values in times.items()}
    first = args.paths[0]
    described = ", ".join(f"{name} {ms:.1f} ms ({ms / medians[first]:.2f}x)" for name, ms in medians.items())
    print(f"{args.workload}: median ms/step: {described}; {args.rounds} alternating rounds of {args.steps} steps "
          f"each")


def profile_build(args) -> None:
    import os
    import subprocess
    import sys
    import tempfile

    first_use = ("import time; from ember.backend import compiled; start = time.perf_counter(); "
                 "kernels = compiled.kernels(); print(time.perf_counter() - start, kernels is not None)")
    with tempfile.TemporaryDirectory() as cache:
        environment = {**os.environ, "EMBER_CACHE": cache}
        for label in ("empty cache (build and load)", "full cache (load)", "full cache (load)"):
            output = subprocess.run([sys.executable, "-c", first_use], env=environment, capture_output=True,
                                    text=True, check=True).stdout.split()
            if output[1] != "True":
                raise SystemExit("build: the kernels could not be built here: "
                                 "see ember.backend.compiled.status()")
            print(f"first use of the compiled kernels, {label}: {float(output[0]):.3f} s")


def profile_conv_layers(args) -> None:
    from ember import config
    from ember.functions.conv import Conv2d, Conv2dGradInput, Conv2dGradWeight, ConvGeometry

    class Forward(Conv2d):
        needs_input_grad = (False, False)

    unknown = set(args.models) - set(CONV_LAYERS)
    if unknown:
        raise SystemExit(f"conv-layers: no layers for {', '.join(sorted(unknown))}; known: {', '.join(CONV_LAYERS)}")
    rate = sgemm_gflops(1024, 1024, 1024)
    print(f"sgemm 1024^3: {rate:.0f} GFLOP/s; ms (GFLOP/s), best of 15 calls; im2col + GEMM first, with "
          f"OpenBLAS's threads, then the direct kernels on Ember's")
    layers = [(name, layer) for name, group in CONV_LAYERS.items() if name in (args.models or CONV_LAYERS)
              for layer in group]
    timings = {}
    for direct in (False, True):  # im2col first: the direct kernels set OpenBLAS to one thread
        paths = {"conv": "direct" if direct else "im2col"}
        for name, layer in layers:
            batch, channels, size, out_channels, kernel, stride, padding = layer
            geometry = ConvGeometry((kernel, kernel), (stride, stride), padding, (1, 1), 1)
            rng = np.random.default_rng(0)
            x = rng.standard_normal((channels, size, size, batch), dtype=np.float32).transpose(3, 0, 1, 2)
            weight = rng.standard_normal((out_channels, channels, kernel, kernel), dtype=np.float32)
            with config.override(**paths):  # each op's own choice of path, as in training
                y = Forward(geometry)._fast_forward([x, weight])
                grad = rng.standard_normal(y.shape[1:] + y.shape[:1], dtype=np.float32).transpose(3, 0, 1, 2)
                timings[name, layer, direct] = (
                    2e-6 * y.size * channels * kernel * kernel,
                    best_ms(lambda: Forward(geometry)._fast_forward([x, weight])),
                    best_ms(lambda: Conv2dGradInput(geometry, x.shape)._fast_forward([grad, weight])),
                    best_ms(lambda: Conv2dGradWeight(geometry, weight.shape)._fast_forward([x, grad])))
    for name, layer in layers:
        batch, channels, size, out_channels, kernel, stride, padding = layer
        flop, *direct_ms = timings[name, layer, True]
        _, *im2col_ms = timings[name, layer, False]
        parts = [f"{what} {new:.1f} ({flop / new:.0f}) / {old:.1f}"
                 for what, new, old in zip(("forward", "input gradient", "weight gradient"), direct_ms, im2col_ms)]
        print(f"{name:12s} {channels}->{out_channels} {kernel}x{kernel} stride {stride} at {size}x{size}, "
              f"batch {batch}: {'; '.join(parts)}; floor {flop / rate:.1f} each")


def profile_calls(args) -> None:
    """Ember's training step with every ``compiled.Kernels`` method and ``threads.matmul`` (the GEMMs Ember
    may split) timed by a wrapper: per step, the median step and each one's calls and total time; what is
    left is NumPy passes and Python between them."""
    from ember.backend import compiled, threads

    spent: dict = collections.defaultdict(list)

    def timed(name, function):
        def wrapper(*arguments, **keywords):
            start = time.perf_counter()
            try:
                return function(*arguments, **keywords)
            finally:
                spent[name].append(time.perf_counter() - start)
        return wrapper

    for name, function in vars(compiled.Kernels).items():
        if callable(function) and not name.startswith("_"):
            setattr(compiled.Kernels, name, timed(f"kernel {name}", function))
    threads.matmul = timed("threads.matmul (GEMMs Ember may split)", threads.matmul)
    trainer = random_trainer(args.workload, "ember")
    for _ in range(5):
        trainer.step()
    spent.clear()
    times = []
    for _ in range(args.steps):
        start = time.perf_counter()
        trainer.step()
        times.append(time.perf_counter() - start)
    step_ms = 1e3 * float(np.median(times))
    print(f"{args.workload} on Ember: median {step_ms:.2f} ms/step over {args.steps} steps")
    accounted = 0.0
    for name, values in sorted(spent.items(), key=lambda item: -sum(item[1])):
        per_step = 1e3 * sum(values) / args.steps
        accounted += per_step
        print(f"  {name:48s} {len(values) / args.steps:5.1f} calls/step {per_step:7.2f} ms/step")
    print(f"  {'the rest (NumPy passes, Python)':48s} {'':15s} {step_ms - accounted:7.2f} ms/step (median step "
          f"less the mean of the parts)")


def profile_gemm(args) -> None:
    for m, k, n in [(24, 432, 25088), (32, 864, 6272), (1024, 1024, 1024)]:
        w, cols, g = (np.ones(shape, np.float32) for shape in ((m, k), (k, n), (m, n)))
        flops = 2 * m * k * n / 1e6
        print(f"({m} x {k}) @ ({k} x {n}): {flops / best_ms(lambda: w @ cols):.0f} GFLOP/s; "
              f"transposed for the input gradient {flops / best_ms(lambda: w.T @ g):.0f}, "
              f"for the weight gradient {flops / best_ms(lambda: g @ cols.T):.0f}")


def median_ms(call, repeats: int = 60) -> float:
    """The median of ``repeats`` timed calls (after five untimed), in milliseconds."""
    for _ in range(5):
        call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return 1e3 * float(np.median(times))


def profile_recurrent(args) -> None:
    """An LSTM step's two products per thread (a team of two shares 128 rows), by OpenBLAS on one thread and
    by the packed product (kernels/panel_gemm.c: the marginal time of 64 more rows, packing left out); the
    input projection of LSTM(28 -> 128) over MNIST's rows and its weight gradient, split OpenBLAS against
    kernels/thin_gemm.c; then the whole LSTM(28 -> 128) sequence kernels (L 28, N 128) on one and two
    threads."""
    from ember.backend import compiled, threads

    kernels = compiled.kernels()
    gemm = threads.openblas_gemm(np.float32)
    threads.claim_cores()  # OpenBLAS on one thread, as inside the sequence kernels
    rng = np.random.default_rng(0)
    for k, n, label in [(128, 512, "forward, h @ W_hh.T"), (512, 128, "backward, d @ W_hh")]:
        weight = rng.standard_normal((n, k) if label.startswith("forward") else (k, n)).astype(np.float32)
        transposed = label.startswith("forward")
        rows = {m: rng.standard_normal((m, k)).astype(np.float32) for m in (64, 640)}
        right = weight.T if transposed else weight
        blas = median_ms(lambda: np.matmul(rows[64], right))
        packed = (median_ms(lambda: kernels.panel_product(rows[640], weight, transposed))
                  - median_ms(lambda: kernels.panel_product(rows[64], weight, transposed))) / 9
        flops = 2e-6 * 64 * k * n
        print(f"(64, {k}) @ ({k}, {n}) [{label}]: OpenBLAS {1e3 * blas:.1f} us ({flops / blas:.0f} GFLOP/s), "
              f"packed {1e3 * packed:.1f} us ({flops / packed:.0f} GFLOP/s)")
    inputs = rng.standard_normal((3584, 28)).astype(np.float32)  # MNIST's rows, every step: the input projection
    w_ih, grad = rng.standard_normal((512, 28)).astype(np.float32), rng.standard_normal((3584, 512)).astype(np.float32)
    team = threads.thread_count()
    print(f"input projection (3584, 28) @ (28, 512), {team} threads, medians of 60: forward "
          f"{median_ms(lambda: threads.matmul(inputs, w_ih.T)):.3f} ms split OpenBLAS, "
          f"{median_ms(lambda: kernels.thin_forward(inputs, w_ih, True, team)):.3f} ms thin kernel; weight gradient "
          f"{median_ms(lambda: threads.matmul(grad.T, inputs)):.3f} ms split OpenBLAS, "
          f"{median_ms(lambda: kernels.thin_weight_grad(inputs, grad, True, team)):.3f} ms thin kernel")
    steps, batch, size = 28, 128, 128
    x = rng.standard_normal((steps, batch, 4 * size)).astype(np.float32)
    bias, h0, c0 = np.zeros(4 * size, np.float32), np.zeros((batch, size), np.float32), np.zeros((batch, size),
                                                                                                     np.float32)
    weight = (rng.standard_normal((4 * size, size)) / np.sqrt(size)).astype(np.float32)
    gates, (cs, tanh_cs, hs) = np.empty_like(x), (np.empty((steps, batch, size), np.float32) for _ in range(3))
    grad_hs, grad_cs = rng.standard_normal(hs.shape).astype(np.float32), np.zeros(hs.shape, np.float32)
    d_gates, carry_h, carry_c = np.empty_like(x), np.empty((batch, size), np.float32), np.zeros((2, batch, size),
                                                                                                np.float32)
    grad_weight, grad_bias = np.empty_like(weight), np.empty_like(bias)
    for team in (1, 2):
        forward = median_ms(lambda: kernels.lstm_sequence_forward(x, bias, h0, c0, weight, gates, cs, tanh_cs, hs,
                                                                  False, team, gemm))

        def backward(parameters):
            carry_c[0] = 0
            kernels.lstm_sequence_backward(grad_hs, grad_cs, gates, cs, h0, c0, tanh_cs, hs, weight, d_gates,
                                           carry_h, carry_c, grad_weight if parameters else None,
                                           grad_bias if parameters else None, False, True, team, gemm)

        print(f"LSTM(28 -> 128) sequence, L {steps}, N {batch}, {team} thread(s), medians of 60: forward "
              f"{forward:.2f} ms, backward {median_ms(lambda: backward(True)):.2f} ms (without W_hh's and the "
              f"bias's gradients {median_ms(lambda: backward(False)):.2f} ms)")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    step = commands.add_parser("step", help="time one workload's training step in this process")
    step.add_argument("workload", choices=list(WORKLOADS))
    step.add_argument("--framework", choices=frameworks.NAMES, default="ember")
    step.add_argument("--steps", type=int, default=30)
    step.add_argument("--alternate", choices=frameworks.NAMES,
                      help="run 10 steps of this framework in the same process before each third of the timed steps")
    step.add_argument("--cprofile", action="store_true", help="also print the top functions of a cProfile")
    step.add_argument("--sort", choices=("tottime", "cumtime"), default="tottime", help="the cProfile's order")
    step.add_argument("--top", type=int, default=20, help="functions the cProfile lists")
    step.set_defaults(run=profile_step)
    calls = commands.add_parser("calls", help="Ember's step: time in each compiled kernel and in split GEMMs")
    calls.add_argument("workload", choices=list(WORKLOADS))
    calls.add_argument("--steps", type=int, default=40)
    calls.set_defaults(run=profile_calls)
    ops = commands.add_parser("ops", help="Ember's step op by op, forward and backward apart")
    ops.add_argument("workload", choices=list(WORKLOADS))
    ops.add_argument("--steps", type=int, default=30)
    ops.set_defaults(run=profile_ops)
    conv_layers = commands.add_parser("conv-layers", help="Ember's convolution primitives, layer by layer")
    conv_layers.add_argument("models", nargs="*", metavar="model",
                             help=f"the layers of these only (default: all; of {', '.join(CONV_LAYERS)})")
    conv_layers.set_defaults(run=profile_conv_layers)
    commands.add_parser("gemm", help="sgemm rates at the convnet's GEMM shapes").set_defaults(run=profile_gemm)
    commands.add_parser("recurrent", help="an LSTM step's products, BLAS and packed; the sequence kernels on 1 "
                                          "and 2 threads").set_defaults(run=profile_recurrent)
    commands.add_parser("build", help="time building and loading the compiled kernels").set_defaults(
        run=profile_build)
    kernels = commands.add_parser("kernels", help="Ember's CPU paths against each other, alternating")
    kernels.add_argument("workload", choices=list(WORKLOADS))
    kernels.add_argument("--paths", nargs="+", choices=list(PATHS), default=["direct", "im2col", "numpy"],
                         help="direct: compiled kernels with direct convolutions; im2col: compiled kernels, "
                              "convolutions as im2col + GEMM; numpy: NumPy alone")
    kernels.add_argument("--rounds", type=int, default=5)
    kernels.add_argument("--steps", type=int, default=10)
    kernels.set_defaults(run=profile_kernels)
    args = parser.parse_args(argv)
    args.run(args)


if __name__ == "__main__":
    main()
