"""Collectives on Tensors: results on every rank, async handles, in-place semantics and shape errors."""
import numpy as np
import pytest

import ember
import ember.distributed as dist


def rank_values(rank, shape=(2, 3)):
    return (np.arange(np.prod(shape), dtype=np.float32).reshape(shape) + 1) * (rank + 1)


@pytest.mark.parametrize("op, reduce", [
    (dist.ReduceOp.SUM, lambda values: sum(values)),
    (dist.ReduceOp.AVG, lambda values: sum(values) / len(values)),
    (dist.ReduceOp.MAX, lambda values: np.maximum.reduce(values)),
    (dist.ReduceOp.MIN, lambda values: np.minimum.reduce(values)),
])
@pytest.mark.parametrize("async_op", [False, True])
def test_all_reduce(world, op, reduce, async_op):
    rank, size = world
    tensor = ember.tensor(rank_values(rank))
    work = dist.all_reduce(tensor, op=op, async_op=async_op)
    if async_op:
        assert isinstance(work, dist.Work)
        assert work.wait()
        assert work.is_completed()
    else:
        assert work is None
    expected = reduce([rank_values(r) for r in range(size)])
    np.testing.assert_allclose(tensor.numpy(), expected, rtol=1e-6)
    assert tensor.dtype == np.float32


def test_all_reduce_of_a_non_contiguous_tensor_writes_back_in_place(world):
    rank, size = world
    base = ember.tensor(rank_values(rank, (3, 4)))
    view = ember.Tensor(base.array.T)
    dist.all_reduce(view)
    np.testing.assert_allclose(base.numpy(), sum(rank_values(r, (3, 4)) for r in range(size)))


def test_broadcast_all_gather_gather_scatter(world):
    rank, size = world
    tensor = ember.tensor(rank_values(rank))
    dist.broadcast(tensor, src=size - 1)
    np.testing.assert_array_equal(tensor.numpy(), rank_values(size - 1))

    gathered = [ember.zeros(2, 3) for _ in range(size)]
    dist.all_gather(gathered, ember.tensor(rank_values(rank)))
    for r in range(size):
        np.testing.assert_array_equal(gathered[r].numpy(), rank_values(r))

    gather_list = [ember.zeros(2, 3) for _ in range(size)] if rank == 0 else None
    dist.gather(ember.tensor(rank_values(rank)), gather_list, dst=0)
    if rank == 0:
        for r in range(size):
            np.testing.assert_array_equal(gather_list[r].numpy(), rank_values(r))

    received = ember.zeros(2, 3)
    scatter_list = [ember.tensor(rank_values(r) * 10) for r in range(size)] if rank == 0 else None
    dist.scatter(received, scatter_list, src=0)
    np.testing.assert_array_equal(received.numpy(), rank_values(rank) * 10)


def test_reduce_scatter(world):
    rank, size = world
    output = ember.zeros(4)
    inputs = [ember.full((4,), float(10 * rank + target)) for target in range(size)]
    work = dist.reduce_scatter(output, inputs, op=dist.ReduceOp.SUM, async_op=True)
    work.wait()
    np.testing.assert_allclose(output.numpy(), np.full(4, sum(10 * r + rank for r in range(size))))


def test_barrier_rank_and_size(world):
    rank, size = world
    dist.barrier()
    assert dist.get_rank() == rank and dist.get_world_size() == size and dist.is_initialized()
    assert dist.get_backend() == "mpi"


def test_collective_on_different_shapes_names_them(world):
    rank, size = world
    if size == 1:
        pytest.skip("needs two ranks (run under mpiexec -n 2)")
    tensor = ember.zeros(2 + rank, 3)
    with pytest.raises(ValueError, match=r"all_reduce: .*rank 0: \(2, 3\) float32, rank 1: \(3, 3\) float32"):
        dist.all_reduce(tensor)


def test_bad_arguments_raise_clear_errors(world):
    _rank, size = world
    with pytest.raises(ValueError, match="all_reduce: op must be one of"):
        dist.all_reduce(ember.zeros(2), op="median")
    with pytest.raises(ValueError, match="all_gather: tensor_list must be a list of one tensor per rank"):
        dist.all_gather([ember.zeros(2)] * (size + 1), ember.zeros(2))
    with pytest.raises(TypeError, match=r"broadcast: tensor must be an ember\.Tensor"):
        dist.broadcast(np.zeros(2), src=0)
    with pytest.raises(ValueError, match="broadcast: src=5 is not a rank"):
        dist.broadcast(ember.zeros(2), src=5)
    with pytest.raises(RuntimeError, match="already initialized"):
        dist.init_process_group("mpi")


class FakeGpuArray:
    """What the MPI backend uses of a CuPy array: ``get()`` to the host, ``set()`` back."""

    def __init__(self, values):
        self.values = np.array(values, dtype=np.float32)

    def get(self):
        return self.values.copy()

    def set(self, host):
        self.values[...] = host


def test_mpi_backend_stages_gpu_arrays_through_the_host(world):
    from ember.distributed.process_group import _current_backend

    rank, size = world
    array = FakeGpuArray([rank + 1.0, 2.0])
    _current_backend().all_reduce(array, dist.ReduceOp.SUM).wait()
    np.testing.assert_allclose(array.values, [sum(r + 1.0 for r in range(size)), 2.0 * size])
