"""Fused ops agree with their composed twins, in values and in gradients.

Each fused op in ``minitransformer.functional`` (one Function with a
hand-derived backward) sits next to a ``*_composed`` version built from the
engine's primitive ops, whose backward comes from the chain rule.  Two
independent derivations of the same gradient agreeing to ~1e-10 in float64 is
strong evidence that both are right.  Everything here runs in float64.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minitransformer as mt
import minitransformer.functional as F


def T(data, dtype=None, requires_grad=False):
    """A tensor on the current backend (NumPy data is moved there; ``pytest --backend cupy``)."""
    return mt.tensor(data, dtype=dtype, requires_grad=requires_grad, backend=mt.get_backend())


TOL = dict(rtol=1e-9, atol=1e-10)


def values(shape, lo=-8.0, hi=8.0):
    """float64 arrays of ``shape`` with finite values in [lo, hi] (ties, zeros, extremes included)."""
    return hnp.arrays(np.float64, shape, elements=st.floats(lo, hi, allow_nan=False, allow_infinity=False))


def run(fn, arrays, seed=0):
    """fn(*tensors) in float64 and the gradients of sum(out * v) for a fixed random v.

    ``arrays``: NumPy arrays (made float64 leaves that require grad) or None
    (passed through as None).  Returns (out, [grad or None per input]).
    """
    leaves = [None if a is None else T(a, dtype="float64", requires_grad=True) for a in arrays]
    out = fn(*leaves)
    direction = np.random.default_rng(seed).standard_normal(out.shape)
    out.backward(T(direction, dtype="float64"))
    return out.numpy(), [None if t is None else t.grad.numpy() for t in leaves]


def assert_agree(fused, composed, arrays):
    out_f, grads_f = run(fused, arrays)
    out_c, grads_c = run(composed, arrays)
    assert out_f.dtype == out_c.dtype == np.float64
    np.testing.assert_allclose(out_f, out_c, **TOL)
    for i, (gf, gc) in enumerate(zip(grads_f, grads_c)):
        if gf is None and gc is None:
            continue
        assert gf.shape == gc.shape == arrays[i].shape
        np.testing.assert_allclose(gf, gc, err_msg=f"gradient of input {i}", **TOL)


# ------------------------------------------------------------ softmax family
@st.composite
def array_and_axis(draw, max_dims=4):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=max_dims, min_side=1, max_side=5))
    axis = draw(st.integers(-len(shape), len(shape) - 1))
    return draw(values(shape, -30.0, 30.0)), axis


@given(array_and_axis())
def test_softmax_fused_matches_composed(case):
    x, axis = case
    assert_agree(lambda t: F.softmax(t, axis=axis), lambda t: F.softmax_composed(t, axis=axis), [x])


@given(array_and_axis())
def test_log_softmax_fused_matches_composed(case):
    x, axis = case
    assert_agree(lambda t: F.log_softmax(t, axis=axis), lambda t: F.log_softmax_composed(t, axis=axis), [x])


@given(array_and_axis())
def test_softmax_rows_are_distributions_and_log_softmax_is_their_log(case):
    x, axis = case
    t = T(x, dtype="float64")
    p = F.softmax(t, axis=axis).numpy()
    assert (p >= 0).all()
    np.testing.assert_allclose(p.sum(axis=axis), 1.0, rtol=1e-12)
    np.testing.assert_allclose(np.exp(F.log_softmax(t, axis=axis).numpy()), p, rtol=1e-12, atol=1e-300)


# ------------------------------------------------------------ layer norm
@st.composite
def layer_norm_case(draw):
    n_norm = draw(st.sampled_from([1, 2]))
    shape = draw(hnp.array_shapes(min_dims=n_norm, max_dims=n_norm + 2, min_side=1, max_side=4))
    normalized = shape[len(shape) - n_norm:]
    x = draw(values(shape))
    weight = draw(st.none() | values(normalized, -2.0, 2.0))
    bias = draw(st.none() | values(normalized, -2.0, 2.0))
    eps = draw(st.sampled_from([1e-5, 1e-3]))
    return x, normalized, weight, bias, eps


@given(layer_norm_case())
def test_layer_norm_fused_matches_composed(case):
    x, normalized, weight, bias, eps = case
    assert_agree(
        lambda t, w, b: F.layer_norm(t, normalized, w, b, eps=eps),
        lambda t, w, b: F.layer_norm_composed(t, normalized, w, b, eps=eps),
        [x, weight, bias],
    )


def test_layer_norm_output_has_zero_mean_unit_variance_over_normalized_axes():
    x = np.random.default_rng(1).normal(3.0, 5.0, (4, 3, 6))
    y = F.layer_norm(T(x, dtype="float64"), (3, 6), eps=0.0).numpy()
    np.testing.assert_allclose(y.mean(axis=(1, 2)), 0.0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=(1, 2)), 1.0, rtol=1e-12)


# ------------------------------------------------------------ linear
@st.composite
def linear_case(draw):
    lead = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4))
    n_in, n_out = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    x = draw(values(lead + (n_in,)))
    w = draw(values((n_out, n_in), -2.0, 2.0))
    b = draw(st.none() | values((n_out,), -2.0, 2.0))
    return x, w, b


@given(linear_case())
def test_linear_fused_matches_composed(case):
    x, w, b = case
    assert_agree(F.linear, F.linear_composed, [x, w, b])
    # and both are x W^T + b
    expected = x @ w.T + (0.0 if b is None else b)
    np.testing.assert_allclose(F.linear(T(x, dtype="float64"), T(w, dtype="float64"),
                                        None if b is None else T(b, dtype="float64")).numpy(),
                               expected, **TOL)


# ------------------------------------------------------------ cross-entropy
IGNORE = -100


@st.composite
def cross_entropy_case(draw):
    lead = draw(hnp.array_shapes(min_dims=0, max_dims=2, min_side=1, max_side=5))
    classes = draw(st.integers(1, 6))
    logits = draw(values(lead + (classes,), -20.0, 20.0))
    targets = draw(hnp.arrays(np.int64, lead, elements=st.integers(0, classes - 1)))
    use_ignore = draw(st.booleans())
    if use_ignore:
        ignored = draw(hnp.arrays(np.bool_, lead))
        targets = np.where(ignored, IGNORE, targets)
    smoothing = draw(st.sampled_from([0.0, 0.1, 0.3]))
    reduction = draw(st.sampled_from(["mean", "sum", "none"]))
    return logits, targets, IGNORE if use_ignore else None, smoothing, reduction


def classes_at_dim_1(logits):
    """The cases draw logits (..., C), classes last; F.cross_entropy takes PyTorch's (N, C, d1, ...)."""
    return logits if logits.ndim < 3 else np.moveaxis(logits, -1, 1)


@given(cross_entropy_case())
def test_cross_entropy_fused_matches_composed(case):
    logits, targets, ignore, smoothing, reduction = case
    kw = dict(ignore_index=ignore, label_smoothing=smoothing, reduction=reduction)
    assert_agree(
        lambda x: F.cross_entropy(x, targets, **kw), lambda x: F.cross_entropy_composed(x, targets, **kw),
        [classes_at_dim_1(logits)],
    )


@given(cross_entropy_case())
def test_cross_entropy_matches_the_formula(case):
    """loss_row = -sum_c q_c log p_c with q = (1 - eps) onehot(t) + eps / C; ignored rows count 0."""
    logits, targets, ignore, eps, reduction = case
    C = logits.shape[-1]
    x, t = logits.reshape(-1, C), targets.reshape(-1)
    log_p = x - x.max(axis=1, keepdims=True)
    log_p -= np.log(np.exp(log_p).sum(axis=1, keepdims=True))
    valid = t != IGNORE
    q = np.full(x.shape, eps / C)
    q[np.arange(t.size), np.where(valid, t, 0)] += 1 - eps
    rows = np.where(valid, -(q * log_p).sum(axis=1), 0.0)
    expected = {"none": rows.reshape(targets.shape), "sum": rows.sum(),
                "mean": rows.sum() / max(valid.sum(), 1)}[reduction]
    got = F.cross_entropy(T(classes_at_dim_1(logits), dtype="float64"), targets, ignore_index=ignore,
                          label_smoothing=eps, reduction=reduction)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@pytest.mark.parametrize("fn", [F.cross_entropy, F.cross_entropy_composed])
def test_cross_entropy_with_every_row_ignored_is_zero_with_zero_gradient(fn, smoothing, reduction):
    logits = T(np.random.default_rng(0).standard_normal((2, 4, 3)), dtype="float64", requires_grad=True)
    targets = np.full((2, 3), IGNORE)                      # (N, d1) for logits (N, C, d1)
    loss = fn(logits, targets, ignore_index=IGNORE, label_smoothing=smoothing, reduction=reduction)
    out = loss.numpy()
    assert out.shape == (() if reduction != "none" else (2, 3))
    assert np.all(out == 0.0)
    loss.sum().backward()
    assert np.all(logits.grad.numpy() == 0.0)


# ------------------------------------------------------------ attention
# the mask shapes used in practice, all broadcastable to the scores (B, H, Lq, Lk)
MASK_FORMS = ["none", "(Lk,)", "(Lq,Lk)", "(B,1,1,Lk)", "(B,1,Lq,Lk)", "(1,H,Lq,Lk)", "(B,H,Lq,Lk)",
              "causal", "padding"]


@st.composite
def attention_case(draw):
    B, H = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    Lq, Lk = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    dk, dv = draw(st.integers(1, 4)), draw(st.integers(1, 3))
    q = draw(values((B, H, Lq, dk), -3.0, 3.0))
    k = draw(values((B, H, Lk, dk), -3.0, 3.0))
    v = draw(values((B, H, Lk, dv), -3.0, 3.0))
    form = draw(st.sampled_from(MASK_FORMS))
    if form == "none":
        mask = None
    elif form == "causal":
        mask = F.causal_mask(max(Lq, Lk)).numpy()[:Lq, :Lk]
    elif form == "padding":
        ids = draw(hnp.arrays(np.int64, (B, Lk), elements=st.integers(0, 3)))
        mask = F.padding_mask(ids, pad_id=0).numpy()
    else:
        sizes = {"B": B, "H": H, "Lq": Lq, "Lk": Lk, "1": 1}
        shape = tuple(sizes[s] for s in form.strip("()").rstrip(",").split(","))
        mask = draw(hnp.arrays(np.bool_, shape))  # fully masked rows appear often
    return q, k, v, mask


@settings(max_examples=60)
@given(attention_case())
def test_attention_fused_matches_composed(case):
    q, k, v, mask = case
    assert_agree(
        lambda a, b, c: F.scaled_dot_product_attention(a, b, c, mask=mask),
        lambda a, b, c: F.scaled_dot_product_attention_composed(a, b, c, mask=mask),
        [q, k, v],
    )


@given(attention_case())
def test_attention_matches_reference_and_zeroes_fully_masked_rows(case):
    q, k, v, mask = case
    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    allowed = np.broadcast_to(True if mask is None else mask, scores.shape)
    e = np.where(allowed, np.exp(scores - scores.max(axis=-1, keepdims=True)), 0.0)
    total = e.sum(axis=-1, keepdims=True)
    weights = np.where(total > 0, e / np.where(total > 0, total, 1.0), 0.0)
    out, w = F.scaled_dot_product_attention(*(T(a, dtype="float64") for a in (q, k, v)),
                                            mask=mask, return_weights=True)
    np.testing.assert_allclose(w.numpy(), weights, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(out.numpy(), weights @ v, rtol=1e-10, atol=1e-12)
    fully_masked = ~allowed.any(axis=-1)
    assert np.all(out.numpy()[fully_masked] == 0.0)
    assert np.all(w.numpy()[~allowed] == 0.0)
