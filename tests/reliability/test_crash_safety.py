"""Crash safety and reproducibility of ``minitransformer train`` on the CPU.

A run that is killed (SIGKILL: no cleanup, no finally blocks) at any moment,
also in the middle of writing a checkpoint, and restarted with ``--resume``
ends with the same weights, bit for bit, and the same metrics log as a run
that was never interrupted; no checkpoint file is ever half-written, because
checkpoints are written to a temporary file and renamed into place.  And two
runs with the same seed write the same metrics log.
"""
import random

import pytest

import minitransformer as mt

from helpers.compare import assert_same
from helpers.training_runs import kill_at, last_update, metrics
from helpers.training_runs import train as train_run

SAVE_EVERY = 1                 # a checkpoint after every update: many moments to be killed in

# The same command with every array written into a checkpoint followed by 1 ms
# of sleep: a checkpoint write (130 arrays) then takes long enough for a kill
# to land inside it.  What is computed and written is unchanged.
SLOW_LAUNCHER = """
import sys, time
import minitransformer.serialization as serialization
_write_array = serialization.npy_format.write_array
def slow_write_array(*args, **kwargs):
    _write_array(*args, **kwargs)
    time.sleep(0.001)
serialization.npy_format.write_array = slow_write_array
from minitransformer.cli import main
sys.exit(main(sys.argv[1:]))
"""


def train(run, *extra):
    return train_run(run, *extra, save_every=SAVE_EVERY)


def writing_checkpoint(run):
    return any(p.name.endswith(".tmp") and ".ckpt." in p.name for p in run.iterdir())


def check_every_checkpoint_loads(run):
    names = sorted(p.name for p in run.iterdir() if p.name.endswith(".ckpt"))
    for name in names:
        mt.load(run / name, backend="numpy")         # never half-written: CheckpointError otherwise
    return names


def assert_same_state(a, b):
    """The last checkpoints of two runs, bit for bit, apart from their paths and timings."""
    assert_same(mt.load(a / "last.ckpt", backend="numpy"), mt.load(b / "last.ckpt", backend="numpy"),
                "checkpoint", ignore=("out", "resume", "elapsed"))


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    run = tmp_path_factory.mktemp("crash") / "reference"
    train(run)
    return run


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sigkill_at_random_moments_then_resume_gives_the_uninterrupted_result(uninterrupted, tmp_path, seed):
    rng = random.Random(seed)
    launcher = tmp_path / "slow_launcher.py"
    launcher.write_text(SLOW_LAUNCHER)
    run = tmp_path / "run"
    # seed 0: anywhere after an update; seed 1: inside a checkpoint write; seed 2: both, one after the other
    plan = {0: [False], 1: [True], 2: [True, False]}[seed]
    for i, mid_write in enumerate(plan):
        # past every update logged so far (a resumed run first cuts the log back to its checkpoint)
        update = min(last_update(run) + rng.randint(1, 3), 11)
        kill_at(launcher, run, update, *(["--resume"] if i else []), save_every=SAVE_EVERY,
                until=lambda: not mid_write or writing_checkpoint(run),
                delay=rng.uniform(0, 0.004 if mid_write else 0.1))
        if mid_write:
            assert writing_checkpoint(run)                # the kill left a half-written temp file behind...
        names = check_every_checkpoint_loads(run)         # ...but every *.ckpt is whole
        # the first checkpoint may not exist yet (killed while writing it): resume then starts afresh
        reached = mt.load(run / "last.ckpt", backend="numpy")["trainer"]["step"] if "last.ckpt" in names else 0
        assert reached < 12
    result = train(run, "--resume")
    assert (f"at update {reached}" if reached else "starting a new run") in result.stdout
    check_every_checkpoint_loads(run)
    assert_same_state(run, uninterrupted)                 # weights, optimizer, schedule, rng, data position
    assert metrics(run) == metrics(uninterrupted)


def test_the_same_seed_gives_the_same_metrics_log(uninterrupted, tmp_path):
    train(tmp_path / "again")
    assert metrics(tmp_path / "again") == metrics(uninterrupted)
    assert len(metrics(uninterrupted)) == 12 + 2                    # 12 updates, 2 evaluations
    assert_same_state(tmp_path / "again", uninterrupted)
    train(tmp_path / "other", "--seed", "1")                        # the comparison can fail
    assert metrics(tmp_path / "other")[0]["loss"] != metrics(uninterrupted)[0]["loss"]
