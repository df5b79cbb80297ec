"""Distributed training costs on this machine: all-reduce bandwidth, DDP's per-step communication on the
codelab's batch-norm convnet, and 2 ranks x 1 thread against 1 process x 2 threads.

    python benchmarks/distributed.py            # runs every part (launches mpiexec itself), prints a table
    python benchmarks/distributed.py --steps 20 # more steps per measurement
    python benchmarks/distributed.py --rounds 3 # alternate the 2-rank and the 1-process runs 3 times

Needs mpi4py and mpiexec (pip install "ember[distributed]").
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

SOURCE = str(Path(__file__).resolve().parents[1] / "src")
GLOBAL_BATCH = 128


def allreduce_bandwidth(repeats: int) -> None:
    """Rank 0 prints one line per size: MiB, seconds per all-reduce, algorithm bandwidth (bytes / time)."""
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    for mebibytes in (1, 4, 16, 64):
        buffer = np.ones(mebibytes * 2**20 // 4, dtype=np.float32)
        comm.Allreduce(MPI.IN_PLACE, buffer)
        comm.Barrier()
        start = time.perf_counter()
        for _ in range(repeats):
            comm.Allreduce(MPI.IN_PLACE, buffer)
        seconds = (time.perf_counter() - start) / repeats
        if comm.Get_rank() == 0:
            print(f"allreduce {mebibytes} MiB: {seconds * 1e3:.2f} ms, {mebibytes * 2**20 / seconds / 1e9:.2f} GB/s",
                  flush=True)


def convnet():
    import ember
    from ember.tutorials.mnist_codelab import batchnorm_convnet

    model = batchnorm_convnet()
    with ember.no_grad():
        model(ember.zeros(2, 28 * 28))  # build
    return model


def train_steps(steps: int, distributed: bool, sync: bool = True) -> float:
    """Seconds per step of the batch-norm convnet on this rank's share of a 128-image global batch."""
    import ember
    import ember.distributed as dist
    import ember.nn.functional as F
    from ember.nn.parallel import DistributedDataParallel

    rank, size = (dist.get_rank(), dist.get_world_size()) if distributed else (0, 1)
    ember.manual_seed(0)
    model = convnet()
    if distributed:
        model = DistributedDataParallel(model)
    optimizer = ember.optim.Adam(model.parameters(), lr=1e-3)
    generator = np.random.default_rng(rank)
    local = GLOBAL_BATCH // size
    images = ember.tensor(generator.random((local, 28 * 28), dtype=np.float32))
    labels = ember.tensor(generator.integers(0, 10, local))
    timings = []
    for step in range(steps + 2):  # two warm-up steps
        start = time.perf_counter()
        optimizer.zero_grad()
        if distributed and not sync:
            with model.no_sync():
                F.cross_entropy(model(images), labels).backward()
        else:
            F.cross_entropy(model(images), labels).backward()
        optimizer.step()
        if step >= 2:
            timings.append(time.perf_counter() - start)
    return float(np.median(timings))


def ddp_part(steps: int) -> None:
    import ember.distributed as dist

    dist.init_process_group("mpi")
    synced = train_steps(steps, True, sync=True)
    local = train_steps(steps, True, sync=False)
    model = convnet()
    parameters = sum(p.numel() for p in model.parameters())
    if dist.get_rank() == 0:
        size = dist.get_world_size()
        print(f"ddp ranks={size}: {synced * 1e3:.1f} ms/step with gradient averaging, {local * 1e3:.1f} ms/step "
              f"without (no_sync): communication {max(synced - local, 0) * 1e3:.1f} ms/step for "
              f"{parameters * 4 / 2**20:.2f} MiB of gradients; {GLOBAL_BATCH / synced:.0f} images/s", flush=True)


def single_part(steps: int) -> None:
    seconds = train_steps(steps, False)
    print(f"single process threads={os.environ.get('EMBER_NUM_THREADS')}: {seconds * 1e3:.1f} ms/step; "
          f"{GLOBAL_BATCH / seconds:.0f} images/s", flush=True)


def launch(command: list, threads: int) -> None:
    environment = dict(os.environ, PYTHONPATH=SOURCE, EMBER_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads))
    subprocess.run(command, env=environment, check=True, timeout=900)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=["all", "allreduce", "ddp", "single"], default="all")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=1,
                        help="how many times to alternate the DDP and the single-process runs (drift on a busy host)")
    arguments = parser.parse_args()
    if arguments.part == "allreduce":
        return allreduce_bandwidth(arguments.repeats)
    if arguments.part == "ddp":
        return ddp_part(arguments.steps)
    if arguments.part == "single":
        return single_part(arguments.steps)
    sys.path.insert(0, SOURCE)
    from ember.cli import mpiexec_command

    script = [__file__, "--steps", str(arguments.steps), "--repeats", str(arguments.repeats)]
    print(f"load average before: {os.getloadavg()}", flush=True)
    launch(mpiexec_command(["-n", "2", *script, "--part", "allreduce"]), 1)
    for _ in range(arguments.rounds):
        launch(mpiexec_command(["-n", "2", *script, "--part", "ddp"]), 1)
        launch([sys.executable, *script, "--part", "single"], 2)
    print(f"load average after: {os.getloadavg()}", flush=True)


if __name__ == "__main__":
    main()
