"""The matrix product's fast version: a batch of small products spread over threads.

BLAS parallelizes inside one large product, but a batch of small ones
(the attention scores of every sentence and head, 64 x 64 each) runs one
product at a time on one core.  :func:`batched_products_over_threads`
splits same-rank batched NumPy operands along the first batch axis when
each product is small (``SMALL_PRODUCT`` multiply-adds or fewer);
everything else is a plain ``@``.  In backward, a weight shared by every
row of a batch gets its gradient from one large GEMM (the rows stacked)
instead of a batch of small ones summed.
"""
from __future__ import annotations

import numpy as np

from .. import threads
from ..threads import SMALL_PRODUCT, row_blocks, rows_of
from . import fast_version_of


def batched_products_over_threads(a, b):
    """``a @ b``, the products of a batch split over the CPU's threads where that pays."""
    numpy_operands = isinstance(a, np.ndarray) and isinstance(b, np.ndarray)
    if not numpy_operands or a.ndim < 3 or a.ndim != b.ndim \
            or a.shape[-2] * a.shape[-1] * b.shape[-1] > SMALL_PRODUCT:
        return a @ b
    batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    out = np.empty(batch + (a.shape[-2], b.shape[-1]), dtype=np.result_type(a, b))
    if out.size == 0:
        return a @ b

    def block(rows):
        np.matmul(rows_of(a, rows, out), rows_of(b, rows, out), out=out[rows])

    # a multiply-add of a small product costs about a sixteenth of an element-wise
    # pass over one element (SIMD, in cache): count the work in those units
    threads.run_parallel(block, row_blocks(out.shape[0], out.size * a.shape[-1] // 16))
    return out


def _sum_to_shape(grad, shape):
    """Sum ``grad`` over the axes broadcasting added or stretched to reach ``shape``."""
    shape = tuple(shape)
    extra = grad.ndim - len(shape)
    if extra > 0:
        grad = grad.sum(axis=tuple(range(extra)))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    return grad.sum(axis=stretched, keepdims=True) if stretched else grad


@fast_version_of("minitransformer.ops.matrix_product.MatMul", "numpy")
class MatMulOverThreads:
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return batched_products_over_threads(a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        g = grad
        if b.ndim == 1:
            g = g[..., None]
        if a.ndim == 1:
            g = g[..., None, :]
        ga = gb = None
        if ctx.needs_input_grad[0]:
            ga = batched_products_over_threads(g, b2.swapaxes(-1, -2))
            ga = _sum_to_shape(ga, a2.shape).reshape(a.shape)
        if ctx.needs_input_grad[1]:
            if b2.ndim == 2 and a2.ndim > 2:
                gb = a2.reshape(-1, a2.shape[-1]).T @ g.reshape(-1, g.shape[-1])
            else:
                gb = _sum_to_shape(batched_products_over_threads(a2.swapaxes(-1, -2), g), b2.shape)
            gb = gb.reshape(b.shape)
        return ga, gb
