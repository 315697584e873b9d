"""Attention as one op that recomputes its weights in backward (the exercise "Attention backward").

    S = Q K^T / sqrt(d_k)                      (..., L_q, L_k)  scores
    P = masked softmax of S over the last axis  (..., L_q, L_k)  weights
    O = P V                                    (..., L_q, d_v)  output

with q (..., L_q, d_k), k (..., L_k, d_k), v (..., L_k, d_v) sharing their
batch axes, and an optional boolean ``mask`` broadcastable to the scores,
True where a query may attend to a key.  A query whose keys are all masked
gets zero weights: a zero output and zero gradients, never NaN.

``minitransformer.functional.scaled_dot_product_attention`` composes the same
computation from MatMul, Mul and Softmax, each with its own backward.
Here it is one op, and to save memory its forward does not keep the
L_q x L_k weights P: backward recomputes them from Q, K and the mask, as
FlashAttention does (compute is cheaper than memory traffic on a GPU).
Recomputing them *without* the mask is the classic bug the exercise's
checks catch.
"""
from __future__ import annotations

import math

from ..autograd import Function
from ..backend import get_array_module
from .activation import stable_softmax


def attention_weights(q, k, mask=None):
    """P = softmax(q k^T / sqrt(d_k)) over the last axis, zero where ``mask`` is False.

    (..., L_q, L_k) out; a row with every key masked is all zeros.
    """
    scores = (q @ k.swapaxes(-1, -2)) * (1.0 / math.sqrt(q.shape[-1]))
    return stable_softmax(scores, -1, mask)


class Attention(Function):
    @staticmethod
    def forward(ctx, q, k, v, mask=None):
        xp = get_array_module(q, k, v)
        if q.ndim < 2 or q.shape[:-2] != k.shape[:-2] or k.shape[:-1] != v.shape[:-1] \
                or q.shape[-1] != k.shape[-1]:
            raise ValueError(
                f"Attention: q {q.shape}, k {k.shape}, v {v.shape} do not fit: they need "
                "the same batch axes, q and k the same d_k, k and v the same L_k"
            )
        if mask is not None:
            mask = xp.asarray(mask, dtype=bool)
        ctx.save_for_backward(q, k, v, mask)  # not P: backward recomputes it
        return attention_weights(q, k, mask) @ v

    @staticmethod
    def backward(ctx, grad):
        """With G = dL/dO and the weights P recomputed from Q, K and the mask:

            dL/dV = P^T G          dL/dP = G V^T
            dL/dS = P * (dL/dP - rowsum(dL/dP * P))    (softmax backward; P = 0 where masked)
            dL/dQ = dL/dS K / sqrt(d_k)    dL/dK = dL/dS^T Q / sqrt(d_k)

        where X^T swaps the last two axes (``x.swapaxes(-1, -2)``).
        """
        # BEGIN SOLUTION
        q, k, v, mask = ctx.saved_tensors
        p = attention_weights(q, k, mask)
        scale = 1.0 / math.sqrt(q.shape[-1])
        dv = p.swapaxes(-1, -2) @ grad
        dp = grad @ v.swapaxes(-1, -2)
        ds = p * (dp - (dp * p).sum(axis=-1, keepdims=True))
        dq = (ds @ k) * scale
        dk = (ds.swapaxes(-1, -2) @ q) * scale
        return dq, dk, dv
        # END SOLUTION


def fused_attention(q, k, v, mask=None):
    """softmax(q k^T / sqrt(d_k)) v on Tensors, as one op (``mask``: a boolean array)."""
    return Attention.apply(q, k, v, mask=mask)
