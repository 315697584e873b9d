"""``Trainer`` for N processes: data parallelism with one all-reduce per update.

    mpirun -n 4 minitransformer train --accum-steps 2 ...

Every rank runs the same program on the same data.  What differs:

* setup -- rank 0 trains and writes the tokenizers, the others wait, then
  load them; every rank builds the model from the same seed and then takes
  rank 0's parameters (one broadcast), so all replicas start equal;
* each update -- the next N*K batches of the shared seeded order are split
  between ranks (``sharding.shard``); one small all-reduce sums the ranks'
  target-token counts (and "my time budget is up" votes) so that every loss
  is divided by the GLOBAL count; after backward, ``GradientAllreducer``
  sums gradients and loss in one all-reduce; every rank then takes the same
  optimizer step.  N ranks x K micro-batches give the update of one process
  with ``--accum-steps N*K`` (up to float rounding; exactly with dropout 0);
* output -- rank 0 alone prints, writes metrics, checkpoints and plots and
  evaluates; the others wait for its early-stopping decision (a broadcast);
* failure -- an exception on any rank, or a collective that waits longer
  than ``--collective-timeout``, aborts the whole job (``MPI_Abort``) with a
  message, instead of leaving the other ranks waiting forever.  Checkpoints
  are written atomically, so the last one is always whole.

``--resume`` works with any world size: every rank loads the last
checkpoint, whose data position counts batches of the global order.
"""
from __future__ import annotations

import dataclasses
import os
import sys
import time
import traceback

import numpy

from .. import backend as _backend
from ..optim import linear_scaling_rule
from ..training.data_setup import prepare
from ..training.trainer import Trainer, _write_json
from .allreduce import GradientAllreducer, broadcast_parameters, make_transport, select_transport
from .sharding import batches_per_update, rank_seed, shard

__all__ = ["DistributedTrainer"]

FAULT_ENV = "MINITRANSFORMER_TEST_FAULT"  # "die|hang|raise:RANK:STEP", for the failure tests only


class DistributedTrainer(Trainer):
    """Data-parallel ``Trainer`` over ``world`` (an ``MPIWorld``, or a one-process world)."""

    def __init__(self, config, world, log=print):
        self.world = world
        if not world.is_root:  # one progress bar and one log, from rank 0
            config = dataclasses.replace(config, progress=False)
            log = _quiet
        super().__init__(config, log=log)
        self._time_up_here = self._time_up_anywhere = False
        self.allreducer = None

    # ------------------------------------------------------------------ setup
    def _setup(self):
        c, w = self.config, self.world
        nccl = shared = False
        if c.backend == "cupy":
            import cupy  # noqa: PLC0415

            from .nccl import gpu_identity, nccl_available, select_device  # noqa: PLC0415

            device = select_device(w.local_rank, cupy)  # before the first GPU allocation
            if w.size > 1:
                gpus = w.allgather_object(gpu_identity(device, cupy), "Allgather (which GPU each rank uses)")
                shared, nccl = len(set(gpus)) < len(gpus), nccl_available()
        super()._setup()
        if not w.is_root:
            self.metrics = _NullMetrics()
        kind, reason = select_transport(c.backend, w.size, nccl_available=nccl, gpus_shared=shared)
        self.allreducer = GradientAllreducer(self.model.parameters(), make_transport(kind, w))
        sent = broadcast_parameters(w, self.model.parameters())
        self._report_distributed(reason, sent)

    def _prepare_data(self, resuming: bool):
        w = self.world
        if w.size == 1:
            return super()._prepare_data(resuming)
        if w.is_root:
            data = super()._prepare_data(resuming)
            w.barrier("Barrier (rank 0 writing the tokenizers)")
            return data
        w.barrier("Barrier (waiting for rank 0 to write the tokenizers)")
        return prepare(self.config, self.run_dir, reuse_tokenizers=True)

    def _init_run_files(self, resuming: bool) -> None:
        saved = self.state.get("world_size", 1)
        if resuming and saved != self.world.size:
            self.log(f"note: the checkpoint was trained with {saved} process(es), this run has "
                     f"{self.world.size}: the global batch changes; the data position carries over")
        self.state["world_size"] = self.world.size
        if self.world.is_root:
            super()._init_run_files(resuming)

    def _report_distributed(self, reason: str, sent: int) -> None:
        c, n, k = self.config, self.world.size, self.config.accum_steps
        grad_mb = self.allreducer.buffer.nbytes / 1e6
        self.log(f"distributed: {n} process(es) ({self.world.local_size} on this machine), "
                 f"all-reduce: {self.allreducer.transport.name} ({reason}); "
                 f"rank 0's parameters broadcast ({sent / 1e6:.2f} MB)")
        per, unit = (c.max_tokens, "tokens") if c.max_tokens else (c.max_sentences, "sentences")
        self.log(f"global batch: {n} processes x {k} micro-batches x up to {per:,} {unit} = up to "
                 f"{n * k * per:,} {unit} per update; each update all-reduces {grad_mb:.2f} MB of "
                 f"gradients (a ring moves 2(N-1)/N of that per rank)")
        suggested = linear_scaling_rule(c.lr, k * per, n * k * per)
        self.log(f"linear scaling rule: if --lr {c.lr:g} was tuned for one process (batch {k * per:,} {unit}), "
                 f"this batch suggests --lr {suggested:g} with warmup (for very large batches: --optimizer lamb)")

    # ------------------------------------------------------------------ loop
    def _batches_per_update(self) -> int:
        return batches_per_update(self.config.accum_steps, self.world.size)

    def _next_group(self):
        """This rank's share of the next N*K batches of the seeded order."""
        return shard(super()._next_group(), self.world.rank, self.world.size)

    def _out_of_time(self, start_time) -> bool:
        # Clocks differ between ranks: each one votes in the next token-count
        # all-reduce, and all stop together once any has run out.
        self._time_up_here = super()._out_of_time(start_time)
        return self._time_up_here if self.world.size == 1 else self._time_up_anywhere

    def _train_step(self, group, **extra) -> dict:
        c, w, step = self.config, self.world, self.state["step"]
        _inject_test_fault(w.rank, step)
        counts = numpy.array([sum(b.num_tgt_tokens for b in group), int(self._time_up_here)], dtype=numpy.int64)
        w.allreduce_(counts, "token-count Allreduce")
        self._time_up_anywhere = bool(counts[1])
        if w.size == 1:  # nothing to sum: exactly the one-process update
            return super()._train_step(group, num_tokens=int(counts[0]), **extra)
        _backend.manual_seed(rank_seed(c.seed, w.rank, step))  # independent dropout masks, reproducible on resume
        return super()._train_step(group, num_tokens=int(counts[0]), gradient_hook=self.allreducer, **extra)

    def run(self) -> dict:
        try:
            return super().run()
        except BaseException as exc:
            if self.world.size > 1:
                _abort(self.world, exc)
            raise

    # ------------------------------------------------- rank 0's jobs
    def _save(self, name: str) -> None:
        if self.world.is_root:
            super()._save(name)

    def _evaluate(self) -> bool:
        stop = super()._evaluate() if self.world.is_root else False
        return bool(self.world.bcast_object(stop, root=0, what="Bcast (waiting for rank 0's evaluation)"))

    def _final_report(self) -> dict:
        a = self.allreducer
        comm = {"world_size": self.world.size, "transport": a.transport.name, "allreduce_calls": a.calls,
                "allreduce_seconds": a.seconds, "gradient_bytes": a.buffer.nbytes, "tokens": self.state["tokens"],
                "elapsed": self.state["elapsed"]}
        if not self.world.is_root:
            return {"step": self.state["step"], "rank": self.world.rank, "distributed": comm}
        self.log(f"communication: {a.seconds:.2f} s in {a.calls} gradient all-reduces "
                 f"({1e3 * a.seconds / max(a.calls, 1):.1f} ms each, {a.buffer.nbytes / 1e6:.2f} MB) "
                 f"on rank 0, {self.state['elapsed']:.1f} s of training")
        report = super()._final_report()
        report["distributed"] = comm
        _write_json(os.path.join(self.run_dir, "distributed.json"), comm)
        return report


class _NullMetrics:
    """The metrics log of ranks other than 0: writes nothing."""

    path = os.devnull

    def write(self, record) -> None:
        pass

    def truncate_after(self, step) -> None:
        pass

    def read(self) -> list:
        return []


def _quiet(*args, **kwargs) -> None:
    pass


def _abort(world, exc) -> None:
    """Say which rank failed and why, then take the whole job down."""
    if isinstance(exc, (ValueError, OSError, ArithmeticError)) and not os.environ.get("MINITRANSFORMER_DEBUG"):
        print(f"rank {world.rank}: error: {type(exc).__name__}: {exc}", file=sys.stderr)
    elif not isinstance(exc, KeyboardInterrupt):
        traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
    print(f"rank {world.rank}: aborting all {world.size} ranks", file=sys.stderr, flush=True)
    world.abort(1)


def _inject_test_fault(rank: int, step: int) -> None:
    """Test hook: ``MINITRANSFORMER_TEST_FAULT=die:1:2`` makes rank 1 exit after update 2.

    ``hang`` sleeps instead (the other ranks' watchdog must fire), ``raise``
    raises (the abort-on-exception path must fire).
    """
    spec = os.environ.get(FAULT_ENV)
    if not spec:
        return
    kind, fault_rank, fault_step = spec.split(":")
    if rank != int(fault_rank) or step != int(fault_step):
        return
    print(f"rank {rank}: test fault {kind!r} after update {step}", file=sys.stderr, flush=True)
    if kind == "die":
        os._exit(1)
    if kind == "hang":
        time.sleep(3600)
    raise RuntimeError(f"test fault on rank {rank} after update {step}")
