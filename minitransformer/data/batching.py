"""From ragged id lists to padded rectangular batches, bucketed by length.

A batch is a rectangle: every row is padded to the longest sentence in it.
If we grouped sentences at random, a 5-token sentence would often share a
batch with a 50-token one and the batch would be mostly padding, i.e. wasted
compute. So we *bucket*: sort all pairs by (source length, target length),
then cut the sorted list into consecutive batches. Neighbours have similar
lengths and padding stays small.

Batch sizes are set by a token budget rather than a sentence count, as in
the Annotated Transformer's real-world section: a batch of short sentences
may hold many of them, a batch of long ones few, and each costs about the
same memory. The cost of a batch counts the padding, because padded
positions are computed just like real ones, in one of two ways
(``token_budget``):

    "per-side":    cost = batch_size * max(max_src_len, max_tgt_len)
    "both-sides":  cost = batch_size * (max_src_len + max_tgt_len)

where ``max_tgt_len`` is the width of ``tgt_in`` (target tokens + 1 for the
bos / eos).  "per-side" is what ``--max-tokens`` means in fairseq, OpenNMT
and the Annotated Transformer: neither side of the batch holds more than
``max_tokens`` tokens, so ``max_tokens=4096`` gives about 4000 target
tokens per batch.  "both-sides" budgets the two together and gives batches
about half that size. A single pair whose cost alone exceeds ``max_tokens`` still
becomes a batch of its own rather than being dropped; filter long pairs
beforehand (``corpus.filter_by_length``) if that matters.

Sorting makes the *contents* of each batch fixed; randomness comes from
shuffling the *order* of batches, anew each epoch, deterministically from
``(seed, epoch)`` so that a run can be reproduced and resumed mid-epoch.

Masks are not built here; the model derives them from ``pad_id``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from .tokenizer import BOS_ID, EOS_ID, PAD_ID

__all__ = ["Batch", "make_batches", "BatchIterator", "epoch_batches", "TOKEN_BUDGETS"]

TOKEN_BUDGETS = ("per-side", "both-sides")


@dataclass(eq=False)
class Batch:
    """One padded batch of B sentence pairs; every array is int64.

    src          (B, S)  source ids, right-padded with pad_id
    tgt_in       (B, T)  bos + target ids, padded: the decoder's input
    tgt_out      (B, T)  target ids + eos, padded: what it must predict
    src_lengths  (B,)    real (unpadded) length of each source row
    tgt_lengths  (B,)    real length of each tgt_in / tgt_out row (tokens + 1)
    indices      (B,)    position of each pair in the dataset
    num_tgt_tokens       non-pad entries of tgt_out (normalizes the loss)

    ``tgt_in[:, t]`` is the token *before* ``tgt_out[:, t]``: this is
    "teacher forcing" -- at step t the decoder sees the true prefix and is
    trained to predict the next token.
    """

    src: np.ndarray
    tgt_in: np.ndarray
    tgt_out: np.ndarray
    src_lengths: np.ndarray
    tgt_lengths: np.ndarray
    indices: np.ndarray
    num_tgt_tokens: int

    def __len__(self) -> int:
        return self.src.shape[0]

    @property
    def num_padded_tokens(self) -> int:
        """Source and target tokens, padding included: B * (S + T)."""
        return self.src.size + self.tgt_in.size


def _collate(src_ids, tgt_ids, idx: Sequence[int], pad_id: int, bos_id: int, eos_id: int) -> Batch:
    """Pad the pairs ``idx`` into one :class:`Batch`."""
    b = len(idx)
    src_len = np.array([len(src_ids[i]) for i in idx], dtype=np.int64)
    tgt_len = np.array([len(tgt_ids[i]) + 1 for i in idx], dtype=np.int64)
    src = np.full((b, src_len.max()), pad_id, dtype=np.int64)
    tgt_in = np.full((b, tgt_len.max()), pad_id, dtype=np.int64)
    tgt_out = np.full((b, tgt_len.max()), pad_id, dtype=np.int64)
    for row, i in enumerate(idx):
        n = tgt_len[row] - 1
        src[row, : src_len[row]] = src_ids[i]
        tgt_in[row, 0] = bos_id
        tgt_in[row, 1 : n + 1] = tgt_ids[i]
        tgt_out[row, :n] = tgt_ids[i]
        tgt_out[row, n] = eos_id
    return Batch(
        src=src, tgt_in=tgt_in, tgt_out=tgt_out,
        src_lengths=src_len, tgt_lengths=tgt_len,
        indices=np.asarray(idx, dtype=np.int64),
        num_tgt_tokens=int(tgt_len.sum()),
    )


def _bucket(src_len: np.ndarray, tgt_len: np.ndarray, max_tokens: int | None,
            max_sentences: int | None, token_budget: str = "both-sides") -> list[list[int]]:
    """Groups of dataset positions, in length order, each within the limits.

    ``tgt_len`` here already includes the +1 for bos/eos.
    """
    def width(s, t):   # the padded tokens one sentence of the batch costs
        return max(s, t) if token_budget == "per-side" else s + t

    # np.lexsort is stable and sorts by its *last* key first.
    order = np.lexsort((tgt_len, src_len))
    groups: list[list[int]] = []
    cur: list[int] = []
    s_max = t_max = 0
    for i in order.tolist():
        s, t = max(s_max, src_len[i]), max(t_max, tgt_len[i])
        too_many_tokens = max_tokens is not None and (len(cur) + 1) * width(s, t) > max_tokens
        too_many_sentences = max_sentences is not None and len(cur) + 1 > max_sentences
        if cur and (too_many_tokens or too_many_sentences):
            groups.append(cur)  # close the batch; i starts the next one
            cur, s, t = [], src_len[i], tgt_len[i]
        cur.append(i)
        s_max, t_max = s, t
    if cur:
        groups.append(cur)
    return groups


def _check_int(name: str, value, minimum: int) -> None:
    if value is not None and (not isinstance(value, (int, np.integer)) or value < minimum):
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


class BatchIterator:
    """Fixed length-bucketed batches, visited in a new order every epoch.

    ``it.epoch(e)`` yields all batches, shuffled by a generator seeded with
    ``(seed, e)``; ``it.epoch(e, start=k)`` skips the first k of that same
    order, so a run restarted from a checkpoint taken after k batches sees
    exactly the batches it had not seen yet.

    The settings, the same for :func:`make_batches` and :func:`epoch_batches`:

    max_tokens     the token budget of a batch, padding included (or None)
    max_sentences  the most pairs in a batch (or None); give one or both
    token_budget   how ``max_tokens`` counts: "per-side" or "both-sides" (see the module)
    pad_id, bos_id, eos_id   the tokenizers' special ids
    shuffle        False: every epoch visits the batches shortest first
    seed           seeds the order of every epoch, with the epoch number
    """

    def __init__(
        self,
        src_ids: Sequence[Sequence[int]],
        tgt_ids: Sequence[Sequence[int]],
        *,
        max_tokens: int | None = None,
        max_sentences: int | None = None,
        pad_id: int = PAD_ID,
        bos_id: int = BOS_ID,
        eos_id: int = EOS_ID,
        shuffle: bool = True,
        seed: int = 0,
        token_budget: str = "both-sides",
    ):
        if len(src_ids) != len(tgt_ids):
            raise ValueError(f"{len(src_ids)} source sequences but {len(tgt_ids)} target sequences")
        if max_tokens is None and max_sentences is None:
            raise ValueError("give max_tokens and/or max_sentences")
        _check_int("max_tokens", max_tokens, minimum=1)
        _check_int("max_sentences", max_sentences, minimum=1)
        _check_int("seed", seed, minimum=0)
        if token_budget not in TOKEN_BUDGETS:
            raise ValueError(f"token_budget must be one of {', '.join(TOKEN_BUDGETS)}, got {token_budget!r}")
        src_len = np.array([len(x) for x in src_ids], dtype=np.int64)
        tgt_len = np.array([len(x) + 1 for x in tgt_ids], dtype=np.int64)
        if (src_len == 0).any():
            i = int(np.argmax(src_len == 0))
            raise ValueError(f"pair {i} has an empty source; filter empty pairs first")
        self.shuffle, self.seed = shuffle, int(seed)
        groups = _bucket(src_len, tgt_len, max_tokens, max_sentences, token_budget)
        self.batches = [_collate(src_ids, tgt_ids, g, pad_id, bos_id, eos_id) for g in groups]

    def __len__(self) -> int:
        return len(self.batches)

    def order(self, epoch: int) -> np.ndarray:
        """The batch visiting order of an epoch: a permutation of ``range(len(self))``."""
        if not self.shuffle:
            return np.arange(len(self.batches))
        if epoch < 0:
            raise ValueError(f"epoch must be >= 0, got {epoch}")
        return np.random.default_rng([self.seed, epoch]).permutation(len(self.batches))

    def epoch(self, epoch: int, start: int = 0) -> Iterator[Batch]:
        """Yield the batches of ``epoch`` in its order, from position ``start``."""
        # A plain function returning a generator, so bad arguments raise now,
        # not at the first next().
        if not 0 <= start <= len(self.batches):
            raise ValueError(f"start must be in 0..{len(self.batches)}, got {start}")
        return (self.batches[k] for k in self.order(epoch)[start:])


def make_batches(src_ids: Sequence[Sequence[int]], tgt_ids: Sequence[Sequence[int]], **settings) -> list[Batch]:
    """All batches of the dataset, in the order of epoch 0; ``settings`` as in :class:`BatchIterator`.

    Every pair appears in exactly one batch (see ``Batch.indices``). With
    ``shuffle=False`` batches come shortest first.
    """
    return list(BatchIterator(src_ids, tgt_ids, **settings).epoch(0))


def epoch_batches(
    src_ids: Sequence[Sequence[int]],
    tgt_ids: Sequence[Sequence[int]],
    epoch: int,
    start: int = 0,
    **settings,
) -> Iterator[Batch]:
    """Batches of one epoch, resumable at ``start``; ``settings`` as in :class:`BatchIterator`.

    This rebuilds the batches on each call; for many epochs build one
    :class:`BatchIterator` and call its ``epoch`` method instead.
    """
    return BatchIterator(src_ids, tgt_ids, **settings).epoch(epoch, start)
