"""``minitransformer train``: train a translator.

With no arguments it trains a small model on the built-in ``numbers`` task
(digits to English words) and finishes in about a minute on a 2-core CPU.  Options come from the defaults, then ``--config FILE`` (TOML or
JSON), then the flags given, each overriding the one before.
"""
from __future__ import annotations

from ..data import TASKS


def _bool(text: str) -> bool:
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected true or false, got {text!r}")


# (flag, config field, type, help): every flag defaults to None, meaning "not given"
FLAGS = [
    ("--task", "task", str, f"built-in task: {', '.join(TASKS)} (default numbers)"),
    ("--task-size", "task_size", int, "training pairs generated for a built-in task"),
    ("--src-train", "src_train", str, "source side of the training corpus (plain or .gz)"),
    ("--tgt-train", "tgt_train", str, "target side of the training corpus"),
    ("--src-valid", "src_valid", str, "source side of the validation corpus"),
    ("--tgt-valid", "tgt_valid", str, "target side of the validation corpus"),
    ("--train-tsv", "train_tsv", str, "training pairs as source<TAB>target lines"),
    ("--valid-tsv", "valid_tsv", str, "validation pairs as source<TAB>target lines"),
    ("--max-len", "max_len", int, "drop pairs longer than this many words"),
    ("--vocab-size", "vocab_size", int, "sentencepiece vocabulary size"),
    ("--tokenizer-type", "tokenizer_type", str, "bpe or unigram"),
    ("--d-model", "d_model", int, "model width"),
    ("--heads", "heads", int, "attention heads"),
    ("--layers", "layers", int, "encoder and decoder layers (each)"),
    ("--d-ff", "d_ff", int, "feed-forward width"),
    ("--dropout", "dropout", float, "dropout probability"),
    ("--norm-first", "norm_first", _bool, "pre-LN (true) or post-LN as in the paper (false)"),
    ("--share-embeddings", "share_embeddings", _bool, "one embedding table for source and target"),
    ("--tie-output", "tie_output", _bool, "output projection tied to the target embedding"),
    ("--label-smoothing", "label_smoothing", float, "label smoothing epsilon"),
    ("--max-tokens", "max_tokens", int, "token budget of a micro-batch, padding included"),
    ("--token-budget", "token_budget", str,
     "how --max-tokens counts: per-side (neither side over it, as fairseq) or both-sides (their sum)"),
    ("--max-sentences", "max_sentences", int, "sentence cap of a micro-batch"),
    ("--accum-steps", "accum_steps", int, "micro-batches accumulated per update"),
    ("--optimizer", "optimizer", str, "adam, adamw, lamb, sgd, adagrad or rmsprop"),
    ("--lr", "lr", float, "learning rate (with noam: the peak at the end of warmup)"),
    ("--weight-decay", "weight_decay", float, "weight decay"),
    ("--schedule", "schedule", str, "noam, inverse-sqrt, cosine, linear or constant"),
    ("--warmup", "warmup", int, "warmup updates"),
    ("--clip-norm", "clip_norm", float, "clip the gradient norm to this (0: off)"),
    ("--epochs", "epochs", int, "stop after this many epochs"),
    ("--max-steps", "max_steps", int, "stop after this many updates"),
    ("--time-budget", "time_budget", float, "stop after this many seconds of training (default and 0: no limit)"),
    ("--eval-every", "eval_every", int, "evaluate every N updates"),
    ("--save-every", "save_every", int, "write the last checkpoint every N updates"),
    ("--patience", "patience", int, "early stopping: evaluations without improvement"),
    ("--early-stop-metric", "early_stop_metric", str, "valid_loss or bleu"),
    ("--eval-sentences", "eval_sentences", int, "validation sentences translated for BLEU"),
    ("--beam", "beam", int, "beam size for evaluation (1: greedy)"),
    ("--decode-max-len", "decode_max_len", int, "longest translation (in tokens) at evaluation"),
    ("--backend", "backend", str, "numpy, cupy, or strict (NumPy arrays that act as CuPy's, for tests)"),
    ("--dtype", "dtype", str, "float32 (default) or float64 (slower; for exact comparisons)"),
    ("--seed", "seed", int, "random seed"),
    ("--out", "out", str, "run directory (checkpoints, tokenizer, metrics, plots)"),
    ("--on-nonfinite", "on_nonfinite", str, "stop or skip when the loss is NaN/inf"),
    ("--collective-timeout", "collective_timeout", float,
     "with MPI: abort the job when a collective waits longer than this many seconds (default 300)"),
]


def add_parser(subparsers):
    p = subparsers.add_parser("train", help="train a Transformer translator",
                              description=__doc__.split("\n\n")[0])
    p.add_argument("--config", help="TOML or JSON file of options (flags override it)")
    for flag, field, kind, help_text in FLAGS:
        p.add_argument(flag, dest=field, type=kind, default=None, help=help_text)
    p.add_argument("--separate-vocab", dest="joint_vocab", action="store_false", default=None,
                   help="train separate source and target vocabularies")
    p.add_argument("--resume", action="store_true", default=None, help="continue from the run's last checkpoint")
    p.add_argument("--detect-anomaly", action="store_true", default=None,
                   help="stop at the first op that produces NaN or inf, naming it")
    p.add_argument("--no-progress", dest="progress", action="store_false", default=None,
                   help="no progress bar")
    p.add_argument("--distributed", action="store_true", default=None,
                   help="data-parallel training over MPI (mpirun -n N ...); an mpirun launch is "
                        "detected without it, with it a missing mpi4py is an error")
    return p


def build_config(args):
    from ..training.config import TrainConfig  # noqa: PLC0415

    options = TrainConfig.from_file(args.config) if args.config else {}
    for field in [f for _, f, _, _ in FLAGS] + ["joint_vocab", "resume", "detect_anomaly", "progress", "distributed"]:
        value = getattr(args, field, None)
        if value is not None:
            options[field] = value
    for off_by_zero in ("clip_norm", "time_budget"):  # 0 switches these off
        if options.get(off_by_zero) == 0:
            options[off_by_zero] = None
    if options.get("src_train") or options.get("train_tsv"):
        options.setdefault("task", None)
    return TrainConfig.from_dict(options)   # checked as it is made


def run(args) -> int:
    from ..distributed import init_world  # noqa: PLC0415

    config = build_config(args)
    # one process unless an MPI launcher started several (or --distributed asks for MPI)
    world = init_world(required=config.distributed, timeout=config.collective_timeout)
    if world.size == 1 and not config.distributed:
        from ..training.trainer import Trainer  # noqa: PLC0415

        Trainer(config).run()
    else:
        from ..distributed.trainer import DistributedTrainer  # noqa: PLC0415

        DistributedTrainer(config, world).run()
    return 0
