"""World detection, the collective watchdog and the GPU transport choice, with fakes (no MPI, no GPU)."""
import io
import sys
import threading
import time

import numpy as np
import pytest

from minitransformer.distributed import (DistributedError, MPIWorld, SingleProcessWorld, Watchdog, init_world,
                                         launcher_world_size, select_transport)
from minitransformer.distributed.allreduce import HostStagedTransport, LocalTransport, MPITransport, make_transport
from minitransformer.distributed.nccl import NcclTransport, gpu_identity, select_device


# ------------------------------------------------------------------ detection
@pytest.mark.parametrize("env, expected", [
    ({}, (None, None)),
    ({"OMPI_COMM_WORLD_SIZE": "4"}, (4, "OMPI_COMM_WORLD_SIZE")),
    ({"PMI_SIZE": "2"}, (2, "PMI_SIZE")),
    ({"PMIX_RANK": "0"}, (None, "PMIX_RANK")),
])
def test_launcher_world_size(env, expected):
    assert launcher_world_size(env) == expected


def test_launcher_world_size_rejects_garbage():
    with pytest.raises(DistributedError, match="OMPI_COMM_WORLD_SIZE='x'"):
        launcher_world_size({"OMPI_COMM_WORLD_SIZE": "x"})


def test_no_launcher_means_one_process_without_importing_mpi(monkeypatch):
    monkeypatch.setitem(sys.modules, "mpi4py", None)      # importing it would fail
    for env in ({}, {"OMPI_COMM_WORLD_SIZE": "1"}):
        world = init_world(environ=env)
        assert isinstance(world, SingleProcessWorld)
        assert (world.rank, world.size, world.is_root) == (0, 1, True)
    a = np.arange(3.0)
    assert world.allreduce_(a) is a and world.bcast_object("x") == "x"


@pytest.mark.parametrize("env, required, why", [
    ({"OMPI_COMM_WORLD_SIZE": "2"}, False, r"started by an MPI launcher \(OMPI_COMM_WORLD_SIZE=2\)"),
    ({}, True, "--distributed was given"),
])
def test_missing_mpi4py_is_a_clear_error(monkeypatch, env, required, why):
    monkeypatch.setitem(sys.modules, "mpi4py", None)
    with pytest.raises(DistributedError, match=why) as info:
        init_world(required=required, environ=env)
    assert "pip install 'minitransformer[mpi]'" in str(info.value)


# ------------------------------------------------------------------ MPIWorld on a fake mpi4py
class _FakeComm:
    def __init__(self, rank=1, size=2):
        self.rank, self.size, self.calls = rank, size, []

    def Get_rank(self):
        return self.rank

    def Get_size(self):
        return self.size

    def Split_type(self, kind, key):
        self.calls.append(("Split_type", kind, key))
        return _FakeComm(rank=0, size=self.size)

    def Free(self):
        pass

    def Allreduce(self, sendbuf, recvbuf, op):
        self.calls.append(("Allreduce", sendbuf, op))
        recvbuf *= self.size          # every rank held the same values

    def Bcast(self, buf, root):
        self.calls.append(("Bcast", root))

    def bcast(self, obj, root):
        return obj

    def Barrier(self):
        time.sleep(getattr(self, "barrier_seconds", 0))

    def Abort(self, code):
        self.calls.append(("Abort", code))


class _FakeMPI:
    IN_PLACE, SUM, COMM_TYPE_SHARED = "IN_PLACE", "SUM", "SHARED"


def test_mpi_world_wraps_the_communicator():
    comm = _FakeComm(rank=1, size=2)
    world = MPIWorld(comm, timeout=30, mpi=_FakeMPI)
    assert (world.rank, world.size, world.is_root, world.local_rank, world.local_size) == (1, 2, False, 0, 2)
    a = np.ones(4, np.float32)
    assert world.allreduce_(a) is a
    np.testing.assert_array_equal(a, 2.0)
    assert ("Allreduce", "IN_PLACE", "SUM") in comm.calls       # in place, one call
    world.broadcast_(a, root=0)
    assert ("Bcast", 0) in comm.calls


def test_mpi_world_aborts_when_a_collective_hangs():
    comm = _FakeComm()
    comm.barrier_seconds = 1.0
    world = MPIWorld(comm, timeout=0.2, mpi=_FakeMPI)
    exits = []
    world.watchdog._exit = exits.append          # instead of killing pytest
    world.watchdog._stream = io.StringIO()
    world.barrier("Barrier (test)")
    assert ("Abort", 1) in comm.calls and exits == [1]
    assert "rank 1: collective Barrier (test) timed out after 0.2 s; another rank probably died" \
        in world.watchdog._stream.getvalue()


# ------------------------------------------------------------------ the watchdog itself
def test_watchdog_fires_once_with_a_clear_message():
    fired, exits, out = [], [], io.StringIO()
    dog = Watchdog(0.15, lambda: fired.append(True), rank=3, exit=exits.append, stream=out)
    with dog.guard("fast Allreduce"):
        pass
    time.sleep(0.3)                               # a finished collective never fires
    assert fired == [] and dog.fired is None
    with dog.guard("slow Allreduce"):
        time.sleep(0.6)
    assert fired == [True] and exits == [1] and dog.fired == "slow Allreduce"
    assert out.getvalue().startswith("rank 3: collective slow Allreduce timed out after 0.15 s")


def test_watchdog_disabled_and_validation():
    dog = Watchdog(None, lambda: None)
    with dog.guard("x"):
        pass
    assert dog._thread is None
    with pytest.raises(ValueError, match="Watchdog: timeout"):
        Watchdog(0, lambda: None)


def test_watchdog_uses_one_thread():
    dog = Watchdog(10, lambda: None, exit=lambda code: None)
    before = threading.active_count()
    for _ in range(100):
        with dog.guard("Allreduce"):
            pass
    assert threading.active_count() <= before + 1


# ------------------------------------------------------------------ transports
@pytest.mark.parametrize("array_backend, size, nccl, shared, kind", [
    ("numpy", 1, False, False, "local"),
    ("cupy", 1, True, False, "local"),
    ("numpy", 4, False, False, "mpi"),
    ("cupy", 8, True, False, "nccl"),
    ("cupy", 4, False, False, "mpi-host"),       # CuPy without NCCL
    ("cupy", 4, True, True, "mpi-host"),         # two ranks on one GPU
])
def test_select_transport(array_backend, size, nccl, shared, kind):
    got, reason = select_transport(array_backend, size, nccl_available=nccl, gpus_shared=shared)
    assert got == kind and reason
    with pytest.raises(ValueError, match="unknown backend"):
        select_transport("tpu", 2)


def test_make_transport_kinds():
    world = SingleProcessWorld()
    assert isinstance(make_transport("local", world), LocalTransport)
    assert isinstance(make_transport("mpi", world), MPITransport)
    assert isinstance(make_transport("mpi-host", world), HostStagedTransport)
    with pytest.raises(ValueError, match="unknown transport"):
        make_transport("carrier-pigeon", world)


class _FakeCupy:
    class cuda:  # noqa: N801
        used = []

        class runtime:  # noqa: N801
            @staticmethod
            def getDeviceCount():
                return 4

        class Device:
            def __init__(self, i):
                self.i = i
                self.pci_bus_id = f"0000:0{i}:00.0"

            def use(self):
                _FakeCupy.cuda.used.append(self.i)

        class _Stream:
            ptr, synced = 1234, 0

            def synchronize(self):
                _FakeCupy.cuda._Stream.synced += 1

        @staticmethod
        def get_current_stream():
            return _FakeCupy.cuda._Stream()


def test_select_device_takes_local_rank_modulo_devices():
    assert select_device(1, _FakeCupy) == 1
    assert select_device(6, _FakeCupy) == 2
    assert _FakeCupy.cuda.used[-2:] == [1, 2]


def test_gpu_identity_tells_shared_gpus_apart_by_bus_id():
    ids = [gpu_identity(d, _FakeCupy) for d in (0, 1, 0)]
    assert ids[0] == ids[2] != ids[1]
    assert ids[0][1] == "0000:00:00.0"


class _FakeNccl:
    NCCL_FLOAT32, NCCL_FLOAT64, NCCL_FLOAT16, NCCL_SUM = 7, 8, 6, 0
    made = []

    @staticmethod
    def get_unique_id():
        return (1, 2, 3)

    class NcclCommunicator:
        def __init__(self, size, uid, rank):
            _FakeNccl.made.append((size, uid, rank))
            self.calls = []

        def allReduce(self, send, recv, count, dtype, op, stream):
            self.calls.append((send, recv, count, dtype, op, stream))


class _FakeDeviceArray:
    """What NcclTransport needs of a CuPy array: dtype, size and a device pointer."""

    def __init__(self, n):
        self.dtype, self.size = np.dtype("float32"), n
        self.data = type("Mem", (), {"ptr": 0xABC})()


class _RecordingWorld(SingleProcessWorld):
    def __init__(self, rank, size):
        self.rank, self.size, self.objects = rank, size, []

    @property
    def is_root(self):
        return self.rank == 0

    def bcast_object(self, obj, root=0, what=""):
        self.objects.append((obj, what))
        return (1, 2, 3)          # rank 0's id arrives everywhere


def test_nccl_transport_shares_rank_0s_id_and_reduces_in_place():
    world = _RecordingWorld(rank=1, size=2)
    t = NcclTransport(world, nccl=_FakeNccl, cupy=_FakeCupy)
    assert world.objects == [(None, "NCCL unique id Bcast")]     # rank 1 sends nothing, receives the id
    assert _FakeNccl.made[-1] == (2, (1, 2, 3), 1)
    arr = _FakeDeviceArray(10)
    assert t.allreduce_(arr) is arr
    assert t.comm.calls == [(0xABC, 0xABC, 10, _FakeNccl.NCCL_FLOAT32, _FakeNccl.NCCL_SUM, 1234)]
    assert _FakeCupy.cuda._Stream.synced >= 1
    arr.dtype = np.dtype("int8")
    with pytest.raises(TypeError, match="NcclTransport: cannot all-reduce dtype int8"):
        t.allreduce_(arr)
