"""The encoder and decoder layers of the Transformer (Vaswani et al. 2017, section 3.1),
as PyTorch's nn.TransformerEncoderLayer and nn.TransformerDecoderLayer.

Each sub-layer (attention or feed-forward) is wrapped in a residual
connection and a layer norm, in one of two orders:

* post-LN, as in the paper (``norm_first=False``):  x = norm(x + dropout(sublayer(x)))
* pre-LN (``norm_first=True``):                     x = x + dropout(sublayer(norm(x)))
  The residual path then stays an identity from input to output, which makes
  deep stacks train without learning-rate warm-up (Xiong et al. 2020); a
  stack of pre-LN layers ends with one more LayerNorm (the ``norm`` of
  TransformerEncoder/TransformerDecoder), since the last residual sum is not
  normalized otherwise.

The names are PyTorch's (``self_attn``, ``multihead_attn``, ``linear1``,
``dropout``, ``linear2``, ``norm1..3``, ``dropout1..3``), so a PyTorch
layer's ``state_dict`` loads into ours and ours into PyTorch's.  Masks too are
PyTorch's: see ``attention_masks.py``.
"""
from __future__ import annotations

from ..autograd import Tensor
from .attention import MultiheadAttention, _check_probability
from .dropout import Dropout
from .feedforward import feed_forward, get_activation
from .linear import Linear, _check_positive_int
from .module import Module
from .normalization import LayerNorm


def layer_norm(d_model: int, eps: float, bias: bool) -> LayerNorm:
    """A LayerNorm over d_model features; with ``bias=False`` it learns no shift (PyTorch's
    ``LayerNorm(d_model, eps, bias=False)``): its ``bias`` is None, as in PyTorch."""
    norm = LayerNorm(d_model, eps=eps)
    if not bias:
        norm.bias = None
    return norm


def _check_layer_args(cls: str, d_model, nhead, dim_feedforward, dropout) -> None:
    _check_positive_int(cls, "d_model", d_model)
    _check_positive_int(cls, "nhead", nhead)
    _check_positive_int(cls, "dim_feedforward", dim_feedforward)
    _check_probability(cls, "dropout", dropout)


class TransformerEncoderLayer(Module):
    """Self-attention then feed-forward, as PyTorch's ``nn.TransformerEncoderLayer``.

    ``TransformerEncoderLayer(d_model, nhead, dim_feedforward=2048, dropout=0.1, activation="relu",
    layer_norm_eps=1e-5, batch_first=False, norm_first=False, bias=True)``; ``activation`` is
    "relu", "gelu" (exact, with erf) or a callable.

    ``forward(src, src_mask=None, src_key_padding_mask=None, is_causal=False)``: src
    (S, B, E), or (B, S, E) with ``batch_first``; masks as ``MultiheadAttention``'s
    ``attn_mask`` and ``key_padding_mask``.  The keyword-only ``cache`` (a dict)
    turns on incremental self-attention, used by the decoder-only TransformerLM.
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation="relu", layer_norm_eps: float = 1e-5, batch_first: bool = False,
                 norm_first: bool = False, bias: bool = True):
        super().__init__()
        name = type(self).__name__
        _check_layer_args(name, d_model, nhead, dim_feedforward, dropout)
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias)
        self.norm_first = bool(norm_first)
        self.norm1 = layer_norm(d_model, layer_norm_eps, bias)
        self.norm2 = layer_norm(d_model, layer_norm_eps, bias)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.activation = get_activation(name, activation)
        self.d_model, self.batch_first = d_model, bool(batch_first)

    def forward(self, src: Tensor, src_mask=None, src_key_padding_mask=None, is_causal: bool = False,
                *, cache: dict | None = None) -> Tensor:
        x = src
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), src_mask, src_key_padding_mask, is_causal, cache)
            return x + self._ff_block(self.norm2(x))
        x = self.norm1(x + self._sa_block(x, src_mask, src_key_padding_mask, is_causal, cache))
        return self.norm2(x + self._ff_block(x))

    def _sa_block(self, x, attn_mask, key_padding_mask, is_causal, cache):
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                           need_weights=False, is_causal=is_causal, cache=cache)[0]
        return self.dropout1(x)

    def _ff_block(self, x):
        return self.dropout2(feed_forward(x, self.linear1, self.activation, self.dropout, self.linear2))

    def extra_repr(self) -> str:
        return f"norm_first={self.norm_first}, batch_first={self.batch_first}"


class TransformerDecoderLayer(Module):
    """Masked self-attention, cross-attention over the encoder memory, feed-forward, as
    PyTorch's ``nn.TransformerDecoderLayer`` (same arguments as TransformerEncoderLayer).

    ``forward(tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
    memory_key_padding_mask=None, tgt_is_causal=False, memory_is_causal=False)``:
    tgt (T, B, E) and memory (S, B, E), or batch first.  ``tgt_mask`` is usually
    the causal mask (or ``tgt_is_causal=True``), ``memory_key_padding_mask`` the
    source padding.  With the keyword-only ``cache`` (one dict per layer, empty
    at the first step) tgt holds only the new positions: their keys and values
    are appended to ``cache["self_attn"]`` and the projected memory is computed
    once into ``cache["cross_attn"]``.
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation="relu", layer_norm_eps: float = 1e-5, batch_first: bool = False,
                 norm_first: bool = False, bias: bool = True):
        super().__init__()
        name = type(self).__name__
        _check_layer_args(name, d_model, nhead, dim_feedforward, dropout)
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first)
        self.multihead_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                                 batch_first=batch_first)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias)
        self.norm_first = bool(norm_first)
        self.norm1 = layer_norm(d_model, layer_norm_eps, bias)
        self.norm2 = layer_norm(d_model, layer_norm_eps, bias)
        self.norm3 = layer_norm(d_model, layer_norm_eps, bias)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.dropout3 = Dropout(dropout)
        self.activation = get_activation(name, activation)
        self.d_model, self.batch_first = d_model, bool(batch_first)

    def forward(self, tgt: Tensor, memory: Tensor, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal: bool = False, memory_is_causal: bool = False,
                *, cache: dict | None = None) -> Tensor:
        self_cache = None if cache is None else cache.setdefault("self_attn", {})
        cross_cache = None if cache is None else cache.setdefault("cross_attn", {})
        x = tgt
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), tgt_mask, tgt_key_padding_mask, tgt_is_causal, self_cache)
            x = x + self._mha_block(self.norm2(x), memory, memory_mask, memory_key_padding_mask,
                                    memory_is_causal, cross_cache)
            return x + self._ff_block(self.norm3(x))
        x = self.norm1(x + self._sa_block(x, tgt_mask, tgt_key_padding_mask, tgt_is_causal, self_cache))
        x = self.norm2(x + self._mha_block(x, memory, memory_mask, memory_key_padding_mask,
                                           memory_is_causal, cross_cache))
        return self.norm3(x + self._ff_block(x))

    def _sa_block(self, x, attn_mask, key_padding_mask, is_causal, cache):
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                           need_weights=False, is_causal=is_causal, cache=cache)[0]
        return self.dropout1(x)

    def _mha_block(self, x, memory, attn_mask, key_padding_mask, is_causal, cache):
        x = self.multihead_attn(x, memory, memory, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                                need_weights=False, is_causal=is_causal, cache=cache, static_kv=True)[0]
        return self.dropout2(x)

    def _ff_block(self, x):
        return self.dropout3(feed_forward(x, self.linear1, self.activation, self.dropout, self.linear2))

    def extra_repr(self) -> str:
        return f"norm_first={self.norm_first}, batch_first={self.batch_first}"
