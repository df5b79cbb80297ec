"""Train with DDP, rank 0 saves a checkpoint; resume on any world size; compare with one process.

    mpiexec -n 2 python checkpoint_resume.py save DIR
    mpiexec -n 1 python checkpoint_resume.py resume DIR     # prints the largest relative difference
"""
import sys

import numpy as np

import ember
import ember.distributed as dist
import ember.nn as nn
import ember.nn.functional as F
from ember.nn.parallel import DistributedDataParallel

GLOBAL_BATCH = 8


def make_model():
    ember.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 3))


def batches():
    generator = np.random.default_rng(5)
    return [(generator.standard_normal((GLOBAL_BATCH, 6)).astype(np.float32), generator.integers(0, 3, GLOBAL_BATCH))
            for _ in range(4)]


def train(model, optimizer, steps, rank, size):
    per_rank = GLOBAL_BATCH // size
    for images, labels in steps:
        optimizer.zero_grad()
        local = slice(rank * per_rank, (rank + 1) * per_rank)
        F.cross_entropy(model(ember.tensor(images[local])), ember.tensor(labels[local])).backward()
        optimizer.step()


def main(mode, directory):
    dist.init_process_group("mpi")
    rank, size = dist.get_rank(), dist.get_world_size()
    model = DistributedDataParallel(make_model())
    optimizer = ember.optim.Adam(model.parameters(), lr=1e-2)
    path = f"{directory}/checkpoint.ember"
    if mode == "save":
        train(model, optimizer, batches()[:2], rank, size)
        if rank == 0:
            ember.save({"model": model.module.state_dict(), "optimizer": optimizer.state_dict()}, path)
        dist.barrier()
        return
    state = ember.load(path)
    model.module.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    train(model, optimizer, batches()[2:], rank, size)
    single = make_model()
    single_optimizer = ember.optim.Adam(single.parameters(), lr=1e-2)
    train(single, single_optimizer, batches(), 0, 1)
    worst = max(float(np.max(np.abs(got.numpy() - expected.numpy()) / (np.abs(expected.numpy()) + 1e-6)))
                for got, expected in zip(model.module.parameters(), single.parameters()))
    print(f"rank {rank} of {size}: largest relative difference {worst:.3g}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
