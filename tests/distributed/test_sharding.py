"""Which batches each rank trains on: disjoint, complete, the same view on every rank."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minitransformer.data import BatchIterator
from minitransformer.distributed import batches_per_update, rank_seed, shard


@settings(deadline=None, max_examples=50)
@given(n_items=st.integers(0, 40), size=st.integers(1, 8))
def test_shards_are_disjoint_and_cover_the_group(n_items, size):
    group = [f"batch{i}" for i in range(n_items)]
    shards = [shard(group, r, size) for r in range(size)]
    flat = [b for s in shards for b in s]
    assert sorted(flat) == sorted(group)          # covers the group ...
    assert len(flat) == len(set(flat))            # ... with no batch twice
    sizes = [len(s) for s in shards]
    assert max(sizes) - min(sizes) <= 1           # strided: the remainder is spread out


def test_shard_is_strided():
    group = list(range(6))
    assert shard(group, 0, 2) == [0, 2, 4]
    assert shard(group, 1, 2) == [1, 3, 5]
    assert shard(group[:1], 1, 2) == []           # the short last group of an epoch
    assert shard(group, 0, 1) == group


def test_every_rank_sees_the_same_global_order():
    """Ranks build their BatchIterator independently; the seeded order must agree."""
    rng = np.random.default_rng(0)
    src = [list(rng.integers(4, 50, size=rng.integers(1, 12))) for _ in range(200)]
    tgt = [list(rng.integers(4, 50, size=rng.integers(1, 12))) for _ in range(200)]
    views = [BatchIterator(src, tgt, max_tokens=120, seed=7) for _ in range(3)]  # "three ranks"
    for epoch in range(3):
        orders = [v.order(epoch) for v in views]
        assert all(np.array_equal(orders[0], o) for o in orders[1:])
    k, n = 2, 3
    group = [views[0].batches[i] for i in views[0].order(0)[:batches_per_update(k, n)]]
    per_rank = [shard([views[r].batches[i] for i in views[r].order(0)[:k * n]], r, n) for r in range(n)]
    seen = sorted(int(i) for part in per_rank for b in part for i in b.indices)
    assert seen == sorted(int(i) for b in group for i in b.indices)


def test_batches_per_update():
    assert batches_per_update(2, 4) == 8
    with pytest.raises(ValueError, match="batches_per_update"):
        batches_per_update(0, 2)


@pytest.mark.parametrize("rank, size, error", [(2, 2, ValueError), (-1, 2, ValueError), (0, 0, ValueError),
                                               (0.5, 2, TypeError), (True, 2, TypeError)])
def test_shard_rejects_bad_ranks(rank, size, error):
    with pytest.raises(error, match="shard"):
        shard([1, 2, 3], rank, size)


def test_rank_seed_is_deterministic_and_distinct():
    seeds = {rank_seed(0, r, s) for r in range(4) for s in range(50)}
    assert len(seeds) == 200
    assert rank_seed(3, 1, 7) == rank_seed(3, 1, 7)
    assert rank_seed(3, 1, 7) != rank_seed(4, 1, 7)
    with pytest.raises(ValueError, match="rank_seed"):
        rank_seed(0, -1, 0)
