"""Training-step benchmark: minitransformer vs PyTorch, same model, same data, same threads.

    python benchmarks/train_step.py --config tiny            # or small, base, all
    python benchmarks/train_step.py --config small --steps 20 --repeats 3 --threads 4

One step = forward, label-smoothed cross-entropy (0.1, pad ignored),
backward, Adam step (betas 0.9/0.98, eps 1e-9), zero_grad; float32,
dropout 0, CPU.  Each measurement is a fresh child process (see harness.py):
``--repeats`` pairs run alternately (ours, torch, ours, torch, ...); each
child builds the model (the PyTorch one gets a copy of our initial weights,
so the two first losses agree), runs ``--warmup`` steps, then times
``--steps`` steps.  The per-step times of all repeats are pooled for the
median and minimum.  Without PyTorch installed (the ``reference`` extra)
only ours is measured.  ``--device cuda`` is used by gpu.py.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

LR, BETAS, EPS, SMOOTHING = 1e-4, (0.9, 0.98), 1e-9, 0.1


# ---------------------------------------------------------------- children
def _timed_steps(step, sync, steps: int, warmup: int):
    """Run warmup steps (the first loss is read there), then time ``steps`` steps in ms."""
    first = float(step().item())
    for _ in range(warmup - 1):
        step()
    sync()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        loss = step()
        sync()
        times.append(1e3 * (time.perf_counter() - start))
    return times, first, float(loss.item())


def child_ours(cfg: dict, steps: int, warmup: int, threads: int, device: str) -> dict:
    pools = harness.limit_threads(threads)
    import minitransformer as mt
    from minitransformer import functional as F
    from minitransformer import optim

    model = harness.build_ours(cfg)
    src, tgt_in, tgt_out = harness.make_batch(cfg)
    sync, memory = (lambda: None), _rss_reader()
    if device == "cuda":
        import cupy

        model.to("cupy")
        src, tgt_in, tgt_out = (cupy.asarray(a) for a in (src, tgt_in, tgt_out))
        sync, memory = cupy.cuda.Device().synchronize, _cupy_pool_reader(cupy)
    model.train()
    opt = optim.Adam(model.parameters(), lr=LR, betas=BETAS, eps=EPS)
    params = sum(p.numel() for p in model.parameters())
    gc.collect()
    base = memory()

    def step():
        logits = model(src, tgt_in)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt_out.reshape(-1),
                               ignore_index=harness.PAD_ID, label_smoothing=SMOOTHING)
        loss.backward()
        opt.step()
        opt.zero_grad()
        return loss

    times, first, last = _timed_steps(step, sync, steps, warmup)
    peak = memory(peak=True)
    return dict(impl="ours", times_ms=times, first_loss=first, last_loss=last, params=int(params),
                mem_base_mb=base, mem_peak_mb=peak, threads=pools, version=mt.__version__)


def child_torch(cfg: dict, steps: int, warmup: int, threads: int, device: str) -> dict:
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(threads)
    pools = harness.limit_threads(threads) + f", torch {torch.get_num_threads()} threads"
    from torch_reference import TorchTransformer, copy_from_ours

    kw = harness.model_kwargs(cfg)
    model = TorchTransformer(cfg["vocab"], cfg["d_model"], cfg["num_heads"], cfg["num_encoder_layers"],
                             cfg["num_decoder_layers"], cfg["d_ff"], kw["max_len"], harness.PAD_ID)
    ours = harness.build_ours(cfg)
    copy_from_ours(model, ours)
    del ours
    sync, memory = (lambda: None), _rss_reader()
    if device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False   # full float32, as CuPy with CUPY_TF32=0
        torch.backends.cudnn.allow_tf32 = False
        model.cuda()
        sync, memory = torch.cuda.synchronize, _torch_cuda_reader(torch)
    model.train()   # dropout is 0 anyway; train mode keeps PyTorch on its autograd path
    src, tgt_in, tgt_out = (torch.from_numpy(a).to(device) for a in harness.make_batch(cfg))
    opt = torch.optim.Adam(model.parameters(), lr=LR, betas=BETAS, eps=EPS)
    params = sum(p.numel() for p in model.parameters())
    vocab = cfg["vocab"]
    gc.collect()
    base = memory()

    def step():
        logits = model(src, tgt_in)
        loss = F.cross_entropy(logits.reshape(-1, vocab), tgt_out.reshape(-1), ignore_index=harness.PAD_ID,
                               label_smoothing=SMOOTHING)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss

    times, first, last = _timed_steps(step, sync, steps, warmup)
    peak = memory(peak=True)
    return dict(impl="torch", times_ms=times, first_loss=first, last_loss=last, params=int(params),
                mem_base_mb=base, mem_peak_mb=peak, threads=pools, version=torch.__version__)


def _rss_reader():
    """Host memory: the current RSS (baseline) or the peak RSS (ru_maxrss)."""
    return lambda peak=False: harness.peak_rss_mb() if peak else harness.rss_now_mb()


def _cupy_pool_reader(cupy):
    """GPU memory held by CuPy's pool; the pool keeps freed blocks, so after the steps
    its size is the peak of what the steps needed (rounded up to blocks)."""
    pool = cupy.get_default_memory_pool()
    return lambda peak=False: pool.total_bytes() / 2**20


def _torch_cuda_reader(torch):
    """GPU memory reserved by PyTorch's caching allocator (the same notion as CuPy's pool)."""
    def read(peak=False):
        if peak:
            return torch.cuda.max_memory_reserved() / 2**20
        torch.cuda.reset_peak_memory_stats()
        return torch.cuda.memory_reserved() / 2**20
    return read


# ---------------------------------------------------------------- parent
def measure_peak(libs, size: int, threads: int, device: str) -> dict:
    """GFLOP/s of a float32 size^3 product per library, best of several, in one fresh child
    (the libraries one after the other, in the order given)."""
    return harness.run_child("train_step.py", ["--child", "gemm-" + ",".join(libs), "--peak-size", size,
                                               "--device", device, "--threads", threads], threads)


def compare(cfg_name: str, args, device: str = "cpu", ours_lib: str = "numpy") -> dict:
    """Alternate ours/torch children for one config; print and return the summary."""
    cfg = harness.CONFIGS[cfg_name]
    have_torch = args.impl != "ours" and harness.torch_version() is not None
    impls = [i for i in ("ours", "torch") if i != "torch" or have_torch]
    if args.baseline:   # another checkout's engine, alternated with ours in the same run
        impls = ["baseline"] + impls
    if args.impl == "torch":
        impls = ["torch"] if have_torch else []
    flops = harness.train_flops(cfg)
    print(f"\n-- config {cfg_name}: d_model {cfg['d_model']}, heads {cfg['num_heads']}, layers "
          f"{cfg['num_encoder_layers']}+{cfg['num_decoder_layers']}, d_ff {cfg['d_ff']}, vocab {cfg['vocab']}, "
          f"batch {cfg['batch']} x {cfg['src_len']} src / {cfg['tgt_len']} tgt tokens, device {device}")
    print(f"matmul FLOPs per step (3 x forward): {flops['train_step'] / 1e9:.4g} GFLOP; forward, in GFLOP: "
          + ", ".join(f"{k} {v / 1e9:.3g}" for k, v in flops.items() if k not in ("forward", "train_step")))
    peak_libs = [ours_lib] + (["torch"] if have_torch else [])
    peaks = measure_peak(peak_libs, args.peak_size, args.threads, device)
    peak = max(peaks.values())
    print(f"float32 GEMM peak ({args.peak_size}^3, {args.threads} threads, best of 7): "
          + ", ".join(f"{k} {v:.1f} GFLOP/s" for k, v in peaks.items()) + f" -> peak {peak:.1f}")
    if args.impl == "ours":
        print("--impl ours: measuring ours only")
    elif not have_torch:
        print("PyTorch is not installed (pip install 'minitransformer[reference]'): measuring ours only")
    runs = {i: [] for i in impls}
    child_args = ["--config", cfg_name, "--steps", args.steps, "--warmup", args.warmup,
                  "--threads", args.threads, "--device", device]
    for r in range(args.repeats):
        for impl in impls:
            if impl == "baseline":
                run = harness.run_child("train_step.py", ["--child", "ours", *child_args], args.threads,
                                        root=os.path.abspath(args.baseline))
            else:
                run = harness.run_child("train_step.py", ["--child", impl, *child_args], args.threads)
            runs[impl].append(run)
    rows, summary = [], dict(config=cfg_name, cfg=cfg, device=device, threads=args.threads, flops=flops,
                             gemm_peak_gflops=peaks, results={})
    tokens = cfg["batch"] * cfg["tgt_len"]
    mem_label = "GPU mem" if device == "cuda" else "RSS"
    for impl in impls:
        times = [t for run in runs[impl] for t in run["times_ms"]]
        med, best = harness.median(times), min(times)
        step_mem = max(run["mem_peak_mb"] - run["mem_base_mb"] for run in runs[impl])
        peak_mem = max(run["mem_peak_mb"] for run in runs[impl])
        gflops = flops["train_step"] / (med / 1e3) / 1e9
        res = dict(median_ms=med, min_ms=best, tokens_per_s=tokens / (med / 1e3), step_mem_mb=step_mem,
                   peak_mem_mb=peak_mem, gflops=gflops, peak_fraction=gflops / peak,
                   first_loss=runs[impl][0]["first_loss"], last_loss=runs[impl][0]["last_loss"],
                   run_medians_ms=[harness.median(run["times_ms"]) for run in runs[impl]],
                   params=runs[impl][0]["params"], threads=runs[impl][0]["threads"], version=runs[impl][0]["version"])
        summary["results"][impl] = res
        rows.append([impl, f"{med:.2f}", f"{best:.2f}", f"{res['tokens_per_s']:.0f}", f"{step_mem:.1f}",
                     f"{peak_mem:.1f}", f"{gflops:.2f}", f"{100 * res['peak_fraction']:.1f}%",
                     f"{res['first_loss']:.4f} -> {res['last_loss']:.4f}"])
    print(harness.format_table(
        ["impl", "median ms/step", "min ms/step", "tgt tokens/s", f"step {mem_label} MB", f"peak {mem_label} MB",
         "GFLOP/s", "% of peak", "loss first -> last"], rows))
    for impl in impls:
        r = summary["results"][impl]
        print(f"{impl}: {r['params']} parameters; medians per child run (ms): "
              + ", ".join(f"{m:.2f}" for m in r["run_medians_ms"]) + f"; {r['threads']}")
    results = summary["results"]
    if "ours" in results and "torch" in results:
        a, b = results["ours"], results["torch"]
        summary["ratio_median"], summary["ratio_min"] = a["median_ms"] / b["median_ms"], a["min_ms"] / b["min_ms"]
        print(f"ours / PyTorch time per step: {summary['ratio_median']:.2f}x (median), "
              f"{summary['ratio_min']:.2f}x (min)")
    if "baseline" in results:
        base = results["baseline"]
        if "torch" in results:
            print(f"baseline / PyTorch time per step: {base['median_ms'] / results['torch']['median_ms']:.2f}x "
                  f"(median), {base['min_ms'] / results['torch']['min_ms']:.2f}x (min)")
        summary["ratio_to_baseline_median"] = results["ours"]["median_ms"] / base["median_ms"]
        print(f"ours / baseline time per step: {summary['ratio_to_baseline_median']:.3f}x (median), "
              f"{results['ours']['min_ms'] / base['min_ms']:.3f}x (min)")
    return summary


def parse_args(argv=None, device_default: str = "cpu"):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default="tiny", choices=[*harness.CONFIGS, "all"],
                   help="model/batch size; 'all' = tiny, small, base ('smoke' is a seconds-long test size)")
    p.add_argument("--steps", type=int, default=10, help="timed steps per child run")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps first (>= 1)")
    p.add_argument("--repeats", type=int, default=3, help="number of ours/torch child-run pairs")
    p.add_argument("--threads", type=int, default=os.cpu_count(), help="BLAS/OpenMP/torch threads")
    p.add_argument("--impl", default="both", choices=["both", "ours", "torch"])
    p.add_argument("--baseline", metavar="CHECKOUT",
                   help="also measure the engine of another checkout (an earlier revision), alternated "
                        "with ours and PyTorch in the same run: a change measured before and after")
    p.add_argument("--peak-size", type=int, default=2048, help="matrix size of the GEMM peak measurement")
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    p.add_argument("--device", default=device_default, choices=["cpu", "cuda"], help=argparse.SUPPRESS)
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    for name in ("steps", "warmup", "repeats", "threads", "peak_size"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    return args


def run_child_mode(args) -> None:
    if args.child.startswith("gemm-"):
        harness.limit_threads(args.threads)
        harness.emit({lib: harness.gemm_peak_child(lib, args.peak_size, device=args.device)["gflops"]
                      for lib in args.child[5:].split(",")})
        return
    fn = {"ours": child_ours, "torch": child_torch}[args.child]
    harness.emit(fn(harness.CONFIGS[args.config], args.steps, args.warmup, args.threads, args.device))


def main(argv=None, title: str = "training step: minitransformer vs PyTorch (float32, CPU)",
         device_default: str = "cpu", ours_lib: str = "numpy", header: dict | None = None) -> list:
    args = parse_args(argv, device_default)
    if args.child:
        run_child_mode(args)
        return []
    header = {"command": " ".join([os.path.basename(sys.argv[0]), *sys.argv[1:]]), **(header or {})}
    harness.print_header(title, args.threads, header)
    results = [compare(name, args, args.device, ours_lib) for name in harness.config_names(args.config)]
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(machine=harness.machine_info(), header=header, results=results), f, indent=1)
        print(f"\nwrote {args.json}")
    return results


if __name__ == "__main__":
    main()
