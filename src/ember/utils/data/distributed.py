"""``DistributedSampler``: each rank reads its own disjoint slice of every epoch, as PyTorch's does."""
from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from ...data.sampler import Sampler


class DistributedSampler(Sampler):
    """Indices ``rank, rank + num_replicas, …`` of the epoch's (shuffled) order, padded as PyTorch pads.

    Args:
        dataset: anything with ``len()``.
        num_replicas: number of ranks (default: the process group's world size).
        rank: this rank (default: the process group's rank).
        shuffle: permute the indices each epoch with seed ``seed + epoch`` (default True), the same order on
            every rank; call ``set_epoch(epoch)`` before each epoch for a new order.
        seed: base seed of the permutation (default 0).
        drop_last: drop the tail so that every rank gets ``len(dataset) // num_replicas`` samples; otherwise
            (default) repeat indices from the start so that every rank gets ``ceil(len / num_replicas)``.

    Every rank gets the same number of samples, and without padding the slices of one epoch are disjoint.
    The permutation is NumPy's (``default_rng(seed + epoch)``), not PyTorch's generator's.
    """

    def __init__(self, dataset, num_replicas: int | None = None, rank: int | None = None, shuffle: bool = True,
                 seed: int = 0, drop_last: bool = False) -> None:
        if num_replicas is None or rank is None:
            from ...distributed import get_rank, get_world_size, is_initialized

            if not is_initialized():
                raise RuntimeError("DistributedSampler: pass num_replicas and rank, or call "
                                   "ember.distributed.init_process_group() first")
            num_replicas = get_world_size() if num_replicas is None else num_replicas
            rank = get_rank() if rank is None else rank
        if num_replicas < 1:
            raise ValueError(f"DistributedSampler: num_replicas must be >= 1, received {num_replicas}")
        if not 0 <= rank < num_replicas:
            raise ValueError(f"DistributedSampler: invalid rank {rank}, rank should be in [0, {num_replicas - 1}]")
        self.dataset = dataset
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0
        self.shuffle = shuffle
        self.seed = seed
        self.drop_last = drop_last
        length = len(dataset)
        if drop_last and length % num_replicas:
            self.num_samples = math.ceil((length - num_replicas) / num_replicas)
        else:
            self.num_samples = math.ceil(length / num_replicas)
        self.total_size = self.num_samples * num_replicas

    def __iter__(self) -> Iterator[int]:
        length = len(self.dataset)
        if self.shuffle:
            indices = np.random.default_rng(self.seed + self.epoch).permutation(length).tolist()
        else:
            indices = list(range(length))
        if not self.drop_last:
            padding = self.total_size - len(indices)
            if padding <= len(indices):
                indices += indices[:padding]
            else:
                indices += (indices * math.ceil(padding / len(indices)))[:padding]
        else:
            indices = indices[:self.total_size]
        return iter(indices[self.rank:self.total_size:self.num_replicas])

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        """Use permutation ``seed + epoch`` from the next ``__iter__`` on (call before each epoch)."""
        self.epoch = epoch


__all__ = ["DistributedSampler"]
