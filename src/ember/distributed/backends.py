"""The two transports under ``ember.distributed``: MPI on host arrays, NCCL (through CuPy) on GPU arrays.

Each backend works on contiguous arrays in place and returns a ``Work`` handle; the process group above it
turns Tensors into arrays, checks shapes across ranks, and divides for ``ReduceOp.AVG``.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ._mpi import import_mpi


class ReduceOp:
    """Reductions, as ``torch.distributed.ReduceOp`` names them."""

    SUM = "sum"
    AVG = "avg"
    PRODUCT = "product"
    MAX = "max"
    MIN = "min"


REDUCE_OPS = (ReduceOp.SUM, ReduceOp.AVG, ReduceOp.PRODUCT, ReduceOp.MAX, ReduceOp.MIN)


class Work:
    """The handle of a collective started with ``async_op=True``: ``wait()`` blocks until it is done (then
    runs its finishing step, e.g. the division of ``AVG``), ``is_completed()`` polls without blocking."""

    def __init__(self, requests: list, finish: Callable[[], None] | None = None, test=None, wait=None) -> None:
        self._requests = requests
        self._finish = finish
        self._test = test
        self._wait = wait
        self._done = False

    def _complete(self) -> None:
        if not self._done:
            self._done = True
            if self._finish is not None:
                self._finish()

    def wait(self, timeout=None) -> bool:
        """Block until the collective has finished and its result is in place; returns True."""
        if not self._done:
            if self._wait is not None:
                self._wait(self._requests)
            self._complete()
        return True

    def is_completed(self) -> bool:
        """Whether the collective has finished (its result is then in place)."""
        if not self._done and (self._test is None or self._test(self._requests)):
            self._complete()
        return self._done


class MPIBackend:
    """Collectives through mpi4py's non-blocking calls on NumPy arrays (CuPy arrays are staged through the
    host)."""

    name = "mpi"

    def __init__(self, comm) -> None:
        self.MPI = import_mpi()
        self.comm = comm
        self.rank = comm.Get_rank()
        self.size = comm.Get_size()
        self._ops = {ReduceOp.SUM: self.MPI.SUM, ReduceOp.AVG: self.MPI.SUM, ReduceOp.PRODUCT: self.MPI.PROD,
                     ReduceOp.MAX: self.MPI.MAX, ReduceOp.MIN: self.MPI.MIN}

    def _work(self, requests: list, finish=None) -> Work:
        return Work(requests, finish, test=self.MPI.Request.Testall, wait=self.MPI.Request.Waitall)

    @staticmethod
    def _on_host(array, finish):
        """A GPU (CuPy) array goes through a host copy, copied back before ``finish`` runs."""
        if array is None or isinstance(array, np.ndarray):
            return array, finish
        host = array.get()

        def copy_back() -> None:
            array.set(host)
            if finish is not None:
                finish()

        return host, copy_back

    def all_reduce(self, array, op: str, finish=None) -> Work:
        array, finish = self._on_host(array, finish)
        request = self.comm.Iallreduce(self.MPI.IN_PLACE, array, op=self._ops[op])
        return self._work([request], finish)

    def broadcast(self, array, src: int, finish=None) -> Work:
        array, finish = self._on_host(array, finish)
        return self._work([self.comm.Ibcast(array, root=src)], finish)

    def all_gather(self, send, receive, finish=None) -> Work:
        send, _ = self._on_host(send, None)
        receive, finish = self._on_host(receive, finish)
        return self._work([self.comm.Iallgather(send, receive)], finish)

    def reduce_scatter(self, send, receive, op: str, finish=None) -> Work:
        send, _ = self._on_host(send, None)
        receive, finish = self._on_host(receive, finish)
        return self._work([self.comm.Ireduce_scatter_block(send, receive, op=self._ops[op])], finish)

    def gather(self, send, receive, dst: int, finish=None) -> Work:
        send, _ = self._on_host(send, None)
        receive, finish = self._on_host(receive, finish)
        return self._work([self.comm.Igather(send, receive, root=dst)], finish)

    def scatter(self, send, receive, src: int, finish=None) -> Work:
        send, _ = self._on_host(send, None)
        receive, finish = self._on_host(receive, finish)
        return self._work([self.comm.Iscatter(send, receive, root=src)], finish)

    def barrier(self) -> Work:
        return self._work([self.comm.Ibarrier()])


class NCCLBackend:
    """Collectives through NCCL (``cupy.cuda.nccl``) on CuPy arrays, one GPU per rank; the NCCL unique id is
    made by rank 0 and broadcast over MPI, which also carries the shape checks.

    Operations are queued on the current CUDA stream; ``Work.wait()`` makes the current stream wait for them
    (an event), as NCCL work handles do in PyTorch.
    """

    name = "nccl"

    def __init__(self, comm, nccl=None, cupy=None) -> None:
        if cupy is None:
            from ..backend.device import import_cupy

            cupy = import_cupy()
        if nccl is None:
            try:
                from cupy.cuda import nccl
            except ImportError as exc:
                raise RuntimeError(
                    "backend='nccl' needs CuPy built with NCCL (cupy.cuda.nccl); install the NCCL library, "
                    "e.g. pip install nvidia-nccl-cu12, or use backend='mpi'"
                ) from exc
        self.cupy = cupy
        self.nccl = nccl
        self.mpi_comm = comm
        self.rank = comm.Get_rank()
        self.size = comm.Get_size()
        unique_id = nccl.get_unique_id() if self.rank == 0 else None
        unique_id = comm.bcast(unique_id, root=0)
        self.comm = nccl.NcclCommunicator(self.size, unique_id, self.rank)
        self._ops = {ReduceOp.SUM: nccl.NCCL_SUM, ReduceOp.AVG: nccl.NCCL_SUM, ReduceOp.PRODUCT: nccl.NCCL_PROD,
                     ReduceOp.MAX: nccl.NCCL_MAX, ReduceOp.MIN: nccl.NCCL_MIN}

    def nccl_dtype(self, dtype) -> int:
        """The NCCL type code of a NumPy dtype; a clear error for types NCCL does not carry."""
        nccl = self.nccl
        codes = {"float16": nccl.NCCL_FLOAT16, "float32": nccl.NCCL_FLOAT32, "float64": nccl.NCCL_FLOAT64,
                 "int8": nccl.NCCL_INT8, "uint8": nccl.NCCL_UINT8, "int32": nccl.NCCL_INT32,
                 "uint32": nccl.NCCL_UINT32, "int64": nccl.NCCL_INT64, "uint64": nccl.NCCL_UINT64}
        name = np.dtype(dtype).name
        if name not in codes:
            raise TypeError(f"ember.distributed (nccl): dtype {name} is not supported; use one of {sorted(codes)}")
        return codes[name]

    def _work(self, finish=None) -> Work:
        stream = self.cupy.cuda.get_current_stream()
        event = self.cupy.cuda.Event(disable_timing=True)
        event.record(stream)

        def wait(requests) -> None:
            self.cupy.cuda.get_current_stream().wait_event(event)

        return Work([event], finish, test=lambda requests: event.done, wait=wait)

    def _stream(self) -> int:
        return self.cupy.cuda.get_current_stream().ptr

    def all_reduce(self, array, op: str, finish=None) -> Work:
        self.comm.allReduce(array.data.ptr, array.data.ptr, array.size, self.nccl_dtype(array.dtype), self._ops[op],
                            self._stream())
        return self._work(finish)

    def broadcast(self, array, src: int, finish=None) -> Work:
        self.comm.bcast(array.data.ptr, array.size, self.nccl_dtype(array.dtype), src, self._stream())
        return self._work(finish)

    def all_gather(self, send, receive, finish=None) -> Work:
        self.comm.allGather(send.data.ptr, receive.data.ptr, send.size, self.nccl_dtype(send.dtype), self._stream())
        return self._work(finish)

    def reduce_scatter(self, send, receive, op: str, finish=None) -> Work:
        self.comm.reduceScatter(send.data.ptr, receive.data.ptr, receive.size, self.nccl_dtype(send.dtype),
                                self._ops[op], self._stream())
        return self._work(finish)

    def gather(self, send, receive, dst: int, finish=None) -> Work:
        # NCCL has no gather: point-to-point sends to dst inside one group call
        nccl, stream, code = self.nccl, self._stream(), self.nccl_dtype(send.dtype)
        nccl.groupStart()
        if self.rank == dst:
            for source in range(self.size):
                self.comm.recv(receive[source].data.ptr, send.size, code, source, stream)
        self.comm.send(send.data.ptr, send.size, code, dst, stream)
        nccl.groupEnd()
        return self._work(finish)

    def scatter(self, send, receive, src: int, finish=None) -> Work:
        nccl, stream, code = self.nccl, self._stream(), self.nccl_dtype(receive.dtype)
        nccl.groupStart()
        if self.rank == src:
            for target in range(self.size):
                self.comm.send(send[target].data.ptr, receive.size, code, target, stream)
        self.comm.recv(receive.data.ptr, receive.size, code, src, stream)
        nccl.groupEnd()
        return self._work(finish)

    def barrier(self) -> Work:
        self.cupy.cuda.get_current_stream().synchronize()
        self.mpi_comm.Barrier()
        return Work([])
