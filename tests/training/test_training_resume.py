"""Resuming after a crash: ``train --resume`` continues exactly where the last checkpoint was.

Run A trains 12 updates without interruption.  Run B is the same command,
killed with SIGKILL in the middle of training (after update 5, with a
checkpoint every 3 updates), then restarted with ``--resume``.  On the CPU
the two must end with bit-identical weights, optimizer state and metrics log:
the checkpoint holds the model, the optimizer and schedule, the random
generator (dropout) and the position in the shuffled data.
"""
import numpy as np
import pytest

import minitransformer as mt

from helpers.compare import assert_same
from helpers.training_runs import kill_at, metrics
from helpers.training_runs import train as train_run

SAVE_EVERY = 3                  # checkpoints at updates 3, 6, 9 and 12

# The same command with every update slowed down by a sleep, so that the kill
# lands mid-training however fast the machine is; the computation is unchanged.
SLOW_LAUNCHER = """
import sys, time
import minitransformer.training.trainer as trainer
_train_step = trainer.train_step
def slow_train_step(*args, **kwargs):
    time.sleep(0.05)
    return _train_step(*args, **kwargs)
trainer.train_step = slow_train_step
from minitransformer.cli import main
sys.exit(main(sys.argv[1:]))
"""


def train(out, *extra):
    return train_run(out, *extra, save_every=SAVE_EVERY)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("resume") / "a"
    train(out)
    return out


def test_a_killed_run_resumed_ends_bit_identical_to_an_uninterrupted_one(uninterrupted, tmp_path):
    launcher = tmp_path / "slow_launcher.py"
    launcher.write_text(SLOW_LAUNCHER)
    out = tmp_path / "b"
    reached = kill_at(launcher, out, 5, save_every=SAVE_EVERY)   # as soon as update 5 is logged
    assert 5 <= reached < 12                                        # killed mid-training
    killed_at = mt.load(out / "last.ckpt", backend="numpy")["trainer"]["step"]
    assert killed_at in (3, 6, 9) and killed_at <= reached          # the last checkpoint taken

    result = train(out, "--resume")
    assert f"resumed from {out / 'last.ckpt'} at update {killed_at}" in result.stdout

    a = mt.load(uninterrupted / "last.ckpt", backend="numpy")
    b = mt.load(out / "last.ckpt", backend="numpy")
    assert a["trainer"]["step"] == b["trainer"]["step"] == 12
    assert a["model"].keys() == b["model"].keys() and len(a["model"]) > 20
    for name in a["model"]:                                         # the weights, bit for bit
        assert np.array_equal(a["model"][name].numpy(), b["model"][name].numpy()), name
    assert_same(a, b, "checkpoint", ignore=("elapsed", "out", "resume"))  # optimizer, schedule, rng, data position
    # the log reads as if the run had never stopped (only timings differ)
    assert metrics(out) == metrics(uninterrupted)
    assert [r["step"] for r in metrics(out) if "loss" in r] == list(range(1, 13))


def test_resume_without_a_checkpoint_starts_a_new_run(tmp_path):
    result = train(tmp_path / "fresh", "--resume", "--max-steps", "2")
    assert "--resume: no checkpoint in" in result.stdout and "starting a new run" in result.stdout
    assert mt.load(tmp_path / "fresh" / "last.ckpt", backend="numpy")["trainer"]["step"] == 2
