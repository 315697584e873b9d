"""The "world": how many training processes there are, and which one this is.

``mpirun -n 4 minitransformer train ...`` starts four copies of the same
program.  MPI numbers them 0..3 (the *rank*; 4 is the *size*) and lets them
exchange arrays with *collectives*, operations every rank calls together:

    Allreduce   every rank ends with the elementwise sum of all ranks' arrays
    Bcast       every rank ends with the root's array
    Barrier     nobody leaves until everybody has arrived

A world object wraps those for the trainer.  ``SingleProcessWorld`` is the
world of one process, where every collective does nothing; ``MPIWorld``
wraps an mpi4py communicator and guards each collective with a
:class:`~minitransformer.distributed.watchdog.Watchdog`.

``init_world`` decides which to use.  A launcher announces itself through
environment variables (``OMPI_COMM_WORLD_SIZE`` from Open MPI, ``PMI_SIZE``
from MPICH/Hydra and Slurm's PMI2, ``PMIX_RANK`` from PMIx launchers such as
``srun --mpi=pmix``), so we import mpi4py -- which initialises MPI -- only
when launched by one, or when ``--distributed`` asks for MPI explicitly.
"""
from __future__ import annotations

import contextlib
import os
import sys

from ..backend import BackendError
from .watchdog import Watchdog

__all__ = ["DistributedError", "MPIWorld", "SingleProcessWorld", "init_world", "launcher_world_size"]

# launcher variables that hold the number of processes (None: present, size unknown)
_SIZE_VARS = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "MV2_COMM_WORLD_SIZE")
_PRESENCE_VARS = ("PMIX_RANK",)


class DistributedError(BackendError):
    """Data-parallel training was asked for (or launched) but cannot run here."""


def launcher_world_size(environ=None) -> tuple:
    """``(size, variable)`` announced by an MPI launcher, or ``(None, None)`` when there is none.

    ``size`` is None when the launcher is known to be there but does not say
    how many processes it started (PMIx).
    """
    environ = os.environ if environ is None else environ
    for var in _SIZE_VARS:
        value = environ.get(var)
        if value:
            try:
                return int(value), var
            except ValueError:
                raise DistributedError(f"{var}={value!r} is not a number of processes") from None
    for var in _PRESENCE_VARS:
        if var in environ:
            return None, var
    return None, None


class SingleProcessWorld:
    """One process: rank 0 of 1; collectives return their input unchanged."""

    rank, size, local_rank, local_size = 0, 1, 0, 1
    kind = "single process"

    @property
    def is_root(self) -> bool:
        return True

    def guard(self, what: str):
        return contextlib.nullcontext()

    def allreduce_(self, array, what: str = "Allreduce"):
        return array

    def broadcast_(self, array, root: int = 0, what: str = "Bcast"):
        return array

    def bcast_object(self, obj, root: int = 0, what: str = "bcast"):
        return obj

    def allgather_object(self, obj, what: str = "allgather"):
        return [obj]

    def barrier(self, what: str = "Barrier") -> None:
        return None

    def abort(self, code: int = 1):  # pragma: no cover  (nothing to tear down but ourselves)
        os._exit(code)


class MPIWorld:
    """The ranks of an MPI communicator (default ``MPI.COMM_WORLD``).

    Every collective runs under the watchdog: if it has not returned after
    ``timeout`` seconds, the job is aborted with a message naming it.
    ``mpi`` is the ``mpi4py.MPI`` module (tests pass a fake one).
    """

    kind = "MPI"

    def __init__(self, comm=None, *, timeout: float | None = 300.0, mpi=None):
        if mpi is None:
            from mpi4py import MPI as mpi  # noqa: PLC0415, N811  (initialises MPI)
        self._mpi = mpi
        self.comm = mpi.COMM_WORLD if comm is None else comm
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()
        self.watchdog = Watchdog(timeout, self.abort, rank=self.rank)
        # ranks on the same machine (share memory): local_rank picks the GPU
        with self.guard("Split_type (local ranks)"):
            local = self.comm.Split_type(mpi.COMM_TYPE_SHARED, key=self.rank)
        self.local_rank, self.local_size = local.Get_rank(), local.Get_size()
        local.Free()

    @property
    def is_root(self) -> bool:
        return self.rank == 0

    def guard(self, what: str):
        """Context manager: abort the job if the block takes longer than the timeout."""
        return self.watchdog.guard(what)

    def allreduce_(self, array, what: str = "Allreduce"):
        """Sum ``array`` (contiguous) over all ranks, in place; return it."""
        with self.guard(what):
            self.comm.Allreduce(self._mpi.IN_PLACE, array, op=self._mpi.SUM)
        return array

    def broadcast_(self, array, root: int = 0, what: str = "Bcast"):
        """Overwrite ``array`` with rank ``root``'s, in place; return it."""
        with self.guard(what):
            self.comm.Bcast(array, root=root)
        return array

    def bcast_object(self, obj, root: int = 0, what: str = "bcast"):
        """Rank ``root``'s Python object (pickled), on every rank."""
        with self.guard(what):
            return self.comm.bcast(obj, root=root)

    def allgather_object(self, obj, what: str = "allgather"):
        """Every rank's Python object, in rank order, on every rank."""
        with self.guard(what):
            return self.comm.allgather(obj)

    def barrier(self, what: str = "Barrier") -> None:
        with self.guard(what):
            self.comm.Barrier()

    def abort(self, code: int = 1):
        """Ask the launcher to kill every rank of the job (``MPI_Abort``)."""
        sys.stderr.flush()
        sys.stdout.flush()
        self.comm.Abort(code)


def abort_on_uncaught_exception(world) -> None:
    """Make an uncaught exception on any rank tear down the whole job.

    Otherwise the other ranks would wait in their next collective for a rank
    that has gone (until the watchdog fires).
    """
    previous = sys.excepthook

    def hook(exc_type, exc, tb):
        previous(exc_type, exc, tb)
        print(f"rank {world.rank}: uncaught {exc_type.__name__}; aborting all {world.size} ranks",
              file=sys.stderr, flush=True)
        world.abort(1)

    sys.excepthook = hook


def init_world(required: bool = False, timeout: float | None = 300.0, environ=None):
    """The world this process runs in.

    Without an MPI launcher (and ``required`` False) this is a
    ``SingleProcessWorld`` and mpi4py is never imported; under ``mpirun -n 1``
    too.  Launched as one of several processes, or with ``required``, mpi4py
    must be importable: running N copies that each trained alone on the same
    run directory would be worse than stopping.
    """
    size, var = launcher_world_size(environ)
    launched = var is not None and (size is None or size > 1)
    if not (required or launched):
        return SingleProcessWorld()
    try:
        from mpi4py import MPI  # noqa: PLC0415, F401
    except ImportError as exc:
        why = (f"this process was started by an MPI launcher ({var}={size})" if launched
               else "--distributed was given")
        raise DistributedError(
            f"{why}, but mpi4py cannot be imported ({exc}). Install it with "
            "pip install 'minitransformer[mpi]' (mpi4py and an Open MPI build), or run without "
            "mpirun/--distributed to train in one process"
        ) from None
    world = MPIWorld(timeout=timeout)
    if world.size > 1:
        abort_on_uncaught_exception(world)
    return world
