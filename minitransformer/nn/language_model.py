"""Language models from one stack of self-attention layers.

* ``TransformerLM``: decoder-only (GPT-style) -- encoder layers with a causal
  mask, so position t predicts token t+1 from tokens 0..t only.
* ``TransformerEncoderModel``: the model of PyTorch's classic tutorial
  "Language Modeling with nn.TransformerEncoder", batch-first here.
"""
from __future__ import annotations

import math

from .. import functional as F
from ..autograd import Tensor
from ..backend import get_array_module
from . import init
from .embedding import Embedding, PositionalEncoding
from .linear import Linear, _check_positive_int
from .module import Module
from .transformer import ConfigMixin, check_dropout, token_ids, xavier_init_
from .transformer_layers import Encoder


class TransformerLM(ConfigMixin, Module):
    """Decoder-only LM: ``forward(ids (B, L)) -> logits (B, L, vocab_size)``.

    ids -> embed * sqrt(d_model) + PE -> causal self-attention stack -> linear.
    With ``pad_id`` set, padded positions are also hidden as keys.  Xavier
    uniform for every >1-D parameter, as the Transformer.  Incremental
    generation: ``cache = model.init_cache()``, then ``model(new_ids, cache=cache)``
    gives the logits of the new positions only, reusing earlier keys/values.
    """

    def __init__(self, vocab_size: int, d_model: int, num_heads: int, num_layers: int, d_ff: int,
                 dropout: float = 0.1, max_len: int = 5000, norm_first: bool = False,
                 pad_id: int | None = None, tie_output: bool = False, activation="relu"):
        super().__init__()
        self.config = dict(
            vocab_size=vocab_size, d_model=d_model, num_heads=num_heads, num_layers=num_layers, d_ff=d_ff,
            dropout=dropout, max_len=max_len, norm_first=norm_first, pad_id=pad_id, tie_output=tie_output,
            activation=activation,
        )
        for name in ("vocab_size", "d_model", "num_heads", "num_layers", "d_ff", "max_len"):
            _check_positive_int("TransformerLM", name, self.config[name])
        check_dropout("TransformerLM", dropout)
        if pad_id is not None and (isinstance(pad_id, bool) or not isinstance(pad_id, int) or not 0 <= pad_id < vocab_size):
            raise ValueError(f"TransformerLM: pad_id must be None or an id below vocab_size={vocab_size}, got {pad_id!r}")
        self.pad_id = pad_id
        self.embed = Embedding(vocab_size, d_model, padding_idx=pad_id, scale=True)
        self.pos_encoding = PositionalEncoding(d_model, dropout, max_len)
        self.encoder = Encoder(d_model, num_heads, d_ff, num_layers, dropout, activation, norm_first)
        self.output_proj = None if tie_output else Linear(d_model, vocab_size)
        xavier_init_(self)

    def init_cache(self) -> dict:
        return {"offset": 0, "layers": [{} for _ in self.encoder.layers]}

    def forward(self, ids, cache: dict | None = None) -> Tensor:
        ids = token_ids("TransformerLM", "ids", ids, get_array_module(self.embed.weight.data))
        length = ids.shape[1]
        offset = 0 if cache is None else cache["offset"]
        mask = F.causal_mask(length, backend=self.embed.weight.backend, offset=offset)
        if self.pad_id is not None and cache is None:
            mask = Tensor(mask.data & F.padding_mask(ids, self.pad_id).data)
        x = self.pos_encoding(self.embed(ids), offset=offset)
        h = self.encoder(x, mask, cache=None if cache is None else cache["layers"])
        if cache is not None:
            cache["offset"] = offset + length
        return F.linear(h, self.embed.weight) if self.output_proj is None else self.output_proj(h)


class TransformerEncoderModel(ConfigMixin, Module):
    """The classic PyTorch tutorial's LM: embedding * sqrt(d_model), PositionalEncoding,
    ``nlayers`` post-LN encoder layers, linear to the vocabulary.

    ``forward(src (B, L), src_mask=None) -> logits (B, L, ntoken)``.  Unlike
    the tutorial (sequence-first, float -inf masks) src is batch-first and
    ``src_mask`` boolean with True = may attend: pass
    ``generate_square_subsequent_mask(L)`` for causal language modeling.
    Init as the tutorial: embedding and output weight U(-0.1, 0.1), output bias 0.
    """

    def __init__(self, ntoken: int, d_model: int, nhead: int, d_hid: int, nlayers: int, dropout: float = 0.5):
        super().__init__()
        self.config = dict(ntoken=ntoken, d_model=d_model, nhead=nhead, d_hid=d_hid, nlayers=nlayers, dropout=dropout)
        for name in ("ntoken", "d_model", "nhead", "d_hid", "nlayers"):
            _check_positive_int("TransformerEncoderModel", name, self.config[name])
        check_dropout("TransformerEncoderModel", dropout)
        self.model_type = "Transformer"
        self.d_model = d_model
        self.pos_encoder = PositionalEncoding(d_model, dropout)
        self.transformer_encoder = Encoder(d_model, nhead, d_hid, nlayers, dropout)
        self.embedding = Embedding(ntoken, d_model)
        self.linear = Linear(d_model, ntoken)
        self.init_weights()

    def init_weights(self) -> None:
        init.uniform_(self.embedding.weight, -0.1, 0.1)
        init.zeros_(self.linear.bias)
        init.uniform_(self.linear.weight, -0.1, 0.1)

    @staticmethod
    def generate_square_subsequent_mask(size: int, backend: str | None = None) -> Tensor:
        """(size, size) bool causal mask, True on and below the diagonal."""
        return F.causal_mask(size, backend=backend)

    def forward(self, src, src_mask=None) -> Tensor:
        xp = get_array_module(self.embedding.weight.data)
        src = token_ids("TransformerEncoderModel", "src", src, xp)
        x = self.pos_encoder(self.embedding(src) * math.sqrt(self.d_model))
        return self.linear(self.transformer_encoder(x, src_mask))
