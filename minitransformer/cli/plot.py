"""``minitransformer plot``: draw a run's curves and attention heatmaps as PNG files."""
from __future__ import annotations


def add_parser(subparsers):
    p = subparsers.add_parser("plot", help="loss, learning-rate, BLEU and attention plots", description=__doc__)
    p.add_argument("--run", required=True, help="run directory written by 'minitransformer train'")
    p.add_argument("--sentence", help="sentence for the attention heatmaps (default: none)")
    return p


def run(args) -> int:
    from ..viz.training import plot_run  # noqa: PLC0415

    model = tokenizers = None
    if args.sentence:
        from ..inference import load_run  # noqa: PLC0415

        loaded = load_run(args.run)
        model, tokenizers = loaded.model, (loaded.src_tok, loaded.tgt_tok)
    for path in plot_run(args.run, model=model, tokenizers=tokenizers, sample=args.sentence):
        print(path)
    return 0
