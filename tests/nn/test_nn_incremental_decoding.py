"""Incremental decoding with a per-layer key/value cache gives the same logits as
decoding the whole prefix at once (float64, to 1e-6), step by step or in chunks,
after reordering beams, and for the decoder-only language model."""
import numpy as np
import pytest

import minitransformer as mt
from minitransformer import nn


def tiny(**kw):
    config = dict(d_model=8, nhead=2, num_encoder_layers=1, num_decoder_layers=1, dim_feedforward=16, dropout=0.0)
    return nn.TransformerTranslator(11, 11, **{**config, **kw})


def random_ids(rng, batch, length, vocab=11, pad_lengths=None):
    """Ids in 1..vocab-1, with row b padded (id 0) after pad_lengths[b] tokens."""
    ids = rng.integers(1, vocab, size=(batch, length))
    for b, n in enumerate(pad_lengths or []):
        ids[b, n:] = 0
    return ids


@pytest.mark.parametrize("norm_first", [False, True])
def test_incremental_decoding_equals_full_decoding(norm_first):
    rng = np.random.default_rng(3)
    with mt.set_default_dtype("float64"):
        model = nn.TransformerTranslator(11, 11, d_model=8, nhead=2, num_encoder_layers=2, num_decoder_layers=2,
                                         dim_feedforward=16, dropout=0.0, norm_first=norm_first, tie_output=True)
        src = random_ids(rng, 3, 5, pad_lengths=[5, 2, 4])
        tgt = random_ids(rng, 3, 6)
        with mt.no_grad():
            full = model(src, tgt).numpy()
            memory = model.encode(src)
            cache = model.init_cache()
            steps = [model.decode_step(tgt[:, t:t + 1], memory, cache, src).numpy() for t in range(6)]
            assert cache["offset"] == 6
            np.testing.assert_allclose(np.concatenate(steps, axis=1), full, atol=1e-6, rtol=0)
            # a prefix of 4 at once, then 2 single steps
            cache = model.init_cache()
            chunks = [model.decode_step(tgt[:, :4], memory, cache, src).numpy()]
            chunks += [model.decode_step(tgt[:, t:t + 1], memory, cache, src).numpy() for t in (4, 5)]
            np.testing.assert_allclose(np.concatenate(chunks, axis=1), full, atol=1e-6, rtol=0)


def test_reorder_cache_matches_decoding_the_reordered_batch():
    rng = np.random.default_rng(4)
    with mt.set_default_dtype("float64"), mt.no_grad():
        model = tiny(num_decoder_layers=2)
        src, tgt = random_ids(rng, 3, 4), random_ids(rng, 3, 3)
        memory = model.encode(src)
        cache = model.init_cache()
        model.decode_step(tgt[:, :2], memory, cache, src)
        order = np.array([2, 0, 0])
        model.reorder_cache(cache, order)
        step = model.decode_step(tgt[order, 2:3], memory.index_select(0, mt.tensor(order)), cache, src[order]).numpy()
        expected = model(src[order], tgt[order]).numpy()[:, 2:3]
        np.testing.assert_allclose(step, expected, atol=1e-9)


def test_language_model_incremental_equals_full():
    rng = np.random.default_rng(5)
    with mt.set_default_dtype("float64"), mt.no_grad():
        lm = nn.TransformerLM(11, 8, 2, 2, 16, dropout=0.0, norm_first=True, tie_output=True)
        ids = random_ids(rng, 2, 5)
        full = lm(ids).numpy()
        cache = lm.init_cache()
        parts = [lm(ids[:, :2], cache=cache).numpy()] + [lm(ids[:, t:t + 1], cache=cache).numpy() for t in (2, 3, 4)]
        np.testing.assert_allclose(np.concatenate(parts, axis=1), full, atol=1e-9)


def test_decode_step_errors():
    model = tiny()
    memory = model.encode(np.array([[3, 4]]))
    with pytest.raises(TypeError, match="init_cache"):
        model.decode_step(np.array([[1]]), memory, {})
    cache = model.init_cache()
    with pytest.raises(ValueError, match="max_len"):
        cache["offset"] = 4999
        model.decode_step(np.array([[1, 2]]), memory, cache)
