"""Load a trained run (model and tokenizers) for translation and evaluation."""
from __future__ import annotations

import os
from dataclasses import dataclass

from . import backend as _backend
from .data import Tokenizer
from .nn import Transformer
from .serialization import load


@dataclass
class LoadedRun:
    model: Transformer
    src_tok: Tokenizer
    tgt_tok: Tokenizer
    backend: str


def load_run(run_dir: str, checkpoint: str = "best.ckpt", backend: str | None = None) -> LoadedRun:
    """The model of ``run_dir/checkpoint`` (best.ckpt, falling back to last.ckpt) in eval mode."""
    from .training.data_setup import load_tokenizers  # noqa: PLC0415

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
    model = Transformer.from_config(ck["model_config"])
    model.to(backend)
    model.load_state_dict(ck["model"])
    model.eval()
    src_tok, tgt_tok = load_tokenizers(run_dir)
    return LoadedRun(model, src_tok, tgt_tok, backend)
