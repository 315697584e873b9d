"""``minitransformer evaluate``: BLEU and chrF of a trained run on a test set."""
from __future__ import annotations

import json


def add_parser(subparsers):
    p = subparsers.add_parser("evaluate", help="BLEU and chrF on a test set", description=__doc__)
    p.add_argument("--run", required=True, help="run directory written by 'minitransformer train'")
    p.add_argument("--src", required=True, help="source sentences, one per line (plain or .gz)")
    p.add_argument("--ref", required=True, help="reference translations, one per line")
    p.add_argument("--beam", type=int, default=4, help="beam size (default 4; 1: greedy)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--max-len", type=int, default=128)
    p.add_argument("--checkpoint", default="best.ckpt")
    p.add_argument("--backend", default=None)
    p.add_argument("--output", help="also write the translations to this file")
    return p


def run(args) -> int:
    from ..data import load_parallel  # noqa: PLC0415
    from ..inference import check_max_len, load_run, translate_pairs  # noqa: PLC0415
    from ..training.evaluation import translation_scores  # noqa: PLC0415

    if args.beam < 1 or args.batch_size < 1 or args.max_len < 1:
        raise ValueError("--beam, --batch-size and --max-len must be positive")
    pairs = load_parallel(args.src, args.ref)
    run_ = load_run(args.run, checkpoint=args.checkpoint, backend=args.backend)
    check_max_len(run_.model, args.max_len)
    hyps = translate_pairs(run_.model, run_.src_tok, run_.tgt_tok, [s for s, _ in pairs], beam=args.beam,
                           max_len=args.max_len, batch_size=args.batch_size, backend=run_.backend)
    scores = translation_scores(hyps, [t for _, t in pairs])
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write("\n".join(hyps) + "\n")
    print(json.dumps({"sentences": len(pairs), **{k: round(v, 4) for k, v in scores.items()}}))
    return 0
