"""``minitransformer translate``: translate sentences with a trained run.

Sentences come from the arguments, from ``--input FILE``, or from standard
input (one per line); translations go to standard output, one per line, in
the same order.
"""
from __future__ import annotations

import sys


def add_parser(subparsers):
    p = subparsers.add_parser("translate", help="translate with a trained run", description=__doc__.split("\n\n")[0])
    p.add_argument("sentences", nargs="*", help="sentences to translate")
    p.add_argument("--run", required=True, help="run directory written by 'minitransformer train'")
    p.add_argument("--input", help="file of sentences, one per line ('-' for stdin)")
    p.add_argument("--beam", type=int, default=4, help="beam size (default 4; 1: greedy)")
    p.add_argument("--batch-size", type=int, default=32, help="sentences decoded together")
    p.add_argument("--max-len", type=int, default=128, help="longest translation in tokens")
    p.add_argument("--checkpoint", default="best.ckpt", help="best.ckpt (default) or last.ckpt")
    p.add_argument("--backend", default=None, help="numpy or cupy (default: the current backend)")
    return p


def read_sentences(args) -> list:
    if args.sentences and args.input:
        raise ValueError("give sentences as arguments or with --input, not both")
    if args.sentences:
        return list(args.sentences)
    if args.input and args.input != "-":
        from ..data import read_lines  # noqa: PLC0415

        return read_lines(args.input)
    return [line.rstrip("\n") for line in sys.stdin]


def run(args) -> int:
    from ..inference import check_max_len, load_run, translate_pairs  # noqa: PLC0415

    if args.beam < 1 or args.batch_size < 1 or args.max_len < 1:
        raise ValueError("--beam, --batch-size and --max-len must be positive")
    run_ = load_run(args.run, checkpoint=args.checkpoint, backend=args.backend)
    check_max_len(run_.model, args.max_len)
    sentences = read_sentences(args)
    outputs = translate_pairs(run_.model, run_.src_tok, run_.tgt_tok, sentences, beam=args.beam,
                              max_len=args.max_len, batch_size=args.batch_size, backend=run_.backend)
    for line in outputs:
        print(line)
    return 0
