"""Greedy decoding: the most likely token at every step.

The source is encoded once; each step feeds the last token to
``model.decode_step``, which extends the key/value cache of every decoder
layer, so a sentence of n tokens costs n one-position decoder steps.
"""
from __future__ import annotations

import numpy

from ..autograd import Tensor, no_grad
from ..backend import get_array_module, to_host
from ..data import BOS_ID, EOS_ID, PAD_ID
from .batch import source_ids


def cut_at_eos(rows, eos_id: int = EOS_ID) -> list:
    """Token lists up to (not including) the first eos."""
    out = []
    for row in rows:
        row = [int(x) for x in row]
        out.append(row[:row.index(eos_id)] if eos_id in row else row)
    return out


@no_grad()
def greedy_decode(model, src, max_len: int = 64, bos_id: int = BOS_ID, eos_id: int = EOS_ID,
                  pad_id: int = PAD_ID) -> list:
    """Most likely token at each step, for a batch of sources (B, S); returns B token lists.

    Finished sentences leave the batch (their cache rows are dropped), so a
    batch costs as much as its longest translation needs, no more.
    """
    src = source_ids(model, src)
    xp = get_array_module(src)
    batch = src.shape[0]
    src_padding = model.make_src_key_padding_mask(src)       # (B, S), True at padding
    memory = model.encode(src, src_padding)
    cache = model.init_cache()
    tokens = numpy.full((batch, max_len), pad_id, dtype=numpy.int64)
    active = numpy.arange(batch)                      # rows still decoding
    last = xp.full((batch, 1), bos_id, dtype=numpy.int64)
    for t in range(max_len):
        logits = model.decode_step(last, memory, cache, memory_key_padding_mask=src_padding)
        nxt = to_host(logits.data[:, -1].argmax(axis=-1))
        tokens[active, t] = nxt
        keep = nxt != eos_id
        if not keep.any():
            break
        if not keep.all():                            # drop finished rows from every tensor
            rows = xp.asarray(numpy.flatnonzero(keep))
            active = active[keep]
            memory = Tensor(memory.data[rows])
            src_padding = None if src_padding is None else Tensor(src_padding.data[rows])
            model.reorder_cache(cache, rows)
            nxt = nxt[keep]
        last = xp.asarray(nxt[:, None])
    return cut_at_eos(tokens, eos_id)
