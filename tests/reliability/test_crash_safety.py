"""Crash safety and reproducibility of ``minitransformer train`` on the CPU.

A run that is killed (SIGKILL: no cleanup, no finally blocks) at any moment,
also in the middle of writing a checkpoint, and restarted with ``--resume``
ends with the same weights, bit for bit, and the same metrics log as a run
that was never interrupted; no checkpoint file is ever half-written, because
checkpoints are written to a temporary file and renamed into place.  And two
runs with the same seed write the same metrics log.
"""
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import minitransformer as mt

ROOT = Path(__file__).resolve().parents[2]
TINY = ["--task-size", "300", "--d-model", "16", "--heads", "2", "--layers", "1", "--d-ff", "32",
        "--max-steps", "12", "--eval-every", "6", "--eval-sentences", "10", "--time-budget", "60",
        "--no-progress", "--save-every", "1"]
TIMING = {"tokens_per_s", "elapsed"}

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


def env():
    return dict(os.environ, PYTHONPATH=str(ROOT), MINITRANSFORMER_BACKEND="numpy")


def train(out, *extra):
    result = subprocess.run([sys.executable, "-m", "minitransformer", "train", *TINY, "--out", str(out), *extra],
                            capture_output=True, text=True, env=env(), timeout=120)
    assert result.returncode == 0, result.stderr
    return result


def last_update(run):
    """The highest update in a possibly half-written metrics log."""
    best = 0
    try:
        lines = (run / "metrics.jsonl").read_text().splitlines()
    except FileNotFoundError:
        return 0
    for line in lines:
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            break
        best = max(best, record.get("step", 0) if "loss" in record else 0)
    return best


def writing_checkpoint(run):
    return any(p.name.endswith(".tmp") and ".ckpt." in p.name for p in run.iterdir())


def kill_at(launcher, run, update, mid_write, delay, extra=()):
    """Start a slowed run; once it has logged ``update`` (and, if ``mid_write``, while a
    checkpoint is being written), wait ``delay`` seconds and SIGKILL it."""
    proc = subprocess.Popen([sys.executable, str(launcher), "train", *TINY, "--out", str(run), *extra],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env())
    deadline = time.monotonic() + 90
    while last_update(run) < update or (mid_write and not writing_checkpoint(run)):
        assert proc.poll() is None, f"the run ended before it could be killed at update {update}"
        assert time.monotonic() < deadline, "the run did not get there in 90 s"
        time.sleep(0.001)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL


def check_every_checkpoint_loads(run):
    names = sorted(p.name for p in run.iterdir() if p.name.endswith(".ckpt"))
    for name in names:
        mt.load(run / name, backend="numpy")         # never half-written: CheckpointError otherwise
    return names


def state(run):
    ck = mt.load(run / "last.ckpt", backend="numpy")
    ck["config"] = {k: v for k, v in ck["config"].items() if k not in ("out", "resume")}
    ck["trainer"].pop("elapsed")
    return ck


def assert_identical(a, b, where="checkpoint"):
    if isinstance(a, mt.Tensor):
        a, b = a.numpy(), b.numpy()
    if isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and np.array_equal(a, b), where
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            assert_identical(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_identical(x, y, f"{where}[{i}]")
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def metrics(run):
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k not in TIMING} for r in records]


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
        kill_at(launcher, run, update, mid_write, delay=rng.uniform(0, 0.004 if mid_write else 0.1),
                extra=["--resume"] if i else [])
        if mid_write:
            assert writing_checkpoint(run)                # the kill left a half-written temp file behind...
        names = check_every_checkpoint_loads(run)         # ...but every *.ckpt is whole
        # the first checkpoint may not exist yet (killed while writing it): resume then starts afresh
        reached = mt.load(run / "last.ckpt", backend="numpy")["trainer"]["step"] if "last.ckpt" in names else 0
        assert reached < 12
    result = train(run, "--resume")
    assert (f"at update {reached}" if reached else "starting a new run") in result.stdout
    check_every_checkpoint_loads(run)
    assert_identical(state(run), state(uninterrupted))    # weights, optimizer, schedule, rng, data position
    assert metrics(run) == metrics(uninterrupted)


def test_the_same_seed_gives_the_same_metrics_log(uninterrupted, tmp_path):
    train(tmp_path / "again")
    assert metrics(tmp_path / "again") == metrics(uninterrupted)
    assert len(metrics(uninterrupted)) == 12 + 2                    # 12 updates, 2 evaluations
    assert_identical(state(tmp_path / "again"), state(uninterrupted))
    train(tmp_path / "other", "--seed", "1")                        # the comparison can fail
    assert metrics(tmp_path / "other")[0]["loss"] != metrics(uninterrupted)[0]["loss"]
