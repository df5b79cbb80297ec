"""mpi4py, imported on first use only: ``import ember`` never loads MPI."""
from __future__ import annotations

INSTALL_HINT = 'pip install "ember[distributed]"  (brings mpi4py and the mpich runtime, whose mpiexec launches ranks)'

_mpi = None


def import_mpi():
    """Return ``mpi4py.MPI``; raise one clear error with the install line when mpi4py is missing."""
    global _mpi
    if _mpi is None:
        try:
            from mpi4py import MPI
        except ImportError as exc:
            raise RuntimeError(f"ember.distributed needs mpi4py and an MPI runtime: {INSTALL_HINT}") from exc
        _mpi = MPI
    return _mpi
