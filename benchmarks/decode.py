"""Decoding benchmark: greedy and beam search, minitransformer vs PyTorch, same weights.

    python benchmarks/decode.py --config tiny            # or small, base, all
    python benchmarks/decode.py --config small --runs 5 --repeats 3 --beam 4

A batch of ``--batch`` (32) random source sentences of 16..24 tokens (padded
to the longest) is translated with ``--max-len`` (30) steps at most, in eval
mode, float32, CPU.  Ours: ``minitransformer.inference.greedy_decode`` and
``beam_search`` (both with a key/value cache).  PyTorch has no generation
API for nn.Transformer, so the reference decoders are written in
torch_reference.py with the same weights and the same algorithm:

* ``greedy (no cache)``: re-runs nn.TransformerDecoder on the whole prefix
  at every step (what nn.Transformer alone offers; O(T^2) decoder work);
* ``greedy`` / ``beam``: the same layers' weights applied step by step with
  a key/value cache, as ours (the fair comparison).

The weights are untrained (random), so no sentence emits end-of-sentence
early: every batch runs the full ``--max-len`` steps (the worst case).  The
"same as ours" column checks that both produce the same tokens.
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

SRC_MIN, SRC_MAX = 16, 24   # source lengths, "about 20" tokens


def make_sources(cfg: dict, batch: int, src_min: int, src_max: int, seed: int = harness.SEED):
    """(batch, longest) int64 ids with random lengths in [src_min, src_max], padded with 0."""
    import numpy

    rng = numpy.random.default_rng(seed)
    lengths = rng.integers(src_min, src_max + 1, batch)
    src = numpy.full((batch, int(lengths.max())), harness.PAD_ID, dtype=numpy.int64)
    for i, n in enumerate(lengths):
        src[i, :n] = rng.integers(harness.FIRST_TOKEN, cfg["vocab"], n)
    return src


def _time_modes(modes: dict, runs: int) -> dict:
    """Warm up every mode once, then time ``runs`` rounds of all modes (interleaved, so that
    a slow spell of the machine hits every mode alike); per mode: times in ms and the
    tokens of the warm-up call."""
    results = {name: dict(times_ms=[], tokens=fn()) for name, fn in modes.items()}
    for _ in range(runs):
        for name, fn in modes.items():
            start = time.perf_counter()
            fn()
            results[name]["times_ms"].append(1e3 * (time.perf_counter() - start))
    return results


def child_ours(cfg: dict, args) -> dict:
    pools = harness.limit_threads(args.threads)
    from minitransformer.inference import beam_search, greedy_decode

    model = harness.build_ours(cfg)
    model.eval()
    src = make_sources(cfg, args.batch, args.src_min, args.src_max)
    gc.collect()
    base = harness.rss_now_mb()
    modes = {
        "greedy": lambda: greedy_decode(model, src, max_len=args.max_len),
        f"beam {args.beam}": lambda: beam_search(model, src, beam=args.beam, max_len=args.max_len),
    }
    results = _time_modes(modes, args.runs)
    return dict(impl="ours", modes=results, mem_mb=harness.peak_rss_mb() - base, threads=pools)


def child_torch(cfg: dict, args) -> dict:
    import torch

    torch.set_num_threads(args.threads)
    pools = harness.limit_threads(args.threads) + f", torch {torch.get_num_threads()} threads"
    import torch_reference as ref

    kw = harness.model_kwargs(cfg)
    model = ref.TorchTransformer(cfg["vocab"], cfg["d_model"], cfg["num_heads"], cfg["num_encoder_layers"],
                                 cfg["num_decoder_layers"], cfg["d_ff"], kw["max_len"], harness.PAD_ID)
    ours = harness.build_ours(cfg)
    ref.copy_from_ours(model, ours)
    del ours
    model.eval()
    src = torch.from_numpy(make_sources(cfg, args.batch, args.src_min, args.src_max))
    gc.collect()
    base = harness.rss_now_mb()
    modes = {
        "greedy (no cache)": lambda: ref.greedy_nocache(model, src, args.max_len),
        "greedy": lambda: ref.greedy_cached(model, src, args.max_len),
        f"beam {args.beam}": lambda: ref.beam_cached(model, src, args.beam, args.max_len),
    }
    with torch.inference_mode():
        results = _time_modes(modes, args.runs)
    return dict(impl="torch", modes=results, mem_mb=harness.peak_rss_mb() - base, threads=pools)


def compare(cfg_name: str, args) -> dict:
    cfg = harness.CONFIGS[cfg_name]
    have_torch = harness.torch_version() is not None
    impls = ["ours", "torch"] if have_torch else ["ours"]
    print(f"\n-- config {cfg_name}: d_model {cfg['d_model']}, heads {cfg['num_heads']}, layers "
          f"{cfg['num_encoder_layers']}+{cfg['num_decoder_layers']}, d_ff {cfg['d_ff']}, vocab {cfg['vocab']}; "
          f"batch {args.batch} sentences of {args.src_min}..{args.src_max} tokens, max_len {args.max_len}, "
          f"beam {args.beam}")
    if not have_torch:
        print("PyTorch is not installed (pip install 'minitransformer[reference]'): measuring ours only")
    runs = {i: [] for i in impls}
    child_args = ["--config", cfg_name, "--runs", args.runs, "--threads", args.threads, "--batch", args.batch,
                  "--max-len", args.max_len, "--beam", args.beam, "--src-min", args.src_min, "--src-max", args.src_max]
    for _ in range(args.repeats):
        for impl in impls:
            runs[impl].append(harness.run_child("decode.py", ["--child", impl, *child_args], args.threads))
    summary = dict(config=cfg_name, cfg=cfg, threads=args.threads, batch=args.batch, max_len=args.max_len,
                   beam=args.beam, results={})
    ours_tokens = runs["ours"][0]["modes"]
    rows = []
    for impl in impls:
        for mode in runs[impl][0]["modes"]:
            times = [t for run in runs[impl] for t in run["modes"][mode]["times_ms"]]
            med = harness.median(times)
            reference = ours_tokens.get(mode.replace(" (no cache)", ""))
            tokens = runs[impl][0]["modes"][mode]["tokens"]
            same = sum(a == b for a, b in zip(tokens, reference["tokens"])) / len(tokens) if reference else None
            summary["results"][f"{impl} {mode}"] = dict(median_ms=med, min_ms=min(times), same_as_ours=same,
                                                       sentences_per_s=args.batch / (med / 1e3))
            rows.append([impl, mode, f"{med:.1f}", f"{min(times):.1f}", f"{args.batch / (med / 1e3):.1f}",
                         f"{max(run['mem_mb'] for run in runs[impl]):.1f}",
                         "-" if impl == "ours" else f"{100 * same:.0f}%"])
    print(harness.format_table(["impl", "mode", "median ms/batch", "min ms/batch", "sentences/s",
                                "peak RSS MB (child)", "same as ours"], rows))
    res = summary["results"]
    for mode in ours_tokens:
        for ref_mode in (mode, f"{mode} (no cache)"):
            if f"torch {ref_mode}" in res:
                ratio = res[f"ours {mode}"]["median_ms"] / res[f"torch {ref_mode}"]["median_ms"]
                summary[f"ratio {mode} / torch {ref_mode}"] = ratio
                print(f"ours {mode} / PyTorch {ref_mode}: {ratio:.2f}x (median time per batch)")
    return summary


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default="tiny", choices=[*harness.CONFIGS, "all"],
                   help="model size (as train_step.py); 'all' = tiny, small, base")
    p.add_argument("--runs", type=int, default=3, help="timed batches per mode per child run")
    p.add_argument("--repeats", type=int, default=2, help="number of ours/torch child-run pairs")
    p.add_argument("--threads", type=int, default=os.cpu_count(), help="BLAS/OpenMP/torch threads")
    p.add_argument("--batch", type=int, default=32, help="sentences per batch")
    p.add_argument("--max-len", type=int, default=30, help="decoding steps at most")
    p.add_argument("--beam", type=int, default=4, help="beam size")
    p.add_argument("--src-min", type=int, default=SRC_MIN, help="shortest source sentence")
    p.add_argument("--src-max", type=int, default=SRC_MAX, help="longest source sentence")
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    for name in ("runs", "repeats", "threads", "batch", "max_len", "beam", "src_min"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    for name in ("max_len", "src_max"):
        if getattr(args, name) > harness.MAX_POSITIONS:
            p.error(f"--{name.replace('_', '-')} must be <= {harness.MAX_POSITIONS} (the models' positional table)")
    if args.src_max < args.src_min:
        p.error(f"--src-max ({args.src_max}) must be >= --src-min ({args.src_min})")
    return args


def main(argv=None) -> list:
    args = parse_args(argv)
    if args.child:
        fn = {"ours": child_ours, "torch": child_torch}[args.child]
        harness.emit(fn(harness.CONFIGS[args.config], args))
        return []
    harness.print_header("decoding: minitransformer vs PyTorch (float32, CPU, eval mode)", args.threads,
                         {"command": " ".join([os.path.basename(sys.argv[0]), *sys.argv[1:]])})
    results = [compare(name, args) for name in harness.config_names(args.config)]
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(machine=harness.machine_info(), results=results), f, indent=1)
        print(f"\nwrote {args.json}")
    return results


if __name__ == "__main__":
    main()
