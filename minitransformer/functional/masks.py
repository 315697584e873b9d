"""Attention masks.  Convention, used everywhere in the project:

A mask is a boolean array broadcastable to (..., L_q, L_k), **True where
attention is allowed** (query i may look at key j), False where it is not.
"""
from __future__ import annotations

from ..autograd import Tensor
from ..backend import array_module, get_array_module, get_backend


def causal_mask(length: int, backend: str | None = None, *, offset: int = 0) -> Tensor:
    """The 'subsequent' mask, shape (L, L): position i may attend to j <= i only.

    ``offset`` is for incremental decoding, where the keys of ``offset``
    earlier positions are cached: the mask of the L new queries is then
    (L, offset + L), and new query i, at absolute position offset + i, may
    attend to keys j <= offset + i.  ``backend`` (default: the current one) is
    where the mask is made; a model passes its parameters' backend.
    """
    xp = array_module(backend or get_backend())
    return Tensor(xp.tril(xp.ones((length, offset + length), dtype=bool), k=offset))


def padding_mask(ids, pad_id: int = 0) -> Tensor:
    """Keys that are real tokens, shape (B, 1, 1, L_k) for ids of shape (B, L_k).

    Broadcasts over heads and queries against (B, H, L_q, L_k) scores.
    """
    data = ids.data if isinstance(ids, Tensor) else ids
    xp = get_array_module(data)
    data = xp.asarray(data)
    if data.ndim != 2:
        raise ValueError(f"padding_mask: ids must have shape (batch, length), got {tuple(data.shape)}")
    return Tensor((data != pad_id)[:, None, None, :])
