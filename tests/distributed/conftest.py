"""The distributed tests run in one process (world size 1) in the default suite, and under
``mpiexec -n 2 python -m pytest tests/distributed`` (``.ci/run``), where every rank runs the same tests in the
same order. They skip, with the install line, when mpi4py is absent."""
import os
import tempfile

import pytest

pytest.importorskip("mpi4py", reason='needs mpi4py and an MPI runtime: pip install "ember[distributed]"')

import ember.distributed as dist


@pytest.fixture(scope="session")
def world():
    """(rank, world size) of the default process group, created once for the session."""
    if not dist.is_initialized():
        # pytest reports a failing test itself; an uncaught-exception abort would hide it
        dist.init_process_group("mpi", abort_on_exception=False)
    return dist.get_rank(), dist.get_world_size()


def pytest_configure(config):
    """Under mpiexec, each rank's pytest gets its own temporary root: two pytest processes sharing one would
    race to number and clean its folders."""
    if "PMI_RANK" in os.environ and config.option.basetemp is None:
        folder = f"ember-rank{os.environ['PMI_RANK']}-{os.getpid()}"
        config.option.basetemp = os.path.join(tempfile.gettempdir(), folder)
