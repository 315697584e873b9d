"""Decoding: turn a source sentence into the model's translation, token by token.

Both decoders encode the source once and then call ``model.decode_step``
with a cache of every decoder layer's keys and values, so each new token
costs one decoder step over one position -- O(length) work per sentence,
not the O(length^2) of re-running the decoder on the whole prefix.

* ``greedy_decode`` takes the most likely token at every step.
* ``beam_search`` keeps the ``beam`` most likely prefixes of every sentence;
  at the end it picks the one with the best length-normalised score
  (GNMT's penalty ((5 + length) / 6) ** alpha).  With beam 1 it is greedy.
"""
from __future__ import annotations

import numpy

from .autograd import Tensor, no_grad
from .backend import array_module, get_array_module

PAD, BOS, EOS = 0, 2, 3


def pad_batch(sequences, pad_id: int = PAD, xp=numpy):
    """Lists of ids -> an int64 array (B, longest) padded with ``pad_id``."""
    if not sequences:
        raise ValueError("decoding: no sentences given")
    longest = max(len(s) for s in sequences)
    if longest == 0:
        raise ValueError("decoding: every source sentence is empty")
    out = numpy.full((len(sequences), longest), pad_id, dtype=numpy.int64)
    for i, s in enumerate(sequences):
        out[i, :len(s)] = s
    return xp.asarray(out)


def _cut(rows, eos_id):
    """Token lists up to (not including) the first eos."""
    out = []
    for row in rows:
        row = [int(x) for x in row]
        out.append(row[:row.index(eos_id)] if eos_id in row else row)
    return out


def _to_host(array):
    return array.get() if hasattr(array, "get") else array


@no_grad()
def greedy_decode(model, src, max_len: int = 64, bos_id: int = BOS, eos_id: int = EOS,
                  pad_id: int = PAD) -> list:
    """Most likely token at each step, for a batch of sources (B, S); returns B token lists.

    Finished sentences leave the batch (their cache rows are dropped), so a
    batch costs as much as its longest translation needs, no more.
    """
    xp = get_array_module(model.src_embed.weight.data)
    src = xp.asarray(src.data if isinstance(src, Tensor) else src)
    batch = src.shape[0]
    src_mask = model.make_src_mask(src)
    memory = model.encode(src, src_mask)
    cache = model.init_cache()
    tokens = numpy.full((batch, max_len), pad_id, dtype=numpy.int64)
    active = numpy.arange(batch)                      # rows still decoding
    last = xp.full((batch, 1), bos_id, dtype=numpy.int64)
    for t in range(max_len):
        logits = model.decode_step(Tensor(last), memory, cache, src_mask=src_mask)
        nxt = _to_host(logits.data[:, -1].argmax(axis=-1))
        tokens[active, t] = nxt
        keep = nxt != eos_id
        if not keep.any():
            break
        if not keep.all():                            # drop finished rows from every tensor
            rows = xp.asarray(numpy.flatnonzero(keep))
            active = active[keep]
            memory = Tensor(memory.data[rows])
            src_mask = None if src_mask is None else Tensor(src_mask.data[rows])
            model.reorder_cache(cache, rows)
            nxt = nxt[keep]
        last = xp.asarray(nxt[:, None])
    return _cut(tokens, eos_id)


@no_grad()
def beam_search(model, src, beam: int = 4, max_len: int = 64, length_penalty: float = 0.6,
                bos_id: int = BOS, eos_id: int = EOS, pad_id: int = PAD) -> list:
    """The best of ``beam`` hypotheses per source (B, S) by length-normalised log-probability."""
    if beam < 1:
        raise ValueError(f"beam_search: beam must be >= 1, got {beam}")
    xp = get_array_module(model.src_embed.weight.data)
    src = xp.asarray(src.data if isinstance(src, Tensor) else src)
    batch = src.shape[0]
    # every source row repeated `beam` times: row b * beam + k is hypothesis k of sentence b
    expand = xp.asarray(numpy.repeat(numpy.arange(batch), beam))
    src_k = src[expand]
    src_mask = model.make_src_mask(src_k)
    memory = model.encode(src[xp.arange(batch)], model.make_src_mask(src))
    memory = Tensor(memory.data[expand])
    cache = model.init_cache()
    # only hypothesis 0 is alive at the start, so the first step does not pick `beam` copies
    scores = numpy.full((batch, beam), -numpy.inf)
    scores[:, 0] = 0.0
    tokens = numpy.full((batch, beam, max_len), pad_id, dtype=numpy.int64)
    finished = numpy.zeros((batch, beam), dtype=bool)
    lengths = numpy.zeros((batch, beam), dtype=numpy.int64)
    last = xp.full((batch * beam, 1), bos_id, dtype=numpy.int64)
    for t in range(max_len):
        logits = model.decode_step(Tensor(last), memory, cache, src_mask=src_mask)
        logp = _to_host(_log_softmax(logits.data[:, -1])).astype(numpy.float64)
        vocab = logp.shape[-1]
        logp = logp.reshape(batch, beam, vocab)
        # a finished hypothesis may only be extended by padding, at no cost
        logp[finished] = -numpy.inf
        logp[finished, pad_id] = 0.0
        candidates = (scores[:, :, None] + logp).reshape(batch, beam * vocab)
        # the `beam` best of beam * vocab candidates: partition, then sort only those
        top = numpy.argpartition(-candidates, beam - 1, axis=1)[:, :beam] if beam < candidates.shape[1] \
            else numpy.tile(numpy.arange(candidates.shape[1]), (batch, 1))
        order = numpy.argsort(-numpy.take_along_axis(candidates, top, axis=1), axis=1, kind="stable")
        best = numpy.take_along_axis(top, order, axis=1)
        origin, token = best // vocab, best % vocab
        scores = numpy.take_along_axis(candidates, best, axis=1)
        tokens = numpy.take_along_axis(tokens, origin[:, :, None], axis=1)
        tokens[:, :, t] = token
        was_finished = numpy.take_along_axis(finished, origin, axis=1)
        lengths = numpy.take_along_axis(lengths, origin, axis=1) + ~was_finished
        finished = was_finished | (token == eos_id)
        rows = xp.asarray((numpy.arange(batch)[:, None] * beam + origin).reshape(-1))
        # hypotheses only move within their own sentence
        model.reorder_cache(cache, rows, within_sources=True)
        if finished.all():
            break
        last = xp.asarray(token.reshape(-1, 1))
    penalty = ((5.0 + lengths) / 6.0) ** length_penalty
    normalised = numpy.where(numpy.isfinite(scores), scores / penalty, -numpy.inf)
    # prefer finished hypotheses; among them the best normalised score
    normalised = numpy.where(finished | ~finished.any(axis=1, keepdims=True), normalised, -numpy.inf)
    choice = normalised.argmax(axis=1)
    return _cut(tokens[numpy.arange(batch), choice], eos_id)


def _log_softmax(x):
    xp = get_array_module(x)
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - xp.log(xp.exp(shifted).sum(axis=-1, keepdims=True))


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
