"""Translate lists of ids, or sentences, in batches: greedy with beam 1, beam search otherwise."""
from __future__ import annotations

from ..backend import array_module
from .batch import pad_batch
from .beam import beam_search
from .greedy import greedy_decode


def translate_batch(model, src_id_lists, beam: int = 1, max_len: int = 64, backend: str = "numpy",
                    length_penalty: float = 0.6) -> list:
    """Decode lists of source ids; returns lists of target ids (no bos/eos)."""
    was_training = model.training
    model.eval()
    try:
        src = pad_batch(src_id_lists, xp=array_module(backend))
        if beam == 1:
            return greedy_decode(model, src, max_len=max_len)
        return beam_search(model, src, beam=beam, max_len=max_len, length_penalty=length_penalty)
    finally:
        model.train(was_training)


def translate_pairs(model, src_tok, tgt_tok, sentences, *, beam: int = 1, max_len: int = 64,
                    batch_size: int = 64, backend: str = "numpy", length_penalty: float = 0.6) -> list:
    """Translate sentences (strings) in batches, in order; returns detokenized strings."""
    out = []
    for i in range(0, len(sentences), batch_size):
        chunk = sentences[i:i + batch_size]
        ids = src_tok.encode_batch(chunk, add_eos=True)
        hyps = translate_batch(model, ids, beam=beam, max_len=max_len, backend=backend,
                               length_penalty=length_penalty)
        out.extend(tgt_tok.decode_batch(hyps))
    return out
