"""GPUs: one GPU per rank, gradients all-reduced by NCCL without leaving the GPUs.

NCCL (NVIDIA Collective Communications Library) runs all-reduce as a ring
or tree directly between GPU memories (NVLink, PCIe, InfiniBand with
GPUDirect), avoiding the device -> host -> network -> host -> device
round trip of plain MPI.  CuPy exposes it as ``cupy.cuda.nccl``.

NCCL does not start processes or find its peers by itself: the ranks agree
on a random *unique id* that rank 0 draws (``nccl.get_unique_id()``) and
sends to everyone -- here with an MPI broadcast, the only thing MPI does on
the GPU path apart from the per-update token count.  Each rank then builds
``NcclCommunicator(size, unique_id, rank)`` on its own device.

Device choice: rank ``local_rank`` (its index among the ranks on its
machine) takes GPU ``local_rank % device_count``.  Under Slurm with
``--gpus-per-task=1`` each rank sees one device (CUDA_VISIBLE_DEVICES) and
takes GPU 0 of its own view.
"""
from __future__ import annotations

import socket

__all__ = ["NcclTransport", "gpu_identity", "nccl_available", "select_device"]

_NCCL_DTYPES = {"float16": "NCCL_FLOAT16", "float32": "NCCL_FLOAT32", "float64": "NCCL_FLOAT64"}


def nccl_available() -> bool:
    """True when CuPy is installed with its NCCL bindings."""
    try:
        from cupy.cuda import nccl  # noqa: PLC0415, F401
    except Exception:  # ImportError, or CuPy present without a usable CUDA/NCCL
        return False
    return True


def select_device(local_rank: int, cupy) -> int:
    """Make GPU ``local_rank % device_count`` current (before any allocation); return its id."""
    count = cupy.cuda.runtime.getDeviceCount()
    if count < 1:
        raise ValueError("select_device: no CUDA device is visible to this rank")
    device = local_rank % count
    cupy.cuda.Device(device).use()
    return device


def gpu_identity(device: int, cupy) -> tuple:
    """``(host name, PCI bus id)`` of a device: equal for two ranks exactly when they share a GPU.

    Device numbers cannot tell: under ``CUDA_VISIBLE_DEVICES`` (Slurm's
    ``--gpus-per-task``) every rank's GPU is its device 0.
    """
    return socket.gethostname(), str(cupy.cuda.Device(device).pci_bus_id)


class NcclTransport:
    """In-place sum of a CuPy array over all ranks with NCCL, on the current stream."""

    name = "NCCL"

    def __init__(self, world, nccl=None, cupy=None):
        if nccl is None:
            from cupy.cuda import nccl  # noqa: PLC0415
        if cupy is None:
            import cupy  # noqa: PLC0415
        self.world, self._nccl, self._cupy = world, nccl, cupy
        uid = nccl.get_unique_id() if world.is_root else None
        uid = world.bcast_object(uid, root=0, what="NCCL unique id Bcast")
        # ncclCommInitRank blocks until every rank has called it
        with world.guard("NCCL communicator init"):
            self.comm = nccl.NcclCommunicator(world.size, uid, world.rank)

    def allreduce_(self, array, what: str = "NCCL allReduce"):
        name = _NCCL_DTYPES.get(str(array.dtype))
        if name is None:
            raise TypeError(f"NcclTransport: cannot all-reduce dtype {array.dtype}; use float16/32/64")
        stream = self._cupy.cuda.get_current_stream()
        # NCCL only enqueues the reduction; synchronising makes the watchdog
        # see a hang here, and makes the measured time the real one
        with self.world.guard(what):
            self.comm.allReduce(array.data.ptr, array.data.ptr, array.size, getattr(self._nccl, name),
                                self._nccl.NCCL_SUM, stream.ptr)
            stream.synchronize()
        return array
