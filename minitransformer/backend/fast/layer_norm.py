"""Layer norm's fast version: blocks of rows over threads, ``out=`` buffers, einsum row means.

The formula (``functional/normalization.py``) makes a new array at every
step and passes over the activations about a dozen times.  Here each block
of rows is written into preallocated buffers (the normalized rows, kept
for backward, and the output), the row means are ``einsum`` sums, and the
blocks run on the CPU's threads; on a GPU the scale-and-shift is one fused
CuPy kernel.  Same arguments, same results up to rounding.
"""
from __future__ import annotations

from .. import get_array_module
from ..threads import for_each_row_block
from . import cupy_kernels, fast_version_of
from .rows import row_mean, row_mean_of_product


def _scale_shift(x_hat, rstd, weight, bias, out):
    """``x_hat *= rstd`` (kept for backward), ``out = x_hat * weight + bias``."""
    xp = get_array_module(x_hat)
    if xp.__name__ == "cupy" and weight is not None and bias is not None:
        cupy_kernels.layer_norm_scale_shift()(rstd, weight, bias, x_hat, out)
        return
    x_hat *= rstd
    if weight is None:
        out[...] = x_hat
    else:
        xp.multiply(x_hat, weight, out=out)
    if bias is not None:
        out += bias


@fast_version_of("minitransformer.functional.normalization.LayerNorm", "numpy", "cupy", "strict")
class LayerNormRowBlocks:
    @staticmethod
    def forward(ctx, x, weight, bias, n_axes=1, eps=1e-5):
        xp = get_array_module(x)
        x_hat, y = xp.empty_like(x), xp.empty_like(x)
        rstd = xp.empty(x.shape[:x.ndim - n_axes] + (1,) * n_axes, dtype=x.dtype)

        def block(rows):
            x_rows, x_hat_rows = x[rows], x_hat[rows]
            xp.subtract(x_rows, row_mean(x_rows, n_axes), out=x_hat_rows)     # x - mean
            var = row_mean_of_product(x_hat_rows, x_hat_rows, n_axes)
            rstd[rows] = 1 / xp.sqrt(var + eps)
            _scale_shift(x_hat_rows, rstd[rows], weight, bias, out=y[rows])

        for_each_row_block(block, x, split=x.ndim > n_axes, passes=6)
        ctx.save_for_backward(x_hat, rstd, weight)
        ctx.n_axes, ctx.eps = n_axes, eps
        return y

    @staticmethod
    def backward(ctx, grad):
        """dL/dx = rstd * (g_hat - mean(g_hat) - x_hat * mean(g_hat * x_hat)), term by term in place."""
        saved_x_hat, saved_rstd, weight = ctx.saved_tensors
        xp = get_array_module(grad)
        n_axes = ctx.n_axes
        gx = xp.empty_like(grad)
        g_times_x_hat = xp.empty_like(grad) if ctx.needs_input_grad[1] else None

        def block(rows):
            x_hat, rstd, g = saved_x_hat[rows], saved_rstd[rows], grad[rows]
            g_hat = g if weight is None else g * weight
            out = gx[rows]
            xp.multiply(x_hat, row_mean_of_product(g_hat, x_hat, n_axes), out=out)
            xp.subtract(g_hat, out, out=out)
            out -= row_mean(g_hat, n_axes)
            out *= rstd
            if g_times_x_hat is not None:
                xp.multiply(g, x_hat, out=g_times_x_hat[rows])

        for_each_row_block(block, grad, split=grad.ndim > n_axes, passes=7)
        # the sums over rows mix every block: one call each, in a fixed order
        batch_axes = tuple(range(grad.ndim - n_axes))
        gw = g_times_x_hat.sum(axis=batch_axes) if ctx.needs_input_grad[1] else None
        gb = grad.sum(axis=batch_axes) if ctx.needs_input_grad[2] else None
        return gx, gw, gb
