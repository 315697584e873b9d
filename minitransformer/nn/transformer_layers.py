"""Encoder and decoder layers, and their stacks (Vaswani et al. 2017, section 3.1).

Each sub-layer (attention or feed-forward) is wrapped in a residual
connection and a layer norm, in one of two orders:

* post-LN, as in the paper (``norm_first=False``):  x = norm(x + dropout(sublayer(x)))
* pre-LN (``norm_first=True``):                     x = x + dropout(sublayer(norm(x)))
  The residual path then stays an identity from input to output, which makes
  deep stacks train without learning-rate warm-up (Xiong et al. 2020); the
  stack ends with one more LayerNorm, since the last residual sum is not
  normalized otherwise.

Attribute names follow PyTorch's TransformerEncoderLayer/TransformerDecoderLayer
(``self_attn``, ``multihead_attn``, ``norm1..3``, ``dropout1..3``) so weights
can be copied across; the feed-forward's ``linear1``/``linear2`` live in ``ff``.
"""
from __future__ import annotations

from ..autograd import Tensor
from .attention import MultiHeadAttention
from .containers import ModuleList
from .dropout import Dropout
from .feedforward import FeedForward
from .linear import _check_positive_int
from .module import Module
from .normalization import LayerNorm


class EncoderLayer(Module):
    """Self-attention then feed-forward; (B, L, d_model) -> (B, L, d_model).

    ``forward(x, mask=None, cache=None)``: ``mask`` as in MultiHeadAttention
    (True = may attend); ``cache`` (a dict) turns on incremental self-attention,
    used by the decoder-only TransformerLM.
    """

    def __init__(self, d_model: int, num_heads: int, d_ff: int, dropout: float = 0.1,
                 activation="relu", norm_first: bool = False, layer_norm_eps: float = 1e-5):
        super().__init__()
        self.d_model, self.norm_first = d_model, bool(norm_first)
        self.self_attn = MultiHeadAttention(d_model, num_heads, dropout)
        self.ff = FeedForward(d_model, d_ff, dropout, activation)
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)

    def _sa(self, x, mask, cache):
        return self.dropout1(self.self_attn(x, x, x, mask, cache=cache)[0])

    def forward(self, x: Tensor, mask=None, cache: dict | None = None) -> Tensor:
        if self.norm_first:
            x = x + self._sa(self.norm1(x), mask, cache)
            return x + self.dropout2(self.ff(self.norm2(x)))
        x = self.norm1(x + self._sa(x, mask, cache))
        return self.norm2(x + self.dropout2(self.ff(x)))

    def extra_repr(self) -> str:
        return f"norm_first={self.norm_first}"


class DecoderLayer(Module):
    """Masked self-attention, cross-attention over the encoder memory, feed-forward.

    ``forward(x (B, T, d), memory (B, S, d), tgt_mask=None, memory_mask=None, cache=None)``.
    ``tgt_mask`` is usually causal & target padding, ``memory_mask`` the
    source padding (B, 1, 1, S).  With ``cache`` (one dict per layer, empty at
    the first step) x holds only the new positions: their keys/values are
    appended to ``cache["self_attn"]`` and the projected memory is computed
    once into ``cache["cross_attn"]``.
    """

    def __init__(self, d_model: int, num_heads: int, d_ff: int, dropout: float = 0.1,
                 activation="relu", norm_first: bool = False, layer_norm_eps: float = 1e-5):
        super().__init__()
        self.d_model, self.norm_first = d_model, bool(norm_first)
        self.self_attn = MultiHeadAttention(d_model, num_heads, dropout)
        self.multihead_attn = MultiHeadAttention(d_model, num_heads, dropout)
        self.ff = FeedForward(d_model, d_ff, dropout, activation)
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps)
        self.norm3 = LayerNorm(d_model, eps=layer_norm_eps)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.dropout3 = Dropout(dropout)

    def _sa(self, x, mask, cache):
        sub = None if cache is None else cache.setdefault("self_attn", {})
        return self.dropout1(self.self_attn(x, x, x, mask, cache=sub)[0])

    def _ca(self, x, memory, mask, cache):
        sub = None if cache is None else cache.setdefault("cross_attn", {})
        return self.dropout2(self.multihead_attn(x, memory, memory, mask, cache=sub, static_kv=True)[0])

    def forward(self, x: Tensor, memory: Tensor, tgt_mask=None, memory_mask=None,
                cache: dict | None = None) -> Tensor:
        if self.norm_first:
            x = x + self._sa(self.norm1(x), tgt_mask, cache)
            x = x + self._ca(self.norm2(x), memory, memory_mask, cache)
            return x + self.dropout3(self.ff(self.norm3(x)))
        x = self.norm1(x + self._sa(x, tgt_mask, cache))
        x = self.norm2(x + self._ca(x, memory, memory_mask, cache))
        return self.norm3(x + self.dropout3(self.ff(x)))

    def extra_repr(self) -> str:
        return f"norm_first={self.norm_first}"


class _Stack(Module):
    """num_layers copies of a layer, plus a final LayerNorm ``norm`` for pre-LN stacks."""

    layer_class = None

    def __init__(self, d_model=None, num_heads=None, d_ff=None, num_layers: int = 6, dropout: float = 0.1,
                 activation="relu", norm_first: bool = False, *, layer_factory=None, final_norm=None,
                 layer_norm_eps: float = 1e-5):
        super().__init__()
        name = type(self).__name__
        _check_positive_int(name, "num_layers", num_layers)
        if layer_factory is None:
            for arg, value in (("d_model", d_model), ("num_heads", num_heads), ("d_ff", d_ff)):
                _check_positive_int(name, arg, value)

            def layer_factory():
                return self.layer_class(d_model, num_heads, d_ff, dropout, activation, norm_first, layer_norm_eps)
        elif not callable(layer_factory):
            raise TypeError(f"{name}: layer_factory must be a callable returning a layer, got {layer_factory!r}")
        self.layers = ModuleList(layer_factory() for _ in range(num_layers))
        first = self.layers[0]
        self.d_model = getattr(first, "d_model", d_model)
        self.norm_first = bool(getattr(first, "norm_first", norm_first))
        if final_norm is None:
            final_norm = self.norm_first
        self.norm = LayerNorm(self.d_model, eps=layer_norm_eps) if final_norm else None

    def _finish(self, x):
        return self.norm(x) if self.norm is not None else x

    def extra_repr(self) -> str:
        return f"num_layers={len(self.layers)}, norm_first={self.norm_first}"


class Encoder(_Stack):
    """A stack of EncoderLayers: ``Encoder(d_model, num_heads, d_ff, num_layers, dropout, activation,
    norm_first)`` or ``Encoder(num_layers=N, layer_factory=lambda: EncoderLayer(...))``.

    ``forward(x, mask=None, cache=None)``; ``cache`` is a list with one dict per
    layer (see TransformerLM).  ``final_norm`` defaults to ``norm_first``.
    """

    layer_class = EncoderLayer

    def forward(self, x: Tensor, mask=None, cache: list | None = None) -> Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x, mask, cache=None if cache is None else cache[i])
        return self._finish(x)


class Decoder(_Stack):
    """A stack of DecoderLayers; arguments as Encoder's.

    ``forward(x, memory, tgt_mask=None, memory_mask=None, cache=None)``;
    ``cache`` is a list with one dict per layer.
    """

    layer_class = DecoderLayer

    def forward(self, x: Tensor, memory: Tensor, tgt_mask=None, memory_mask=None,
                cache: list | None = None) -> Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x, memory, tgt_mask, memory_mask, cache=None if cache is None else cache[i])
        return self._finish(x)
