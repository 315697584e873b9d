"""PyTorch's Transformer classes against PyTorch's own: a PyTorch module's ``state_dict``,
as NumPy arrays, loads into ours by the same names, and the two give the same
outputs, attention weights, and gradients of a loss with respect to the inputs and
every parameter: to 1e-10 in float64, 1e-5 in float32.

Masks are given to both as PyTorch takes them (bool True = not allowed, float
added, key padding True = pad), except ``is_causal``: PyTorch takes it as a hint
that also needs the causal ``attn_mask``, ours applies the causal mask itself, so
PyTorch gets the mask and the hint, and ours the hint alone.  The PyTorch modules
stay in train mode with dropout 0, so that PyTorch takes its plain path, not the
inference fast path.  No row is fully masked here (PyTorch gives NaN there, ours
zeros: ``test_nn_transformer_classes.py``).
"""
import math

import numpy as np
import pytest

import minitransformer as mt
from minitransformer import nn

torch = pytest.importorskip("torch")
tnn = torch.nn

TORCH_DTYPES = {"float64": torch.float64, "float32": torch.float32}
TOLERANCE = {"float64": 1e-10, "float32": 1e-5}


def assert_close(actual, desired, dtype, what=""):
    """|actual - desired| <= tol * max(1, max |desired|), elementwise: tol = 1e-10 in float64, 1e-5 in
    float32, relative to the array's scale (float32 gradients through a few layers round to
    about 1e-5 of the largest entry, not of each entry)."""
    desired = np.asarray(desired)
    assert actual.shape == desired.shape, (what, actual.shape, desired.shape)
    bound = TOLERANCE[dtype] * max(1.0, float(np.abs(desired).max(initial=0.0)))
    worst = float(np.abs(actual - desired).max(initial=0.0))
    assert worst <= bound, f"{what}: max |ours - PyTorch| = {worst:.3g} > {bound:.3g}"


@pytest.fixture(autouse=True)
def _seeded():
    torch.manual_seed(0)


def randomize(module, std=0.3):
    """Give every torch parameter generic values (torch starts biases at 0, norms at 1)."""
    with torch.no_grad():
        for p in module.parameters():
            if p.ndim == 1 or p.shape[:2] == (1, 1):
                p.add_(torch.randn_like(p) * std)
            else:
                p.normal_(0, 1 / math.sqrt(p.shape[-1]))


def twin(theirs, make_ours, dtype):
    """Randomize PyTorch's module, cast it to ``dtype``, build ours in ``dtype`` and load
    PyTorch's state into it (strictly: every name must match)."""
    theirs = theirs.to(TORCH_DTYPES[dtype])
    randomize(theirs)
    with mt.set_default_dtype(dtype):
        ours = make_ours()
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    return theirs, ours


def pair(x, dtype):
    """The same data as a torch leaf and one of ours, both requiring grad."""
    x = np.asarray(x, dtype=dtype)
    with mt.set_default_dtype(dtype):
        return torch.tensor(x, requires_grad=True), mt.tensor(x, requires_grad=True)


def check_same(theirs, ours, t_out, m_out, inputs, dtype, rng, what="output"):
    """Same values; then the same gradients of <output, g> for the inputs and every parameter."""
    assert_close(m_out.numpy(), t_out.detach().numpy(), dtype, what)
    g = rng.standard_normal(m_out.shape).astype(dtype)
    t_out.backward(torch.tensor(g))
    m_out.backward(g)
    for i, (t, m) in enumerate(inputs):
        assert_close(m.grad.numpy(), t.grad.numpy(), dtype, f"gradient of input {i}")
    own = dict(ours.named_parameters())
    named = dict(theirs.named_parameters())
    assert set(own) == set(named)
    for name, p in named.items():
        assert_close(own[name].grad.numpy(), p.grad.numpy(), dtype, f"gradient of {name}")


def both(mask):
    """A NumPy mask as PyTorch's tensor and as ours (a NumPy array), or None twice."""
    return (None, None) if mask is None else (torch.tensor(mask), mask)


def causal_float(n, dtype):
    return np.triu(np.full((n, n), -np.inf), 1).astype(dtype)


def masks_for(kind, rng, batch, heads, len_q, len_k, dtype):
    """(attn_mask, key_padding_mask) of one kind, as NumPy arrays, with every row keeping a key."""
    keep_pad = np.ones((batch, len_k), dtype=bool)
    keep_pad[-1, len_k // 2 + 1:] = False                      # the last sequence is padded
    some = rng.random((len_q, len_k)) < 0.6
    some[:, 0] = True                                           # key 0 is never padding
    if kind == "none":
        return None, None
    if kind == "bool":
        return ~some, None
    if kind == "float":                                         # -inf where not allowed, a bias elsewhere
        return np.where(some, rng.standard_normal((len_q, len_k)), -np.inf).astype(dtype), None
    if kind == "per_head":                                      # (B * H, L, S)
        per = rng.random((batch * heads, len_q, len_k)) < 0.6
        per[..., 0] = True
        return ~per, None
    if kind == "padding":
        return None, ~keep_pad
    if kind == "float_padding":
        return None, np.where(keep_pad, rng.standard_normal((batch, len_k)), -np.inf).astype(dtype)
    if kind == "bool_and_padding":
        return ~some, ~keep_pad
    raise ValueError(kind)


# ---------------------------------------------------------------- MultiheadAttention
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("kind", ["none", "bool", "float", "per_head", "padding", "float_padding",
                                  "bool_and_padding", "causal"])
def test_multihead_attention(kind, batch_first, dtype):
    rng = np.random.default_rng(0)
    B, L, S, E, H = 2, 4, 5, 8, 2
    if kind == "causal":
        S = L
    theirs, ours = twin(tnn.MultiheadAttention(E, H, batch_first=batch_first),
                        lambda: nn.MultiheadAttention(E, H, batch_first=batch_first), dtype)
    layout = (lambda b, n: (b, n, E)) if batch_first else (lambda b, n: (n, b, E))
    (tq, mq), (tk, mk), (tv, mv) = (pair(rng.standard_normal(layout(B, n)), dtype) for n in (L, S, S))
    attn, padding = masks_for(kind if kind != "causal" else "none", rng, B, H, L, S, dtype)
    (t_attn, m_attn), (t_pad, m_pad) = both(attn), both(padding)
    causal = kind == "causal"
    if causal:
        t_attn = torch.tensor(np.triu(np.ones((L, L), dtype=bool), 1))   # PyTorch needs the mask for the hint
    t_out, t_w = theirs(tq, tk, tv, key_padding_mask=t_pad, attn_mask=t_attn, is_causal=causal,
                        average_attn_weights=False)
    m_out, m_w = ours(mq, mk, mv, key_padding_mask=m_pad, attn_mask=m_attn, is_causal=causal,
                      average_attn_weights=False)
    assert m_out.shape == tuple(t_out.shape) and m_w.shape == tuple(t_w.shape) == (B, H, L, S)
    assert_close(m_w.numpy(), t_w.detach().numpy(), dtype, "weights")
    check_same(theirs, ours, t_out, m_out, [(tq, mq), (tk, mk), (tv, mv)], dtype, rng)


@pytest.mark.parametrize("options", [
    dict(kdim=6, vdim=3), dict(bias=False), dict(add_bias_kv=True), dict(add_zero_attn=True),
    dict(add_bias_kv=True, add_zero_attn=True, kdim=5),
])
def test_multihead_attention_options(options):
    rng = np.random.default_rng(1)
    B, L, S, E, H = 3, 4, 6, 8, 4
    theirs, ours = twin(tnn.MultiheadAttention(E, H, **options), lambda: nn.MultiheadAttention(E, H, **options), "float64")
    kdim, vdim = options.get("kdim", E), options.get("vdim", E)
    (tq, mq), (tk, mk), (tv, mv) = (pair(rng.standard_normal(s), "float64") for s in [(L, B, E), (S, B, kdim), (S, B, vdim)])
    attn, padding = masks_for("bool_and_padding", rng, B, H, L, S, "float64")
    t_out, t_w = theirs(tq, tk, tv, key_padding_mask=torch.tensor(padding), attn_mask=torch.tensor(attn))
    m_out, m_w = ours(mq, mk, mv, key_padding_mask=padding, attn_mask=attn)
    assert_close(m_w.numpy(), t_w.detach().numpy(), "float64", "weights averaged over heads")
    check_same(theirs, ours, t_out, m_out, [(tq, mq), (tk, mk), (tv, mv)], "float64", rng)


def test_multihead_attention_unbatched_and_self_attention():
    rng = np.random.default_rng(2)
    L, E, H = 5, 6, 3
    theirs, ours = twin(tnn.MultiheadAttention(E, H), lambda: nn.MultiheadAttention(E, H), "float64")
    tx, mx = pair(rng.standard_normal((L, E)), "float64")
    per_head = rng.random((H, L, L)) < 0.5
    per_head[..., 0] = False
    t_out, t_w = theirs(tx, tx, tx, attn_mask=torch.tensor(per_head))
    m_out, m_w = ours(mx, mx, mx, attn_mask=per_head)
    assert m_out.shape == (L, E) and m_w.shape == (L, L)
    assert_close(m_w.numpy(), t_w.detach().numpy(), "float64", "weights")
    assert ours(mx, mx, mx, need_weights=False)[1] is None
    check_same(theirs, ours, t_out, m_out, [(tx, mx)], "float64", rng)


def test_learned_float_mask_gets_its_gradient():
    """A float attn_mask that requires grad (a learned bias) is part of the graph, as in PyTorch."""
    rng = np.random.default_rng(3)
    theirs, ours = twin(tnn.MultiheadAttention(4, 2, batch_first=True), lambda: nn.MultiheadAttention(4, 2, batch_first=True),
                        "float64")
    tx, mx = pair(rng.standard_normal((2, 3, 4)), "float64")
    bias = rng.standard_normal((3, 3))
    bias[0, 2] = -np.inf
    tb, mb = pair(bias, "float64")
    padding = np.array([[0.0, 0.0, -np.inf], [0.5, -0.25, 0.0]])      # a float key padding mask as well
    t_out = theirs(tx, tx, tx, attn_mask=tb, key_padding_mask=torch.tensor(padding), need_weights=False)[0]
    m_out = ours(mx, mx, mx, attn_mask=mb, key_padding_mask=padding, need_weights=False)[0]
    check_same(theirs, ours, t_out, m_out, [(tx, mx)], "float64", rng)
    assert_close(mb.grad.numpy(), tb.grad.numpy(), "float64", "gradient of the mask")
    assert mb.grad.numpy()[0, 2] == 0


# ---------------------------------------------------------------- encoder and decoder layers
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_encoder_layer(activation, norm_first, batch_first, dtype):
    rng = np.random.default_rng(4)
    B, S, E, H = 2, 5, 8, 2
    args = dict(dim_feedforward=16, dropout=0.0, activation=activation, batch_first=batch_first, norm_first=norm_first)
    theirs, ours = twin(tnn.TransformerEncoderLayer(E, H, **args), lambda: nn.TransformerEncoderLayer(E, H, **args), dtype)
    tx, mx = pair(rng.standard_normal((B, S, E) if batch_first else (S, B, E)), dtype)
    attn, padding = masks_for("bool_and_padding", rng, B, H, S, S, dtype)
    t_out = theirs(tx, src_mask=torch.tensor(attn), src_key_padding_mask=torch.tensor(padding))
    m_out = ours(mx, src_mask=attn, src_key_padding_mask=padding)
    check_same(theirs, ours, t_out, m_out, [(tx, mx)], dtype, rng)


@pytest.mark.parametrize("masking", ["float_causal", "is_causal", "float_padding"])
def test_encoder_layer_masks(masking):
    rng = np.random.default_rng(5)
    B, S, E, H = 3, 4, 8, 4
    args = dict(dim_feedforward=12, dropout=0.0, batch_first=True)
    theirs, ours = twin(tnn.TransformerEncoderLayer(E, H, **args), lambda: nn.TransformerEncoderLayer(E, H, **args), "float64")
    tx, mx = pair(rng.standard_normal((B, S, E)), "float64")
    causal = causal_float(S, "float64")
    if masking == "float_causal":
        t_out, m_out = theirs(tx, src_mask=torch.tensor(causal)), ours(mx, src_mask=causal)
    elif masking == "is_causal":
        t_out = theirs(tx, src_mask=torch.tensor(causal), is_causal=True)
        m_out = ours(mx, is_causal=True)
        np.testing.assert_allclose(ours(mx, src_mask=causal, is_causal=True).numpy(), m_out.numpy(), rtol=0, atol=0)
    else:
        _, padding = masks_for("float_padding", rng, B, H, S, S, "float64")
        t_out = theirs(tx, src_key_padding_mask=torch.tensor(padding))
        m_out = ours(mx, src_key_padding_mask=padding)
    check_same(theirs, ours, t_out, m_out, [(tx, mx)], "float64", rng)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_decoder_layer(activation, norm_first, batch_first, dtype):
    rng = np.random.default_rng(6)
    B, T, S, E, H = 2, 4, 5, 8, 2
    args = dict(dim_feedforward=16, dropout=0.0, activation=activation, batch_first=batch_first, norm_first=norm_first)
    theirs, ours = twin(tnn.TransformerDecoderLayer(E, H, **args), lambda: nn.TransformerDecoderLayer(E, H, **args), dtype)
    layout = (lambda n: (B, n, E)) if batch_first else (lambda n: (n, B, E))
    (tx, mx), (tm, mm) = pair(rng.standard_normal(layout(T)), dtype), pair(rng.standard_normal(layout(S)), dtype)
    memory_mask, memory_padding = masks_for("bool_and_padding", rng, B, H, T, S, dtype)
    _, tgt_padding = masks_for("padding", rng, B, H, T, T, dtype)
    causal = causal_float(T, dtype)
    t_out = theirs(tx, tm, tgt_mask=torch.tensor(causal), memory_mask=torch.tensor(memory_mask),
                   tgt_key_padding_mask=torch.tensor(tgt_padding), memory_key_padding_mask=torch.tensor(memory_padding),
                   tgt_is_causal=True)
    m_out = ours(mx, mm, memory_mask=memory_mask, tgt_key_padding_mask=tgt_padding,
                 memory_key_padding_mask=memory_padding, tgt_is_causal=True)
    check_same(theirs, ours, t_out, m_out, [(tx, mx), (tm, mm)], dtype, rng)


# ---------------------------------------------------------------- stacks and nn.Transformer
@pytest.mark.parametrize("norm_first", [False, True])
def test_encoder_and_decoder_stacks(norm_first):
    rng = np.random.default_rng(7)
    B, T, S, E, H = 2, 3, 4, 8, 2
    args = dict(dim_feedforward=16, dropout=0.0, norm_first=norm_first)
    norm = (lambda lib: lib.LayerNorm(E)) if norm_first else (lambda lib: None)
    t_enc = tnn.TransformerEncoder(tnn.TransformerEncoderLayer(E, H, **args), 2, norm(tnn), enable_nested_tensor=False)
    theirs, ours = twin(t_enc, lambda: nn.TransformerEncoder(nn.TransformerEncoderLayer(E, H, **args), 2, norm(nn)), "float64")
    tx, mx = pair(rng.standard_normal((S, B, E)), "float64")
    _, padding = masks_for("padding", rng, B, H, S, S, "float64")
    t_out = theirs(tx, mask=torch.tensor(causal_float(S, "float64")), src_key_padding_mask=torch.tensor(padding))
    m_out = ours(mx, mask=causal_float(S, "float64"), src_key_padding_mask=padding)
    check_same(theirs, ours, t_out, m_out, [(tx, mx)], "float64", rng)

    t_dec = tnn.TransformerDecoder(tnn.TransformerDecoderLayer(E, H, **args), 2, norm(tnn))
    theirs, ours = twin(t_dec, lambda: nn.TransformerDecoder(nn.TransformerDecoderLayer(E, H, **args), 2, norm(nn)), "float64")
    (ty, my), (tm, mm) = pair(rng.standard_normal((T, B, E)), "float64"), pair(rng.standard_normal((S, B, E)), "float64")
    t_out = theirs(ty, tm, tgt_mask=torch.tensor(causal_float(T, "float64")), memory_key_padding_mask=torch.tensor(padding))
    m_out = ours(my, mm, tgt_mask=causal_float(T, "float64"), memory_key_padding_mask=padding)
    check_same(theirs, ours, t_out, m_out, [(ty, my), (tm, mm)], "float64", rng)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("norm_first", [False, True])
def test_transformer(norm_first, batch_first, dtype):
    rng = np.random.default_rng(8)
    B, T, S, E, H = 2, 4, 5, 8, 2
    args = dict(d_model=E, nhead=H, num_encoder_layers=2, num_decoder_layers=2, dim_feedforward=16, dropout=0.0,
                batch_first=batch_first, norm_first=norm_first)
    theirs, ours = twin(tnn.Transformer(**args), lambda: nn.Transformer(**args), dtype)
    layout = (lambda n: (B, n, E)) if batch_first else (lambda n: (n, B, E))
    (ts, ms), (tt, mt_) = pair(rng.standard_normal(layout(S)), dtype), pair(rng.standard_normal(layout(T)), dtype)
    _, src_padding = masks_for("padding", rng, B, H, S, S, dtype)
    _, tgt_padding = masks_for("padding", rng, B, H, T, T, dtype)
    tgt_mask = nn.Transformer.generate_square_subsequent_mask(T, dtype=dtype)
    t_tgt_mask = tnn.Transformer.generate_square_subsequent_mask(T, dtype=TORCH_DTYPES[dtype])
    np.testing.assert_array_equal(tgt_mask.numpy(), t_tgt_mask.numpy())
    pads = dict(src_key_padding_mask=src_padding, tgt_key_padding_mask=tgt_padding,
                memory_key_padding_mask=src_padding)
    t_out = theirs(ts, tt, tgt_mask=t_tgt_mask, **{k: torch.tensor(v) for k, v in pads.items()})
    m_out = ours(ms, mt_, tgt_mask=tgt_mask, **pads)
    check_same(theirs, ours, t_out, m_out, [(ts, ms), (tt, mt_)], dtype, rng)


def test_state_dict_names_and_shapes_are_pytorchs():
    """Every class has exactly PyTorch's state_dict keys, in PyTorch's order, with its shapes."""
    E, H = 8, 2
    cases = [
        (tnn.MultiheadAttention(E, H), nn.MultiheadAttention(E, H)),
        (tnn.MultiheadAttention(E, H, kdim=3, vdim=5, add_bias_kv=True, bias=False),
         nn.MultiheadAttention(E, H, kdim=3, vdim=5, add_bias_kv=True, bias=False)),
        (tnn.TransformerEncoderLayer(E, H, 16), nn.TransformerEncoderLayer(E, H, 16)),
        (tnn.TransformerDecoderLayer(E, H, 16, bias=False), nn.TransformerDecoderLayer(E, H, 16, bias=False)),
        (tnn.Transformer(E, H, 2, 1, 16), nn.Transformer(E, H, 2, 1, 16)),
    ]
    for theirs, ours in cases:
        expected = [(k, tuple(v.shape)) for k, v in theirs.state_dict().items()]
        assert [(k, v.shape) for k, v in ours.state_dict().items()] == expected
        assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
        # and the other way: our state loads into PyTorch's module
        theirs.load_state_dict({k: torch.tensor(v.numpy()) for k, v in ours.state_dict().items()})
