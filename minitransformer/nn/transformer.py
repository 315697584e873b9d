"""PyTorch's nn.TransformerEncoder, nn.TransformerDecoder and nn.Transformer.

    src (S, B, E) -> TransformerEncoder: N encoder layers [+ norm] -> memory (S, B, E)
    tgt (T, B, E) -> TransformerDecoder: N decoder layers over memory [+ norm] -> (T, B, E)

(batch first, (B, S, E), with ``batch_first=True``).  A stack holds
``num_layers`` deep copies of the layer it is given, in a ModuleList
``layers``, and an optional final LayerNorm ``norm``.  ``nn.Transformer`` is
the encoder-decoder of the paper without embeddings or output projection: it
maps embedded sequences to decoder states.  It always ends each stack with a
LayerNorm, and re-draws every parameter with more than one dimension from
Xavier uniform, as PyTorch's does.  Masks are PyTorch's (``attention_masks.py``);
``Transformer.generate_square_subsequent_mask(sz)`` is the causal float mask.
The engine's own models (``TransformerTranslator``, ``TransformerLM``) are
built from these classes.
"""
from __future__ import annotations

import copy

from ..autograd import Tensor
from . import init
from .attention_masks import square_subsequent_mask
from .containers import ModuleList
from .linear import _check_positive_int
from .module import Module
from .transformer_layers import TransformerDecoderLayer, TransformerEncoderLayer, layer_norm


def clones(layer: Module, count: int) -> ModuleList:
    """``count`` independent deep copies of ``layer`` (PyTorch's ``_get_clones``)."""
    return ModuleList(copy.deepcopy(layer) for _ in range(count))


def _check_stack(cls: str, layer, num_layers) -> None:
    if not isinstance(layer, Module):
        raise TypeError(f"{cls}: the layer to stack must be a Module, got {type(layer).__name__}")
    _check_positive_int(cls, "num_layers", num_layers)


class TransformerEncoder(Module):
    """``num_layers`` copies of an encoder layer, then ``norm`` (if given), as PyTorch's.

    ``TransformerEncoder(encoder_layer, num_layers, norm=None, enable_nested_tensor=True)``
    (nested tensors are a PyTorch speed-up for padded batches: the argument
    is accepted and has no effect here).

    ``forward(src, mask=None, src_key_padding_mask=None, is_causal=None)``: each
    layer gets the same masks.  The keyword-only ``cache`` is a list with one
    dict per layer, for incremental decoding (see TransformerLM).
    """

    def __init__(self, encoder_layer: Module, num_layers: int, norm: Module | None = None,
                 enable_nested_tensor: bool = True, mask_check: bool = True):
        super().__init__()
        _check_stack("TransformerEncoder", encoder_layer, num_layers)
        self.layers = clones(encoder_layer, num_layers)
        self.num_layers = num_layers
        self.norm = norm
        self.enable_nested_tensor, self.mask_check = enable_nested_tensor, mask_check

    def forward(self, src: Tensor, mask=None, src_key_padding_mask=None, is_causal: bool | None = None,
                *, cache: list | None = None) -> Tensor:
        x = src
        for i, layer in enumerate(self.layers):
            x = layer(x, src_mask=mask, src_key_padding_mask=src_key_padding_mask, is_causal=bool(is_causal),
                      cache=None if cache is None else cache[i])
        return self.norm(x) if self.norm is not None else x

    def extra_repr(self) -> str:
        return f"num_layers={self.num_layers}"


class TransformerDecoder(Module):
    """``num_layers`` copies of a decoder layer, then ``norm`` (if given), as PyTorch's.

    ``forward(tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
    memory_key_padding_mask=None, tgt_is_causal=None, memory_is_causal=False)``; the
    keyword-only ``cache`` is a list with one dict per layer (incremental decoding).
    """

    def __init__(self, decoder_layer: Module, num_layers: int, norm: Module | None = None):
        super().__init__()
        _check_stack("TransformerDecoder", decoder_layer, num_layers)
        self.layers = clones(decoder_layer, num_layers)
        self.num_layers = num_layers
        self.norm = norm

    def forward(self, tgt: Tensor, memory: Tensor, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal: bool | None = None, memory_is_causal: bool = False,
                *, cache: list | None = None) -> Tensor:
        x = tgt
        for i, layer in enumerate(self.layers):
            x = layer(x, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                      tgt_key_padding_mask=tgt_key_padding_mask, memory_key_padding_mask=memory_key_padding_mask,
                      tgt_is_causal=bool(tgt_is_causal), memory_is_causal=memory_is_causal,
                      cache=None if cache is None else cache[i])
        return self.norm(x) if self.norm is not None else x

    def extra_repr(self) -> str:
        return f"num_layers={self.num_layers}"


class Transformer(Module):
    """PyTorch's ``nn.Transformer``: an encoder and a decoder stack, each ending with a LayerNorm.

    ``Transformer(d_model=512, nhead=8, num_encoder_layers=6, num_decoder_layers=6,
    dim_feedforward=2048, dropout=0.1, activation="relu", custom_encoder=None,
    custom_decoder=None, layer_norm_eps=1e-5, batch_first=False, norm_first=False, bias=True)``

    ``forward(src, tgt, src_mask=None, tgt_mask=None, memory_mask=None,
    src_key_padding_mask=None, tgt_key_padding_mask=None, memory_key_padding_mask=None,
    src_is_causal=None, tgt_is_causal=None, memory_is_causal=False)`` -> (T, B, E)
    (or (B, T, E) with ``batch_first``): the decoder's states for the embedded
    target ``tgt`` over the encoded source ``src``.  For a translator, the
    embeddings, positions and output projection come around it (see
    ``TransformerTranslator``, which builds its stacks from the same layers).
    """

    def __init__(self, d_model: int = 512, nhead: int = 8, num_encoder_layers: int = 6,
                 num_decoder_layers: int = 6, dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation="relu", custom_encoder: Module | None = None, custom_decoder: Module | None = None,
                 layer_norm_eps: float = 1e-5, batch_first: bool = False, norm_first: bool = False,
                 bias: bool = True):
        super().__init__()
        layer_args = (d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps, batch_first,
                      norm_first, bias)
        if custom_encoder is not None:
            self.encoder = custom_encoder
        else:
            self.encoder = TransformerEncoder(TransformerEncoderLayer(*layer_args), num_encoder_layers,
                                              layer_norm(d_model, layer_norm_eps, bias))
        if custom_decoder is not None:
            self.decoder = custom_decoder
        else:
            self.decoder = TransformerDecoder(TransformerDecoderLayer(*layer_args), num_decoder_layers,
                                              layer_norm(d_model, layer_norm_eps, bias))
        self._reset_parameters()
        self.d_model, self.nhead, self.batch_first = d_model, nhead, bool(batch_first)

    def _reset_parameters(self) -> None:
        """Xavier uniform for every parameter with more than one dimension, as PyTorch's."""
        for p in self.parameters():
            if p.ndim > 1:
                init.xavier_uniform_(p)

    def forward(self, src: Tensor, tgt: Tensor, src_mask=None, tgt_mask=None, memory_mask=None,
                src_key_padding_mask=None, tgt_key_padding_mask=None, memory_key_padding_mask=None,
                src_is_causal: bool | None = None, tgt_is_causal: bool | None = None,
                memory_is_causal: bool = False) -> Tensor:
        for name, x in (("src", src), ("tgt", tgt)):
            if not isinstance(x, Tensor):
                raise TypeError(f"Transformer: {name} must be a Tensor of embedded tokens, got {type(x).__name__}")
        batch_axis = 0 if self.batch_first else 1
        if src.ndim == 3 and tgt.ndim == 3 and src.shape[batch_axis] != tgt.shape[batch_axis]:
            raise ValueError(
                f"Transformer: src {src.shape} and tgt {tgt.shape} must have the same batch size "
                f"(axis {batch_axis}, batch_first={self.batch_first})"
            )
        if src.shape[-1] != self.d_model or tgt.shape[-1] != self.d_model:
            raise ValueError(
                f"Transformer: src {src.shape} and tgt {tgt.shape} must have d_model={self.d_model} features"
            )
        memory = self.encoder(src, mask=src_mask, src_key_padding_mask=src_key_padding_mask,
                              is_causal=src_is_causal)
        return self.decoder(tgt, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                            tgt_key_padding_mask=tgt_key_padding_mask,
                            memory_key_padding_mask=memory_key_padding_mask,
                            tgt_is_causal=tgt_is_causal, memory_is_causal=memory_is_causal)

    @staticmethod
    def generate_square_subsequent_mask(sz: int, device=None, dtype=None) -> Tensor:
        """The causal mask, (sz, sz) float: 0 on and below the diagonal, -inf above (as PyTorch's)."""
        return square_subsequent_mask(sz, device=device, dtype=dtype)

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, nhead={self.nhead}, batch_first={self.batch_first}"
