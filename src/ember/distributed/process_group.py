"""The process group and the collectives on Tensors, in ``torch.distributed``'s names.

Rank and world size come from MPI (``mpiexec -n 4 python train.py``, or ``ember run -n 4 train.py``). One
group exists, the world; every collective is called by every rank in the same order.
"""
from __future__ import annotations

import sys
import traceback

import numpy as np

from ..autograd.tensor import Tensor
from .backends import REDUCE_OPS, MPIBackend, NCCLBackend, ReduceOp, Work
from ._mpi import import_mpi

_state: dict = {"backend": None, "previous_excepthook": None}


def is_available() -> bool:
    """Whether mpi4py (and so an MPI runtime) can be imported."""
    try:
        import_mpi()
    except RuntimeError:
        return False
    return True


def is_initialized() -> bool:
    """Whether ``init_process_group`` has run (and ``destroy_process_group`` has not)."""
    return _state["backend"] is not None


def init_process_group(backend: str = "mpi", init_method=None, timeout=None, world_size: int = -1, rank: int = -1,
                       store=None, group_name: str = "", abort_on_exception: bool = True) -> None:
    """Join the world of ranks started by ``mpiexec``.

    Args:
        backend: ``"mpi"`` (host arrays, any device staged through the host) or ``"nccl"`` (one GPU per rank,
            CuPy with NCCL; each rank uses GPU ``local_rank % device_count``).
        init_method, timeout, store, group_name: accepted for PyTorch's signature; MPI needs none of them.
        world_size, rank: optional; when given they must agree with what MPI says (-1: take MPI's).
        abort_on_exception: an uncaught exception on any rank prints that rank's traceback and aborts every
            rank (``MPI_Abort``), so that no rank waits forever in a collective (default True).
    """
    if is_initialized():
        raise RuntimeError("init_process_group: the default process group is already initialized")
    if backend not in ("mpi", "nccl"):
        raise ValueError(f"init_process_group: backend must be 'mpi' or 'nccl', received {backend!r}")
    MPI = import_mpi()
    comm = MPI.COMM_WORLD
    if world_size not in (-1, comm.Get_size()):
        raise ValueError(f"init_process_group: world_size={world_size} but MPI started {comm.Get_size()} ranks")
    if rank not in (-1, comm.Get_rank()):
        raise ValueError(f"init_process_group: rank={rank} but MPI says this process is rank {comm.Get_rank()}")
    if backend == "nccl":
        from ..backend.device import import_cupy

        cupy = import_cupy()
        local_rank = comm.Split_type(MPI.COMM_TYPE_SHARED).Get_rank()
        cupy.cuda.Device(local_rank % cupy.cuda.runtime.getDeviceCount()).use()
        _state["backend"] = NCCLBackend(comm)
    else:
        _state["backend"] = MPIBackend(comm)
    if abort_on_exception:
        _state["previous_excepthook"] = sys.excepthook
        sys.excepthook = _abort_all_ranks


def destroy_process_group(group=None) -> None:
    """Leave the process group (the MPI runtime itself finalizes at exit)."""
    _state["backend"] = None
    if _state["previous_excepthook"] is not None:
        sys.excepthook = _state["previous_excepthook"]
        _state["previous_excepthook"] = None


def _abort_all_ranks(kind, value, trace) -> None:
    """``sys.excepthook`` while a group is up: print this rank's traceback once, then abort every rank."""
    backend = _state["backend"]
    rank = "?" if backend is None else backend.rank
    message = "".join(traceback.format_exception(kind, value, trace))
    sys.stderr.write(f"ember.distributed: rank {rank} raised; aborting all ranks\n{message}")
    sys.stderr.flush()
    import_mpi().COMM_WORLD.Abort(1)


def _backend(where: str):
    backend = _state["backend"]
    if backend is None:
        raise RuntimeError(f"{where}: the default process group is not initialized; call "
                           "ember.distributed.init_process_group() first (and launch with mpiexec or ember run)")
    return backend


def get_backend(group=None) -> str:
    """``"mpi"`` or ``"nccl"``."""
    return _backend("get_backend").name


def get_rank(group=None) -> int:
    """This process's rank, 0 to world size - 1."""
    return _backend("get_rank").rank


def get_world_size(group=None) -> int:
    """The number of ranks."""
    return _backend("get_world_size").size


def barrier(group=None, async_op: bool = False):
    """Wait until every rank has reached this call."""
    return _finish(_backend("barrier").barrier(), async_op)


def _finish(work: Work, async_op: bool):
    if async_op:
        return work
    work.wait()
    return None


def _array(where: str, tensor, name: str = "tensor"):
    if not isinstance(tensor, Tensor):
        raise TypeError(f"{where}: {name} must be an ember.Tensor, received {type(tensor).__name__}")
    return tensor.array


def _check_same_across_ranks(where: str, backend, description: tuple) -> None:
    """Compare (shape, dtype) descriptions across ranks; on any difference every rank raises the same error."""
    comm = getattr(backend, "mpi_comm", None) or backend.comm
    described = comm.allgather(description)
    if any(other != described[0] for other in described):
        listed = ", ".join(f"rank {rank}: {shape} {dtype}" for rank, (shape, dtype) in enumerate(described))
        raise ValueError(f"{where}: tensors must have the same shape and dtype on every rank; received {listed}")


def _describe(array) -> tuple:
    return (tuple(array.shape), np.dtype(array.dtype).name)


def _contiguous(array):
    """(array to hand the transport, function that copies the result back into ``array``)."""
    if array.flags.c_contiguous:
        return array, None
    staged = array.copy(order="C")

    def copy_back() -> None:
        array[...] = staged

    return staged, copy_back


def _chain(*steps):
    def run() -> None:
        for step in steps:
            if step is not None:
                step()

    return run


def all_reduce(tensor: Tensor, op: str = ReduceOp.SUM, group=None, async_op: bool = False):
    """Reduce ``tensor`` across ranks in place: every rank ends with the sum (or ``AVG``/``MAX``/``MIN``/
    ``PRODUCT``). Returns a ``Work`` handle when ``async_op=True`` (the result is in place after ``wait()``)."""
    backend = _backend("all_reduce")
    if op not in REDUCE_OPS:
        raise ValueError(f"all_reduce: op must be one of {REDUCE_OPS}, received {op!r}")
    array = _array("all_reduce", tensor)
    _check_same_across_ranks("all_reduce", backend, _describe(array))
    staged, copy_back = _contiguous(array)
    divide = None
    if op == ReduceOp.AVG:
        if not np.issubdtype(np.dtype(array.dtype), np.floating):
            raise TypeError(f"all_reduce: ReduceOp.AVG needs a floating tensor, received {array.dtype}")

        def divide() -> None:
            staged[...] /= backend.size

    return _finish(backend.all_reduce(staged, op, _chain(divide, copy_back)), async_op)


def broadcast(tensor: Tensor, src: int = 0, group=None, async_op: bool = False):
    """Copy rank ``src``'s ``tensor`` into every rank's ``tensor`` (in place)."""
    backend = _backend("broadcast")
    _check_rank("broadcast", "src", src, backend.size)
    array = _array("broadcast", tensor)
    _check_same_across_ranks("broadcast", backend, _describe(array))
    staged, copy_back = _contiguous(array)
    return _finish(backend.broadcast(staged, src, copy_back), async_op)


def _check_rank(where: str, name: str, value: int, size: int) -> None:
    if not 0 <= value < size:
        raise ValueError(f"{where}: {name}={value} is not a rank of a world of {size}")


def _check_list(where: str, name: str, tensors, size: int, like) -> None:
    if not isinstance(tensors, (list, tuple)) or len(tensors) != size:
        count = len(tensors) if isinstance(tensors, (list, tuple)) else type(tensors).__name__
        raise ValueError(f"{where}: {name} must be a list of one tensor per rank ({size}), received {count}")
    for index, tensor in enumerate(tensors):
        array = _array(where, tensor, f"{name}[{index}]")
        if _describe(array) != _describe(like):
            raise ValueError(f"{where}: {name}[{index}] has shape {tuple(array.shape)} {array.dtype}, expected "
                             f"{tuple(like.shape)} {like.dtype} like the tensor")


def _stacked_like(array, count: int):
    xp = np if isinstance(array, np.ndarray) else __import__("cupy")
    return xp.empty((count,) + tuple(array.shape), dtype=array.dtype)


def all_gather(tensor_list: list, tensor: Tensor, group=None, async_op: bool = False):
    """Fill ``tensor_list[r]`` with rank r's ``tensor``, on every rank."""
    backend = _backend("all_gather")
    array = _array("all_gather", tensor)
    _check_list("all_gather", "tensor_list", tensor_list, backend.size, array)
    _check_same_across_ranks("all_gather", backend, _describe(array))
    receive = _stacked_like(array, backend.size)

    def unpack() -> None:
        for index, target in enumerate(tensor_list):
            target.array[...] = receive[index]

    send = array if array.flags.c_contiguous else array.copy(order="C")
    return _finish(backend.all_gather(send, receive, unpack), async_op)


def reduce_scatter(output: Tensor, input_list: list, op: str = ReduceOp.SUM, group=None, async_op: bool = False):
    """Reduce ``input_list[r]`` across ranks into rank r's ``output``."""
    backend = _backend("reduce_scatter")
    if op not in REDUCE_OPS:
        raise ValueError(f"reduce_scatter: op must be one of {REDUCE_OPS}, received {op!r}")
    array = _array("reduce_scatter", output, "output")
    _check_list("reduce_scatter", "input_list", input_list, backend.size, array)
    _check_same_across_ranks("reduce_scatter", backend, _describe(array))
    xp = np if isinstance(array, np.ndarray) else __import__("cupy")
    send = xp.stack([tensor.array for tensor in input_list])
    staged, copy_back = _contiguous(array)

    def divide() -> None:
        if op == ReduceOp.AVG:
            staged[...] /= backend.size

    return _finish(backend.reduce_scatter(send, staged, op, _chain(divide, copy_back)), async_op)


def gather(tensor: Tensor, gather_list: list | None = None, dst: int = 0, group=None, async_op: bool = False):
    """Collect every rank's ``tensor`` into ``gather_list`` on rank ``dst`` (None elsewhere)."""
    backend = _backend("gather")
    _check_rank("gather", "dst", dst, backend.size)
    array = _array("gather", tensor)
    receive = None
    if backend.rank == dst:
        _check_list("gather", "gather_list", gather_list, backend.size, array)
        receive = _stacked_like(array, backend.size)
    _check_same_across_ranks("gather", backend, _describe(array))

    def unpack() -> None:
        if receive is not None and gather_list is not None:
            for index, target in enumerate(gather_list):
                target.array[...] = receive[index]

    send = array if array.flags.c_contiguous else array.copy(order="C")
    return _finish(backend.gather(send, receive, dst, unpack), async_op)


def scatter(tensor: Tensor, scatter_list: list | None = None, src: int = 0, group=None, async_op: bool = False):
    """Copy ``scatter_list[r]`` of rank ``src`` into rank r's ``tensor``."""
    backend = _backend("scatter")
    _check_rank("scatter", "src", src, backend.size)
    array = _array("scatter", tensor)
    send = None
    if backend.rank == src:
        _check_list("scatter", "scatter_list", scatter_list, backend.size, array)
        xp = np if isinstance(array, np.ndarray) else __import__("cupy")
        send = xp.stack([item.array for item in scatter_list])
    _check_same_across_ranks("scatter", backend, _describe(array))
    staged, copy_back = _contiguous(array)
    return _finish(backend.scatter(send, staged, src, copy_back), async_op)


def all_gather_object(object_list: list, obj, group=None) -> None:
    """Fill ``object_list[r]`` with rank r's picklable ``obj``."""
    backend = _backend("all_gather_object")
    comm = getattr(backend, "mpi_comm", None) or backend.comm
    object_list[:] = comm.allgather(obj)


def broadcast_object_list(object_list: list, src: int = 0, group=None) -> None:
    """Replace ``object_list``'s items by rank ``src``'s (picklable objects)."""
    backend = _backend("broadcast_object_list")
    comm = getattr(backend, "mpi_comm", None) or backend.comm
    object_list[:] = comm.bcast(list(object_list), root=src)


def _current_backend():
    """The backend of the default group (for ``nn.parallel`` and ``SyncBatchNorm``)."""
    return _backend("ember.distributed")
