"""The functional ops agree with PyTorch's (float64, values and gradients).

PyTorch is only a reference here (never imported by minitransformer); these
tests skip where it is not installed.  Cross-entropy takes PyTorch's layout
(the classes at dim 1) and default ``ignore_index=-100``; ours also accepts
``ignore_index=None`` (no id ignored).
"""
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minitransformer as mt
import minitransformer.functional as F


def T(data, dtype=None, requires_grad=False):
    """A tensor on the current backend (NumPy data is moved there; ``pytest --backend cupy``)."""
    return mt.tensor(data, dtype=dtype, requires_grad=requires_grad, backend=mt.get_backend())


torch = pytest.importorskip("torch")
TF = torch.nn.functional
TOL = dict(rtol=1e-10, atol=1e-12)
seeds = st.integers(0, 2**32 - 1)


def normal(shape, seed, scale=1.0):
    return np.random.default_rng(seed).standard_normal(shape) * scale


def both(arrays, ours_fn, torch_fn, seed=0):
    """Run both libraries on float64 copies of ``arrays`` (None passes through);
    return (ours, theirs) outputs and (ours, theirs) gradients of sum(out * v)."""
    ours_in = [None if a is None else T(a, dtype="float64", requires_grad=True) for a in arrays]
    theirs_in = [None if a is None else torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in arrays]
    ours, theirs = ours_fn(*ours_in), torch_fn(*theirs_in)
    v = normal(ours.shape, seed)
    ours.backward(T(v, dtype="float64"))
    theirs.backward(torch.tensor(v, dtype=torch.float64))
    grads = [(None, None) if a is None else (a.grad.numpy(), b.grad.numpy()) for a, b in zip(ours_in, theirs_in)]
    return ours.numpy(), theirs.detach().numpy(), grads


def assert_parity(arrays, ours_fn, torch_fn, **tol):
    tol = tol or TOL
    ours, theirs, grads = both(arrays, ours_fn, torch_fn)
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, **tol)
    for i, (g_ours, g_theirs) in enumerate(grads):
        if g_ours is not None:
            np.testing.assert_allclose(g_ours, g_theirs, err_msg=f"gradient of input {i}", **tol)


# ------------------------------------------------------------ cross-entropy
@given(hnp.array_shapes(min_dims=0, max_dims=2, min_side=1, max_side=5), st.integers(1, 6),
       st.sampled_from([0.0, 0.1, 0.3]), st.sampled_from(["mean", "sum", "none"]),
       st.sampled_from([None, 0, -100]), st.data(), seeds)
def test_cross_entropy_matches_torch(lead, classes, smoothing, reduction, ignore_index, data, seed):
    logits = normal(lead + (classes,), seed, scale=4.0)
    if logits.ndim >= 3:                       # PyTorch's layout: (N, C, d1, ...), the classes at dim 1
        logits = np.moveaxis(logits, -1, 1)
    targets = data.draw(hnp.arrays(np.int64, lead, elements=st.integers(0, classes - 1)))
    if ignore_index == -100:
        targets = np.where(data.draw(hnp.arrays(np.bool_, lead)), -100, targets)
    if reduction == "mean" and ignore_index is not None and (targets == ignore_index).all():
        targets.flat[0] = classes - 1 if classes - 1 != ignore_index else 0  # torch: 0/0 = NaN there; see below
        assume(not (targets == ignore_index).all())  # one class, and it is ignored

    def ours(x):
        return F.cross_entropy(x, targets, ignore_index=ignore_index, label_smoothing=smoothing, reduction=reduction)

    def theirs(x):
        # (N, C, d1, ...) with targets (N, d1, ...); a lone row is (C,) with a 0-d target
        return TF.cross_entropy(x, torch.from_numpy(targets), label_smoothing=smoothing, reduction=reduction,
                                ignore_index=-100 if ignore_index is None else ignore_index)

    assert_parity([logits], ours, theirs)


def test_cross_entropy_all_ignored_mean_is_zero_where_torch_gives_nan():
    """The one deliberate difference: 0 valid targets give loss 0 (and zero gradient), not 0/0."""
    logits = normal((3, 4), 0)
    targets = np.full(3, -100)
    theirs = TF.cross_entropy(torch.tensor(logits), torch.tensor(targets), reduction="mean")
    assert torch.isnan(theirs)
    ours = F.cross_entropy(T(logits, dtype="float64"), targets, ignore_index=-100)
    assert ours.item() == 0.0


# ------------------------------------------------------------ softmax family
@given(hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=4), st.data(), seeds)
def test_softmax_and_log_softmax_match_torch(shape, data, seed):
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    x = normal(shape, seed, scale=5.0)
    assert_parity([x], lambda t: F.softmax(t, axis=axis), lambda t: TF.softmax(t, dim=axis))
    assert_parity([x], lambda t: F.log_softmax(t, axis=axis), lambda t: TF.log_softmax(t, dim=axis))


# ------------------------------------------------------------ layer norm, linear
@given(st.sampled_from([1, 2]), hnp.array_shapes(min_dims=0, max_dims=2, min_side=1, max_side=3),
       hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=4), st.booleans(), st.booleans(),
       st.sampled_from([1e-5, 1e-3]), seeds)
def test_layer_norm_matches_torch(n_norm, lead, trailing, with_weight, with_bias, eps, seed):
    normalized = trailing[2 - n_norm:]
    x = normal(lead + trailing, seed, scale=3.0) + 1.0
    w = normal(normalized, seed + 1) if with_weight else None
    b = normal(normalized, seed + 2) if with_bias else None
    assert_parity([x, w, b], lambda t, w_, b_: F.layer_norm(t, normalized, w_, b_, eps=eps),
                  lambda t, w_, b_: TF.layer_norm(t, normalized, w_, b_, eps=eps), rtol=1e-9, atol=1e-11)


@given(hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4), st.integers(1, 5), st.integers(1, 5),
       st.booleans(), seeds)
def test_linear_matches_torch(lead, n_in, n_out, with_bias, seed):
    x, w = normal(lead + (n_in,), seed), normal((n_out, n_in), seed + 1)
    b = normal((n_out,), seed + 2) if with_bias else None
    assert_parity([x, w, b], F.linear, TF.linear)


# ------------------------------------------------------------ embedding
@given(st.integers(1, 6), st.integers(1, 4), hnp.array_shapes(min_dims=1, max_dims=2, min_side=1, max_side=5),
       st.data(), seeds)
def test_embedding_matches_torch_including_padding_gradient(rows, dim, id_shape, data, seed):
    ids = data.draw(hnp.arrays(np.int64, id_shape, elements=st.integers(0, rows - 1)))
    pad = data.draw(st.none() | st.integers(0, rows - 1))
    ids_t = torch.from_numpy(ids)
    assert_parity([normal((rows, dim), seed)], lambda w: F.embedding(ids, w, padding_idx=pad),
                  lambda w: TF.embedding(ids_t, w, padding_idx=pad))


# ------------------------------------------------------------ attention
def test_torch_bool_attn_mask_means_allowed_like_ours():
    """Verify the convention: True = may attend, in torch's scaled_dot_product_attention and ours."""
    q, k = np.zeros((1, 2, 3)), np.zeros((1, 3, 3))  # equal scores: plain averages
    v = np.arange(9.0).reshape(1, 3, 3)
    mask = np.array([[True, False, False], [True, True, False]])
    expected = np.stack([v[0, 0], v[0, :2].mean(axis=0)])[None]
    theirs = TF.scaled_dot_product_attention(*(torch.tensor(a) for a in (q, k, v)), attn_mask=torch.tensor(mask))
    ours = F.scaled_dot_product_attention(*(T(a, dtype="float64") for a in (q, k, v)), mask=mask)
    np.testing.assert_allclose(theirs.numpy(), expected, **TOL)
    np.testing.assert_allclose(ours.numpy(), expected, **TOL)


@settings(max_examples=40)
@given(st.integers(1, 2), st.integers(1, 3), st.integers(1, 4), st.integers(1, 4), st.integers(1, 4),
       st.sampled_from(["(Lq,Lk)", "(B,1,1,Lk)", "(B,H,Lq,Lk)", "(1,H,Lq,1)", "causal", "none"]), st.data(), seeds)
def test_attention_matches_torch(B, H, Lq, Lk, d, form, data, seed):
    q, k, v = normal((B, H, Lq, d), seed), normal((B, H, Lk, d), seed + 1), normal((B, H, Lk, d + 1), seed + 2)
    if form == "none":
        mask = None
    elif form == "causal":
        mask = F.causal_mask(max(Lq, Lk)).numpy()[:Lq, :Lk]  # row 0 always sees key 0
    else:
        sizes = {"B": B, "H": H, "Lq": Lq, "Lk": Lk, "1": 1}
        shape = tuple(sizes[s] for s in form.strip("()").split(","))
        mask = data.draw(hnp.arrays(np.bool_, shape))
        mask[..., data.draw(st.integers(0, shape[-1] - 1))] = True  # every query sees some key
    mask_t = None if mask is None else torch.from_numpy(np.ascontiguousarray(mask))
    assert_parity([q, k, v], lambda a, b, c: F.scaled_dot_product_attention(a, b, c, mask=mask),
                  lambda a, b, c: TF.scaled_dot_product_attention(a, b, c, attn_mask=mask_t))


def test_attention_fully_masked_rows_match_torch_zeros():
    """torch (2.5 and later) also returns zeros, and zero gradients, for a query that sees no key."""
    q, k, v = normal((2, 3, 4), 0), normal((2, 5, 4), 1), normal((2, 5, 2), 2)
    mask = np.ones((2, 3, 5), dtype=bool)
    mask[0, 1] = False
    mask[1] = False
    assert_parity([q, k, v], lambda a, b, c: F.scaled_dot_product_attention(a, b, c, mask=mask),
                  lambda a, b, c: TF.scaled_dot_product_attention(a, b, c, attn_mask=torch.from_numpy(mask)))
