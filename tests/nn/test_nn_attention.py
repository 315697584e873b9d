"""MultiheadAttention: values against a NumPy transcription of the paper's formulas,
PyTorch's masks in every accepted form, finite-difference gradients, fully masked
rows, errors, and the key/value cache of incremental decoding."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minitransformer as mt
from minitransformer import nn


def reference_mha(mha, q, k, v, allowed=None, bias=None):
    """softmax(Q K^T / sqrt(d_k) + bias) V per head, heads concatenated, then W_O, in float64 NumPy,
    for batch-first (B, L, E) inputs; ``allowed`` (True = may attend) broadcasts to (B, H, L, S)."""
    w_in, b_in = mha.in_proj_weight.numpy().astype(np.float64), mha.in_proj_bias.numpy()
    e = mha.embed_dim
    b, lq, _ = q.shape
    h, dk = mha.num_heads, mha.head_dim
    split = lambda x: x.reshape(b, -1, h, dk).transpose(0, 2, 1, 3)  # noqa: E731
    Q, K, V = (split(x @ w_in[i * e:(i + 1) * e].T + b_in[i * e:(i + 1) * e]) for i, x in enumerate((q, k, v)))
    scores = Q @ K.transpose(0, 1, 3, 2) / np.sqrt(dk)
    if bias is not None:
        scores = scores + bias
    if allowed is not None:
        scores = np.where(allowed, scores, -np.inf)
    with np.errstate(invalid="ignore"):
        ex = np.exp(scores - scores.max(-1, keepdims=True))
        w = np.nan_to_num(ex / ex.sum(-1, keepdims=True))
    out = (w @ V).transpose(0, 2, 1, 3).reshape(b, lq, e)
    return out @ mha.out_proj.weight.numpy().T + mha.out_proj.bias.numpy(), w


def _masks(b, h, lq, lk, rng):
    """kind -> (attn_mask, key_padding_mask, allowed for the reference, bias for the reference)."""
    blocked = rng.random((lq, lk)) < 0.3
    per_head = rng.random((b * h, lq, lk)) < 0.3
    pad = rng.random((b, lk)) < 0.3
    pad[:, 0] = False
    bias = rng.standard_normal((lq, lk))
    return {
        "none": (None, None, None, None),
        "bool": (blocked, None, ~blocked, None),
        "per_head": (per_head, None, ~per_head.reshape(b, h, lq, lk), None),
        "float": (np.where(blocked, -np.inf, bias), None, ~blocked, np.where(blocked, 0, bias)),
        "padding": (None, pad, ~pad[:, None, None, :], None),
        "float_padding": (None, np.where(pad, -np.inf, 0.5), ~pad[:, None, None, :], np.where(pad, 0, 0.5)[:, None, None, :]),
        "both": (blocked, pad, ~blocked & ~pad[:, None, None, :], None),
    }


@pytest.mark.parametrize("kind", ["none", "bool", "per_head", "float", "padding", "float_padding", "both"])
def test_values_and_weights_match_reference(kind):
    rng = np.random.default_rng(1)
    mha = nn.MultiheadAttention(8, 2, batch_first=True)
    nn.init.normal_(mha.in_proj_bias)  # nonzero biases, so they are checked too
    nn.init.normal_(mha.out_proj.bias)
    q, kv = rng.standard_normal((3, 4, 8)), rng.standard_normal((3, 5, 8))
    attn_mask, padding, allowed, bias = _masks(3, 2, 4, 5, rng)[kind]
    out, w = mha(mt.tensor(q), mt.tensor(kv), mt.tensor(kv), key_padding_mask=padding, attn_mask=attn_mask,
                 average_attn_weights=False)
    ref_out, ref_w = reference_mha(mha, q, kv, kv, allowed, bias)
    assert out.shape == (3, 4, 8) and w.shape == (3, 2, 4, 5) and out.dtype == np.float32
    np.testing.assert_allclose(out.numpy(), ref_out, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(w.numpy(), ref_w, rtol=1e-4, atol=1e-6)
    if allowed is not None:
        assert (w.numpy()[~np.broadcast_to(allowed, w.shape)] == 0).all()
    averaged = mha(mt.tensor(q), mt.tensor(kv), mt.tensor(kv), key_padding_mask=padding, attn_mask=attn_mask)[1]
    np.testing.assert_allclose(averaged.numpy(), ref_w.mean(axis=1), rtol=1e-4, atol=1e-6)
    assert mha(mt.tensor(q), mt.tensor(kv), mt.tensor(kv), need_weights=False)[1] is None


def test_sequence_first_layout_is_the_batch_first_one_transposed():
    rng = np.random.default_rng(2)
    first = nn.MultiheadAttention(8, 4, batch_first=True)
    seq = nn.MultiheadAttention(8, 4)
    seq.load_state_dict(first.state_dict())
    q, kv = rng.standard_normal((2, 3, 8)), rng.standard_normal((2, 5, 8))
    a = first(mt.tensor(q), mt.tensor(kv), mt.tensor(kv))[0].numpy()
    b = seq(mt.tensor(q.transpose(1, 0, 2)), mt.tensor(kv.transpose(1, 0, 2)), mt.tensor(kv.transpose(1, 0, 2)))[0]
    assert b.shape == (3, 2, 8)
    np.testing.assert_allclose(b.numpy().transpose(1, 0, 2), a, rtol=1e-6, atol=1e-6)


def test_is_causal_equals_the_causal_mask():
    x = mt.randn(2, 5, 8)
    mha = nn.MultiheadAttention(8, 2, batch_first=True)
    causal = nn.Transformer.generate_square_subsequent_mask(5)
    np.testing.assert_array_equal(causal.numpy(), np.triu(np.full((5, 5), -np.inf, dtype=np.float32), 1))
    by_hint, w = mha(x, x, x, is_causal=True, average_attn_weights=False)
    by_mask = mha(x, x, x, attn_mask=causal)[0]
    by_bool = mha(x, x, x, attn_mask=np.triu(np.ones((5, 5), dtype=bool), 1))[0]
    np.testing.assert_allclose(by_hint.numpy(), by_mask.numpy(), rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(by_hint.numpy(), by_bool.numpy())
    assert (np.triu(w.numpy(), 1) == 0).all()


@settings(max_examples=8, deadline=None)
@given(batch=st.integers(1, 2), len_q=st.integers(1, 3), len_k=st.integers(1, 3),
       heads=st.sampled_from([1, 2, 4]), kind=st.sampled_from(["none", "bool", "per_head", "float", "padding", "both"]),
       seed=st.integers(0, 100))
def test_gradcheck_parameters_and_inputs(batch, len_q, len_k, heads, kind, seed):
    rng = np.random.default_rng(seed)
    with mt.set_default_dtype("float64"):
        mha = nn.MultiheadAttention(4, heads, batch_first=True)
        for p in mha.parameters():
            nn.init.normal_(p, std=0.7)
        q = mt.tensor(rng.standard_normal((batch, len_q, 4)), requires_grad=True)
        k = mt.tensor(rng.standard_normal((batch, len_k, 4)), requires_grad=True)
        v = mt.tensor(rng.standard_normal((batch, len_k, 4)), requires_grad=True)
        attn_mask, padding, _, _ = _masks(batch, heads, len_q, len_k, rng)[kind]
        assert mt.gradcheck(lambda *_: mha(q, k, v, key_padding_mask=padding, attn_mask=attn_mask)[0],
                            [*mha.parameters(), q, k, v])


def test_fully_masked_query_gives_zeros_where_pytorch_gives_nan():
    """A query that may look at no key: zero weights, so its attention output is out_proj's bias,
    and every gradient is finite (PyTorch's softmax over a row of -inf gives NaN)."""
    mha = nn.MultiheadAttention(4, 2, batch_first=True)
    nn.init.normal_(mha.out_proj.bias)
    x = mt.randn(2, 3, 4, requires_grad=True)
    blocked = np.zeros((2 * 2, 3, 3), dtype=bool)
    blocked[0:2, 1] = True                      # query 1 of batch 0, in both heads, may look at nothing
    out, w = mha(x, x, x, attn_mask=blocked, average_attn_weights=False)
    assert np.isfinite(out.numpy()).all() and (w.numpy()[0, :, 1] == 0).all()
    np.testing.assert_allclose(out.numpy()[0, 1], mha.out_proj.bias.numpy(), rtol=1e-6)
    out.sum().backward()
    assert np.isfinite(x.grad.numpy()).all()
    assert all(np.isfinite(p.grad.numpy()).all() for p in mha.parameters())
    everything = np.ones((2, 3), dtype=bool)    # all keys padding: every output is the bias
    out = mha(x, x, x, key_padding_mask=everything)[0]
    np.testing.assert_allclose(out.numpy(), np.broadcast_to(mha.out_proj.bias.numpy(), (2, 3, 4)), rtol=1e-6)


def test_attention_dropout_only_in_training():
    mha = nn.MultiheadAttention(8, 2, dropout=0.5)
    x = mt.randn(6, 2, 8)
    mha.eval()
    a, b = mha(x, x, x)[0], mha(x, x, x)[0]
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    mha.train()
    assert not np.allclose(mha(x, x, x)[0].numpy(), a.numpy())


def test_init_is_pytorchs():
    mha = nn.MultiheadAttention(16, 4)
    w = mha.in_proj_weight.numpy()
    assert w.shape == (48, 16) and np.abs(w).max() <= np.sqrt(6 / (16 + 48))     # Xavier over the packed (3E, E)
    assert np.abs(w).max() > 0.8 * np.sqrt(6 / (16 + 48))
    assert (mha.in_proj_bias.numpy() == 0).all() and (mha.out_proj.bias.numpy() == 0).all()
    assert np.abs(mha.out_proj.weight.numpy()).max() <= 1 / np.sqrt(16)           # the Linear default
    separate = nn.MultiheadAttention(16, 4, kdim=8, vdim=4, add_bias_kv=True, bias=False)
    assert separate.in_proj_weight is None and separate.in_proj_bias is None and separate.out_proj.bias is None
    assert separate.k_proj_weight.shape == (16, 8) and separate.v_proj_weight.shape == (16, 4)
    assert separate.bias_k.shape == (1, 1, 16) and np.abs(separate.bias_k.numpy()).max() > 0


def test_errors_name_the_module_and_shapes():
    with pytest.raises(ValueError, match="embed_dim=10 is not divisible by num_heads=3"):
        nn.MultiheadAttention(10, 3)
    with pytest.raises(ValueError, match="dropout"):
        nn.MultiheadAttention(8, 2, dropout=1.0)
    mha = nn.MultiheadAttention(8, 2, batch_first=True)
    x = mt.randn(2, 3, 8)
    with pytest.raises(TypeError, match=r"MultiheadAttention: attn_mask must be boolean .* or float .*int64"):
        mha(x, x, x, attn_mask=np.ones((3, 3), dtype=np.int64))
    with pytest.raises(TypeError, match=r"key_padding_mask must be boolean.*int64"):
        mha(x, x, x, key_padding_mask=np.zeros((2, 3), dtype=np.int64))
    with pytest.raises(ValueError, match=r"attn_mask of shape \(3, 4\).*\(L, S\) = \(3, 3\).*\(4, 3, 3\)"):
        mha(x, x, x, attn_mask=np.zeros((3, 4), dtype=bool))
    with pytest.raises(ValueError, match=r"attn_mask of shape \(2, 1, 1, 3\)"):
        mha(x, x, x, attn_mask=np.zeros((2, 1, 1, 3), dtype=bool))
    with pytest.raises(ValueError, match=r"key_padding_mask must have shape \(B, S\) = \(2, 3\).*\(3, 2\)"):
        mha(x, x, x, key_padding_mask=np.zeros((3, 2), dtype=bool))
    with pytest.raises(ValueError, match=r"query must be 3-D with 8 features.*\(B, L, E\).*\(2, 3, 6\)"):
        mha(mt.randn(2, 3, 6), x, x)
    with pytest.raises(ValueError, match="same batch size, and key and value the same length"):
        mha(x, x, mt.randn(2, 4, 8))
    with pytest.raises(ValueError, match="same batch size"):
        mha(x, mt.randn(3, 3, 8), mt.randn(3, 3, 8))
    with pytest.raises(TypeError, match="query must be a Tensor"):
        mha(np.zeros((2, 3, 8)), x, x)
    with pytest.raises(NotImplementedError, match="cache=.*add_bias_kv"):
        nn.MultiheadAttention(8, 2, add_bias_kv=True)(x, x, x, cache={})


# ---------------------------------------------------------------- incremental decoding
def test_self_attention_cache_equals_causal_full_pass():
    with mt.set_default_dtype("float64"):
        mha = nn.MultiheadAttention(8, 2, batch_first=True)
        x = mt.randn(2, 5, 8)
        full = mha(x, x, x, is_causal=True)[0].numpy()
        cache = {}
        steps = [mha(x[:, t:t + 1], x[:, t:t + 1], x[:, t:t + 1], cache=cache)[0].numpy() for t in range(5)]
        assert cache["k"].shape == (2, 2, 5, 4)
        np.testing.assert_allclose(np.concatenate(steps, axis=1), full, atol=1e-12)
        cache = {}                                  # two steps of 2 and 3 positions, causal within each
        chunks = [mha(x[:, :2], x[:, :2], x[:, :2], is_causal=True, cache=cache)[0].numpy(),
                  mha(x[:, 2:], x[:, 2:], x[:, 2:], is_causal=True, cache=cache)[0].numpy()]
        np.testing.assert_allclose(np.concatenate(chunks, axis=1), full, atol=1e-12)


def test_static_kv_cache_projects_memory_once():
    mha = nn.MultiheadAttention(8, 2, batch_first=True)
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
    mha = nn.MultiheadAttention(4, 2, batch_first=True)
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
