"""Linear, Embedding, LayerNorm, Dropout, positional encodings, FeedForward:
values against NumPy formulas, gradients against finite differences, errors."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minitransformer as mt
from minitransformer import nn


def gradcheck_module(module, *inputs):
    """Finite-difference check w.r.t. every parameter and every input that requires grad.
    gradcheck perturbs its inputs in place, so the lambda just calls the module again."""
    tensors = list(module.parameters()) + [x for x in inputs if isinstance(x, mt.Tensor) and x.requires_grad]
    assert mt.gradcheck(lambda *_: module(*inputs), tensors)


def x64(*shape):
    return mt.randn(*shape, dtype="float64", requires_grad=True)


# ---------------------------------------------------------------- Linear
def test_linear_values_and_shapes():
    lin = nn.Linear(4, 3)
    x = mt.randn(2, 5, 4)
    y = lin(x)
    assert y.shape == (2, 5, 3) and y.dtype == np.float32
    expected = x.numpy() @ lin.weight.numpy().T + lin.bias.numpy()
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-5, atol=1e-6)
    assert nn.Linear(4, 3, bias=False).bias is None
    assert [n for n, _ in lin.named_parameters()] == ["weight", "bias"]


def test_linear_gradcheck():
    with mt.set_default_dtype("float64"):
        gradcheck_module(nn.Linear(3, 2), x64(2, 3, 3))
        gradcheck_module(nn.Linear(3, 2, bias=False), x64(4, 3))


@pytest.mark.parametrize("args", [(0, 3), (3, -1), (2.5, 3), (True, 2)])
def test_linear_rejects_bad_sizes(args):
    with pytest.raises(ValueError, match="Linear"):
        nn.Linear(*args)


# ---------------------------------------------------------------- Embedding
def test_embedding_lookup_scale_and_padding_gradient():
    emb = nn.Embedding(6, 4, padding_idx=0, scale=True)
    ids = np.array([[1, 0, 5], [5, 5, 2]])
    out = emb(ids)
    assert out.shape == (2, 3, 4)
    np.testing.assert_allclose(out.numpy(), emb.weight.numpy()[ids] * 2.0, rtol=1e-6)
    out.sum().backward()
    g = emb.weight.grad.numpy()
    assert (g[0] == 0).all()                    # padding row: no gradient
    np.testing.assert_allclose(g[5], 3 * 2.0)   # used three times, scaled by sqrt(4)
    np.testing.assert_allclose(g[3], 0.0)


def test_embedding_gradcheck_excluding_padding_row():
    with mt.set_default_dtype("float64"):
        emb = nn.Embedding(5, 3)
        ids = np.array([[0, 4, 4], [2, 1, 0]])
        assert mt.gradcheck(lambda *_: emb(ids), [emb.weight])
        # a padding row is used by the forward but gets a zero gradient by design (checked in
        # the test above), so finite differences would disagree there: look up real tokens only
        padded = nn.Embedding(5, 3, padding_idx=0, scale=True)
        assert mt.gradcheck(lambda *_: padded(np.array([[1, 2], [4, 4]])), [padded.weight])


def test_embedding_errors():
    emb = nn.Embedding(5, 3)
    with pytest.raises(TypeError, match="integer"):
        emb(np.array([[1.0, 2.0]]))
    with pytest.raises(IndexError, match="out of range"):
        emb(np.array([[1, 5]]))
    with pytest.raises(IndexError, match="out of range"):
        emb(np.array([-1]))
    with pytest.raises(ValueError, match="padding_idx"):
        nn.Embedding(5, 3, padding_idx=5)
    assert nn.Embedding(5, 3, padding_idx=-1).padding_idx == 4


# ---------------------------------------------------------------- LayerNorm
def test_layer_norm_values_and_no_affine():
    ln = nn.LayerNorm(6)
    ln.weight.data[...] = mt.tensor(np.arange(6)).data
    ln.bias.data[...] = 0.5
    x = mt.randn(3, 4, 6)
    xn = x.numpy()
    ref = (xn - xn.mean(-1, keepdims=True)) / np.sqrt(xn.var(-1, keepdims=True) + 1e-5)
    np.testing.assert_allclose(ln(x).numpy(), ref * np.arange(6) + 0.5, rtol=1e-4, atol=1e-5)
    plain = nn.LayerNorm((6,), elementwise_affine=False)
    assert plain.weight is None and list(plain.parameters()) == []
    np.testing.assert_allclose(plain(x).numpy(), ref, rtol=1e-4, atol=1e-5)


def test_layer_norm_gradcheck_and_errors():
    with mt.set_default_dtype("float64"):
        ln = nn.LayerNorm(5)
        nn.init.normal_(ln.weight)
        nn.init.normal_(ln.bias)
        gradcheck_module(ln, x64(2, 3, 5))
    with pytest.raises(ValueError, match="normalized_shape"):
        nn.LayerNorm(0)
    with pytest.raises(ValueError, match="eps"):
        nn.LayerNorm(4, eps=0)
    with pytest.raises(ValueError, match="normalized_shape"):
        nn.LayerNorm(4)(mt.randn(2, 5))


# ---------------------------------------------------------------- Dropout
def test_dropout_train_and_eval():
    drop = nn.Dropout(0.25)
    x = mt.ones(200, 200)
    y = drop(x).numpy()
    assert set(np.unique(y)) <= {0.0, np.float32(1 / 0.75)}
    assert abs((y == 0).mean() - 0.25) < 0.01
    drop.eval()
    assert drop(x) is x
    drop.train()
    assert (drop(x).numpy() == 0).any()
    for bad in (-0.1, 1.5, "0.1"):
        with pytest.raises(ValueError, match="Dropout"):
            nn.Dropout(bad)
    np.testing.assert_array_equal(nn.Dropout(1.0)(x).numpy(), np.zeros((200, 200)))   # p = 1, as PyTorch


# ---------------------------------------------------------------- positional encodings
def test_sinusoidal_values_dtype_and_offset():
    pe = nn.PositionalEncoding(6, max_len=50)
    assert pe.pe.dtype == np.float32 and pe.pe.shape == (50, 6)
    assert "pe" not in pe.state_dict()          # recomputed by __init__, not saved
    table = pe.pe.numpy()
    for pos in (0, 1, 17):
        for i in range(3):
            angle = pos / 10000 ** (2 * i / 6)
            assert table[pos, 2 * i] == pytest.approx(math.sin(angle), abs=1e-6)
            assert table[pos, 2 * i + 1] == pytest.approx(math.cos(angle), abs=1e-6)
    x = mt.randn(2, 4, 6)
    np.testing.assert_allclose(pe(x).numpy(), x.numpy() + table[:4], rtol=1e-6)
    np.testing.assert_allclose(pe(x, offset=10).numpy(), x.numpy() + table[10:14], rtol=1e-6)
    odd = nn.sinusoidal_table(3, 5)
    assert odd.shape == (3, 5) and odd[2, 4] == pytest.approx(math.sin(2 / 10000 ** (4 / 5)))


def test_positional_encoding_errors_and_float64_inputs():
    pe = nn.PositionalEncoding(4, max_len=8)
    with pytest.raises(ValueError, match=r"L=9.*max_len=8"):
        pe(mt.randn(1, 9, 4))
    with pytest.raises(ValueError, match=r"offset=5.*max_len=8"):
        pe(mt.randn(1, 4, 4), offset=5)
    with pytest.raises(ValueError, match="shape"):
        pe(mt.randn(1, 3, 5))
    assert pe(mt.randn(1, 8, 4, dtype="float64")).dtype == np.float64
    with mt.set_default_dtype("float64"):
        assert mt.gradcheck(lambda x: pe(x), [x64(2, 3, 4)])


def test_learned_positional_embedding():
    lpe = nn.LearnedPositionalEmbedding(10, 4)
    x = mt.randn(2, 3, 4)
    out = lpe(x, offset=2)
    np.testing.assert_allclose(out.numpy(), x.numpy() + lpe.weight.numpy()[2:5], rtol=1e-6)
    out.sum().backward()
    g = lpe.weight.grad.numpy()
    np.testing.assert_allclose(g[2:5], 2.0)
    assert (g[:2] == 0).all() and (g[5:] == 0).all()
    with pytest.raises(ValueError, match="max_len=10"):
        lpe(mt.randn(1, 11, 4))
    with mt.set_default_dtype("float64"):
        gradcheck_module(nn.LearnedPositionalEmbedding(5, 3), x64(2, 4, 3))


# ---------------------------------------------------------------- FeedForward
def test_feedforward_values():
    ff = nn.FeedForward(4, 8)
    x = mt.randn(2, 3, 4)
    h = np.maximum(x.numpy() @ ff.linear1.weight.numpy().T + ff.linear1.bias.numpy(), 0)
    ref = h @ ff.linear2.weight.numpy().T + ff.linear2.bias.numpy()
    np.testing.assert_allclose(ff(x).numpy(), ref, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="activation"):
        nn.FeedForward(4, 8, activation="swish")


@settings(max_examples=6, deadline=None)
@given(activation=st.sampled_from(["relu", "gelu", "gelu_tanh"]), batch=st.integers(1, 2), length=st.integers(1, 3))
def test_feedforward_gradcheck(activation, batch, length):
    with mt.set_default_dtype("float64"):
        ff = nn.FeedForward(3, 5, dropout=0.0, activation=activation)
        gradcheck_module(ff, x64(batch, length, 3))
