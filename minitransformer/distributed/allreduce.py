"""Summing gradients over all ranks: one all-reduce of one flat buffer per update.

After every rank has run forward and backward on its own micro-batches,
rank r holds the gradient g_r of *its* tokens' loss, each token's loss
already divided by the GLOBAL token count T (all ranks, all micro-batches;
see ``steps.accumulate_gradients``).  The gradient of the whole update's
per-token mean loss is then simply the sum

    g = sum_r g_r = (1/T) * sum over all tokens of d loss_token / d theta,

the same as one process computing the whole batch.  ``GradientAllreducer``
is the ``gradient_hook`` of ``steps.train_step`` that computes it: pack every
gradient (and the loss sum, in one extra slot) into a ``FlatBuffer``,
all-reduce that once, copy the sums back.  Every rank then applies the same
update to the same parameters, so the replicas stay identical without ever
sending parameters again.

How the sum travels (the *transport*):

    numpy backend          MPI Allreduce on the host buffer
    cupy, NCCL available   NCCL allReduce on the GPU buffer (see nccl.py)
    cupy, no NCCL          copy to the host, MPI Allreduce, copy back

A ring all-reduce of S bytes over N ranks sends and receives 2(N-1)/N * S
bytes per rank: about twice the gradient size, whatever N is.
"""
from __future__ import annotations

import time

import numpy

from ..autograd import Tensor
from ..backend import get_array_module, to_host
from .flatbuffer import FlatBuffer

__all__ = ["GradientAllreducer", "HostStagedTransport", "LocalTransport", "MPITransport",
           "broadcast_parameters", "select_transport"]


class LocalTransport:
    """One rank: the sum over ranks is the array itself."""

    name = "none (one process)"

    def allreduce_(self, array, what: str = "Allreduce"):
        return array


class MPITransport:
    """MPI Allreduce of a host (NumPy) array, in place."""

    name = "MPI"

    def __init__(self, world):
        self.world = world

    def allreduce_(self, array, what: str = "Allreduce"):
        return self.world.allreduce_(array, what)


class HostStagedTransport:
    """GPU arrays over plain MPI: device -> host copy, MPI Allreduce, host -> device copy."""

    name = "MPI via host memory"

    def __init__(self, world):
        self.world = world
        self._host = None

    def allreduce_(self, array, what: str = "Allreduce"):
        if self._host is None or self._host.shape != array.shape or self._host.dtype != array.dtype:
            self._host = numpy.empty(array.shape, dtype=array.dtype)
        array.get(out=self._host)
        self.world.allreduce_(self._host, what)
        array.set(self._host)
        return array


def select_transport(backend: str, world_size: int, *, nccl_available: bool = False,
                     gpus_shared: bool = False) -> tuple:
    """``(kind, reason)``: kind is "local", "mpi", "nccl" or "mpi-host".

    Pure logic, so it can be tested without GPUs: NCCL when the arrays live
    on GPUs, CuPy has NCCL, and no two ranks use the same GPU (NCCL refuses
    that; ``gpus_shared`` comes from comparing the ranks' GPU identities);
    else MPI through host memory.
    """
    if world_size == 1:
        return "local", "one process: nothing to exchange"
    if backend == "numpy":
        return "mpi", "NumPy arrays live in host memory: MPI reduces them directly"
    if backend != "cupy":
        raise ValueError(f"select_transport: unknown backend {backend!r}")
    if not nccl_available:
        return "mpi-host", "CuPy has no NCCL (cupy.cuda.nccl unavailable): gradients go through host memory"
    if gpus_shared:
        return "mpi-host", ("some ranks share a GPU and NCCL needs one GPU per rank: gradients go "
                            "through host memory (start one rank per GPU)")
    return "nccl", "one GPU per rank: NCCL all-reduces on the GPUs"


def make_transport(kind: str, world):
    """The transport object of ``select_transport``'s kind."""
    if kind == "local":
        return LocalTransport()
    if kind == "mpi":
        return MPITransport(world)
    if kind == "mpi-host":
        return HostStagedTransport(world)
    if kind == "nccl":
        from .nccl import NcclTransport  # noqa: PLC0415  (imports cupy)

        return NcclTransport(world)
    raise ValueError(f"make_transport: unknown transport {kind!r}")


class GradientAllreducer:
    """``gradient_hook`` for ``train_step``: sum the gradients and the loss over ranks.

    ``parameters``: the model's parameters, in the same order on every rank
    (they are: every rank builds the same model).  A parameter without a
    gradient on this rank (no micro-batch reached it) contributes zeros and
    receives the sum.  The loss sum rides in the buffer's extra slot, in
    the gradients' dtype (float32: the logged loss keeps ~7 digits).
    ``seconds`` accumulates the time spent in the all-reduce (including
    waiting for slower ranks), ``calls`` counts them.
    """

    def __init__(self, parameters, transport):
        self.params = [p for p in parameters if p.requires_grad]
        if not self.params:
            raise ValueError("GradientAllreducer: no parameter requires grad")
        dtypes = sorted({str(p.data.dtype) for p in self.params})
        if len(dtypes) != 1:
            raise TypeError(f"GradientAllreducer: parameters of several dtypes {dtypes}; expected one")
        xp = get_array_module(self.params[0].data)
        self.buffer = FlatBuffer([p.shape for p in self.params], self.params[0].data.dtype, xp=xp, extra=1)
        self.transport = transport
        self.seconds, self.calls = 0.0, 0

    def __call__(self, params, loss_sum: float) -> float:
        if len(params) != len(self.params):
            raise ValueError(f"GradientAllreducer: called with {len(params)} parameters, built for "
                             f"{len(self.params)}; the model changed after setup")
        flat = self.buffer.pack([None if p.grad is None else p.grad.data for p in self.params])
        self.buffer.extra[0] = loss_sum
        start = time.perf_counter()
        self.transport.allreduce_(flat, "gradient Allreduce")
        self.seconds += time.perf_counter() - start
        self.calls += 1
        for p, summed in zip(self.params, self.buffer.views):
            if p.grad is None:
                p.grad = Tensor(summed.copy())
            else:
                p.grad.data[...] = summed
        return float(to_host(self.buffer.extra[0]))   # the summed loss, one number


def broadcast_parameters(world, parameters) -> int:
    """Overwrite every rank's parameters with rank 0's (one Bcast through host memory); return bytes sent.

    Every rank builds its model from the same seed, so this normally changes
    nothing; it makes "all replicas start equal" a guarantee rather than a
    hope (a different NumPy or BLAS on one node would otherwise go unnoticed).
    """
    params = list(parameters)
    if world.size == 1 or not params:
        return 0
    dtypes = sorted({str(p.data.dtype) for p in params})
    if len(dtypes) != 1:
        raise TypeError(f"broadcast_parameters: parameters of several dtypes {dtypes}; expected one")
    # plain MPI reads host memory (a CUDA-aware MPI is not assumed), so the buffer is a
    # host one: one copy off the device before the Bcast, one back after it
    buffer = FlatBuffer([p.shape for p in params], params[0].data.dtype)
    buffer.pack([to_host(p.data) for p in params])
    world.broadcast_(buffer.data, root=0, what="parameter Bcast")
    for p, value in zip(params, buffer.views):
        p.data[...] = get_array_module(p.data).asarray(value)
    return buffer.nbytes
