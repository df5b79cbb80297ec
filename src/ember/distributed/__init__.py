"""``ember.distributed``: data-parallel training on MPI (and NCCL on GPUs), in ``torch.distributed``'s names.

    import ember.distributed as dist
    dist.init_process_group(backend="mpi")      # rank and world size from mpiexec
    dist.all_reduce(tensor, op=dist.ReduceOp.AVG)

Launch with ``mpiexec -n 4 python train.py`` or ``ember run -n 4 train.py``. mpi4py is imported only when a
process group is created (``pip install "ember[distributed]"``); the guide is ``docs/distributed.md``.
"""
from .backends import ReduceOp, Work
from .process_group import (
    all_gather, all_gather_object, all_reduce, barrier, broadcast, broadcast_object_list, destroy_process_group,
    gather, get_backend, get_rank, get_world_size, init_process_group, is_available, is_initialized,
    reduce_scatter, scatter,
)

__all__ = [
    "init_process_group", "destroy_process_group", "is_initialized", "is_available", "get_backend", "get_rank",
    "get_world_size", "barrier",
    "all_reduce", "broadcast", "all_gather", "reduce_scatter", "gather", "scatter", "all_gather_object",
    "broadcast_object_list", "ReduceOp", "Work",
]
