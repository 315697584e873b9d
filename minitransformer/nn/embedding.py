"""Token embeddings and the two ways to tell the model where each token is.

A Transformer's attention is permutation-invariant: without position
information "dog bites man" and "man bites dog" look alike.  The paper adds
to each token's embedding a vector that depends on its position only:

* ``PositionalEncoding``: fixed sinusoids (Vaswani et al. 2017, section 3.5)

      PE[pos, 2i]   = sin(pos / 10000^(2i / d_model))
      PE[pos, 2i+1] = cos(pos / 10000^(2i / d_model))

  Each pair of features is a rotation at its own frequency, so PE[pos + k]
  is a fixed linear function of PE[pos]: relative offsets are easy to read.
* ``LearnedPositionalEmbedding``: one trained vector per position (BERT, GPT).
"""
from __future__ import annotations

import math

import numpy

from .. import functional as F
from ..autograd import Tensor
from ..backend import current_xp, get_array_module, get_default_dtype
from . import init
from .dropout import Dropout
from .linear import _check_positive_int, empty_parameter
from .module import Module
from .parameter import Parameter


class Embedding(Module):
    """A lookup table: ids of any integer shape S -> vectors of shape S + (embedding_dim,).

    ``weight`` (num_embeddings, embedding_dim) starts as N(0, 1), as in PyTorch,
    with the ``padding_idx`` row (if any) zeroed; that row then receives no
    gradient.  (The Transformer re-draws its tables with Xavier uniform and
    zeroes the padding row again.)  ``scale=True`` multiplies the output by sqrt(embedding_dim), as
    the Transformer does (section 3.4) so that embeddings are not drowned by
    the positional encoding.  Float ids raise TypeError, ids out of range IndexError.
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 scale: bool = False, *, _weight=None, _freeze: bool = False):
        super().__init__()
        _check_positive_int("Embedding", "num_embeddings", num_embeddings)
        _check_positive_int("Embedding", "embedding_dim", embedding_dim)
        if padding_idx is not None:
            if isinstance(padding_idx, bool) or not isinstance(padding_idx, int) or not (
                -num_embeddings <= padding_idx < num_embeddings
            ):
                raise ValueError(
                    f"Embedding: padding_idx {padding_idx!r} is out of range for {num_embeddings} embeddings"
                )
            padding_idx %= num_embeddings
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.padding_idx, self.scale = padding_idx, bool(scale)
        self._scale = math.sqrt(embedding_dim)  # a Python float: never upcasts float32
        if _weight is None:
            self.weight = empty_parameter(num_embeddings, embedding_dim)
            self.reset_parameters()
        else:                                   # from_pretrained's table, as given (no draw)
            if tuple(_weight.shape) != (num_embeddings, embedding_dim):
                raise ValueError(f"Embedding: _weight of shape {tuple(_weight.shape)} does not match "
                                 f"({num_embeddings}, {embedding_dim})")
            self.weight = Parameter(_weight, requires_grad=not _freeze)

    @classmethod
    def from_pretrained(cls, embeddings, freeze: bool = True, padding_idx: int | None = None,
                        max_norm=None, norm_type: float = 2.0, scale_grad_by_freq: bool = False,
                        sparse: bool = False) -> "Embedding":
        """An Embedding whose table is ``embeddings`` (V, D), e.g. word vectors trained elsewhere.

        ``freeze=True`` (the default) keeps the table fixed (``requires_grad``
        False); ``freeze=False`` trains it.  The ``padding_idx`` row is kept as
        given (not zeroed) and receives no gradient.  Unlike PyTorch, the table
        is copied, not shared with ``embeddings`` (a Parameter owns its data).
        """
        if max_norm is not None or scale_grad_by_freq or sparse:
            raise ValueError("Embedding.from_pretrained: max_norm, scale_grad_by_freq and sparse are not supported")
        if getattr(embeddings, "ndim", None) != 2:
            raise ValueError(f"Embedding.from_pretrained: embeddings must be 2-dimensional (V, D), "
                             f"got shape {tuple(getattr(embeddings, 'shape', ()))}")
        rows, cols = embeddings.shape
        return cls(rows, cols, padding_idx=padding_idx, _weight=embeddings, _freeze=freeze)

    def reset_parameters(self) -> None:
        init.normal_(self.weight)
        self.zero_padding_row()

    def zero_padding_row(self) -> None:
        """Zero the padding row (after a re-initialization such as Xavier's)."""
        if self.padding_idx is not None:
            self.weight.data[self.padding_idx] = 0

    def forward(self, ids) -> Tensor:
        out = F.embedding(ids, self.weight, self.padding_idx)
        return out * self._scale if self.scale else out

    def extra_repr(self) -> str:
        extra = f", padding_idx={self.padding_idx}" if self.padding_idx is not None else ""
        return f"{self.num_embeddings}, {self.embedding_dim}{extra}" + (", scale=True" if self.scale else "")


def _check_positions(cls: str, x: Tensor, d_model: int, offset: int, max_len: int) -> int:
    if x.ndim < 2 or x.shape[-1] != d_model:
        raise ValueError(f"{cls}: expected input of shape (batch, length, {d_model}), got {x.shape}")
    if isinstance(offset, bool) or not isinstance(offset, (int, numpy.integer)) or offset < 0:
        raise ValueError(f"{cls}: offset must be a non-negative integer, got {offset!r}")
    length = x.shape[-2]
    if offset + length > max_len:
        raise ValueError(
            f"{cls}: positions {offset}..{offset + length - 1} (sequence length L={length}, offset={offset}) "
            f"exceed max_len={max_len}; build the model with a larger max_len"
        )
    return length


def sinusoidal_table(max_len: int, d_model: int, xp=numpy, dtype=None):
    """The (max_len, d_model) table of sinusoids, computed in float64 and cast to ``dtype``."""
    position = numpy.arange(max_len, dtype=numpy.float64)[:, None]
    # 1 / 10000^(2i/d) = exp(-2i * ln(10000) / d), for i = 0 .. ceil(d/2) - 1
    inv_freq = numpy.exp(numpy.arange(0, d_model, 2, dtype=numpy.float64) * (-math.log(10000.0) / d_model))
    angles = position * inv_freq                      # (max_len, ceil(d/2))
    table = numpy.zeros((max_len, d_model))
    table[:, 0::2] = numpy.sin(angles)
    table[:, 1::2] = numpy.cos(angles[:, : d_model // 2])  # an odd d_model has one cos fewer
    return xp.asarray(table.astype(dtype or get_default_dtype()))


class PositionalEncoding(Module):
    """x + PE[offset : offset + L], then dropout; x is batch-first (B, L, d_model).

    The table is precomputed up to ``max_len`` in the default float dtype and
    kept as a non-persistent buffer ``pe`` (recomputed by ``__init__``, so not
    in ``state_dict``).  ``offset`` is the position of x's first token: during
    incremental decoding, step t passes offset=t.  Past max_len: ValueError.
    """

    def __init__(self, d_model: int, dropout: float = 0.0, max_len: int = 5000):
        super().__init__()
        _check_positive_int("PositionalEncoding", "d_model", d_model)
        _check_positive_int("PositionalEncoding", "max_len", max_len)
        self.d_model, self.max_len = d_model, max_len
        self.dropout = Dropout(dropout)
        self.register_buffer("pe", sinusoidal_table(max_len, d_model, current_xp()), persistent=False)

    def forward(self, x: Tensor, offset: int = 0) -> Tensor:
        length = _check_positions("PositionalEncoding", x, self.d_model, offset, self.max_len)
        pe = self.pe.data[offset: offset + length]
        if pe.dtype != x.dtype:  # e.g. a float64 gradient check of a model built in float32
            pe = pe.astype(x.dtype)
        xp = get_array_module(x.data)
        if get_array_module(pe) is not xp:
            pe = xp.asarray(pe)
        return self.dropout(x + Tensor(pe))

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, max_len={self.max_len}"


class LearnedPositionalEmbedding(Module):
    """x + P[offset : offset + L], then dropout, with P a trained (max_len, d_model) table.

    P starts as N(0, 0.02^2) (as BERT and GPT-2 do; the Transformer's Xavier
    re-initialization replaces it when used there).
    """

    def __init__(self, max_len: int, d_model: int, dropout: float = 0.0):
        super().__init__()
        _check_positive_int("LearnedPositionalEmbedding", "max_len", max_len)
        _check_positive_int("LearnedPositionalEmbedding", "d_model", d_model)
        self.max_len, self.d_model = max_len, d_model
        self.weight = init.normal_(empty_parameter(max_len, d_model), 0.0, 0.02)
        self.dropout = Dropout(dropout)

    def forward(self, x: Tensor, offset: int = 0) -> Tensor:
        length = _check_positions("LearnedPositionalEmbedding", x, self.d_model, offset, self.max_len)
        return self.dropout(x + self.weight[offset: offset + length])

    def extra_repr(self) -> str:
        return f"max_len={self.max_len}, d_model={self.d_model}"
