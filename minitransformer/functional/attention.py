"""Scaled dot-product attention (Vaswani et al. 2017, eq. 1):

    Attention(Q, K, V) = softmax(Q K^T / sqrt(d_k)) V

over any leading batch/head axes: q (..., L_q, d_k), k (..., L_k, d_k),
v (..., L_k, d_v) -> (..., L_q, d_v).  ``mask`` follows the project's
convention: boolean, broadcastable to (..., L_q, L_k), True where attention
is allowed.  A query whose keys are all masked gets zero weights, hence a
zero output and zero gradients, never NaN.
"""
from __future__ import annotations

import math

from ..autograd import Tensor
from ..backend import get_array_module
from .activation import Softmax
from .dropout import dropout


def _mask_array(mask, scores_shape, xp):
    data = mask.data if isinstance(mask, Tensor) else xp.asarray(mask)
    if data.dtype != bool:
        raise TypeError(
            f"scaled_dot_product_attention: mask must be boolean (True = may attend), got dtype {data.dtype}"
        )
    try:
        xp.broadcast_shapes(data.shape, scores_shape)
    except ValueError:
        raise ValueError(
            f"scaled_dot_product_attention: mask of shape {tuple(data.shape)} does not broadcast "
            f"to the attention scores' shape {tuple(scores_shape)} (..., L_q, L_k)"
        ) from None
    if xp.broadcast_shapes(data.shape, scores_shape) != tuple(scores_shape):
        raise ValueError(
            f"scaled_dot_product_attention: mask of shape {tuple(data.shape)} would enlarge the "
            f"scores' shape {tuple(scores_shape)}"
        )
    return Tensor(data)


def masked_softmax(scores: Tensor, mask=None) -> Tensor:
    """Softmax over the last axis, with masked (False) places given zero weight
    (a row with every place masked gets zero weights, not NaN)."""
    xp = get_array_module(scores.data)
    m = None if mask is None else _mask_array(mask, scores.shape, xp)
    return Softmax.apply(scores, axis=-1, mask=None if m is None else m.data)


def scaled_dot_product_attention(q: Tensor, k: Tensor, v: Tensor, mask=None, dropout_p: float = 0.0,
                                 return_weights: bool = False, training: bool = True):
    """softmax(q k^T / sqrt(d_k)) v; returns (output, weights) if ``return_weights``."""
    if q.ndim < 2 or k.ndim < 2 or v.ndim < 2:
        raise ValueError(f"scaled_dot_product_attention: q, k, v need (..., L, d) shapes, got {q.shape}, {k.shape}, {v.shape}")
    if q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2]:
        raise ValueError(
            f"scaled_dot_product_attention: q {q.shape}, k {k.shape}, v {v.shape} do not fit: "
            "q and k need the same d_k, k and v the same L_k"
        )
    # scaling q (L_q x d_k values) is cheaper than scaling the L_q x L_k scores
    scores = (q * (1.0 / math.sqrt(q.shape[-1]))) @ k.swapaxes(-1, -2)
    weights = masked_softmax(scores, mask)
    attended = dropout(weights, dropout_p, training) if dropout_p else weights
    out = attended @ v
    return (out, weights) if return_weights else out


def scaled_dot_product_attention_composed(q: Tensor, k: Tensor, v: Tensor, mask=None):
    """The same attention from primitive ops, with masked scores filled by a large negative
    number and fully masked rows zeroed explicitly (for the tutorial)."""
    from ..ops import where  # noqa: PLC0415

    xp = get_array_module(q.data)
    scores = (q @ k.swapaxes(-1, -2)) / math.sqrt(q.shape[-1])
    if mask is None:
        e = (scores - scores.max(axis=-1, keepdims=True)).exp()
        return (e / e.sum(axis=-1, keepdims=True)) @ v
    m = _mask_array(mask, scores.shape, xp)
    filled = scores.masked_fill(Tensor(~m.data), -1e9)
    e = (filled - filled.max(axis=-1, keepdims=True)).exp()
    e = where(Tensor(xp.broadcast_to(m.data, scores.shape)), e, 0.0)
    total = e.sum(axis=-1, keepdims=True)
    weights = e / where(total == 0, 1.0, total)
    return weights @ v
