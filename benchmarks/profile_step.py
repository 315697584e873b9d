"""Where does a training step of ours spend its time?  The per-op table, forward/backward split.

    python benchmarks/profile_step.py --config tiny               # or small, base
    python benchmarks/profile_step.py --config small --steps 5 --threads 2 --limit 15

Builds the benchmark model of ``--config`` (as train_step.py), runs
``--warmup`` plain steps, times ``--steps`` plain steps (no profiler), then
runs ``--steps`` steps under ``minitransformer.profiler.profile`` with the
phases as sections (forward + loss, backward, optimizer) and prints the
table per step.  Op times are the array code of each op's forward/backward;
"the rest" is Python around them (see minitransformer/profiler.py).
"""
from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402  (imports nothing numeric: thread variables are set below first)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default="tiny", choices=list(harness.CONFIGS))
    p.add_argument("--steps", type=int, default=5, help="steps timed, and steps profiled")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    p.add_argument("--threads", type=int, default=None, help="BLAS/OpenMP threads (default: the library's)")
    p.add_argument("--limit", type=int, default=None, help="show the N most expensive op kinds only")
    args = p.parse_args(argv)
    for name in ("steps", "warmup"):
        if getattr(args, name) < 1:
            p.error(f"--{name} must be >= 1, got {getattr(args, name)}")
    if args.threads is not None and args.threads < 1:
        p.error(f"--threads must be >= 1, got {args.threads}")
    return args


def main(argv=None) -> str:
    args = parse_args(argv)
    if args.threads is not None:   # before NumPy's BLAS starts its thread pool
        for var in harness.THREAD_VARS:
            os.environ[var] = str(args.threads)
        pools = harness.limit_threads(args.threads)
    else:
        pools = "library default"
    from minitransformer import functional as F
    from minitransformer import optim
    from minitransformer.profiler import profile

    cfg = harness.CONFIGS[args.config]
    model = harness.build_ours(cfg)
    model.train()
    opt = optim.Adam(model.parameters(), lr=1e-4, betas=(0.9, 0.98), eps=1e-9)
    src, tgt_in, tgt_out = harness.make_batch(cfg)

    def step(prof=None):
        with prof.section("forward + loss") if prof else _nothing():
            logits = model(src, tgt_in)
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt_out.reshape(-1),
                                   ignore_index=harness.PAD_ID, label_smoothing=0.1)
        with prof.section("backward") if prof else _nothing():
            loss.backward()
        with prof.section("optimizer step + zero_grad") if prof else _nothing():
            opt.step()
            opt.zero_grad()

    for _ in range(args.warmup):
        step()
    start = time.perf_counter()
    for _ in range(args.steps):
        step()
    plain_ms = 1e3 * (time.perf_counter() - start) / args.steps
    with profile() as prof:
        for _ in range(args.steps):
            step(prof)
    text = "\n".join([
        f"== per-op profile, config {args.config}: d_model {cfg['d_model']}, layers {cfg['num_encoder_layers']}+"
        f"{cfg['num_decoder_layers']}, batch {cfg['batch']} x {cfg['tgt_len']}; threads: {pools} ==",
        f"plain step (no profiler): {plain_ms:.2f} ms; profiled: {1e3 * prof.wall_s / args.steps:.2f} ms "
        f"(the profiler's own cost is in the difference); times below are per step, mean of {args.steps}",
        "",
        prof.table(limit=args.limit, steps=args.steps),
    ])
    print(text)
    return text


class _nothing:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


if __name__ == "__main__":
    main()
