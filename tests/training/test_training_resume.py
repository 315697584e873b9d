"""Resuming after a crash: ``train --resume`` continues exactly where the last checkpoint was.

Run A trains 12 updates without interruption.  Run B is the same command,
killed with SIGKILL in the middle of training (after update 5, with a
checkpoint every 3 updates), then restarted with ``--resume``.  On the CPU
the two must end with bit-identical weights, optimizer state and metrics log:
the checkpoint holds the model, the optimizer and schedule, the random
generator (dropout) and the position in the shuffled data.
"""
import json
import os
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
        "--no-progress", "--save-every", "3"]
TIMING = {"tokens_per_s", "elapsed"}

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


def env():
    return dict(os.environ, PYTHONPATH=str(ROOT), MINITRANSFORMER_BACKEND="numpy")


def train(out, *extra):
    result = subprocess.run([sys.executable, "-m", "minitransformer", "train", *TINY, "--out", str(out), *extra],
                            capture_output=True, text=True, env=env(), timeout=120)
    assert result.returncode == 0, result.stderr
    return result


def last_update(metrics_path):
    """The highest update number in a (possibly half-written) metrics log."""
    best = 0
    try:
        lines = metrics_path.read_text().splitlines()
    except FileNotFoundError:
        return 0
    for line in lines:
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            break
        if "loss" in record:
            best = max(best, record["step"])
    return best


def kill_after_update(launcher, out, update, timeout=90):
    """Start a slowed-down run and SIGKILL it as soon as it has logged ``update``."""
    proc = subprocess.Popen([sys.executable, str(launcher), "train", *TINY, "--out", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env())
    deadline = time.monotonic() + timeout
    while last_update(out / "metrics.jsonl") < update:
        if proc.poll() is not None:
            pytest.fail(f"the run ended before update {update}: {proc.stderr.read().decode()[-2000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"no update {update} within {timeout} s")
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    return last_update(out / "metrics.jsonl")


def metrics(path):
    records = [json.loads(line) for line in Path(path).read_text().splitlines()]
    return [{k: v for k, v in r.items() if k not in TIMING} for r in records]


def assert_same(a, b, where="checkpoint", ignore=("elapsed",)):
    """Deep equality of two loaded checkpoints, arrays bit for bit (NaN == NaN)."""
    if isinstance(a, mt.Tensor):
        a, b = a.numpy(), b.numpy()
    if isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape, where
        assert np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"), f"{where} differs"
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            if k not in ignore:
                assert_same(a[k], b[k], f"{where}[{k!r}]", ignore)
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{i}]", ignore)
    else:
        assert a == b or (a != a and b != b), f"{where}: {a!r} != {b!r}"


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("resume") / "a"
    train(out)
    return out


def test_a_killed_run_resumed_ends_bit_identical_to_an_uninterrupted_one(uninterrupted, tmp_path):
    launcher = tmp_path / "slow_launcher.py"
    launcher.write_text(SLOW_LAUNCHER)
    out = tmp_path / "b"
    reached = kill_after_update(launcher, out, 5)
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
    assert_same(a, b, ignore=("elapsed", "out", "resume"))        # optimizer, schedule, rng, data position
    # the log reads as if the run had never stopped (only timings differ)
    assert metrics(out / "metrics.jsonl") == metrics(uninterrupted / "metrics.jsonl")
    assert [r["step"] for r in metrics(out / "metrics.jsonl") if "loss" in r] == list(range(1, 13))


def test_resume_without_a_checkpoint_starts_a_new_run(tmp_path):
    result = train(tmp_path / "fresh", "--resume", "--max-steps", "2")
    assert "--resume: no checkpoint in" in result.stdout and "starting a new run" in result.stdout
    assert mt.load(tmp_path / "fresh" / "last.ckpt", backend="numpy")["trainer"]["step"] == 2
