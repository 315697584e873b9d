"""Beam search: the ``beam`` most likely prefixes of every sentence, kept side by side.

Finished hypotheses are set aside, and the best length-normalised score wins
(GNMT's penalty ((5 + length) / 6) ** alpha).  With beam 1 and no length
penalty (``length_penalty=0``) it is greedy; with a penalty, the one beam goes
on after greedy's eos, and a longer hypothesis may win after normalization.
Every hypothesis of a sentence is one row of the batch, so one
``model.decode_step`` advances all of them, with one key/value cache.
"""
from __future__ import annotations

import numpy

from .. import functional as F
from ..autograd import Tensor, no_grad
from ..backend import get_array_module, to_host
from ..data import BOS_ID, EOS_ID, PAD_ID
from .batch import source_ids


def gnmt_penalty(length, alpha: float):
    """GNMT's length normalisation ((5 + length) / 6) ** alpha (Wu et al. 2016); length counts the eos."""
    return ((5.0 + length) / 6.0) ** alpha


def _best_candidates(scores, logp, count: int):
    """The ``count`` best one-token extensions per sentence, best first.

    ``scores`` (B, K) are the hypotheses' log-probabilities, ``logp`` (B, K, V)
    the next token's; returns (scores, origin hypothesis, token), each (B, count).
    """
    batch, beam, vocab = logp.shape
    candidates = (scores[:, :, None] + logp).reshape(batch, beam * vocab)
    count = min(count, candidates.shape[1])
    # partition, then sort only the chosen few
    top = numpy.argpartition(-candidates, count - 1, axis=1)[:, :count] if count < candidates.shape[1] \
        else numpy.tile(numpy.arange(candidates.shape[1]), (batch, 1))
    order = numpy.argsort(-numpy.take_along_axis(candidates, top, axis=1), axis=1, kind="stable")
    best = numpy.take_along_axis(top, order, axis=1)
    return numpy.take_along_axis(candidates, best, axis=1), best // vocab, best % vocab


@no_grad()
def beam_search(model, src, beam: int = 4, max_len: int = 64, length_penalty: float = 0.6,
                bos_id: int = BOS_ID, eos_id: int = EOS_ID, pad_id: int = PAD_ID) -> list:
    """The best of ``beam`` hypotheses per source (B, S) by length-normalised log-probability.

    The beam always holds ``beam`` unfinished hypotheses (as in fairseq).  At
    each step the 2 * beam best extensions are ranked; those among the first
    ``beam`` that end with eos are set aside as finished, scored by their
    log-probability divided by ``gnmt_penalty(length)``, and the best
    ``beam`` that do not end become the next beam.  Finished hypotheses thus
    never crowd out open ones, whose raw log-probability falls as they grow
    (ranking the two together would favour short translations).

    A sentence is done when no open hypothesis can still beat its best
    finished one: an open hypothesis of log-probability s can at best end
    with s / gnmt_penalty(max_len), since log-probabilities only fall and the
    penalty only grows.  At ``max_len`` the open hypotheses finish as they are.
    """
    if beam < 1:
        raise ValueError(f"beam_search: beam must be >= 1, got {beam}")
    src = source_ids(model, src)
    xp = get_array_module(src)
    batch = src.shape[0]
    # every source row repeated `beam` times: row b * beam + k is hypothesis k of sentence b
    expand = xp.asarray(numpy.repeat(numpy.arange(batch), beam))
    src_padding = model.make_src_key_padding_mask(src[expand])     # (B * beam, S), True at padding
    memory = Tensor(model.encode(src, model.make_src_key_padding_mask(src)).data[expand])
    cache = model.init_cache()
    # only hypothesis 0 is alive at the start, so the first step does not pick `beam` copies
    scores = numpy.full((batch, beam), -numpy.inf)
    scores[:, 0] = 0.0
    tokens = numpy.full((batch, beam, max_len), pad_id, dtype=numpy.int64)
    finished = [[] for _ in range(batch)]        # per sentence: (normalised score, tokens)
    best_finished = numpy.full(batch, -numpy.inf)
    last = xp.full((batch * beam, 1), bos_id, dtype=numpy.int64)
    for t in range(max_len):
        logits = model.decode_step(last, memory, cache, memory_key_padding_mask=src_padding)
        logp = to_host(F.log_softmax(logits[:, -1], dim=-1).data).astype(numpy.float64).reshape(batch, beam, -1)
        cand_scores, origin, token = _best_candidates(scores, logp, 2 * beam)
        ends = token == eos_id
        for b, rank in zip(*numpy.nonzero(ends[:, :beam])):
            if numpy.isfinite(cand_scores[b, rank]):
                score = cand_scores[b, rank] / gnmt_penalty(t + 1, length_penalty)
                finished[b].append((score, tokens[b, origin[b, rank], :t].tolist()))
                best_finished[b] = max(best_finished[b], score)
        # the next beam: the `beam` best extensions that do not end (at most `beam` of 2 * beam end)
        keep = numpy.argsort(ends, axis=1, kind="stable")[:, :beam]
        scores = numpy.take_along_axis(cand_scores, keep, axis=1)
        if (best_finished >= scores.max(axis=1) / gnmt_penalty(max_len, length_penalty)).all():
            break
        origin, token = numpy.take_along_axis(origin, keep, axis=1), numpy.take_along_axis(token, keep, axis=1)
        tokens = numpy.take_along_axis(tokens, origin[:, :, None], axis=1)
        tokens[:, :, t] = token
        # hypotheses only move within their own sentence
        rows = xp.asarray((numpy.arange(batch)[:, None] * beam + origin).reshape(-1))
        model.reorder_cache(cache, rows, within_sources=True)
        last = xp.asarray(token.reshape(-1, 1))
    else:   # max_len reached: the open hypotheses finish as they are
        for b in range(batch):
            for k in numpy.flatnonzero(numpy.isfinite(scores[b])):
                finished[b].append((scores[b, k] / gnmt_penalty(max_len, length_penalty), tokens[b, k].tolist()))
    # max keeps the first of equal scores: the one that finished first
    return [max(f, key=lambda scored: scored[0])[1] for f in finished]
