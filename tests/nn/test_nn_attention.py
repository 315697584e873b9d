"""MultiHeadAttention: values against a NumPy transcription of the paper's formulas,
masks of every accepted shape, finite-difference gradients, errors, caching."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minitransformer as mt
from minitransformer import nn
import minitransformer.functional as F


def reference_mha(mha, q, k, v, mask=None):
    """softmax(Q K^T / sqrt(d_k)) V per head, heads concatenated, then W_O; in float64 NumPy."""
    def proj(lin, x):
        return x @ lin.weight.numpy().T.astype(np.float64) + lin.bias.numpy()

    b, lq, d = q.shape
    h, dk = mha.num_heads, mha.d_k
    split = lambda x: x.reshape(b, -1, h, dk).transpose(0, 2, 1, 3)  # noqa: E731
    Q, K, V = split(proj(mha.q_proj, q)), split(proj(mha.k_proj, k)), split(proj(mha.v_proj, v))
    scores = Q @ K.transpose(0, 1, 3, 2) / np.sqrt(dk)
    if mask is not None:
        m = np.asarray(mask)
        m = m[:, None] if m.ndim == 3 else m
        scores = np.where(m, scores, -np.inf)
    with np.errstate(invalid="ignore"):
        e = np.exp(scores - scores.max(-1, keepdims=True))
        w = np.nan_to_num(e / e.sum(-1, keepdims=True))
    out = (w @ V).transpose(0, 2, 1, 3).reshape(b, lq, d)
    return proj(mha.out_proj, out), w


def _masks(b, lq, lk, rng):
    pad = rng.random((b, lk)) < 0.7
    pad[:, 0] = True
    return {
        "none": None,
        "2d": rng.random((lq, lk)) < 0.7,
        "3d": rng.random((b, lq, lk)) < 0.7,
        "padding": pad[:, None, None, :],
    }


@pytest.mark.parametrize("kind", ["none", "2d", "3d", "padding"])
def test_values_and_weights_match_reference(kind):
    rng = np.random.default_rng(1)
    mha = nn.MultiHeadAttention(8, 2)
    nn.init.normal_(mha.q_proj.bias)  # nonzero biases, so they are checked too
    nn.init.normal_(mha.out_proj.bias)
    q, kv = rng.standard_normal((3, 4, 8)), rng.standard_normal((3, 5, 8))
    mask = _masks(3, 4, 5, rng)[kind]
    out, w = mha(mt.tensor(q), mt.tensor(kv), mt.tensor(kv), mask=mask, need_weights=True)
    ref_out, ref_w = reference_mha(mha, q, kv, kv, mask)
    assert out.shape == (3, 4, 8) and w.shape == (3, 2, 4, 5) and out.dtype == np.float32
    np.testing.assert_allclose(out.numpy(), ref_out, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(w.numpy(), ref_w, rtol=1e-4, atol=1e-6)
    if mask is not None:
        full = np.broadcast_to(np.asarray(mask)[:, None] if np.ndim(mask) == 3 else mask, w.shape)
        assert (w.numpy()[~full] == 0).all()
    assert mha(mt.tensor(q), mt.tensor(kv), mt.tensor(kv), mask=mask)[1] is None


@settings(max_examples=8, deadline=None)
@given(batch=st.integers(1, 2), len_q=st.integers(1, 3), len_k=st.integers(1, 3),
       heads=st.sampled_from([1, 2, 4]), kind=st.sampled_from(["none", "2d", "3d", "padding"]),
       seed=st.integers(0, 100))
def test_gradcheck_parameters_and_inputs(batch, len_q, len_k, heads, kind, seed):
    rng = np.random.default_rng(seed)
    with mt.set_default_dtype("float64"):
        mha = nn.MultiHeadAttention(4, heads)
        for p in mha.parameters():
            nn.init.normal_(p, std=0.7)
        q = mt.tensor(rng.standard_normal((batch, len_q, 4)), requires_grad=True)
        k = mt.tensor(rng.standard_normal((batch, len_k, 4)), requires_grad=True)
        v = mt.tensor(rng.standard_normal((batch, len_k, 4)), requires_grad=True)
        mask = _masks(batch, len_q, len_k, rng)[kind]
        assert mt.gradcheck(lambda *_: mha(q, k, v, mask=mask)[0], [*mha.parameters(), q, k, v])


def test_fully_masked_query_gives_finite_output_and_gradients():
    mha = nn.MultiHeadAttention(4, 2)
    x = mt.randn(2, 3, 4, requires_grad=True)
    mask = np.ones((2, 3, 3), dtype=bool)
    mask[0, 1] = False                       # query 1 of batch 0 may look at nothing
    out, w = mha(x, x, x, mask=mask, need_weights=True)
    assert np.isfinite(out.numpy()).all() and (w.numpy()[0, :, 1] == 0).all()
    out.sum().backward()
    assert np.isfinite(x.grad.numpy()).all()
    assert all(np.isfinite(p.grad.numpy()).all() for p in mha.parameters())


def test_attention_dropout_only_in_training():
    mha = nn.MultiHeadAttention(8, 2, dropout=0.5)
    x = mt.randn(2, 6, 8)
    mha.eval()
    a, b = mha(x, x, x)[0], mha(x, x, x)[0]
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    mha.train()
    assert not np.allclose(mha(x, x, x)[0].numpy(), a.numpy())


def test_errors_name_the_shapes():
    with pytest.raises(ValueError, match="d_model=10 is not divisible by num_heads=3"):
        nn.MultiHeadAttention(10, 3)
    with pytest.raises(ValueError, match="dropout"):
        nn.MultiHeadAttention(8, 2, dropout=1.0)
    mha = nn.MultiHeadAttention(8, 2)
    x = mt.randn(2, 3, 8)
    with pytest.raises(TypeError, match="boolean.*int64"):
        mha(x, x, x, mask=np.ones((3, 3), dtype=np.int64))
    with pytest.raises(TypeError, match="boolean.*float32"):
        mha(x, x, x, mask=mt.ones(3, 3))
    with pytest.raises(ValueError, match=r"\(3, 4\).*\(2, 2, 3, 3\)"):
        mha(x, x, x, mask=np.ones((3, 4), dtype=bool))
    with pytest.raises(ValueError, match=r"\(3, 1, 1, 3\)"):
        mha(x, x, x, mask=np.ones((3, 1, 1, 3), dtype=bool))
    with pytest.raises(ValueError, match=r"mask of shape \(3,\)"):
        mha(x, x, x, mask=np.ones(3, dtype=bool))
    with pytest.raises(ValueError, match=r"query must have shape .*\(2, 3, 6\)"):
        mha(mt.randn(2, 3, 6), x, x)
    with pytest.raises(ValueError, match="same length"):
        mha(x, x, mt.randn(2, 4, 8))
    with pytest.raises(ValueError, match="key must have shape"):
        mha(x, mt.randn(3, 3, 8), mt.randn(3, 3, 8))


def test_load_packed_in_proj_splits_q_k_v():
    mha = nn.MultiHeadAttention(4, 2)
    w = np.arange(48, dtype=np.float32).reshape(12, 4)
    b = np.arange(12, dtype=np.float32)
    mha.load_packed_in_proj(w, b)
    np.testing.assert_array_equal(mha.k_proj.weight.numpy(), w[4:8])
    np.testing.assert_array_equal(mha.v_proj.bias.numpy(), b[8:])
    with pytest.raises(ValueError, match=r"\(12, 4\)"):
        mha.load_packed_in_proj(w[:8])


# ---------------------------------------------------------------- incremental decoding
def test_self_attention_cache_equals_causal_full_pass():
    with mt.set_default_dtype("float64"):
        mha = nn.MultiHeadAttention(8, 2)
        x = mt.randn(2, 5, 8)
        full = mha(x, x, x, mask=F.causal_mask(5))[0].numpy()
        cache = {}
        steps = [mha(x[:, t:t + 1], x[:, t:t + 1], x[:, t:t + 1], cache=cache)[0].numpy() for t in range(5)]
        assert cache["k"].shape == (2, 2, 5, 4)
        np.testing.assert_allclose(np.concatenate(steps, axis=1), full, atol=1e-12)


def test_static_kv_cache_projects_memory_once():
    mha = nn.MultiHeadAttention(8, 2)
    memory = mt.randn(2, 6, 8)
    q = mt.randn(2, 1, 8)
    cache = {}
    first = mha(q, memory, memory, cache=cache, static_kv=True)[0]
    k_cached = cache["k"]
    again = mha(q, None, None, cache=cache, static_kv=True)[0]  # memory no longer needed
    assert cache["k"] is k_cached and k_cached.shape == (2, 2, 6, 4)
    np.testing.assert_array_equal(first.numpy(), again.numpy())
    np.testing.assert_allclose(first.numpy(), mha(q, memory, memory)[0].numpy(), rtol=1e-6)


def test_reorder_cache_selects_beams_and_checks_batch():
    mha = nn.MultiHeadAttention(4, 2)
    x = mt.randn(3, 2, 4)
    cache = {"layers": [{"self_attn": {}}], "offset": 2}
    mha(x, x, x, cache=cache["layers"][0]["self_attn"])
    before = cache["layers"][0]["self_attn"]["k"].numpy()
    nn.reorder_cache(cache, np.array([2, 2, 0]))
    after = cache["layers"][0]["self_attn"]["k"].numpy()
    np.testing.assert_array_equal(after, before[[2, 2, 0]])
    assert cache["offset"] == 2
    nn.reorder_cache(cache, np.array([1]))
    with pytest.raises(ValueError, match="batch of 3"):
        mha(x[:, :1], x[:, :1], x[:, :1], cache=cache["layers"][0]["self_attn"])
