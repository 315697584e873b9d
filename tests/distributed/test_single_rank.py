"""DistributedTrainer in a world of one process is the plain Trainer, bit for bit (no MPI needed).

The hooks of the data-parallel path run -- sharding, the token-count
"all-reduce", rank-0-only output, the communication report -- so this
guards the single-process behaviour of the code that ``mpirun`` uses (the
gradient hook itself is skipped with one rank: there is nothing to sum).
"""
import os

import numpy as np

import minitransformer as mt
from minitransformer.distributed import SingleProcessWorld
from minitransformer.distributed.trainer import DistributedTrainer
from minitransformer.training import TrainConfig, Trainer
from minitransformer.training.metrics import MetricsLog

TINY = dict(task="numbers", task_size=300, d_model=16, heads=2, layers=1, d_ff=32, max_tokens=500,
            accum_steps=2, max_steps=5, eval_every=3, eval_sentences=4, time_budget=100000.0,
            progress=False, backend="numpy", dropout=0.1)


def _run(trainer_cls, out, *args):
    config = TrainConfig(**TINY, out=str(out))
    trainer = trainer_cls(config, *args, log=lambda *a, **k: None)
    report = trainer.run()
    state = mt.load(os.path.join(out, "last.ckpt"))
    return report, {k: v.numpy() for k, v in state["model"].items()}, trainer


def test_one_rank_equals_the_plain_trainer(tmp_path):
    _, plain, _ = _run(Trainer, tmp_path / "plain")
    report, dist, trainer = _run(DistributedTrainer, tmp_path / "dist", SingleProcessWorld())
    assert plain.keys() == dist.keys()
    for k in plain:
        np.testing.assert_array_equal(plain[k], dist[k], err_msg=k)
    # the same metrics, and the communication summary of the run
    def read(d):
        return [{k: v for k, v in r.items() if k not in ("elapsed", "tokens_per_s")}
                for r in MetricsLog(str(d / "metrics.jsonl")).read()]

    assert read(tmp_path / "plain") == read(tmp_path / "dist")
    assert report["distributed"]["world_size"] == 1 and report["distributed"]["allreduce_calls"] == 0
    assert trainer.allreducer.transport.name.startswith("none")
    assert (tmp_path / "dist" / "distributed.json").exists()
