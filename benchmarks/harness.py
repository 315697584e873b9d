"""Shared pieces of the benchmark scripts: configurations, FLOP counts, child
processes, thread limits, memory readings and tables.

Every measurement runs in a fresh child process (``python <script> --child
...``) so that the two implementations never share an interpreter, a BLAS
thread pool or a heap; the parent alternates them (ours, torch, ours,
torch, ...) so that slow drifts of a shared, noisy machine hit both alike.
A child prints one line ``RESULT {json}`` on stdout.

This module imports nothing numeric at the top: the scripts set the BLAS
thread-count variables before NumPy is first imported.
"""
from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import time

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(BENCH_DIR)
if REPO_ROOT not in sys.path:  # run from a checkout without installing the package
    sys.path.insert(0, REPO_ROOT)

# Model and batch sizes.  batch x src_len source tokens, batch x tgt_len target
# tokens per training step; share_embeddings + tie_output (one vocabulary).
CONFIGS = {
    "smoke": dict(d_model=16, num_heads=2, num_encoder_layers=1, num_decoder_layers=1, d_ff=32,
                  vocab=50, batch=4, src_len=8, tgt_len=8),
    "tiny": dict(d_model=64, num_heads=4, num_encoder_layers=2, num_decoder_layers=2, d_ff=256,
                 vocab=1000, batch=32, src_len=32, tgt_len=32),
    "small": dict(d_model=256, num_heads=4, num_encoder_layers=3, num_decoder_layers=3, d_ff=1024,
                  vocab=8000, batch=32, src_len=64, tgt_len=64),
    "base": dict(d_model=512, num_heads=8, num_encoder_layers=6, num_decoder_layers=6, d_ff=2048,
                 vocab=16000, batch=16, src_len=64, tgt_len=64),
    # one update of the Multi30k recipe (benchmarks/multi30k): the small model on a
    # typical batch of its per-side budget of 4096 tokens (240 sentences x 17 tokens a side)
    "multi30k": dict(d_model=256, num_heads=4, num_encoder_layers=3, num_decoder_layers=3, d_ff=1024,
                     vocab=8000, batch=240, src_len=17, tgt_len=17),
}
PUBLIC_CONFIGS = ("tiny", "small", "base")   # what --config all runs ("smoke" is for the tests)
SEED = 0
PAD_ID = 0
FIRST_TOKEN = 4   # random ids avoid pad (0), unk (1), bos (2), eos (3): no padding in training batches
MAX_POSITIONS = 512   # positional-encoding table length of the benchmark models
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
               "NUMEXPR_NUM_THREADS", "BLIS_NUM_THREADS")


def config_names(choice: str) -> list:
    return list(PUBLIC_CONFIGS) if choice == "all" else [choice]


def model_kwargs(cfg: dict) -> dict:
    """Keyword arguments of minitransformer.nn.TransformerTranslator for a config (dropout 0)."""
    return dict(src_vocab_size=cfg["vocab"], tgt_vocab_size=cfg["vocab"], d_model=cfg["d_model"],
                nhead=cfg["num_heads"], num_encoder_layers=cfg["num_encoder_layers"],
                num_decoder_layers=cfg["num_decoder_layers"], dim_feedforward=cfg["d_ff"], dropout=0.0,
                max_len=max(cfg["src_len"], cfg["tgt_len"], MAX_POSITIONS), norm_first=False,
                share_embeddings=True, tie_output=True, pad_id=PAD_ID)


# ---------------------------------------------------------------- FLOPs
def train_flops(cfg: dict) -> dict:
    """Analytic matmul FLOPs of one training step (a multiply-add counts 2).

    With B the batch, S/T the source/target lengths, N_s = B S, N_t = B T,
    d = d_model, V the vocabulary, counting only matrix products
    (embedding lookups, softmax, layer norms, the loss and the optimizer are
    elementwise and left out):

    * encoder self-attention, per layer: Q, K, V, O projections 4 * 2 N_s d^2;
      scores Q K^T and weights x V 2 * 2 B S S d (summed over heads, H d_k = d)
    * decoder self-attention, per layer: 4 * 2 N_t d^2 + 2 * 2 B T T d (the causal
      mask does not skip the masked half: it is computed, then masked)
    * decoder cross-attention, per layer: Q and O on the target 2 * 2 N_t d^2,
      K and V on the encoder memory 2 * 2 N_s d^2, scores/values 2 * 2 B T S d
    * feed-forward, per layer: 2 * 2 N d d_ff (N = N_s in the encoder, N_t in the decoder)
    * output projection (tied to the embedding): 2 N_t d V

    Backward costs two products per forward product (the gradient for the
    input and for the weight), so training = 3 x forward.
    """
    b, s, t, d, f, v = cfg["batch"], cfg["src_len"], cfg["tgt_len"], cfg["d_model"], cfg["d_ff"], cfg["vocab"]
    ns, nt = b * s, b * t
    enc_self = 4 * 2 * ns * d * d + 2 * 2 * b * s * s * d
    dec_self = 4 * 2 * nt * d * d + 2 * 2 * b * t * t * d
    cross = 2 * 2 * nt * d * d + 2 * 2 * ns * d * d + 2 * 2 * b * t * s * d
    parts = dict(
        encoder_self_attention=cfg["num_encoder_layers"] * enc_self,
        encoder_ffn=cfg["num_encoder_layers"] * 2 * 2 * ns * d * f,
        decoder_self_attention=cfg["num_decoder_layers"] * dec_self,
        decoder_cross_attention=cfg["num_decoder_layers"] * cross,
        decoder_ffn=cfg["num_decoder_layers"] * 2 * 2 * nt * d * f,
        output_projection=2 * nt * d * v,
    )
    forward = sum(parts.values())
    return dict(parts, forward=forward, train_step=3 * forward)


# ---------------------------------------------------------------- data
def make_batch(cfg: dict, seed: int = SEED):
    """Random (src (B, S), tgt_in (B, T), tgt_out (B, T)) int64 NumPy ids, no padding."""
    import numpy

    rng = numpy.random.default_rng(seed)
    src = rng.integers(FIRST_TOKEN, cfg["vocab"], (cfg["batch"], cfg["src_len"]), dtype=numpy.int64)
    tgt = rng.integers(FIRST_TOKEN, cfg["vocab"], (cfg["batch"], cfg["tgt_len"] + 1), dtype=numpy.int64)
    return src, numpy.ascontiguousarray(tgt[:, :-1]), numpy.ascontiguousarray(tgt[:, 1:])


def build_ours(cfg: dict, seed: int = SEED):
    """Our translator for ``cfg``, seeded (the torch child copies these weights)."""
    import minitransformer as mt
    from minitransformer import nn

    mt.manual_seed(seed)
    return nn.TransformerTranslator(**model_kwargs(cfg))


# ---------------------------------------------------------------- threads, memory, machine
def child_env(threads: int, root: str = REPO_ROOT) -> dict:
    """The environment of a child: BLAS/OpenMP pools limited to ``threads``, the checkout ``root`` on the path."""
    env = dict(os.environ)
    for var in THREAD_VARS:
        env[var] = str(threads)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("CUPY_TF32", "0")   # full float32 products on the GPU (no TF32)
    return env


def limit_threads(threads: int) -> str:
    """Prepare a child: limit and report the BLAS/OpenMP pools (threadpoolctl when
    installed; else the env vars), and give both engines the same allocator setting
    (``minitransformer`` keeps freed memory for reuse, as its command does)."""
    from minitransformer.memory import reuse_freed_memory

    heap = ", malloc reuses freed memory" if reuse_freed_memory() else ""
    try:
        from threadpoolctl import threadpool_info, threadpool_limits
    except ImportError:
        return f"env {THREAD_VARS[1]}={os.environ.get(THREAD_VARS[1], 'unset')} (threadpoolctl not installed){heap}"
    limit_threads.keep = threadpool_limits(limits=threads)   # keep the limiter alive
    pools = {f"{p['internal_api']}": p["num_threads"] for p in threadpool_info()}
    return "threadpoolctl " + ", ".join(f"{k}={v}" for k, v in sorted(pools.items())) + heap


def rss_now_mb() -> float:
    """Current resident set size in MiB (Linux /proc; elsewhere the peak so far)."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return peak_rss_mb()


def peak_rss_mb() -> float:
    """Peak resident set size of this process in MiB (ru_maxrss: KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def machine_info() -> dict:
    """CPU model and core count, OS, Python and library versions (for docs/benchmarks.md)."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    info = dict(cpu=cpu, logical_cpus=os.cpu_count(), platform=platform.platform(),
                python=platform.python_version())
    import numpy

    info["numpy"] = numpy.__version__
    info["torch"] = torch_version()
    return info


def torch_version():
    """torch.__version__ without importing torch in this process, or None if it is absent."""
    import importlib.util

    if importlib.util.find_spec("torch") is None:
        return None
    try:
        from importlib.metadata import version
        return version("torch")
    except Exception:  # noqa: BLE001 - a torch without metadata still runs
        return "unknown"


# ---------------------------------------------------------------- children
def emit(result: dict) -> None:
    """A child's answer: one RESULT line of JSON on stdout."""
    print("RESULT " + json.dumps(result), flush=True)


def run_child(script: str, args: list, threads: int, timeout: float = 3600, root: str = REPO_ROOT) -> dict:
    """Run ``python script --child ... args`` in a fresh process; return its RESULT.

    ``root`` is the checkout whose engine and benchmark script the child runs
    (another revision's, to measure a change before and after in one run)."""
    cmd = [sys.executable, os.path.join(root, "benchmarks", script), *map(str, args)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=child_env(threads, root), timeout=timeout)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(
            f"benchmark child failed (exit {proc.returncode}): {' '.join(cmd)}\n"
            f"--- stdout ---\n{proc.stdout[-3000:]}\n--- stderr ---\n{proc.stderr[-3000:]}"
        )
    return json.loads(lines[-1][len("RESULT "):])


def gemm_peak_child(lib: str, size: int, repeats: int = 7, device: str = "cpu") -> dict:
    """Best GFLOP/s of a float32 (size x size) @ (size x size) product (2 size^3 FLOPs)."""
    if lib == "numpy":
        import numpy as xp
        sync = None
    elif lib == "cupy":
        import cupy as xp
        sync = xp.cuda.Device().synchronize
    elif lib == "torch":
        import torch
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", os.cpu_count())))
        dev = torch.device(device)
        a = torch.randn(size, size, device=dev, dtype=torch.float32)
        b = torch.randn(size, size, device=dev, dtype=torch.float32)
        sync = torch.cuda.synchronize if dev.type == "cuda" else None
        return _best_gemm(lambda: a @ b, size, repeats, sync, lib)
    else:
        raise ValueError(f"gemm_peak_child: unknown library {lib!r}")
    rng = __import__("numpy").random.default_rng(0)
    a = xp.asarray(rng.standard_normal((size, size), dtype="float32"))
    b = xp.asarray(rng.standard_normal((size, size), dtype="float32"))
    return _best_gemm(lambda: a @ b, size, repeats, sync, lib)


def _best_gemm(fn, size, repeats, sync, lib):
    fn()
    if sync:
        sync()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        if sync:
            sync()
        best = min(best, time.perf_counter() - start)
    return dict(lib=lib, size=size, seconds=best, gflops=2 * size**3 / best / 1e9)


# ---------------------------------------------------------------- statistics and tables
def median(values):
    v = sorted(values)
    n = len(v)
    return v[n // 2] if n % 2 else 0.5 * (v[n // 2 - 1] + v[n // 2])


def format_table(headers: list, rows: list) -> str:
    """A plain-text table; the first column left-aligned, the others right-aligned."""
    cells = [list(map(str, headers))] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def line(r):
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))

    out = [line(cells[0]), "  ".join("-" * w for w in widths)]
    return "\n".join(out + [line(r) for r in cells[1:]])


def print_header(title: str, threads: int, extra: dict | None = None) -> None:
    info = machine_info()
    print(f"== {title} ==")
    print(f"date {time.strftime('%Y-%m-%d %H:%M')}, cpu {info['cpu']} ({info['logical_cpus']} logical), "
          f"threads {threads}")
    print(f"python {info['python']}, numpy {info['numpy']}, torch {info['torch'] or 'not installed'}, "
          f"{info['platform']}")
    for k, v in (extra or {}).items():
        print(f"{k}: {v}")
