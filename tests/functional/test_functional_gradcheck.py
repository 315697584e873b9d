"""Every fused functional op passes ``mt.gradcheck`` (float64, shapes varied by Hypothesis).

The hand-derived backward of each fused Function (Softmax, LogSoftmax,
LayerNorm, Linear, Embedding, Dropout,
CrossEntropy, MaskedSoftmax) is compared with central finite
differences.  Values come from a seeded normal generator rather than
Hypothesis' float strategies: near-constant layer-norm rows would make the
finite differences themselves inaccurate, which tests nothing about backward.
Shapes stay small because gradcheck evaluates the function twice per element.
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


small_shapes = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4)
seeds = st.integers(0, 2**32 - 1)


def leaf(shape, seed, scale=1.0, offset=0.0):
    """A float64 leaf of standard-normal values (times scale, plus offset)."""
    data = np.random.default_rng(seed).standard_normal(shape) * scale + offset
    return T(data, dtype="float64", requires_grad=True)


@given(small_shapes, st.data(), seeds)
def test_gradcheck_softmax_and_log_softmax(shape, data, seed):
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    x = leaf(shape, seed, scale=3.0)
    assert mt.gradcheck(lambda t: F.softmax(t, axis=axis), [x], name="softmax")
    assert mt.gradcheck(lambda t: F.log_softmax(t, axis=axis), [x], name="log_softmax")


@given(st.sampled_from([1, 2]), st.integers(1, 2), st.booleans(), st.booleans(), st.data(), seeds)
def test_gradcheck_layer_norm(n_norm, n_batch, with_weight, with_bias, data, seed):
    shape = data.draw(hnp.array_shapes(min_dims=n_norm + n_batch, max_dims=n_norm + n_batch, min_side=1, max_side=3))
    normalized = shape[n_batch:]
    x = leaf(shape, seed, scale=2.0, offset=1.0)
    w = leaf(normalized, seed + 1, offset=1.0) if with_weight else None
    b = leaf(normalized, seed + 2) if with_bias else None
    assert mt.gradcheck(lambda t, w_, b_: F.layer_norm(t, normalized, w_, b_), [x, w, b], name="layer_norm")


@given(hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=3), st.integers(1, 4), st.integers(1, 4),
       st.booleans(), seeds)
def test_gradcheck_linear(lead, n_in, n_out, with_bias, seed):
    x = leaf(lead + (n_in,), seed)
    w = leaf((n_out, n_in), seed + 1)
    b = leaf((n_out,), seed + 2) if with_bias else None
    assert mt.gradcheck(F.linear, [x, w, b], name="linear")


@given(hnp.array_shapes(min_dims=0, max_dims=2, min_side=1, max_side=4), st.integers(1, 5),
       st.sampled_from([0.0, 0.1, 0.3]), st.sampled_from(["mean", "sum", "none"]), st.data(), seeds)
def test_gradcheck_cross_entropy(lead, classes, smoothing, reduction, data, seed):
    shape = lead + (classes,) if len(lead) < 2 else (lead[0], classes, *lead[1:])   # the classes at dim 1
    logits = leaf(shape, seed, scale=3.0)
    targets = np.random.default_rng(seed).integers(0, classes, lead)
    targets = np.where(data.draw(hnp.arrays(np.bool_, lead)), -1, targets)  # some rows ignored
    assert mt.gradcheck(
        lambda t: F.cross_entropy(t, targets, ignore_index=-1, label_smoothing=smoothing, reduction=reduction),
        [logits], name="cross_entropy",
    )


@settings(max_examples=15)
@given(st.integers(1, 2), st.integers(1, 3), st.integers(1, 3), st.integers(1, 3), st.data(), seeds)
def test_gradcheck_masked_softmax_and_attention(heads, lq, lk, dk, data, seed):
    mask = data.draw(hnp.arrays(np.bool_, (heads, lq, lk)) | st.none())
    scores = leaf((heads, lq, lk), seed, scale=2.0)
    assert mt.gradcheck(lambda s: F.masked_softmax(s, mask), [scores], name="masked_softmax")
    q, k, v = leaf((heads, lq, dk), seed), leaf((heads, lk, dk), seed + 1), leaf((heads, lk, 2), seed + 2)
    assert mt.gradcheck(lambda a, b, c: F.scaled_dot_product_attention(a, b, c, mask=mask), [q, k, v],
                        name="scaled_dot_product_attention")


@pytest.mark.parametrize("p", [0.2, 0.5])
def test_gradcheck_dropout_with_a_fixed_mask(p):
    """Reseeding inside the function makes every evaluation draw the same mask."""
    x = leaf((3, 5), 0)

    def fn(t):
        mt.manual_seed(123)
        return F.dropout(t, p)

    assert mt.gradcheck(fn, [x], name="dropout")


# ------------------------------------------------------------ embedding
def test_gradcheck_embedding_weight_with_repeated_ids():
    w = leaf((5, 3), 0)
    ids = np.array([[1, 1, 4], [0, 1, 4]])
    assert mt.gradcheck(lambda t: F.embedding(ids, t), [w], name="embedding")


def test_embedding_repeated_ids_accumulate_their_gradients():
    w = leaf((4, 2), 0)
    g = np.arange(10.0).reshape(5, 2)
    F.embedding(np.array([2, 2, 0, 2, 3]), w).backward(T(g, dtype="float64"))
    expected = np.zeros((4, 2))
    expected[2] = g[0] + g[1] + g[3]
    expected[0] = g[2]
    expected[3] = g[4]
    np.testing.assert_array_equal(w.grad.numpy(), expected)  # row 1 unused: exactly zero


@given(st.integers(1, 8), st.integers(0, 40), st.integers(1, 3), seeds)
def test_scatter_add_rows_sums_the_rows_of_every_id_once_used_or_repeated(num_rows, n, dim, seed):
    from minitransformer.ops.indexing import scatter_add_rows

    rng = np.random.default_rng(seed)
    ids = rng.integers(0, num_rows, n)        # ids used once, repeated, or not at all
    rows = rng.standard_normal((n, dim))
    expected = np.zeros((num_rows, dim))
    np.add.at(expected, ids, rows)
    got = scatter_add_rows(ids, rows, num_rows)
    assert got.shape == (num_rows, dim) and got.dtype == rows.dtype
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


@given(st.integers(2, 6), st.integers(1, 3), hnp.array_shapes(min_dims=1, max_dims=2, min_side=1, max_side=4),
       st.data(), seeds)
def test_embedding_gradient_matches_numeric_except_padding_row_which_is_zero(rows, dim, id_shape, data, seed):
    pad = data.draw(st.integers(0, rows - 1))
    ids = data.draw(hnp.arrays(np.int64, id_shape, elements=st.integers(0, rows - 1)))
    w = leaf((rows, dim), seed)
    v = np.random.default_rng(seed + 1).standard_normal(id_shape + (dim,))
    F.embedding(ids, w, padding_idx=pad).backward(T(v, dtype="float64"))
    analytic = w.grad.numpy()

    def loss(weights):
        return float((F.embedding(ids, T(weights, dtype="float64"), padding_idx=pad).numpy() * v).sum())

    numeric = np.zeros_like(analytic)
    base, eps = w.numpy(), 1e-6
    for i in np.ndindex(*base.shape):
        plus, minus = base.copy(), base.copy()
        plus[i] += eps
        minus[i] -= eps
        numeric[i] = (loss(plus) - loss(minus)) / (2 * eps)
    assert np.all(analytic[pad] == 0.0)
    others = np.arange(rows) != pad
    np.testing.assert_allclose(analytic[others], numeric[others], rtol=1e-6, atol=1e-8)
    if (ids == pad).any():  # the padding row does move the output: only its gradient is cut
        assert np.abs(numeric[pad]).max() > 0


@pytest.mark.parametrize("bad", [5, 17, -1, -6])
def test_embedding_out_of_range_id_raises_index_error_naming_id_and_table_size(bad):
    w = leaf((5, 2), 0)
    with pytest.raises(IndexError, match=rf"token id {bad}\b.*table of 5 rows"):
        F.embedding(np.array([[0, 1], [bad, 2]]), w)


@pytest.mark.parametrize("pad", [5, -6])
def test_embedding_padding_idx_out_of_range_raises_at_the_call(pad):
    with pytest.raises(ValueError, match=rf"embedding: padding_idx {pad} is out of range for a table of 5 rows"):
        F.embedding(np.array([0, 1]), leaf((5, 2), 0), padding_idx=pad)


def test_embedding_negative_padding_idx_counts_from_the_end():
    w = leaf((5, 2), 0)
    F.embedding(np.array([4, 1, 4]), w, padding_idx=-1).backward(np.ones((3, 2)))
    np.testing.assert_array_equal(w.grad.numpy(), [[0, 0], [1, 1], [0, 0], [0, 0], [0, 0]])


@pytest.mark.parametrize("ids", [np.array([0.0, 1.0]), [1.5], np.array([True, False])])
def test_embedding_non_integer_ids_raise_type_error(ids):
    with pytest.raises(TypeError, match="embedding: token ids must be integers"):
        F.embedding(ids, leaf((5, 2), 0))


def test_embedding_forward_picks_rows_and_keeps_id_shape():
    w = leaf((6, 3), 0)
    ids = np.array([[[5, 0]], [[2, 2]]])
    out = F.embedding(T(ids), w)
    assert out.shape == (2, 1, 2, 3) and out.dtype == np.float64
    np.testing.assert_array_equal(out.numpy(), w.numpy()[ids])


@given(hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=5), st.data(), seeds)
def test_row_sums_and_means_equal_numpys_over_the_last_axes(shape, data, seed):
    from minitransformer.backend.fast.rows import row_dot, row_mean, row_mean_of_product, row_sum

    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal(shape), rng.standard_normal(shape)
    np.testing.assert_allclose(row_sum(a), a.sum(axis=-1, keepdims=True), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(row_dot(a, b), (a * b).sum(axis=-1, keepdims=True), rtol=1e-12, atol=1e-12)
    n_axes = data.draw(st.integers(1, len(shape)))
    axes = tuple(range(len(shape) - n_axes, len(shape)))
    mean = row_mean(a, n_axes)
    assert mean.shape == a.mean(axis=axes, keepdims=True).shape
    np.testing.assert_allclose(mean, a.mean(axis=axes, keepdims=True), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(row_mean_of_product(a, b, n_axes), (a * b).mean(axis=axes, keepdims=True),
                               rtol=1e-12, atol=1e-12)
