"""Which micro-batches each process trains on, and its own random stream.

Data parallelism splits every update's batch across N processes ("ranks").
All ranks hold the same batches (built from the same data with the same
bucketing) and compute the same seeded order of them for each epoch
(``BatchIterator.order(epoch)``), so nothing about the data needs to be sent:
each rank just takes its own slice of the same list.

One update consumes the next ``N * K`` batches of the order (K = gradient
accumulation steps of one rank); rank ``r`` takes positions

    r, r + N, r + 2N, ...          (K of them in a full group)

of those.  The slices are disjoint and together cover the group, so the
update sees exactly the batches one process with ``--accum-steps N*K``
would see.  Striding (rather than contiguous blocks) spreads the short last
group of an epoch over all ranks instead of leaving the last ranks idle.

Dropout must not draw the same mask on every rank (that would correlate the
N micro-batches of an update), so with N > 1 each rank reseeds its generator
before every update from ``(seed, rank, update)``: independent across ranks,
and reproducible after ``--resume`` without saving N generator states.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["batches_per_update", "rank_seed", "shard"]


def _check_rank(rank, size, where: str) -> None:
    for name, value in (("rank", rank), ("size", size)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"{where}: {name} must be an integer, got {value!r}")
    if size < 1:
        raise ValueError(f"{where}: size must be >= 1, got {size}")
    if not 0 <= rank < size:
        raise ValueError(f"{where}: rank must be in 0..{size - 1}, got {rank}")


def batches_per_update(accum_steps: int, world_size: int) -> int:
    """Micro-batches of the seeded order one update consumes over all ranks: ``N * K``."""
    if accum_steps < 1 or world_size < 1:
        raise ValueError(f"batches_per_update: accum_steps ({accum_steps}) and world_size "
                         f"({world_size}) must be >= 1")
    return accum_steps * world_size


def shard(group: Sequence, rank: int, size: int) -> list:
    """Rank ``rank``'s share of one update's global ``group``: items ``rank, rank+size, ...``.

    ``shard(g, r, n) for r in range(n)`` are disjoint and cover ``g``; a rank
    may get an empty list at the end of an epoch (its gradient is then zero,
    and the all-reduce still counts it correctly).
    """
    _check_rank(rank, size, "shard")
    return list(group[rank::size])


def rank_seed(seed: int, rank: int, step: int) -> int:
    """A 64-bit seed for rank ``rank``'s random draws (dropout) during update ``step``.

    ``numpy.random.SeedSequence`` hashes the three numbers, so nearby inputs
    (rank 0 and 1, update 5 and 6) give unrelated streams.
    """
    if min(seed, rank, step) < 0:
        raise ValueError(f"rank_seed: seed, rank and step must be >= 0, got {seed}, {rank}, {step}")
    return int(np.random.SeedSequence([seed, rank, step]).generate_state(1, np.uint64)[0])
