"""Numerical stability and dtype preservation of the functional ops.

Naive formulas overflow (exp(1e4) = inf in any float dtype), divide by zero
(layer norm of a constant row, attention over no allowed key) or silently
upcast float32 to float64.  Each test feeds such an input and checks finite
*and correct* values and gradients, or the dtype of every output and gradient.
"""
import math

import numpy as np
import pytest

import minitransformer as mt
import minitransformer.functional as F


def T(data, dtype=None, requires_grad=False):
    """A tensor on the current backend (NumPy data is moved there; ``pytest --backend cupy``)."""
    return mt.tensor(data, dtype=dtype, requires_grad=requires_grad, backend=mt.get_backend())


DTYPES = ["float32", "float64"]
RTOL = {"float32": 1e-5, "float64": 1e-12}
BIG = 1e4
# log(1 + e^-1): the log-normalizer's excess when the two largest logits differ by 1
LSE_EXCESS = math.log1p(math.exp(-1.0))


def extreme_logits(dtype):
    """Rows mixing +/-1e4: a naive exp overflows to inf, and inf/inf is NaN."""
    return T([[BIG, -BIG, 0.0, BIG - 1.0], [-BIG, -BIG, -BIG, -BIG]], dtype=dtype, requires_grad=True)


def expected_log_softmax():
    first = np.array([0.0, -2 * BIG, -BIG, -1.0]) - LSE_EXCESS
    second = np.full(4, -math.log(4.0))
    return np.stack([first, second])


def assert_finite(*tensors):
    for t in tensors:
        assert np.isfinite(t.numpy()).all(), t


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("fn", [F.log_softmax, F.log_softmax_composed])
def test_log_softmax_of_extreme_logits_is_finite_and_exact(fn, dtype):
    x = extreme_logits(dtype)
    y = fn(x, axis=-1)
    assert y.dtype == np.dtype(dtype)
    # The fused op subtracts the row max before anything else, so log p is exact
    # to float rounding.  The composed x - logsumexp(x) rounds logsumexp ~ 1e4
    # first, whose float32 spacing is ~1e-3: stable (finite) but less accurate.
    atol = 2 * float(np.spacing(np.dtype(dtype).type(BIG))) if fn is F.log_softmax_composed else 0.0
    np.testing.assert_allclose(y.numpy(), expected_log_softmax(), rtol=RTOL[dtype], atol=atol)
    g = np.array([[1.0, 2.0, -1.0, 0.5], [0.0, 1.0, 0.0, 0.0]])
    y.backward(T(g, dtype=dtype))
    # dL/dx = g - softmax(x) * sum(g)
    p = np.exp(expected_log_softmax())
    np.testing.assert_allclose(x.grad.numpy(), g - p * g.sum(axis=1, keepdims=True), rtol=RTOL[dtype],
                               atol=max(atol, 1e-6))
    assert_finite(y, x.grad)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("fn", [F.softmax, F.softmax_composed])
def test_softmax_of_extreme_logits_is_finite_and_exact(fn, dtype):
    x = extreme_logits(dtype)
    y = fn(x, axis=1)
    p = np.exp(expected_log_softmax())  # [[1/(1+e^-1), 0, 0, e^-1/(1+e^-1)], [1/4]*4]
    np.testing.assert_allclose(y.numpy(), p, rtol=RTOL[dtype], atol=1e-30)
    g = np.array([[1.0, 2.0, -1.0, 0.5], [0.0, 1.0, 0.0, 0.0]])
    y.backward(T(g, dtype=dtype))
    # dL/dx = p * (g - sum(g * p))
    expected = p * (g - (g * p).sum(axis=1, keepdims=True))
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=RTOL[dtype], atol=1e-7)
    assert_finite(y, x.grad)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@pytest.mark.parametrize("fn", [F.cross_entropy, F.cross_entropy_composed])
def test_cross_entropy_of_extreme_logits_is_finite_and_exact(fn, smoothing, dtype):
    x = extreme_logits(dtype)
    targets = np.array([1, 2])  # the first row's target has logit -1e4: loss ~ 2e4
    loss = fn(x, targets, label_smoothing=smoothing, reduction="none")
    log_p = expected_log_softmax()
    expected = -(1 - smoothing) * log_p[[0, 1], targets] - smoothing * log_p.mean(axis=1)
    np.testing.assert_allclose(loss.numpy(), expected, rtol=RTOL[dtype])
    loss.sum().backward()
    q = np.full((2, 4), smoothing / 4)
    q[[0, 1], targets] += 1 - smoothing
    np.testing.assert_allclose(x.grad.numpy(), np.exp(log_p) - q, rtol=RTOL[dtype], atol=1e-7)
    assert_finite(loss, x.grad)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("fn", [F.layer_norm, F.layer_norm_composed])
def test_layer_norm_of_constant_rows_gives_the_bias_and_finite_gradients(fn, dtype):
    x = T(np.array([[3.0] * 5, [-1e4] * 5, [0.0] * 5]), dtype=dtype, requires_grad=True)
    w = T([1.0, 2.0, -1.0, 0.5, 3.0], dtype=dtype, requires_grad=True)
    b = T([0.1, -0.2, 0.3, 0.0, 5.0], dtype=dtype, requires_grad=True)
    y = fn(x, 5, w, b)
    np.testing.assert_array_equal(y.numpy(), np.broadcast_to(b.numpy(), (3, 5)))
    y.backward(T(np.random.default_rng(0).standard_normal((3, 5)), dtype=dtype))
    assert_finite(x.grad, w.grad, b.grad)
    np.testing.assert_array_equal(w.grad.numpy(), 0.0)  # x_hat = 0: the weight has no effect


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("fused", [True, False])
def test_attention_with_fully_masked_rows_gives_zeros_never_nan(fused, dtype):
    rng = np.random.default_rng(0)
    q, k, v = (T(rng.standard_normal(s), dtype=dtype, requires_grad=True)
               for s in [(2, 3, 4), (2, 5, 4), (2, 5, 3)])
    mask = np.ones((2, 3, 5), dtype=bool)
    mask[0, 1] = False           # one query of batch 0 may attend to nothing
    mask[1] = False              # batch 1: nothing may attend to anything
    fn = F.scaled_dot_product_attention if fused else F.scaled_dot_product_attention_composed
    with mt.detect_anomaly():    # raises on any NaN/inf in a forward output or gradient
        out = fn(q, k, v, mask=mask)
        out.backward(T(rng.standard_normal((2, 3, 3)), dtype=dtype))
    assert_finite(out, q.grad, k.grad, v.grad)
    assert np.all(out.numpy()[0, 1] == 0) and np.all(out.numpy()[1] == 0)
    assert np.all(q.grad.numpy()[0, 1] == 0) and np.all(q.grad.numpy()[1] == 0)
    assert np.all(k.grad.numpy()[1] == 0) and np.all(v.grad.numpy()[1] == 0)
    assert np.abs(q.grad.numpy()[0, [0, 2]]).min() > 0  # the unmasked rows still learn


def test_masked_softmax_of_extreme_scores_with_masked_maximum():
    """The masked key holds the largest score: the max must be taken after masking."""
    s = T([[BIG, 0.0, 1.0]], requires_grad=True)
    w = F.masked_softmax(s, np.array([False, True, True]))
    e = math.exp(-1.0)
    np.testing.assert_allclose(w.numpy(), [[0.0, e / (1 + e), 1 / (1 + e)]], rtol=1e-6)


# ------------------------------------------------------------ dtype preservation
_IDS = np.array([[0, 3, 3], [2, 1, 0]])
_TARGETS = np.array([[1, 0, -1], [3, 3, 2]])
_CAUSAL = np.tril(np.ones((3, 3), dtype=bool))


def _cross_entropy(fn, reduction):
    return lambda x: fn(x, _TARGETS, ignore_index=-1, label_smoothing=0.1, reduction=reduction)


# name: (fn of the float leaves, the leaves' shapes), for every functional op
OPS = {
    "softmax": (lambda x: F.softmax(x, axis=0), [(3, 4)]),
    "softmax_composed": (lambda x: F.softmax_composed(x, axis=0), [(3, 4)]),
    "log_softmax": (lambda x: F.log_softmax(x, axis=1), [(3, 4)]),
    "log_softmax_composed": (lambda x: F.log_softmax_composed(x, axis=1), [(3, 4)]),
    "layer_norm": (lambda x, w, b: F.layer_norm(x, 4, w, b), [(3, 4), (4,), (4,)]),
    "layer_norm_2d": (lambda x, w, b: F.layer_norm(x, (3, 4), w, b), [(2, 3, 4), (3, 4), (3, 4)]),
    "layer_norm_composed": (lambda x, w, b: F.layer_norm_composed(x, 4, w, b), [(3, 4), (4,), (4,)]),
    "linear": (F.linear, [(2, 3, 4), (5, 4), (5,)]),
    "linear_composed": (F.linear_composed, [(2, 3, 4), (5, 4), (5,)]),
    "embedding": (lambda w: F.embedding(_IDS, w, padding_idx=0), [(4, 5)]),
    "dropout": (lambda x: F.dropout(x, 0.3), [(3, 4)]),
    "relu": (F.relu, [(3, 4)]),
    "gelu": (lambda x: F.gelu(x, approximate="tanh"), [(3, 4)]),
    "gelu_exact": (F.gelu, [(3, 4)]),
    "masked_softmax": (lambda s: F.masked_softmax(s, _CAUSAL), [(2, 3, 3)]),
    "attention": (lambda q, k, v: F.scaled_dot_product_attention(q, k, v, mask=_CAUSAL), [(2, 3, 4)] * 3),
    "attention_dropout": (lambda q, k, v: F.scaled_dot_product_attention(q, k, v, mask=_CAUSAL, dropout_p=0.5),
                          [(2, 3, 4)] * 3),
    "attention_composed": (lambda q, k, v: F.scaled_dot_product_attention_composed(q, k, v, mask=_CAUSAL),
                           [(2, 3, 4)] * 3),
    **{f"{fn.__name__}_{red}": (_cross_entropy(fn, red), [(2, 4, 3)])   # (N, C, d1) for targets (N, d1)
       for fn in (F.cross_entropy, F.cross_entropy_composed) for red in ("mean", "sum", "none")},
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(OPS))
def test_dtype_in_is_dtype_out_for_values_and_gradients(name, dtype):
    fn, shapes = OPS[name]
    rng = np.random.default_rng(0)
    leaves = [T(rng.standard_normal(s), dtype=dtype, requires_grad=True) for s in shapes]
    out = fn(*leaves)
    assert out.dtype == np.dtype(dtype), f"{name}: {dtype} in, {out.dtype} out"
    out.backward(mt.ones_like(out))
    for i, t in enumerate(leaves):
        assert t.grad is not None and t.grad.dtype == np.dtype(dtype), f"{name}: gradient {i} is {t.grad}"
        assert np.isfinite(t.grad.numpy()).all()
