"""``keras.distribution``: data-parallel ``fit``/``evaluate`` across MPI ranks, in Keras 3's names.

    keras.distribution.set_distribution(keras.distribution.DataParallel())
    model.fit(x, y, batch_size=64)      # launched as: mpiexec -n 4 python train.py

Under ``DataParallel`` every rank holds the whole model and reads the same global batches (the same data on
every rank; ``fit`` gives every rank rank 0's random state, so the shuffled order is the same too); each rank
trains on its own contiguous slice of each batch, gradients are averaged across ranks before each optimizer
step, rank 0's weights are copied to every rank before the first step, loss and metrics are aggregated over
all ranks, and only rank 0 prints progress and writes checkpoints, CSV logs and figures. A batch that does not
split evenly gives the last ranks one sample fewer, which weighs their gradients slightly differently from one
process; use a global batch size divisible by the world size.
"""
from __future__ import annotations

import numpy as np

_state: dict = {"distribution": None}


class DataParallel:
    """Replicate the model on every rank and split each batch across ranks (Keras 3's ``DataParallel``).

    Args:
        devices: None, or the list ``list_devices()`` returns (one device per rank, started by ``mpiexec``).
        auto_shard_dataset: accepted for Keras's signature; batches are always split by rows.

    Creating it joins the MPI process group (``ember.distributed.init_process_group("mpi")``) if needed.
    """

    def __init__(self, devices=None, device_mesh=None, auto_shard_dataset: bool = True) -> None:
        from .. import distributed

        if not distributed.is_initialized():
            distributed.init_process_group("mpi")
        self.rank = distributed.get_rank()
        self.world_size = distributed.get_world_size()
        if devices is not None and len(devices) != self.world_size:
            raise ValueError(f"DataParallel: one device per rank: received {len(devices)} devices for "
                             f"{self.world_size} ranks (launch with mpiexec -n {len(devices)}, or pass "
                             "keras.distribution.list_devices())")
        self._synchronised: set = set()

    @property
    def writes_output(self) -> bool:
        """Whether this rank prints progress and writes files (rank 0 only)."""
        return self.rank == 0

    def shard(self, value):
        """This rank's contiguous slice of a batch's rows: arrays or Tensors, or a list, tuple or dict of them
        (a model's several inputs); None stays None."""
        if value is None or self.world_size == 1:
            return value
        if isinstance(value, dict):
            return {key: self.shard(item) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return type(value)(self.shard(item) for item in value)
        rows = len(value)
        start, stop = rows * self.rank // self.world_size, rows * (self.rank + 1) // self.world_size
        return value[start:stop]

    def synchronise_random_state(self) -> None:
        """Give every rank rank 0's random generator state, so that ``fit`` shuffles the same way everywhere
        (every rank must see the same global batches to take its own slice of them)."""
        if self.world_size == 1:
            return
        from ..backend import random as ember_random
        from ..distributed import broadcast_object_list

        state = [ember_random.get_rng_state()]
        broadcast_object_list(state, src=0)
        ember_random.set_rng_state(state[0])

    def synchronise_weights(self, model) -> None:
        """Copy rank 0's parameters and buffers to every rank (once per model, after it is built)."""
        if id(model) in self._synchronised or self.world_size == 1:
            return
        from ..distributed.process_group import _current_backend

        backend = _current_backend()
        tensors = [*model.parameters(), *(buffer for buffer in model.buffers() if buffer is not None)]
        works = [backend.broadcast(tensor.array, 0) for tensor in tensors]
        for work in works:
            work.wait()
        self._synchronised.add(id(model))

    def average_gradients(self, parameters) -> None:
        """Replace each gradient by its mean over the ranks (one all-reduce over a flat buffer per dtype)."""
        if self.world_size == 1:
            return
        from ..distributed.backends import ReduceOp
        from ..distributed.process_group import _current_backend

        with_grad = [param for param in parameters if param.grad is not None]
        by_dtype: dict = {}
        for param in with_grad:
            by_dtype.setdefault(np.dtype(param.grad.array.dtype), []).append(param)
        backend = _current_backend()
        for _, params in sorted(by_dtype.items(), key=lambda item: item[0].name):
            flat = np.concatenate([np.asarray(param.grad.array).reshape(-1) for param in params])
            backend.all_reduce(flat, ReduceOp.SUM).wait()
            flat /= self.world_size
            offset = 0
            for param in params:
                size = param.grad.array.size
                param.grad.array[...] = flat[offset:offset + size].reshape(param.grad.shape)
                offset += size

    def aggregate(self, totals: list) -> list:
        """Sum ``[total, count, …]`` floats over the ranks (for metric results over the global data)."""
        if self.world_size == 1:
            return totals
        from ..distributed.backends import ReduceOp
        from ..distributed.process_group import _current_backend

        summed = np.asarray(totals, dtype=np.float64)
        _current_backend().all_reduce(summed, ReduceOp.SUM).wait()
        return summed.tolist()


def initialize(job_addresses=None, num_processes=None, process_id=None) -> None:
    """Join the process group started by ``mpiexec`` (Keras's multi-process entry point; MPI supplies the
    addresses, the count and this process's id, so the arguments, when given, must agree with it)."""
    from .. import distributed

    if not distributed.is_initialized():
        distributed.init_process_group("mpi", world_size=-1 if num_processes is None else num_processes,
                                       rank=-1 if process_id is None else process_id)


def list_devices(device_type: str | None = None) -> list:
    """One device name per rank, ``"cpu:0"`` … ``"cpu:N-1"`` (``"gpu:…"`` for ``device_type="gpu"``)."""
    from .. import distributed

    initialize()
    kind = "gpu" if device_type in ("gpu", "cuda") else "cpu"
    return [f"{kind}:{rank}" for rank in range(distributed.get_world_size())]


def set_distribution(value: DataParallel | None) -> None:
    """Make ``value`` the distribution ``fit``/``evaluate`` use (None: one process)."""
    if value is not None and not isinstance(value, DataParallel):
        raise TypeError(f"set_distribution: expected a keras.distribution.DataParallel or None, received "
                        f"{type(value).__name__}")
    _state["distribution"] = value


def distribution() -> DataParallel | None:
    """The distribution set by ``set_distribution`` (None when training runs in one process)."""
    return _state["distribution"]


__all__ = ["DataParallel", "set_distribution", "distribution", "initialize", "list_devices"]
