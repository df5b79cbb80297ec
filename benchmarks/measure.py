"""Timing helpers and facts about the machine: interleaved repeats, the sgemm rate, import times.

Every comparison runs its Ember and PyTorch repeats alternately (E, T, E, T, ...), so a burst of load from
elsewhere on the machine lands on both, and reports the median repeat.
"""
from __future__ import annotations

import datetime
import gc
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from typing import Callable

import numpy as np

from frameworks import available_cores


def interleave(repeat_of: dict[str, Callable[[], float]], repeats: int) -> dict[str, list[float]]:
    """Call each ``repeat_of[name]()`` ``repeats`` times, alternating names; returns the values by name.

    The collector runs before each repeat so that garbage left by one side is not collected on the other's clock.
    """
    if repeats < 1:
        raise ValueError(f"interleave: expected at least 1 repeat, received {repeats}")
    values: dict[str, list[float]] = {name: [] for name in repeat_of}
    for _ in range(repeats):
        for name, measure in repeat_of.items():
            gc.collect()
            values[name].append(measure())
    return values


def seconds_per_call(call: Callable[[], object], count: int) -> float:
    """Mean wall time of ``count`` consecutive calls."""
    start = time.perf_counter()
    for _ in range(count):
        call()
    return (time.perf_counter() - start) / count


def calls_for(call: Callable[[], object], target_seconds: float, minimum: int = 1, warmup: int = 1) -> int:
    """How many calls of ``call`` fill ``target_seconds``, after ``warmup`` (at least 1) warm-up calls.

    The last warm-up call is timed to estimate the cost of one call; calls much cheaper than the target are
    timed again in growing groups until a group takes a tenth of it. That group is then timed once more and the
    faster of the two estimates kept: a host that stalls the process for a moment (another job starting) would
    otherwise make every repeat a few calls long.
    """
    if warmup < 1:
        raise ValueError(f"calls_for: expected at least 1 warm-up call, received {warmup}")
    for _ in range(warmup - 1):
        call()
    count, elapsed = 1, seconds_per_call(call, 1)
    while elapsed * count < target_seconds / 10 and count < 1 << 20:
        count *= 4
        elapsed = seconds_per_call(call, count)
    if target_seconds > 0:
        elapsed = min(elapsed, seconds_per_call(call, count))
    return max(minimum, math.ceil(target_seconds / max(elapsed, 1e-9)))


def time_ops(step: Callable[[], object], count: int, extra: tuple = ()) -> tuple[list[float], dict]:
    """Run ``step()`` ``count`` times with every Ember op's forward (``Primitive.__call__``) and backward
    (``engine._call_backward``) timed as wall time on the calling thread, an op run inside another counting
    for the outer one; each ``(owner, attribute, label)`` in ``extra`` (an optimizer's ``step``, a clipping
    function) is wrapped and timed the same way. Returns each step's seconds and ``{(class, phase): seconds}``
    summed over the steps; everything is unwrapped again on the way out."""
    from collections import defaultdict

    from ember.autograd import engine
    from ember.autograd.function import Primitive

    spent: dict = defaultdict(float)
    recording = [False]

    def timed(label, function, *arguments):
        if not recording[0]:
            return function(*arguments)
        recording[0] = False  # an op inside an op counts for the outer one
        start = time.perf_counter()
        try:
            return function(*arguments)
        finally:
            spent[label] += time.perf_counter() - start
            recording[0] = True

    originals = [(Primitive, "__call__", Primitive.__call__), (engine, "_call_backward", engine._call_backward)]
    originals += [(owner, name, getattr(owner, name)) for owner, name, _ in extra]
    primitive_call, call_backward = originals[0][2], originals[1][2]
    Primitive.__call__ = lambda self, *tensors: timed((type(self).__name__, "forward"), primitive_call, self,
                                                      *tensors)
    engine._call_backward = lambda node, *arguments: timed((type(node).__name__, "backward"), call_backward, node,
                                                           *arguments)
    for (owner, name, label), (_, _, original) in zip(extra, originals[2:]):
        setattr(owner, name, lambda *arguments, _label=label, _original=original: timed(_label, _original,
                                                                                         *arguments))
    steps = []
    try:
        for _ in range(count):
            recording[0] = True
            start = time.perf_counter()
            step()
            steps.append(time.perf_counter() - start)
            recording[0] = False
    finally:
        for owner, name, original in originals:
            setattr(owner, name, original)
    return steps, dict(spent)


def median(values: list[float]) -> float:
    return float(statistics.median(values))


def sgemm_rate(m: int, k: int, n: int, target_seconds: float, repeats: int, seed: int = 0) -> dict:
    """Float32 ``(m, k) @ (k, n)`` with NumPy: the median rate over ``repeats`` in GFLOP/s (``2 m k n`` FLOPs)."""
    generator = np.random.default_rng(seed)
    left = generator.random((m, k), dtype=np.float32)
    right = generator.random((k, n), dtype=np.float32)
    result = np.empty((m, n), dtype=np.float32)

    def product():
        np.matmul(left, right, out=result)

    count = calls_for(product, target_seconds)
    seconds = median([seconds_per_call(product, count) for _ in range(repeats)])
    return {"m": m, "k": k, "n": n, "seconds": seconds, "gflops": 2 * m * k * n / seconds / 1e9}


def import_seconds(statements: dict[str, str], repeats: int) -> dict[str, dict]:
    """Wall time of ``python -c STATEMENT`` in fresh interpreters, median of ``repeats`` (interleaved).

    The ``"pass"`` baseline (interpreter start-up) is measured too and subtracted: ``seconds`` is the import
    alone, ``raw_seconds`` the whole process.
    """
    commands = {"pass": "pass", **statements}

    def timed(statement):
        def run():
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", statement], check=True)
            return time.perf_counter() - start
        return run

    times = interleave({name: timed(statement) for name, statement in commands.items()}, repeats)
    baseline = median(times["pass"])
    return {
        name: {"statement": statement, "raw_seconds": median(times[name]),
               "seconds": median(times[name]) - baseline, "repeats": times[name]}
        for name, statement in commands.items() if name != "pass"
    } | {"pass": {"statement": "pass", "raw_seconds": baseline, "seconds": 0.0, "repeats": times["pass"]}}


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as stream:
            for line in stream:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _numpy_blas() -> str:
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    except (TypeError, KeyError):  # NumPy < 1.25 prints its configuration instead
        return "unknown"
    described = f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
    try:  # the kernel set OpenBLAS chose (an OPENBLAS_CORETYPE in the environment forces it)
        from ember.backend.threads import openblas_kernels
    except ImportError:
        return described
    kernels = ", ".join(openblas_kernels())
    forced = {name: os.environ[name] for name in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if os.environ.get(name)}
    return described + (f", kernels {kernels}" if kernels else "") + (f" (forced by {forced})" if forced else "")


def _torch_build(torch) -> list[str]:
    """The libraries PyTorch was built with (BLAS, oneDNN, OpenMP, vector ISA), from ``torch.__config__``."""
    lines = []
    for line in torch.__config__.show().splitlines():
        line = line.strip().lstrip("- ")
        if line.startswith("Build settings:"):
            settings = dict(item.split("=", 1) for item in line.split(": ", 1)[1].split(", ") if "=" in item)
            lines.append(f"BLAS_INFO={settings.get('BLAS_INFO', '?')}")
        elif any(word in line for word in ("Math Kernel", "MKL-DNN", "OpenMP", "CPU capability", "OpenBLAS")):
            lines.append(line)
    return lines


def _ember_kernels() -> str:
    """Whether Ember's compiled CPU kernels are in use, as the Ember processes will see it."""
    from ember.backend import compiled

    return compiled.status()


def machine_facts(torch=None) -> dict:
    """CPU, cores, load, library versions and BLAS, and the date: what a reader needs to weigh the numbers."""
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    facts = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "cores_available": available_cores(),
        "load_average": list(load) if load else None,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numpy_blas": _numpy_blas(),
        "ember_kernels": _ember_kernels(),
        "blas_threads_env": {name: os.environ.get(name) for name in
                             ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS") if os.environ.get(name)},
    }
    if torch is not None:
        facts["torch"] = torch.__version__
        facts["torch_threads"] = torch.get_num_threads()
        facts["torch_build"] = _torch_build(torch)
    return facts
