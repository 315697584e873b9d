"""Tiny ``minitransformer train`` runs in a subprocess, killed and resumed (crash-safety tests).

    train(out, "--resume", save_every=3)            # run to the end; the CompletedProcess
    kill_at(launcher, out, update, save_every=3)   # start a slowed-down run, SIGKILL it at ``update``
    metrics(out), last_update(out)                 # its metrics log without timings; its last update

Every run uses TINY (a 1-layer model, 12 updates, evaluations at 6 and 12) on
the NumPy backend, so two runs with the same seed agree bit for bit.  A
"launcher" is a script that slows one function down (``SLOW_*`` sources in
the tests) and then runs the command line, so that a kill lands where the
test wants it; the computation itself is unchanged.
"""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TINY = ["--task-size", "300", "--d-model", "16", "--heads", "2", "--layers", "1", "--d-ff", "32",
        "--max-steps", "12", "--eval-every", "6", "--eval-sentences", "10", "--time-budget", "60",
        "--no-progress"]
TIMING = {"tokens_per_s", "elapsed"}          # metrics that differ between identical runs


def env():
    return dict(os.environ, PYTHONPATH=str(ROOT), MINITRANSFORMER_BACKEND="numpy")


def command(save_every):
    return ["train", *TINY, "--save-every", str(save_every)]


def train(out, *extra, save_every):
    """Run the tiny training to its end in ``out``; it must succeed."""
    result = subprocess.run([sys.executable, "-m", "minitransformer", *command(save_every), "--out", str(out),
                             *extra], capture_output=True, text=True, env=env(), timeout=120)
    assert result.returncode == 0, result.stderr
    return result


def last_update(run):
    """The highest update in the run's (possibly half-written) metrics log; 0 without one."""
    best = 0
    try:
        lines = (Path(run) / "metrics.jsonl").read_text().splitlines()
    except FileNotFoundError:
        return 0
    for line in lines:
        try:
            record = json.loads(line)
        except json.JSONDecodeError:              # the line being written when the run was killed
            break
        if "loss" in record:
            best = max(best, record["step"])
    return best


def kill_at(launcher, run, update, *extra, save_every, until=lambda: True, delay=0.0, timeout=90):
    """Start the tiny training through ``launcher`` (a script file) and SIGKILL it
    ``delay`` s after it has logged ``update`` and ``until()`` holds.

    SIGKILL: no cleanup, no finally blocks, as a power cut or the OOM killer.
    Returns the last update logged.  Fails the test if the run ends first.
    """
    log = Path(run).with_name(Path(run).name + ".stderr")      # beside the run: read if it fails
    with open(log, "wb") as stderr:
        proc = subprocess.Popen([sys.executable, str(launcher), *command(save_every), "--out", str(run), *extra],
                                stdout=subprocess.DEVNULL, stderr=stderr, env=env())
    deadline = time.monotonic() + timeout
    while last_update(run) < update or not until():
        if proc.poll() is not None:
            pytest.fail(f"the run ended before update {update}: {log.read_text(errors='replace')[-2000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            pytest.fail(f"the run did not reach update {update} within {timeout} s")
        time.sleep(0.001)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    return last_update(run)


def metrics(run):
    """The records of the run's metrics log, without the timings."""
    records = [json.loads(line) for line in (Path(run) / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k not in TIMING} for r in records]
