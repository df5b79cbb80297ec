"""The NCCL backend's calls up to CuPy, without a GPU: a recording stand-in for ``cupy.cuda.nccl`` checks the
unique id travels over MPI and that each collective passes the right pointers, counts, types and ops.
(On a GPU machine the same backend runs on real CuPy; that path is not yet run in CI.)"""
import types

import numpy as np
import pytest

from ember.distributed.backends import NCCLBackend, ReduceOp


class RecordingNccl:
    NCCL_SUM, NCCL_PROD, NCCL_MAX, NCCL_MIN = 0, 1, 2, 3
    NCCL_INT8, NCCL_UINT8, NCCL_INT32, NCCL_UINT32, NCCL_INT64, NCCL_UINT64 = 0, 1, 2, 3, 4, 5
    NCCL_FLOAT16, NCCL_FLOAT32, NCCL_FLOAT64 = 6, 7, 8

    def __init__(self):
        self.calls = []

    def get_unique_id(self):
        return (42, 7)

    def groupStart(self):
        self.calls.append(("groupStart",))

    def groupEnd(self):
        self.calls.append(("groupEnd",))

    def NcclCommunicator(self, size, unique_id, rank):
        calls = self.calls
        calls.append(("NcclCommunicator", size, unique_id, rank))

        class Communicator:
            def __getattr__(self, name):
                return lambda *args: calls.append((name, *args))

        return Communicator()


class Event:
    done = True

    def __init__(self, disable_timing=False):
        pass

    def record(self, stream):
        pass


def fake_cupy():
    stream = types.SimpleNamespace(ptr=99, wait_event=lambda event: None, synchronize=lambda: None)
    cuda = types.SimpleNamespace(get_current_stream=lambda: stream, Event=Event)
    return types.SimpleNamespace(cuda=cuda)


class DeviceArray:
    """What the backend reads from a CuPy array: ``data.ptr``, ``size``, ``dtype``, rows by index."""

    def __init__(self, ptr, size, dtype=np.float32, rows=0):
        self.data = types.SimpleNamespace(ptr=ptr)
        self.size = size
        self.dtype = np.dtype(dtype)
        self._rows = rows

    def __getitem__(self, index):
        return DeviceArray(self.data.ptr + 1000 * (index + 1), self.size // max(self._rows, 1), self.dtype)


@pytest.fixture
def backend(world):
    from mpi4py import MPI

    nccl = RecordingNccl()
    return NCCLBackend(MPI.COMM_WORLD, nccl=nccl, cupy=fake_cupy()), nccl


def test_unique_id_comes_from_rank_0_over_mpi(world, backend):
    rank, size = world
    _, nccl = backend
    assert nccl.calls[0] == ("NcclCommunicator", size, (42, 7), rank)


def test_collectives_pass_pointers_counts_types_and_ops(world, backend):
    _rank, size = world
    nccl_backend, nccl = backend
    array = DeviceArray(ptr=5000, size=12)
    work = nccl_backend.all_reduce(array, ReduceOp.MAX)
    assert nccl.calls[-1] == ("allReduce", 5000, 5000, 12, nccl.NCCL_FLOAT32, nccl.NCCL_MAX, 99)
    assert work.is_completed() and work.wait()
    nccl_backend.broadcast(DeviceArray(6000, 3, np.int64), 0)
    assert nccl.calls[-1] == ("bcast", 6000, 3, nccl.NCCL_INT64, 0, 99)
    nccl_backend.all_gather(DeviceArray(7000, 4), DeviceArray(8000, 4 * size))
    assert nccl.calls[-1] == ("allGather", 7000, 8000, 4, nccl.NCCL_FLOAT32, 99)
    nccl_backend.reduce_scatter(DeviceArray(9000, 4 * size), DeviceArray(9500, 4), ReduceOp.SUM)
    assert nccl.calls[-1] == ("reduceScatter", 9000, 9500, 4, nccl.NCCL_FLOAT32, nccl.NCCL_SUM, 99)


def test_gather_is_point_to_point_inside_one_group(world, backend):
    rank, size = world
    nccl_backend, nccl = backend
    start = len(nccl.calls)
    receive = DeviceArray(20000, 2 * size, rows=size) if rank == 0 else None
    nccl_backend.gather(DeviceArray(10000, 2), receive, 0)
    calls = nccl.calls[start:]
    assert calls[0] == ("groupStart",) and calls[-1] == ("groupEnd",)
    receives = [call for call in calls if call[0] == "recv"]
    assert len(receives) == (size if rank == 0 else 0)
    assert ("send", 10000, 2, nccl.NCCL_FLOAT32, 0, 99) in calls


def test_unsupported_dtype_is_a_clear_error(world, backend):
    nccl_backend, _ = backend
    with pytest.raises(TypeError, match="dtype complex64 is not supported"):
        nccl_backend.all_reduce(DeviceArray(1, 2, np.complex64), ReduceOp.SUM)
