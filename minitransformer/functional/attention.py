"""Scaled dot-product attention (Vaswani et al. 2017, eq. 1):

    Attention(Q, K, V) = softmax(Q K^T / sqrt(d_k) + M) V

over any leading batch/head axes: query (..., L, E), key (..., S, E),
value (..., S, E_v) -> (..., L, E_v).  ``F.scaled_dot_product_attention``
takes PyTorch's arguments and mask convention:

* ``attn_mask`` boolean, broadcastable to (..., L, S): **True where the
  query takes part in attention with the key** (the project's convention
  too, see ``masks.py``); a float ``attn_mask`` is **added** to the scores
  (0 keeps a place, -inf removes it; any other value is a bias, such as
  ALiBi's);
* ``is_causal=True``: query i attends to keys j <= i (the lower triangle of
  an L x S matrix, from its top-left corner), and no ``attn_mask`` is given;
* ``scale``: the factor of the scores, 1/sqrt(E) by default.

A query whose keys are all masked gets zero weights, hence a zero output
and zero gradients, never NaN (PyTorch 2.13 gives zeros too; PyTorch
before 2.5 gave NaN there).
"""
from __future__ import annotations

import math

import numpy

from ..autograd import Tensor
from ..backend import get_array_module
from .activation import Softmax
from .dropout import dropout

NAME = "scaled_dot_product_attention"


def _check_broadcast(data, scores_shape, xp, what: str) -> None:
    try:
        shape = xp.broadcast_shapes(tuple(data.shape), tuple(scores_shape))
    except ValueError:
        raise ValueError(
            f"{NAME}: {what} of shape {tuple(data.shape)} does not broadcast "
            f"to the attention scores' shape {tuple(scores_shape)} (..., L, S)"
        ) from None
    if shape != tuple(scores_shape):
        raise ValueError(
            f"{NAME}: {what} of shape {tuple(data.shape)} would enlarge the scores' shape {tuple(scores_shape)}"
        )


def _mask_array(mask, scores_shape, xp):
    """A boolean mask (True = may attend) as a Tensor, checked against the scores' shape."""
    data = mask.data if isinstance(mask, Tensor) else xp.asarray(mask)
    if data.dtype != bool:
        raise TypeError(f"{NAME}: mask must be boolean (True = may attend), got dtype {data.dtype}")
    _check_broadcast(data, scores_shape, xp, "mask")
    return Tensor(data)


def _float_mask(attn_mask, scores: Tensor, xp) -> Tensor:
    """A float ``attn_mask`` as a Tensor of the scores' dtype, to be added to them
    (a Tensor that requires grad keeps its graph: a learned bias gets its gradient)."""
    mask = attn_mask if isinstance(attn_mask, Tensor) else Tensor(xp.asarray(attn_mask))
    _check_broadcast(mask.data, scores.shape, xp, "attn_mask")
    if mask.dtype != scores.dtype:
        if mask.requires_grad:
            raise TypeError(
                f"{NAME}: attn_mask of dtype {mask.dtype} requires grad and the query has dtype "
                f"{scores.dtype}; give the mask the query's dtype"
            )
        mask = Tensor(mask.data.astype(scores.dtype))
    return mask


def masked_softmax(scores: Tensor, mask=None) -> Tensor:
    """Softmax over the last axis, with masked (False) places given zero weight
    (a row with every place masked gets zero weights, not NaN)."""
    xp = get_array_module(scores.data)
    m = None if mask is None else _mask_array(mask, scores.shape, xp)
    return Softmax.apply(scores, axis=-1, mask=None if m is None else m.data)


def _repeat_heads(x: Tensor, times: int) -> Tensor:
    """(..., H, S, E) -> (..., H * times, S, E), each head repeated ``times`` times in a row
    (PyTorch's ``repeat_interleave(times, dim=-3)``), as a broadcast: its gradient sums the copies."""
    *lead, heads, length, dim = x.shape
    wide = x.reshape(*lead, heads, 1, length, dim).broadcast_to((*lead, heads, times, length, dim))
    return wide.reshape(*lead, heads * times, length, dim)


def scaled_dot_product_attention(query: Tensor, key: Tensor, value: Tensor, attn_mask=None,
                                 dropout_p: float = 0.0, is_causal: bool = False, *, scale: float | None = None,
                                 enable_gqa: bool = False, mask=None, return_weights: bool = False,
                                 training: bool = True):
    """softmax(query key^T * scale + mask) value, with PyTorch's arguments (see the module's docstring).

    Dropout (probability ``dropout_p``) applies to the attention weights, as
    in PyTorch, where the caller passes ``dropout_p=0.0`` in evaluation.
    ``enable_gqa=True`` lets key and value have fewer heads (axis -3) than
    the query, each shared by a group of query heads.

    The engine's own keywords, used by its layers: ``mask=``, a boolean
    mask only, in place of ``attn_mask`` (one of the two);
    ``return_weights=True`` returns ``(output, weights)``, the weights before
    dropout; ``training=False`` switches dropout off.
    """
    q, k, v = query, key, value
    if q.ndim < 2 or k.ndim < 2 or v.ndim < 2:
        raise ValueError(f"{NAME}: query, key, value need (..., L, E) shapes, got {q.shape}, {k.shape}, {v.shape}")
    if enable_gqa and q.ndim >= 3 and k.ndim >= 3 and k.shape[-3] != q.shape[-3]:
        if k.shape[-3] != v.shape[-3] or q.shape[-3] % k.shape[-3]:
            raise ValueError(
                f"{NAME}: with enable_gqa, the query's heads ({q.shape[-3]}) must be a multiple of "
                f"the key's and value's ({k.shape[-3]}, {v.shape[-3]})"
            )
        k, v = _repeat_heads(k, q.shape[-3] // k.shape[-3]), _repeat_heads(v, q.shape[-3] // v.shape[-3])
    if q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2]:
        raise ValueError(
            f"{NAME}: query {q.shape}, key {k.shape}, value {v.shape} do not fit: "
            "query and key need the same E, key and value the same S"
        )
    if mask is not None and attn_mask is not None:
        raise TypeError(f"{NAME}: pass the mask once, as attn_mask (PyTorch's name) or mask (the engine's)")
    if is_causal and (attn_mask is not None or mask is not None):
        raise ValueError(f"{NAME}: an explicit mask should not be given with is_causal=True (as in PyTorch); "
                         "combine them into one boolean mask")
    xp = get_array_module(q.data)
    factor = 1.0 / math.sqrt(q.shape[-1]) if scale is None else float(scale)
    # scaling q (L x E values) is cheaper than scaling the L x S scores
    scores = (q * factor) @ k.swapaxes(-1, -2)
    if mask is not None:                           # the engine's keyword: boolean only
        attn_mask = _mask_array(mask, scores.shape, xp)

    keep = None                                    # boolean: True = takes part
    if is_causal:
        length, source = scores.shape[-2], scores.shape[-1]
        keep = xp.tril(xp.ones((length, source), dtype=bool))
    elif attn_mask is not None:
        given = attn_mask.data if isinstance(attn_mask, Tensor) else xp.asarray(attn_mask)
        if given.dtype == bool:
            _check_broadcast(given, scores.shape, xp, "attn_mask")
        elif given.dtype.kind == "f":
            bias = _float_mask(attn_mask, scores, xp)
            scores = scores + bias
            # places at -inf take no part: the softmax's mask then gives a fully masked row zeros, not NaN
            given = bias.data != -numpy.inf
        else:
            raise TypeError(f"{NAME}: attn_mask must be boolean (True = takes part) or float (added), "
                            f"got dtype {given.dtype}")
        keep = given

    weights = Softmax.apply(scores, axis=-1, mask=keep)
    attended = dropout(weights, dropout_p, training) if dropout_p else weights
    out = attended @ v
    return (out, weights) if return_weights else out


def scaled_dot_product_attention_composed(q: Tensor, k: Tensor, v: Tensor, mask=None):
    """The same attention from primitive ops, with masked scores filled by a large negative
    number and fully masked rows zeroed explicitly (for the tutorial)."""
    from ..ops import where  # noqa: PLC0415

    xp = get_array_module(q.data)
    tp = get_array_module(q)                       # NumPy's names on Tensors
    scores = (q @ k.swapaxes(-1, -2)) / math.sqrt(q.shape[-1])
    if mask is None:
        e = tp.exp(scores - tp.max(scores, axis=-1, keepdims=True))
        return (e / e.sum(axis=-1, keepdims=True)) @ v
    m = _mask_array(mask, scores.shape, xp)
    filled = scores.masked_fill(Tensor(~m.data), -1e9)
    e = tp.exp(filled - tp.max(filled, axis=-1, keepdims=True))
    e = where(Tensor(xp.broadcast_to(m.data, scores.shape)), e, 0.0)
    total = e.sum(axis=-1, keepdims=True)
    weights = e / where(total == 0, 1.0, total)
    return weights @ v
