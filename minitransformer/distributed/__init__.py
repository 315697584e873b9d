"""Data-parallel training over several processes (MPI), and GPUs (NCCL).

    mpirun -n 4 minitransformer train --accum-steps 2 ...

Each process ("rank") holds a full copy of the model, trains on its own
share of every update's batch, and the ranks sum their gradients before
stepping, so N ranks x K accumulated micro-batches make the same update as
one process with ``--accum-steps N*K``.  See docs/distributed.md.

    world.py       who am I: rank, size; SingleProcessWorld, MPIWorld, init_world
    watchdog.py    a collective that never returns aborts the job with a message
    sharding.py    which batches each rank trains on; per-rank dropout seeds
    flatbuffer.py  all gradients end to end in one array: one message per update
    allreduce.py   GradientAllreducer (the train_step hook), transports, parameter broadcast
    nccl.py        GPUs: device per rank, NCCL communicator from an MPI-broadcast id
    trainer.py     DistributedTrainer: the Trainer with the pieces above

mpi4py is imported only when a launcher started us or ``--distributed`` is
given; a plain ``minitransformer train`` never touches MPI.
"""
from .allreduce import GradientAllreducer, broadcast_parameters, select_transport
from .flatbuffer import FlatBuffer
from .sharding import batches_per_update, rank_seed, shard
from .watchdog import Watchdog
from .world import DistributedError, MPIWorld, SingleProcessWorld, init_world, launcher_world_size

__all__ = [
    "DistributedError", "FlatBuffer", "GradientAllreducer", "MPIWorld", "SingleProcessWorld", "Watchdog",
    "batches_per_update", "broadcast_parameters", "init_world", "launcher_world_size", "rank_seed",
    "select_transport", "shard",
]
