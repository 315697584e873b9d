"""Softmax's fast version: blocks of rows over threads, the exp in place, einsum row sums.

The attention weights are the largest activations of a Transformer after
the logits (batch x heads x L x L).  The formula (``functional/activation.py``)
makes a masked copy, a shifted copy, an exponential and a quotient; here
each block of rows does the same steps inside one buffer of the output,
and the blocks run on the CPU's threads.  Same arguments and results.
"""
from __future__ import annotations

from .. import get_array_module
from ..threads import for_each_row_block, rows_of
from . import fast_version_of
from .rows import row_dot, row_sum


def _softmax_last_axis(scores, mask):
    xp = get_array_module(scores)
    y = xp.empty_like(scores)

    def block(rows):
        s = scores[rows]
        if mask is not None:
            s = xp.where(rows_of(mask, rows, scores), s, -xp.inf)
        m = s.max(axis=-1, keepdims=True)
        m = xp.where(xp.isfinite(m), m, 0)   # a fully masked row: every score is -inf
        e = s - m
        xp.exp(e, out=e)                     # exp(-inf) = 0 at masked places
        total = row_sum(e)
        xp.divide(e, xp.where(total == 0, 1, total), out=y[rows])   # an all-masked row stays zero

    for_each_row_block(block, scores, split=scores.ndim > 1, passes=6)
    return y


@fast_version_of("minitransformer.functional.activation.Softmax", "numpy", "cupy", "strict")
class SoftmaxRowBlocks:
    @staticmethod
    def forward(ctx, x, axis=-1, mask=None):
        xp = get_array_module(x)
        axis = axis % max(x.ndim, 1)
        last = max(x.ndim - 1, 0)
        if mask is not None:
            mask = xp.broadcast_to(mask, x.shape)
        if axis != last:   # rows along another axis: make it the last one, and back
            x = xp.moveaxis(x, axis, -1)
            mask = None if mask is None else xp.moveaxis(mask, axis, -1)
        y = _softmax_last_axis(x, mask)
        if axis != last:
            y = xp.moveaxis(y, -1, axis)
        ctx.save_for_backward(y)
        ctx.axis = axis
        return y

    @staticmethod
    def backward(ctx, grad):
        """dL/dx = y * (g - sum(g * y)) along the axis; masked places have y = 0, so they get 0."""
        (saved_y,) = ctx.saved_tensors
        xp = get_array_module(grad)
        last = max(saved_y.ndim - 1, 0)
        if ctx.axis != last:
            return saved_y * (grad - (grad * saved_y).sum(axis=ctx.axis, keepdims=True))
        gx = xp.empty_like(saved_y)

        def block(rows):
            y, g = saved_y[rows], grad[rows]
            xp.multiply(y, g - row_dot(g, y), out=gx[rows])

        for_each_row_block(block, saved_y, split=saved_y.ndim > 1, passes=3)
        return gx
