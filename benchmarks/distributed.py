"""Data-parallel throughput: tokens/s with 1 and N MPI ranks, and the time spent communicating.

    python benchmarks/distributed.py                   # 1 and 2 ranks, the default model
    python benchmarks/distributed.py --ranks 1 2 4 --steps 30 --max-tokens 2048

For each world size N it runs ``mpirun -n N python -m minitransformer train
--distributed`` on the built-in task (dropout 0, no evaluation during the
timed updates) and reads back

* tokens/s: target tokens of the updates after ``--warmup`` divided by
  their wall time (from metrics.jsonl);
* "in Allreduce": seconds rank 0 spent inside the gradient all-reduce per
  update (distributed.json) -- this includes *waiting* for slower ranks;
* "pure Allreduce": the same buffer all-reduced back to back with nothing
  else running, i.e. the communication cost alone.

Two ways to compare:

* weak scaling (default): every rank keeps ``--max-tokens`` micro-batches,
  so N ranks process an N times larger global batch per update;
* ``--strong``: the global batch is fixed at ``max(ranks)`` micro-batches
  (one rank accumulates them all, N ranks take their share), so every run
  makes the same updates.

BLAS threads: each rank gets ``cores // N`` (at least 1), so 1 rank may use
the whole machine; ``--threads`` fixes the count per rank instead.  The
numbers depend on the machine and its load; record the date and hardware
with them (docs/distributed.md, docs/benchmarks.md).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

ALLREDUCE_ONLY = r"""
import json, sys, time
import numpy as np
from mpi4py import MPI
comm = MPI.COMM_WORLD
n, reps = int(sys.argv[1]), int(sys.argv[2])
buf = np.ones(n, np.float32)
for _ in range(3):
    comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)
comm.Barrier()
start = time.perf_counter()
for _ in range(reps):
    comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)
seconds = (time.perf_counter() - start) / reps
if comm.Get_rank() == 0:
    print("RESULT " + json.dumps({"seconds": seconds}))
"""


def mpirun_path() -> str:
    beside = os.path.join(sysconfig.get_path("scripts"), "mpirun")
    found = beside if os.path.exists(beside) else shutil.which("mpirun")
    if found is None:
        sys.exit("no mpirun found: pip install 'minitransformer[mpi]'")
    return found


def environment(ranks: int, threads: int | None = None) -> dict:
    threads = str(threads or max(1, (os.cpu_count() or 1) // ranks))
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               PYTHONPATH=os.pathsep.join([REPO_ROOT, os.environ.get("PYTHONPATH", "")]))
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = threads
    return env


def launch(ranks: int, argv: list, threads: int | None = None) -> subprocess.CompletedProcess:
    cmd = [mpirun_path(), "-n", str(ranks), "--oversubscribe", *argv]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=environment(ranks, threads), cwd=REPO_ROOT)
    if proc.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return proc


def train(ranks: int, accum: int, args, out: str) -> dict:
    launch(ranks, [sys.executable, "-m", "minitransformer", "train", "--distributed", "--out", out,
                   "--task-size", str(args.task_size), "--max-tokens", str(args.max_tokens),
                   "--accum-steps", str(accum), "--max-steps", str(args.steps), "--dropout", "0",
                   "--eval-every", str(args.steps + 1), "--eval-sentences", "1", "--time-budget", "1e9",
                   "--no-progress", "--backend", "numpy"], threads=args.threads)
    with open(os.path.join(out, "metrics.jsonl"), encoding="utf-8") as f:
        steps = [r for r in map(json.loads, f) if "loss" in r]
    with open(os.path.join(out, "distributed.json"), encoding="utf-8") as f:
        comm = json.load(f)
    timed = steps[args.warmup:]
    seconds = timed[-1]["elapsed"] - steps[args.warmup - 1]["elapsed"]
    tokens = sum(r["tokens"] for r in timed)
    calls = max(comm["allreduce_calls"], 1)
    return {"ranks": ranks, "accum": accum, "tokens_per_update": tokens / len(timed),
            "tokens_per_s": tokens / seconds, "update_ms": 1e3 * seconds / len(timed),
            "in_allreduce_ms": 1e3 * comm["allreduce_seconds"] / calls, "gradient_mb": comm["gradient_bytes"] / 1e6}


def pure_allreduce_ms(ranks: int, numel: int, reps: int) -> float:
    proc = launch(ranks, [sys.executable, "-c", ALLREDUCE_ONLY, str(numel), str(reps)])
    line = next(line for line in proc.stdout.splitlines() if line.startswith("RESULT "))
    return 1e3 * json.loads(line[len("RESULT "):])["seconds"]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    p.add_argument("--steps", type=int, default=20, help="updates per run")
    p.add_argument("--warmup", type=int, default=3, help="updates left out of the timing")
    p.add_argument("--max-tokens", type=int, default=1024, help="micro-batch token budget")
    p.add_argument("--task-size", type=int, default=3000)
    p.add_argument("--strong", action="store_true", help="fixed global batch instead of fixed per-rank batch")
    p.add_argument("--threads", type=int, help="BLAS threads per rank (default: cores // ranks)")
    p.add_argument("--json", help="also write the results to this file")
    args = p.parse_args(argv)
    if not 1 <= args.warmup < args.steps:
        p.error("need 1 <= --warmup < --steps")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.ranks:
            accum = max(args.ranks) // n if args.strong else 1
            r = train(n, accum, args, os.path.join(tmp, f"n{n}"))
            numel = int(r["gradient_mb"] * 1e6 / 4)
            r["pure_allreduce_ms"] = pure_allreduce_ms(n, numel, reps=200) if n > 1 else 0.0
            results.append(r)
    base = results[0]["tokens_per_s"]
    mode = "strong scaling (fixed global batch)" if args.strong else "weak scaling (fixed per-rank batch)"
    threads = args.threads or "cores // ranks"
    print(f"{mode}; {os.cpu_count()} cores, BLAS threads per rank: {threads}; micro-batch {args.max_tokens} tokens; "
          f"gradient buffer {results[0]['gradient_mb']:.2f} MB")
    print(f"{'ranks':>5} {'accum':>5} {'tok/update':>10} {'tokens/s':>10} {'speedup':>8} {'update ms':>10} "
          f"{'in Allreduce ms':>15} {'pure Allreduce ms':>17}")
    for r in results:
        print(f"{r['ranks']:>5} {r['accum']:>5} {r['tokens_per_update']:>10.0f} {r['tokens_per_s']:>10.0f} "
              f"{r['tokens_per_s'] / base:>8.2f} {r['update_ms']:>10.1f} {r['in_allreduce_ms']:>15.2f} "
              f"{r['pure_allreduce_ms']:>17.3f}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
