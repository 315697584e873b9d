"""From a TrainConfig to token ids: load or generate pairs, train tokenizers, encode.

The tokenizer models are written into the run directory, so that
``translate`` and ``evaluate`` need nothing but that directory.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..data import Tokenizer, filter_by_length, load_parallel, load_tsv, make_task, train_tokenizers
from ..inference.run import load_tokenizers, tokenizer_paths


@dataclass
class Datasets:
    train: list           # (src, tgt) string pairs
    valid: list
    test: list
    src_tok: Tokenizer
    tgt_tok: Tokenizer
    report: str           # what the length filter dropped


def load_pairs(config):
    """Training, validation and test pairs named by the config."""
    if config.train_tsv:
        train = load_tsv(config.train_tsv)
        valid = load_tsv(config.valid_tsv) if config.valid_tsv else []
        return train, valid, []
    if config.src_train:
        train = load_parallel(config.src_train, config.tgt_train)
        valid = load_parallel(config.src_valid, config.tgt_valid) if config.src_valid else []
        return train, valid, []
    n_eval = max(200, config.task_size // 10)
    splits = make_task(config.task, config.task_size, n_eval, n_eval, seed=config.seed)
    return splits["train"], splits["valid"], splits["test"]


def prepare(config, run_dir: str, reuse_tokenizers: bool = False) -> Datasets:
    train, valid, test = load_pairs(config)
    train, report = filter_by_length(train, config.max_len)
    if not train:
        raise ValueError("no training pairs left after length filtering")
    if not valid:  # hold out a slice of the training data
        cut = max(1, len(train) // 20)
        train, valid = train[cut:], train[:cut]
    valid, _ = filter_by_length(valid, config.max_len)
    if reuse_tokenizers:
        src_tok, tgt_tok = load_tokenizers(run_dir)
    else:
        src_tok, tgt_tok = train_tokenizers(
            [s for s, _ in train], [t for _, t in train], vocab_size=config.vocab_size,
            joint=config.joint_vocab, model_type=config.tokenizer_type, out_dir=None,
            hard_vocab_limit=False,
        )
        src_path, tgt_path = tokenizer_paths(run_dir, config.joint_vocab)
        src_tok.save(src_path)
        if not config.joint_vocab:
            tgt_tok.save(tgt_path)
    return Datasets(train, valid, test, src_tok, tgt_tok, str(report))
