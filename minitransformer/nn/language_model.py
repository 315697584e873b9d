"""Language models from one stack of self-attention layers.

* ``TransformerLM``: decoder-only (GPT-style) -- encoder layers with a causal
  mask, so position t predicts token t+1 from tokens 0..t only.
* ``TransformerEncoderModel``: the model of PyTorch's classic tutorial
  "Language Modeling with nn.TransformerEncoder", batch-first here.

Both are built from PyTorch's ``TransformerEncoderLayer`` and
``TransformerEncoder`` (``transformer_layers.py``, ``transformer.py``).
"""
from __future__ import annotations

import math

from .. import functional as F
from ..autograd import Tensor
from ..backend import get_array_module
from . import init
from .attention_masks import square_subsequent_mask
from .checkpointable import ConfigMixin
from .embedding import Embedding, PositionalEncoding
from .linear import Linear, _check_positive_int
from .module import Module
from .normalization import LayerNorm
from .transformer import TransformerEncoder
from .transformer_layers import TransformerEncoderLayer
from .translator import check_dropout, padding_of, token_ids, xavier_init_


class TransformerLM(ConfigMixin, Module):
    """Decoder-only LM: ``forward(ids (B, L)) -> logits (B, L, vocab_size)``.

    ids -> embed * sqrt(d_model) + PE -> causal self-attention stack -> linear.
    The stack is a ``TransformerEncoder`` of batch-first
    ``TransformerEncoderLayer``s run with ``is_causal=True`` (and, for pre-LN,
    a final LayerNorm ``encoder.norm``).  With ``pad_id`` set, padded
    positions are also hidden as keys.  Xavier uniform for every >1-D
    parameter, as the translator.  Incremental generation: ``cache =
    model.init_cache()``, then ``model(new_ids, cache=cache)`` gives the logits
    of the new positions only, reusing earlier keys/values.
    """

    def __init__(self, vocab_size: int, d_model: int, nhead: int, num_layers: int, dim_feedforward: int,
                 dropout: float = 0.1, max_len: int = 5000, norm_first: bool = False,
                 pad_id: int | None = None, tie_output: bool = False, activation="relu"):
        super().__init__()
        self.config = dict(
            vocab_size=vocab_size, d_model=d_model, nhead=nhead, num_layers=num_layers,
            dim_feedforward=dim_feedforward, dropout=dropout, max_len=max_len, norm_first=norm_first,
            pad_id=pad_id, tie_output=tie_output, activation=activation,
        )
        for name in ("vocab_size", "d_model", "nhead", "num_layers", "dim_feedforward", "max_len"):
            _check_positive_int("TransformerLM", name, self.config[name])
        check_dropout("TransformerLM", dropout)
        if pad_id is not None and (isinstance(pad_id, bool) or not isinstance(pad_id, int) or not 0 <= pad_id < vocab_size):
            raise ValueError(f"TransformerLM: pad_id must be None or an id below vocab_size={vocab_size}, got {pad_id!r}")
        self.pad_id = pad_id
        self.embed = Embedding(vocab_size, d_model, padding_idx=pad_id, scale=True)
        self.pos_encoding = PositionalEncoding(d_model, dropout, max_len)
        layer = TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout, activation, batch_first=True,
                                        norm_first=norm_first)
        self.encoder = TransformerEncoder(layer, num_layers, LayerNorm(d_model) if norm_first else None)
        self.output_proj = None if tie_output else Linear(d_model, vocab_size)
        xavier_init_(self)

    def init_cache(self) -> dict:
        return {"offset": 0, "layers": [{} for _ in self.encoder.layers]}

    def forward(self, ids, cache: dict | None = None) -> Tensor:
        ids = token_ids("TransformerLM", "ids", ids, get_array_module(self.embed.weight.data))
        length = ids.shape[1]
        offset = 0 if cache is None else cache["offset"]
        padding = padding_of(ids, self.pad_id) if cache is None else None
        x = self.pos_encoding(self.embed(ids), offset=offset)
        h = self.encoder(x, src_key_padding_mask=padding, is_causal=True,
                         cache=None if cache is None else cache["layers"])
        if cache is not None:
            cache["offset"] = offset + length
        return F.linear(h, self.embed.weight) if self.output_proj is None else self.output_proj(h)


class TransformerEncoderModel(ConfigMixin, Module):
    """The classic PyTorch tutorial's LM: embedding * sqrt(d_model), PositionalEncoding,
    ``nlayers`` post-LN encoder layers, linear to the vocabulary.

    ``forward(src (B, L), src_mask=None) -> logits (B, L, ntoken)``.  Unlike
    the tutorial (sequence-first) src is batch-first; ``src_mask`` is
    PyTorch's: pass ``generate_square_subsequent_mask(L)`` (0 on and below
    the diagonal, -inf above) for causal language modeling.  The layers are
    PyTorch's ``TransformerEncoderLayer`` (post-LN, ReLU) in a
    ``TransformerEncoder``, so the tutorial's ``state_dict`` loads as it is.
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
        layer = TransformerEncoderLayer(d_model, nhead, d_hid, dropout, batch_first=True)
        self.transformer_encoder = TransformerEncoder(layer, nlayers)
        self.embedding = Embedding(ntoken, d_model)
        self.linear = Linear(d_model, ntoken)
        self.init_weights()

    def init_weights(self) -> None:
        init.uniform_(self.embedding.weight, -0.1, 0.1)
        init.zeros_(self.linear.bias)
        init.uniform_(self.linear.weight, -0.1, 0.1)

    @staticmethod
    def generate_square_subsequent_mask(sz: int, device=None, dtype=None) -> Tensor:
        """The causal mask, (sz, sz) float: 0 on and below the diagonal, -inf above (as PyTorch's)."""
        return square_subsequent_mask(sz, device=device, dtype=dtype)

    def forward(self, src, src_mask=None) -> Tensor:
        xp = get_array_module(self.embedding.weight.data)
        src = token_ids("TransformerEncoderModel", "src", src, xp)
        x = self.pos_encoder(self.embedding(src) * math.sqrt(self.d_model))
        return self.linear(self.transformer_encoder(x, src_mask))
