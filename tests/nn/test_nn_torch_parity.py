"""Reference tests: the same weights in PyTorch's modules and ours give the same
outputs and the same input and parameter gradients (float64).

Conventions to translate: PyTorch packs W_q, W_k, W_v into one
``in_proj_weight`` [W_q; W_k; W_v]; its bool ``attn_mask`` is True where
attention is NOT allowed and ``key_padding_mask`` True at padding, the
opposite of our True = may attend.  Torch modules stay in train mode (with
dropout 0) so that PyTorch takes its plain path, not the inference fast path.
"""
import math

import numpy as np
import pytest

import minitransformer as mt
from minitransformer import nn

torch = pytest.importorskip("torch")
tnn = torch.nn

TOL = dict(rtol=1e-7, atol=1e-9)


def torch_to_ours(named):
    """Map PyTorch names/values to ours: split in_proj_*, move linear1/2 into ``ff``."""
    out = {}
    for name, value in named:
        value = value.detach().numpy() if hasattr(value, "detach") else value
        prefix, _, leaf = name.rpartition(".")
        if leaf in ("in_proj_weight", "in_proj_bias"):
            kind = leaf.split("_")[-1]
            for proj, part in zip(("q_proj", "k_proj", "v_proj"), np.split(value, 3)):
                out[f"{prefix + '.' if prefix else ''}{proj}.{kind}"] = part
        else:
            for lin in ("linear1", "linear2"):
                if name.startswith(lin + ".") or f".{lin}." in name:
                    name = name.replace(lin, "ff." + lin)
            out[name] = value
    return out


def randomize(module, std=0.3):
    """Give every torch parameter generic values (torch starts biases at 0, norms at 1)."""
    with torch.no_grad():
        for name, p in module.named_parameters():
            if p.ndim == 1:
                p.add_(torch.randn_like(p) * std)
            else:
                p.normal_(0, 1 / math.sqrt(p.shape[-1]))


def copy_weights(theirs, ours):
    ours.load_state_dict(torch_to_ours(theirs.state_dict().items()))  # strict: names must match


def assert_same_grads(theirs, ours):
    grads = torch_to_ours((n, p.grad) for n, p in theirs.named_parameters())
    own = dict(ours.named_parameters())
    assert set(grads) == set(own)
    for name, g in grads.items():
        np.testing.assert_allclose(own[name].grad.numpy(), g, err_msg=name, **TOL)


def pair(x):
    """The same float64 data as a torch leaf and one of ours, both requiring grad."""
    return torch.tensor(x, requires_grad=True), mt.tensor(x, requires_grad=True)


def backward_both(t_out, m_out, rng):
    g = rng.standard_normal(m_out.shape)
    t_out.backward(torch.tensor(g))
    m_out.backward(g)


@pytest.fixture(autouse=True)
def _float64():
    torch.manual_seed(0)
    with mt.set_default_dtype("float64"):
        yield


@pytest.mark.parametrize("masking", ["none", "causal", "padding", "both"])
def test_multihead_attention(masking):
    rng = np.random.default_rng(0)
    B, Lq, Lk, D, H = 2, 4, 4, 8, 2
    theirs = tnn.MultiheadAttention(D, H, batch_first=True).double()
    randomize(theirs)
    ours = nn.MultiHeadAttention(D, H)
    copy_weights(theirs, ours)
    (tq, mq), (tk, mk), (tv, mv) = (pair(rng.standard_normal(s)) for s in [(B, Lq, D), (B, Lk, D), (B, Lk, D)])
    causal = np.tril(np.ones((Lq, Lk), dtype=bool))
    keep = np.array([[1, 1, 1, 1], [1, 1, 0, 0]], dtype=bool)
    attn_mask = ~causal if masking in ("causal", "both") else None
    pad_mask = ~keep if masking in ("padding", "both") else None
    mask = None
    if masking == "causal":
        mask = causal
    elif masking == "padding":
        mask = keep[:, None, None, :]
    elif masking == "both":
        mask = causal & keep[:, None, None, :]
    t_out, t_w = theirs(tq, tk, tv, attn_mask=None if attn_mask is None else torch.tensor(attn_mask),
                        key_padding_mask=None if pad_mask is None else torch.tensor(pad_mask),
                        need_weights=True, average_attn_weights=False)
    m_out, m_w = ours(mq, mk, mv, mask=mask, need_weights=True)
    np.testing.assert_allclose(m_out.numpy(), t_out.detach().numpy(), **TOL)
    np.testing.assert_allclose(m_w.numpy(), t_w.detach().numpy(), **TOL)
    backward_both(t_out, m_out, rng)
    for t, m in ((tq, mq), (tk, mk), (tv, mv)):
        np.testing.assert_allclose(m.grad.numpy(), t.grad.numpy(), **TOL)
    assert_same_grads(theirs, ours)


def test_layer_norm():
    rng = np.random.default_rng(1)
    theirs = tnn.LayerNorm(6).double()
    randomize(theirs)
    ours = nn.LayerNorm(6)
    copy_weights(theirs, ours)
    tx, mx = pair(rng.standard_normal((3, 4, 6)))
    t_out, m_out = theirs(tx), ours(mx)
    np.testing.assert_allclose(m_out.numpy(), t_out.detach().numpy(), **TOL)
    backward_both(t_out, m_out, rng)
    np.testing.assert_allclose(mx.grad.numpy(), tx.grad.numpy(), **TOL)
    assert_same_grads(theirs, ours)


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_encoder_layer(norm_first, activation):
    rng = np.random.default_rng(2)
    theirs = tnn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, activation=activation, batch_first=True,
                                         norm_first=norm_first).double()
    randomize(theirs)
    ours = nn.EncoderLayer(8, 2, 16, dropout=0.0, activation=activation, norm_first=norm_first)
    copy_weights(theirs, ours)
    tx, mx = pair(rng.standard_normal((2, 5, 8)))
    keep = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]], dtype=bool)
    t_out = theirs(tx, src_key_padding_mask=torch.tensor(~keep))
    m_out = ours(mx, keep[:, None, None, :])
    np.testing.assert_allclose(m_out.numpy(), t_out.detach().numpy(), **TOL)
    backward_both(t_out, m_out, rng)
    np.testing.assert_allclose(mx.grad.numpy(), tx.grad.numpy(), **TOL)
    assert_same_grads(theirs, ours)


@pytest.mark.parametrize("norm_first", [False, True])
def test_decoder_layer(norm_first):
    rng = np.random.default_rng(3)
    theirs = tnn.TransformerDecoderLayer(8, 2, 16, dropout=0.0, batch_first=True, norm_first=norm_first).double()
    randomize(theirs)
    ours = nn.DecoderLayer(8, 2, 16, dropout=0.0, norm_first=norm_first)
    copy_weights(theirs, ours)
    tx, mx = pair(rng.standard_normal((2, 4, 8)))
    tm, mm = pair(rng.standard_normal((2, 5, 8)))
    causal = np.tril(np.ones((4, 4), dtype=bool))
    keep = np.array([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0]], dtype=bool)
    t_out = theirs(tx, tm, tgt_mask=torch.tensor(~causal), memory_key_padding_mask=torch.tensor(~keep))
    m_out = ours(mx, mm, causal, keep[:, None, None, :])
    np.testing.assert_allclose(m_out.numpy(), t_out.detach().numpy(), **TOL)
    backward_both(t_out, m_out, rng)
    np.testing.assert_allclose(mx.grad.numpy(), tx.grad.numpy(), **TOL)
    np.testing.assert_allclose(mm.grad.numpy(), tm.grad.numpy(), **TOL)
    assert_same_grads(theirs, ours)


class TorchSeq2Seq(tnn.Module):
    """Our Transformer, written with PyTorch's layers (same attribute names)."""

    def __init__(self, vocab, d, heads, layers, d_ff, norm_first, pad_id=0):
        super().__init__()
        self.d, self.pad_id = d, pad_id
        self.src_embed = tnn.Embedding(vocab, d, padding_idx=pad_id)
        self.tgt_embed = tnn.Embedding(vocab, d, padding_idx=pad_id)
        enc = tnn.TransformerEncoderLayer(d, heads, d_ff, 0.0, batch_first=True, norm_first=norm_first)
        dec = tnn.TransformerDecoderLayer(d, heads, d_ff, 0.0, batch_first=True, norm_first=norm_first)
        self.encoder = tnn.TransformerEncoder(enc, layers, norm=tnn.LayerNorm(d) if norm_first else None,
                                              enable_nested_tensor=False)
        self.decoder = tnn.TransformerDecoder(dec, layers, norm=tnn.LayerNorm(d) if norm_first else None)
        self.output_proj = tnn.Linear(d, vocab)
        self.register_buffer("pe", torch.tensor(nn.sinusoidal_table(64, d, dtype=np.float64)), persistent=False)

    def forward(self, src, tgt):
        src_pad, tgt_pad = src == self.pad_id, tgt == self.pad_id
        causal = torch.triu(torch.ones(tgt.shape[1], tgt.shape[1], dtype=torch.bool), 1)
        x = self.src_embed(src) * math.sqrt(self.d) + self.pe[: src.shape[1]]
        memory = self.encoder(x, src_key_padding_mask=src_pad)
        y = self.tgt_embed(tgt) * math.sqrt(self.d) + self.pe[: tgt.shape[1]]
        h = self.decoder(y, memory, tgt_mask=causal, tgt_key_padding_mask=tgt_pad,
                         memory_key_padding_mask=src_pad)
        return self.output_proj(h)


@pytest.mark.parametrize("norm_first", [False, True])
def test_full_transformer(norm_first):
    rng = np.random.default_rng(4)
    theirs = TorchSeq2Seq(11, 8, 2, 2, 16, norm_first).double()
    randomize(theirs)
    ours = nn.Transformer(11, 11, d_model=8, num_heads=2, num_encoder_layers=2, num_decoder_layers=2,
                          d_ff=16, dropout=0.0, norm_first=norm_first)
    copy_weights(theirs, ours)
    src = np.array([[3, 4, 5, 6, 7], [8, 9, 2, 0, 0]])
    tgt = np.array([[1, 2, 3, 4], [1, 5, 6, 0]])
    t_out = theirs(torch.tensor(src), torch.tensor(tgt))
    m_out = ours(src, tgt)
    np.testing.assert_allclose(m_out.numpy(), t_out.detach().numpy(), **TOL)
    g = rng.standard_normal(m_out.shape)
    t_out.backward(torch.tensor(g))
    m_out.backward(g)
    assert_same_grads(theirs, ours)
