"""Dropout (seeded, inverted scaling, same mask in backward) and attention masks."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minitransformer as mt
import minitransformer.functional as F


def T(data, dtype=None, requires_grad=False):
    """A tensor on the current backend (NumPy data is moved there; ``pytest --backend cupy``)."""
    return mt.tensor(data, dtype=dtype, requires_grad=requires_grad, backend=mt.get_backend())



# ------------------------------------------------------------ dropout
def test_dropout_same_seed_same_mask_different_seed_different_mask():
    x = mt.ones(64, 64)
    mt.manual_seed(7)
    a = F.dropout(x, 0.5).numpy()
    mt.manual_seed(7)
    b = F.dropout(x, 0.5).numpy()
    mt.manual_seed(8)
    c = F.dropout(x, 0.5).numpy()
    np.testing.assert_array_equal(a, b)
    assert (a != c).any()
    # and consecutive calls draw fresh masks
    mt.manual_seed(7)
    F.dropout(x, 0.5)
    assert (F.dropout(x, 0.5).numpy() != a).any()


@pytest.mark.parametrize("p, training", [(0.5, False), (0.9, False), (0.0, True), (0.0, False)])
def test_dropout_is_the_identity_in_eval_mode_and_for_p_zero(p, training):
    x = mt.randn(5, 7, requires_grad=True)
    y = F.dropout(x, p, training=training)
    np.testing.assert_array_equal(y.numpy(), x.numpy())
    g = np.random.default_rng(0).standard_normal((5, 7)).astype(np.float32)
    y.backward(T(g))
    np.testing.assert_array_equal(x.grad.numpy(), g)


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_zeroes_a_fraction_p_and_preserves_the_mean(p):
    n = 200_000
    x = mt.full((n,), 3.0)
    y = F.dropout(x, p).numpy()
    dropped = y == 0
    # binomial: the zero fraction has sd sqrt(p(1-p)/n) <= 0.0012
    assert abs(dropped.mean() - p) < 0.006
    # inverted scaling: the kept values are x / (1 - p), so E[y] = x
    np.testing.assert_allclose(y[~dropped], 3.0 / (1 - p), rtol=1e-6)
    # each y_i has mean 3 and sd 3 sqrt(p / (1 - p)): allow 5 standard deviations of the mean
    assert abs(y.mean() - 3.0) < 5 * 3.0 * np.sqrt(p / (1 - p) / n)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dropout_backward_uses_the_forward_mask(dtype):
    p = 0.4
    rng = np.random.default_rng(0)
    x = T(rng.uniform(1.0, 2.0, (30, 40)), dtype=dtype, requires_grad=True)  # never 0
    y = F.dropout(x, p)
    kept = y.numpy() != 0
    assert 0 < kept.mean() < 1
    np.testing.assert_allclose(y.numpy(), np.where(kept, x.numpy() / (1 - p), 0.0), rtol=1e-6)
    mt.manual_seed(99)  # a new draw in between must not change the saved mask
    F.dropout(x, p)
    g = rng.standard_normal((30, 40))
    y.backward(T(g, dtype=dtype))
    assert x.grad.dtype == np.dtype(dtype)
    np.testing.assert_allclose(x.grad.numpy(), np.where(kept, g / (1 - p), 0.0), rtol=1e-6)


@pytest.mark.parametrize("p", [-0.1, 1.5, float("nan")])
def test_dropout_probability_outside_zero_one_raises(p):
    with pytest.raises(ValueError, match=r"dropout: p must be a probability in \[0, 1\]"):
        F.dropout(mt.ones(3), p)
    with pytest.raises(ValueError, match="dropout"):
        F.dropout(mt.ones(3), p, training=False)  # invalid even when it would do nothing


def test_dropout_with_p_one_drops_everything_as_pytorch():
    x = mt.tensor(np.arange(1.0, 4.0), dtype="float64", requires_grad=True)
    y = F.dropout(x, 1.0)
    np.testing.assert_array_equal(y.numpy(), [0.0, 0.0, 0.0])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0, 0.0])
    np.testing.assert_array_equal(F.dropout(x, 1.0, training=False).numpy(), [1.0, 2.0, 3.0])


def test_attention_dropout_only_in_training_and_seeded():
    rng = np.random.default_rng(0)
    q, k, v = (T(rng.standard_normal((2, 4, 3))) for _ in range(3))
    plain = F.scaled_dot_product_attention(q, k, v).numpy()
    np.testing.assert_array_equal(F.scaled_dot_product_attention(q, k, v, dropout_p=0.5, training=False).numpy(),
                                  plain)
    mt.manual_seed(3)
    a, w = F.scaled_dot_product_attention(q, k, v, dropout_p=0.5, return_weights=True)
    mt.manual_seed(3)
    b = F.scaled_dot_product_attention(q, k, v, dropout_p=0.5).numpy()
    np.testing.assert_array_equal(a.numpy(), b)
    assert not np.allclose(a.numpy(), plain)
    # the returned weights are the softmax before dropout: rows still sum to 1
    np.testing.assert_allclose(w.numpy().sum(axis=-1), 1.0, rtol=1e-6)


# ------------------------------------------------------------ masks
@pytest.mark.parametrize("length", [1, 2, 5])
def test_causal_mask_is_lower_triangular_true(length):
    m = F.causal_mask(length)
    assert isinstance(m, mt.Tensor) and m.shape == (length, length) and m.dtype == np.bool_
    i, j = np.indices((length, length))
    np.testing.assert_array_equal(m.numpy(), j <= i)  # query i may see keys j <= i


@given(hnp.arrays(np.int64, hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=6),
                  elements=st.integers(0, 4)), st.integers(0, 4))
def test_padding_mask_marks_real_tokens_with_shape_b_1_1_l(ids, pad):
    for given_ids in (ids, T(ids), ids.tolist()):
        m = F.padding_mask(given_ids, pad)
        B, L = ids.shape
        assert m.shape == (B, 1, 1, L) and m.dtype == np.bool_
        np.testing.assert_array_equal(m.numpy()[:, 0, 0, :], ids != pad)


@pytest.mark.parametrize("shape", [(5,), (2, 3, 4)])
def test_padding_mask_rejects_ids_that_are_not_batch_by_length(shape):
    with pytest.raises(ValueError, match=r"padding_mask: ids must have shape \(batch, length\)"):
        F.padding_mask(np.zeros(shape, dtype=np.int64))


def test_padding_and_causal_masks_combine_by_broadcasting():
    ids = np.array([[5, 6, 0], [7, 0, 0]])
    m = (F.padding_mask(ids).numpy() & F.causal_mask(3).numpy())
    assert m.shape == (2, 1, 3, 3)
    np.testing.assert_array_equal(m[1, 0], [[True, False, False]] * 3)


def test_causal_attention_ignores_the_future():
    """Changing keys/values after position i leaves outputs 0..i unchanged."""
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal((1, 2, 5, 3)) for _ in range(3))
    out = F.scaled_dot_product_attention(*(T(a) for a in (q, k, v)), mask=F.causal_mask(5)).numpy()
    k2, v2 = k.copy(), v.copy()
    k2[..., 3:, :] += 10.0
    v2[..., 3:, :] -= 10.0
    out2 = F.scaled_dot_product_attention(*(T(a) for a in (q, k2, v2)), mask=F.causal_mask(5)).numpy()
    np.testing.assert_array_equal(out[..., :3, :], out2[..., :3, :])
    assert not np.allclose(out[..., 3:, :], out2[..., 3:, :])
    # the first query sees only the first key: its output is exactly v[0]
    np.testing.assert_allclose(out[..., 0, :], v[..., 0, :].astype(np.float32), rtol=1e-6)


def test_attention_mask_errors_name_the_problem():
    q = mt.randn(2, 3, 4)
    with pytest.raises(TypeError, match="mask must be boolean"):
        F.scaled_dot_product_attention(q, q, q, mask=np.ones((3, 3)))
    with pytest.raises(ValueError, match=r"mask of shape \(4, 4\) does not broadcast"):
        F.scaled_dot_product_attention(q, q, q, mask=np.ones((4, 4), dtype=bool))
    with pytest.raises(ValueError, match="would enlarge"):
        F.scaled_dot_product_attention(q, q, q, mask=np.ones((5, 2, 3, 3), dtype=bool))
