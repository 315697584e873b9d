"""Load a trained run (model and tokenizers) for translation and evaluation.

A run directory, as ``minitransformer train`` writes it, holds the
checkpoints (``best.ckpt``, ``last.ckpt``) and the tokenizer models: one
``tokenizer.model`` for a joint vocabulary, or ``src.model`` and
``tgt.model``.  Training writes the tokenizers where ``tokenizer_paths``
says, and everything that reads a run finds them with ``load_tokenizers``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from .. import backend as _backend
from ..data import Tokenizer
from ..nn import TransformerTranslator
from ..serialization import load


def tokenizer_paths(run_dir: str, joint: bool) -> tuple:
    """(source, target) tokenizer model paths in ``run_dir``; one file twice for a joint vocabulary."""
    if joint:
        path = os.path.join(run_dir, "tokenizer.model")
        return path, path
    return os.path.join(run_dir, "src.model"), os.path.join(run_dir, "tgt.model")


def load_tokenizers(run_dir: str) -> tuple:
    """The tokenizers saved in a run directory (joint, or source and target)."""
    joint, _ = tokenizer_paths(run_dir, joint=True)
    if os.path.exists(joint):
        tok = Tokenizer.load(joint)
        return tok, tok
    src, tgt = tokenizer_paths(run_dir, joint=False)
    if not (os.path.exists(src) and os.path.exists(tgt)):
        raise FileNotFoundError(
            f"no tokenizer model in {run_dir} (expected tokenizer.model, or src.model and tgt.model)"
        )
    return Tokenizer.load(src), Tokenizer.load(tgt)


@dataclass
class LoadedRun:
    model: TransformerTranslator
    src_tok: Tokenizer
    tgt_tok: Tokenizer
    backend: str


def load_run(run_dir: str, checkpoint: str = "best.ckpt", backend: str | None = None) -> LoadedRun:
    """The model of ``run_dir/checkpoint`` (best.ckpt, falling back to last.ckpt) in eval mode."""
    if not os.path.isdir(run_dir):
        raise FileNotFoundError(f"run directory not found: {run_dir}")
    path = os.path.join(run_dir, checkpoint)
    if not os.path.exists(path) and checkpoint == "best.ckpt":
        path = os.path.join(run_dir, "last.ckpt")
    if not os.path.exists(path):
        raise FileNotFoundError(f"no checkpoint {checkpoint} (nor last.ckpt) in {run_dir}")
    backend = backend or _backend.get_backend()
    _backend.use_backend(backend)
    ck = load(path, backend=backend)
    if not (isinstance(ck, dict) and isinstance(ck.get("model_config"), dict) and isinstance(ck.get("model"), dict)):
        raise ValueError(f"{path} is not a checkpoint written by 'minitransformer train' "
                         "(no model_config and model entries)")
    src_tok, tgt_tok = load_tokenizers(run_dir)
    # a checkpoint copied in from another run: its ids would mean other words, or none
    config = ck["model_config"]
    for side, tok in (("src", src_tok), ("tgt", tgt_tok)):
        if config.get(f"{side}_vocab_size") != tok.vocab_size:
            raise ValueError(
                f"{path} was trained with a {side} vocabulary of {config.get(f'{side}_vocab_size')} ids but the "
                f"tokenizer in {run_dir} has {tok.vocab_size}: the checkpoint and the tokenizer come from different runs"
            )
    # a run of an earlier version names some parameters and options otherwise: both upgrade here
    model = TransformerTranslator.from_config(config)
    model.to(backend)
    model.load_state_dict(ck["model"])
    model.eval()
    return LoadedRun(model, src_tok, tgt_tok, backend)


def check_max_len(model: TransformerTranslator, max_len: int) -> None:
    """Refuse a translation length beyond the model's positional encoding, before decoding starts."""
    limit = model.get_config()["max_len"]
    if max_len > limit:
        raise ValueError(f"--max-len {max_len} is longer than the model's {limit} positions (its max_len)")
