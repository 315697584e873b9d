"""The translator of "Attention Is All You Need" (Vaswani et al. 2017): ids in, logits out.

    src ids (B, S) -> embed * sqrt(d) + PE -> TransformerEncoder -> memory (B, S, d)
    tgt ids (B, T) -> embed * sqrt(d) + PE -> TransformerDecoder(memory) -> linear -> logits (B, T, V)

The encoder and decoder are PyTorch's classes (``transformer.py``), batch
first.  Masks are made here from the ids, in PyTorch's terms: the source
padding (B, S), True at padded source tokens, hides them from every attention
over the source (``src_key_padding_mask`` and ``memory_key_padding_mask``);
the target padding (B, T) does the same in the decoder's self-attention, and
``tgt_is_causal=True`` stops position t from looking at later positions
(which it must predict).

Initialization: every parameter with more than one dimension (projections,
feed-forward weights, the embedding tables and the output projection) is
re-drawn from Xavier uniform, as in the Annotated Transformer's
``make_model``, each d x d projection on its own (``xavier_init_``; PyTorch's
nn.Transformer does the same, but only inside its encoder and decoder, and
over the packed q, k, v matrix as one); biases keep their layer defaults,
LayerNorms start at (1, 0), and the embedding's padding row is zeroed again.
"""
from __future__ import annotations

from .. import functional as F
from ..autograd import Tensor
from ..backend import get_array_module
from . import init
from .attention import reorder_cache
from .checkpointable import ConfigMixin
from .embedding import Embedding, PositionalEncoding
from .linear import Linear, _check_positive_int
from .module import Module
from .normalization import LayerNorm
from .transformer import TransformerDecoder, TransformerEncoder
from .transformer_layers import TransformerDecoderLayer, TransformerEncoderLayer


def token_ids(model: str, name: str, ids, xp):
    """``ids`` as a backend integer array of shape (B, L) with B, L > 0, or a clear error.

    Every model calls this once per id argument, where the ids come in, and
    passes the array it returns on: to the masks and to its embeddings, whose
    lookup checks that every id is within the table.
    """
    data = ids.data if isinstance(ids, Tensor) else ids
    if get_array_module(data) is not xp or not hasattr(data, "dtype"):
        data = xp.asarray(data)
    if data.dtype.kind not in "iu":
        raise TypeError(
            f"{model}: {name} must hold integer token ids, got dtype {data.dtype} (shape {tuple(data.shape)}); "
            "convert them with .astype('int64')"
        )
    if data.ndim != 2 or 0 in data.shape:
        raise ValueError(f"{model}: {name} must have shape (batch, length) with batch, length > 0, got {tuple(data.shape)}")
    return data


def check_dropout(model: str, p) -> None:
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p < 1.0:
        raise ValueError(f"{model}: dropout must be a probability in [0, 1), got {p!r}")


def xavier_init_(model: Module) -> None:
    """Xavier-uniform every >1-D parameter, then zero the embeddings' padding rows.

    As in the Annotated Transformer, each d x d projection is one matrix: the q,
    k and v blocks of a packed ``in_proj_weight`` (3 d, d) are drawn one by one,
    with the bound of a d x d matrix, as three separate Linears would be.
    (PyTorch's nn.Transformer draws the packed matrix as one, with a bound
    smaller by sqrt(2).)
    """
    for name, p in model.named_parameters():
        if name.endswith("in_proj_weight"):
            d = p.shape[1]
            for start in range(0, p.shape[0], d):
                init.xavier_uniform_(Tensor(p.data[start:start + d]))   # a view: fills the block in place
        elif p.ndim > 1:
            init.xavier_uniform_(p)
    for m in model.modules():
        if isinstance(m, Embedding):
            m.zero_padding_row()


def padding_of(ids, pad_id: int | None):
    """The key padding mask (B, L) of checked ids, True at ``pad_id`` (PyTorch's convention); None without one."""
    return None if pad_id is None else Tensor(ids == pad_id)


class TransformerTranslator(ConfigMixin, Module):
    """Encoder-decoder translator; ``forward(src_ids (B, S), tgt_ids (B, T)) -> logits (B, T, tgt_vocab)``.

    ``TransformerTranslator(src_vocab_size, tgt_vocab_size, d_model=512, nhead=8,
    num_encoder_layers=6, num_decoder_layers=6, dim_feedforward=2048, dropout=0.1,
    max_len=5000, norm_first=False, share_embeddings=False, tie_output=False,
    pad_id=0, activation="relu")``: the arguments of PyTorch's nn.Transformer,
    and those of the ids around it.  ``share_embeddings`` uses one table for
    source and target (equal vocab sizes required); ``tie_output`` computes
    logits = h E^T with the target table E (``F.linear(h, E)``, so both uses
    add their gradients into the one Parameter) instead of a separate
    ``output_proj``.  ``pad_id`` (or None) is the padding token: masked in
    attention, zero embedding row.  Pre-LN stacks (``norm_first``) end with a
    LayerNorm (``encoder.norm``, ``decoder.norm``); post-LN ones have none.

    For generation: ``memory = encode(src_ids)``, then either ``decode(tgt_ids,
    memory, src_ids)`` on the whole prefix, or, O(length) in all,
    ``cache = init_cache()`` and ``decode_step(new_ids, memory, cache, src_ids)``
    for each step (``reorder_cache(cache, indices)`` for beam search).
    """

    def __init__(self, src_vocab_size: int, tgt_vocab_size: int, d_model: int = 512, nhead: int = 8,
                 num_encoder_layers: int = 6, num_decoder_layers: int = 6, dim_feedforward: int = 2048,
                 dropout: float = 0.1, max_len: int = 5000, norm_first: bool = False,
                 share_embeddings: bool = False, tie_output: bool = False, pad_id: int | None = 0,
                 activation="relu"):
        super().__init__()
        name = "TransformerTranslator"
        self.config = dict(
            src_vocab_size=src_vocab_size, tgt_vocab_size=tgt_vocab_size, d_model=d_model,
            nhead=nhead, num_encoder_layers=num_encoder_layers, num_decoder_layers=num_decoder_layers,
            dim_feedforward=dim_feedforward, dropout=dropout, max_len=max_len, norm_first=norm_first,
            share_embeddings=share_embeddings, tie_output=tie_output, pad_id=pad_id, activation=activation,
        )
        for arg in ("src_vocab_size", "tgt_vocab_size", "d_model", "nhead", "num_encoder_layers",
                    "num_decoder_layers", "dim_feedforward", "max_len"):
            _check_positive_int(name, arg, self.config[arg])
        check_dropout(name, dropout)
        if d_model % nhead:
            raise ValueError(f"{name}: d_model={d_model} is not divisible by nhead={nhead} "
                             "(each head gets d_model / nhead features)")
        if share_embeddings and src_vocab_size != tgt_vocab_size:
            raise ValueError(
                f"{name}: share_embeddings needs equal vocabularies, got src_vocab_size={src_vocab_size} "
                f"and tgt_vocab_size={tgt_vocab_size} (use a joint tokenizer)"
            )
        if pad_id is not None and (isinstance(pad_id, bool) or not isinstance(pad_id, int)
                                   or not 0 <= pad_id < min(src_vocab_size, tgt_vocab_size)):
            raise ValueError(f"{name}: pad_id must be None or an id in both vocabularies, got {pad_id!r}")
        self.d_model, self.pad_id = d_model, pad_id
        self.src_embed = Embedding(src_vocab_size, d_model, padding_idx=pad_id, scale=True)
        self.tgt_embed = self.src_embed if share_embeddings else Embedding(
            tgt_vocab_size, d_model, padding_idx=pad_id, scale=True)
        self.pos_encoding = PositionalEncoding(d_model, dropout, max_len)
        layer = dict(dim_feedforward=dim_feedforward, dropout=dropout, activation=activation,
                     batch_first=True, norm_first=norm_first)
        self.encoder = TransformerEncoder(TransformerEncoderLayer(d_model, nhead, **layer), num_encoder_layers,
                                          LayerNorm(d_model) if norm_first else None)
        self.decoder = TransformerDecoder(TransformerDecoderLayer(d_model, nhead, **layer), num_decoder_layers,
                                          LayerNorm(d_model) if norm_first else None)
        self.output_proj = None if tie_output else Linear(d_model, tgt_vocab_size)
        xavier_init_(self)

    # ------------------------------------------------------------ ids and masks
    # The public methods take ids as a list, an array or a Tensor and check
    # them once (``_ids``); the private ones (``_encode``, ``_decode``, ...)
    # take the checked array and pass it on as it is.
    def _ids(self, name: str, ids):
        return token_ids("TransformerTranslator", name, ids, get_array_module(self.src_embed.weight.data))

    def make_src_key_padding_mask(self, src_ids):
        """(B, S) bool Tensor, True at padded source tokens; None when pad_id is None."""
        return padding_of(self._ids("src_ids", src_ids), self.pad_id)

    def make_tgt_key_padding_mask(self, tgt_ids):
        """(B, T) bool Tensor, True at padded target tokens; None when pad_id is None."""
        return padding_of(self._ids("tgt_ids", tgt_ids), self.pad_id)

    # ------------------------------------------------------------ the two halves
    def encode(self, src_ids, src_key_padding_mask=None) -> Tensor:
        """memory (B, S, d_model) of the source ids (B, S)."""
        return self._encode(self._ids("src_ids", src_ids), src_key_padding_mask)

    def _encode(self, src, src_key_padding_mask) -> Tensor:
        if src_key_padding_mask is None:
            src_key_padding_mask = padding_of(src, self.pad_id)
        return self.encoder(self.pos_encoding(self.src_embed(src)), src_key_padding_mask=src_key_padding_mask)

    def _memory_padding(self, memory, src_ids, memory_key_padding_mask):
        if not isinstance(memory, Tensor) or memory.ndim != 3 or memory.shape[-1] != self.d_model:
            raise ValueError(f"TransformerTranslator: memory must be a (B, S, {self.d_model}) Tensor, "
                             f"got {getattr(memory, 'shape', memory)}")
        if memory_key_padding_mask is None and src_ids is not None:
            memory_key_padding_mask = self.make_src_key_padding_mask(src_ids)
        return memory_key_padding_mask

    def generator(self, h: Tensor) -> Tensor:
        """Decoder states (..., d_model) -> logits (..., tgt_vocab_size)."""
        if self.output_proj is None:
            return F.linear(h, self.tgt_embed.weight)  # tied: logits = h E^T
        return self.output_proj(h)

    def decode(self, tgt_ids, memory: Tensor, src_ids=None, memory_key_padding_mask=None) -> Tensor:
        """Logits (B, T, V) for every target position, attending to ``memory``.

        The source padding comes from ``src_ids`` or ``memory_key_padding_mask``
        (B, S) (True at padding); with neither, every source position is attended.
        """
        padding = self._memory_padding(memory, src_ids, memory_key_padding_mask)
        return self._decode(self._ids("tgt_ids", tgt_ids), memory, padding)

    def _decode(self, tgt, memory: Tensor, memory_key_padding_mask) -> Tensor:
        if memory.shape[0] != tgt.shape[0]:
            raise ValueError(f"TransformerTranslator: memory {memory.shape} and tgt_ids {tuple(tgt.shape)} "
                             "differ in batch size")
        h = self.decoder(self.pos_encoding(self.tgt_embed(tgt)), memory,
                         tgt_key_padding_mask=padding_of(tgt, self.pad_id),
                         memory_key_padding_mask=memory_key_padding_mask, tgt_is_causal=True)
        return self.generator(h)

    def forward(self, src_ids, tgt_ids) -> Tensor:
        src, tgt = self._ids("src_ids", src_ids), self._ids("tgt_ids", tgt_ids)
        if src.shape[0] != tgt.shape[0]:
            raise ValueError(
                f"TransformerTranslator: src_ids {tuple(src.shape)} and tgt_ids {tuple(tgt.shape)} "
                "differ in batch size"
            )
        src_padding = padding_of(src, self.pad_id)
        return self._decode(tgt, self._encode(src, src_padding), src_padding)

    # ------------------------------------------------------------ incremental decoding
    def init_cache(self) -> dict:
        """An empty decoding cache: the next position and one dict per decoder layer."""
        return {"offset": 0, "layers": [{} for _ in self.decoder.layers]}

    def decode_step(self, tgt_ids, memory: Tensor, cache: dict, src_ids=None,
                    memory_key_padding_mask=None) -> Tensor:
        """Logits (B, T_new, V) of the new target tokens ``tgt_ids`` (B, T_new), usually T_new = 1.

        Positions start at ``cache["offset"]``; the keys and values of earlier
        steps come from the cache, which this call extends in place.  The new
        tokens are taken to be real tokens (no target padding mask): a
        finished beam fed padding only changes its own, ignored, outputs.
        Equals ``decode`` on the whole prefix, at O(1) projections per step.
        """
        if not isinstance(cache, dict) or "layers" not in cache:
            raise TypeError("TransformerTranslator.decode_step: cache must come from model.init_cache()")
        tgt = self._ids("tgt_ids", tgt_ids)
        padding = self._memory_padding(memory, src_ids, memory_key_padding_mask)
        offset, length = cache["offset"], tgt.shape[1]
        x = self.pos_encoding(self.tgt_embed(tgt), offset=offset)
        # one new token may see every cached key: no causal mask needed
        h = self.decoder(x, memory, memory_key_padding_mask=padding, tgt_is_causal=length > 1,
                         cache=cache["layers"])
        cache["offset"] = offset + length
        return self.generator(h)

    @staticmethod
    def reorder_cache(cache: dict, indices, within_sources: bool = False) -> dict:
        """Keep batch rows ``indices`` of every cached key/value (beam search), in place.

        ``within_sources=True`` promises that every row moves only among rows of
        the same source sentence (hypotheses of one beam): their cross-attention
        keys and values, projected from that one source, are then identical, and
        only the self-attention caches need reordering.
        """
        if within_sources:
            for layer in cache["layers"]:
                if "self_attn" in layer:
                    reorder_cache(layer["self_attn"], indices)
            return cache
        return reorder_cache(cache, indices)

    def extra_repr(self) -> str:
        c = self.config
        return (f"d_model={c['d_model']}, nhead={c['nhead']}, layers={c['num_encoder_layers']}+"
                f"{c['num_decoder_layers']}, norm_first={c['norm_first']}")
