"""Tests for minitransformer.data.batching (bucketing, padding, shuffling)."""

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from minitransformer.data import BatchIterator, epoch_batches, make_batches

PAD, BOS, EOS = 0, 2, 3


def dataset(n, seed=0, max_len=30):
    """n pairs of random id lists; ids >= 4 so they never look like specials."""
    rng = np.random.default_rng(seed)
    src = [rng.integers(4, 100, rng.integers(1, max_len)).tolist() for _ in range(n)]
    tgt = [rng.integers(4, 100, rng.integers(0, max_len)).tolist() for _ in range(n)]
    return src, tgt


def budget_cost(rows, S, T, token_budget):
    """What a batch of ``rows`` rows, S source and T target columns costs against max_tokens."""
    return rows * (max(S, T) if token_budget == "per-side" else S + T)


def check_batches(batches, src, tgt, max_tokens=None, max_sentences=None, token_budget="both-sides"):
    """Every invariant a batch list must satisfy, checked value by value."""
    seen = np.concatenate([b.indices for b in batches]) if batches else np.array([])
    assert sorted(seen.tolist()) == list(range(len(src)))  # each pair exactly once
    for b in batches:
        B = len(b)
        assert b.src.dtype == b.tgt_in.dtype == b.tgt_out.dtype == np.int64
        S, T = b.src.shape[1], b.tgt_in.shape[1]
        assert b.src.shape == (B, S) and b.tgt_in.shape == b.tgt_out.shape == (B, T)
        assert b.num_padded_tokens == B * (S + T)
        if max_tokens is not None and B > 1:
            assert budget_cost(B, S, T, token_budget) <= max_tokens
        if max_sentences is not None:
            assert B <= max_sentences
        # rectangles are no wider than their longest row
        assert S == b.src_lengths.max() and T == b.tgt_lengths.max()
        for row, i in enumerate(b.indices):
            s, t = src[i], tgt[i]
            assert b.src_lengths[row] == len(s) and b.tgt_lengths[row] == len(t) + 1
            assert b.src[row].tolist() == s + [PAD] * (S - len(s))
            assert b.tgt_in[row].tolist() == [BOS] + t + [PAD] * (T - len(t) - 1)
            assert b.tgt_out[row].tolist() == t + [EOS] + [PAD] * (T - len(t) - 1)
        assert b.num_tgt_tokens == int((b.tgt_out != PAD).sum())


def test_hand_checked_batch():
    src = [[5, 6, 7], [8], [9, 10]]
    tgt = [[11], [12, 13, 14], []]
    (b,) = make_batches(src, tgt, max_sentences=3, shuffle=False)
    # sorted by source length: pairs 1, 2, 0
    assert b.indices.tolist() == [1, 2, 0]
    assert b.src.tolist() == [[8, 0, 0], [9, 10, 0], [5, 6, 7]]
    assert b.tgt_in.tolist() == [[2, 12, 13, 14], [2, 0, 0, 0], [2, 11, 0, 0]]
    assert b.tgt_out.tolist() == [[12, 13, 14, 3], [3, 0, 0, 0], [11, 3, 0, 0]]
    assert b.src_lengths.tolist() == [1, 2, 3] and b.tgt_lengths.tolist() == [4, 1, 2]
    assert b.num_tgt_tokens == 7 and b.num_padded_tokens == 3 * (3 + 4)


@pytest.mark.parametrize("max_tokens,groups", [
    (4, [[0], [1], [2], [3]]),      # below one row's cost: each pair alone
    (10, [[0, 1], [2, 3]]),         # exactly two rows fit
    (14, [[0, 1], [2, 3]]),         # a third row would cost 15
    (15, [[0, 1, 2], [3]]),
])
def test_token_budget_cuts_where_expected(max_tokens, groups):
    # every pair has src length 2 and tgt_in length 3: a row costs 5 tokens
    src = [[4, 4]] * 4
    tgt = [[5, 5]] * 4
    batches = make_batches(src, tgt, max_tokens=max_tokens, shuffle=False)
    assert [b.indices.tolist() for b in batches] == groups


@pytest.mark.parametrize("max_tokens,groups", [
    (2, [[0], [1], [2], [3]]),
    (6, [[0, 1], [2, 3]]),          # a row costs max(2, 3) = 3: two rows fit, a third would cost 9
    (9, [[0, 1, 2], [3]]),
    (12, [[0, 1, 2, 3]]),
])
def test_a_per_side_budget_counts_the_longer_side(max_tokens, groups):
    src, tgt = [[4, 4]] * 4, [[5, 5]] * 4          # S = 2, T = 3 (with bos/eos)
    batches = make_batches(src, tgt, max_tokens=max_tokens, shuffle=False, token_budget="per-side")
    assert [b.indices.tolist() for b in batches] == groups


def test_a_per_side_budget_holds_more_sentences():
    src, tgt = dataset(400, seed=4)
    both = make_batches(src, tgt, max_tokens=600, shuffle=False)
    per_side = make_batches(src, tgt, max_tokens=600, shuffle=False, token_budget="per-side")
    check_batches(per_side, src, tgt, 600, token_budget="per-side")
    assert 1.3 < len(both) / len(per_side) <= 2.0     # (S + T) / max(S, T) lies in (1, 2]


def test_an_unknown_token_budget_is_refused():
    with pytest.raises(ValueError, match="token_budget must be one of per-side, both-sides, got 'tokens'"):
        make_batches([[4]], [[5]], max_tokens=10, token_budget="tokens")


def test_oversized_pair_is_its_own_batch():
    src, tgt = [[4] * 50, [4], [4]], [[5] * 50, [5], [5]]
    batches = make_batches(src, tgt, max_tokens=20, shuffle=False)
    assert [b.indices.tolist() for b in batches] == [[1, 2], [0]]
    assert batches[1].num_padded_tokens == 101 > 20


@settings(deadline=None, max_examples=100)
@given(
    lengths=st.lists(st.tuples(st.integers(1, 12), st.integers(0, 12)), min_size=0, max_size=40),
    max_tokens=st.one_of(st.none(), st.integers(1, 120)),
    max_sentences=st.one_of(st.none(), st.integers(1, 20)),
    seed=st.integers(0, 2**32),
    token_budget=st.sampled_from(["per-side", "both-sides"]),
)
# Budgets hit exactly (4 rows of cost 2+3 = 5), which random draws rarely produce.
@example(lengths=[(2, 2)] * 4, max_tokens=10, max_sentences=None, seed=0, token_budget="both-sides")
@example(lengths=[(2, 2)] * 4, max_tokens=14, max_sentences=None, seed=0, token_budget="both-sides")
@example(lengths=[(2, 2)] * 5, max_tokens=15, max_sentences=2, seed=0, token_budget="both-sides")
@example(lengths=[(2, 2)] * 4, max_tokens=9, max_sentences=None, seed=0, token_budget="per-side")
def test_property_budget_and_no_pair_lost(lengths, max_tokens, max_sentences, seed, token_budget):
    if max_tokens is None and max_sentences is None:
        max_sentences = 7
    src = [[4 + (i % 50)] * s for i, (s, _) in enumerate(lengths)]
    tgt = [[5 + (i % 50)] * t for i, (_, t) in enumerate(lengths)]
    options = dict(max_tokens=max_tokens, max_sentences=max_sentences, token_budget=token_budget)
    batches = make_batches(src, tgt, seed=seed, **options)
    check_batches(batches, src, tgt, max_tokens, max_sentences, token_budget)
    # Greedy cutting is tight: in length order, each batch is closed only
    # because the next pair would have broken a limit.
    plain = make_batches(src, tgt, shuffle=False, **options)
    for b, nxt in zip(plain, plain[1:]):
        j = nxt.indices[0]
        rows = len(b) + 1
        cost = budget_cost(rows, max(b.src.shape[1], len(src[j])), max(b.tgt_in.shape[1], len(tgt[j]) + 1),
                           token_budget)
        assert (max_tokens is not None and cost > max_tokens) or (
            max_sentences is not None and rows > max_sentences)


def test_realistic_dataset_invariants():
    src, tgt = dataset(500)
    check_batches(make_batches(src, tgt, max_tokens=600, max_sentences=32), src, tgt, 600, 32)


def test_shuffle_reproducible_by_seed():
    src, tgt = dataset(400)
    order = lambda bs: [tuple(b.indices.tolist()) for b in bs]  # noqa: E731
    a = make_batches(src, tgt, max_tokens=500, seed=1)
    assert order(a) == order(make_batches(src, tgt, max_tokens=500, seed=1))
    assert order(a) != order(make_batches(src, tgt, max_tokens=500, seed=2))
    # only the order of batches changes, not their contents
    assert sorted(order(a)) == sorted(order(make_batches(src, tgt, max_tokens=500, seed=2)))
    plain = make_batches(src, tgt, max_tokens=500, shuffle=False)
    firsts = [len(src[b.indices[0]]) for b in plain]
    assert firsts == sorted(firsts)  # unshuffled: shortest first


def test_epochs_reshuffle_and_resume():
    src, tgt = dataset(400)
    it = BatchIterator(src, tgt, max_tokens=500, seed=3)
    ids = lambda bs: [id(b) for b in bs]  # noqa: E731
    e0, e1 = list(it.epoch(0)), list(it.epoch(1))
    assert len(e0) == len(e1) == len(it) > 10
    assert ids(e0) != ids(e1) and sorted(ids(e0)) == sorted(ids(e1))
    assert ids(list(it.epoch(1))) == ids(e1)  # same epoch, same order
    assert ids(list(it.epoch(1, start=4))) == ids(e1[4:])  # resume after 4 batches
    assert list(it.epoch(1, start=len(it))) == []
    # make_batches is epoch 0; epoch_batches rebuilds the same batches
    k = lambda bs: [b.indices.tolist() for b in bs]  # noqa: E731
    assert k(make_batches(src, tgt, max_tokens=500, seed=3)) == k(e0)
    assert k(epoch_batches(src, tgt, 1, start=4, max_tokens=500, seed=3)) == k(e1[4:])
    with pytest.raises(ValueError, match="start"):
        it.epoch(0, start=len(it) + 1)


def test_bad_arguments():
    with pytest.raises(ValueError, match="3 source sequences but 2 target"):
        make_batches([[4]] * 3, [[4]] * 2, max_tokens=10)
    with pytest.raises(ValueError, match="max_tokens and/or max_sentences"):
        make_batches([[4]], [[4]])
    with pytest.raises(ValueError, match="max_tokens must be an integer >= 1"):
        make_batches([[4]], [[4]], max_tokens=0)
    with pytest.raises(ValueError, match="pair 1 has an empty source"):
        make_batches([[4], []], [[4], [4]], max_tokens=10)
    assert make_batches([], [], max_sentences=4) == []
