"""Layer normalization (Ba et al. 2016), fused and composed.

    y = (x - mean(x)) / sqrt(var(x) + eps) * weight + bias

with mean and (biased) variance over the last ``len(normalized_shape)`` axes.
"""
from __future__ import annotations

from ..autograd import Function, Tensor
from ..backend import get_array_module
from ..backend.kernels import kernels_for
from ..parallel import for_each_row_block
from .rowsums import row_mean, row_mean_of_product


class LayerNormFunction(Function):
    @staticmethod
    def forward(ctx, x, weight, bias, n_axes=1, eps=1e-5):
        xp, kernels = get_array_module(x), kernels_for(x)
        x_hat, y = xp.empty_like(x), xp.empty_like(x)
        rstd = xp.empty(x.shape[:x.ndim - n_axes] + (1,) * n_axes, dtype=x.dtype)

        def block(rows):   # the rows are independent: blocks of them run on separate threads
            # each step writes into a buffer of the results: no temporary arrays
            x_rows, x_hat_rows = x[rows], x_hat[rows]
            xp.subtract(x_rows, row_mean(x_rows, n_axes), out=x_hat_rows)     # x - mean
            var = row_mean_of_product(x_hat_rows, x_hat_rows, n_axes)
            # eps > 0 keeps rstd finite for a constant row (var = 0)
            rstd[rows] = 1 / xp.sqrt(var + eps)
            # x_hat = (x - mean) * rstd, y = x_hat * weight + bias (one fused kernel on a GPU)
            kernels.scale_shift(x_hat_rows, rstd[rows], weight, bias, out=y[rows])

        for_each_row_block(block, x, split=x.ndim > n_axes, passes=6)
        ctx.save_for_backward(x_hat, rstd, weight)
        ctx.n_axes, ctx.eps = n_axes, eps
        return y

    @staticmethod
    def backward(ctx, grad):
        """With x_hat = (x - mu) * rstd and g_hat = dL/dx_hat = g * weight:

            dL/dx = rstd * (g_hat - mean(g_hat) - x_hat * mean(g_hat * x_hat))

        (the two mean terms are the paths through mu and through var);
        dL/dweight = sum over rows of g * x_hat, dL/dbias = sum over rows of g.
        """
        # BEGIN SOLUTION
        saved_x_hat, saved_rstd, weight = ctx.saved_tensors
        xp = get_array_module(grad)
        n_axes = ctx.n_axes
        gx = xp.empty_like(grad)
        g_times_x_hat = xp.empty_like(grad) if ctx.needs_input_grad[1] else None

        def block(rows):   # dL/dx of a row needs that row only
            x_hat, rstd, g = saved_x_hat[rows], saved_rstd[rows], grad[rows]
            g_hat = g if weight is None else g * weight
            # the formula above, term by term in the rows of gx (g_hat is the only temporary)
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
        # END SOLUTION

    @staticmethod
    def backward_graph(ctx, grad):
        """The formula above on Tensors, x_hat and rstd recomputed from x (create_graph)."""
        x, weight, _ = ctx.inputs
        axes = tuple(range(x.ndim - ctx.n_axes, x.ndim))
        centered = x - x.mean(axis=axes, keepdims=True)
        rstd = 1 / ((centered * centered).mean(axis=axes, keepdims=True) + ctx.eps).sqrt()
        x_hat = centered * rstd
        g_hat = grad if weight is None else grad * weight
        gx = rstd * (g_hat - g_hat.mean(axis=axes, keepdims=True)
                     - x_hat * (g_hat * x_hat).mean(axis=axes, keepdims=True))
        batch_axes = tuple(range(x.ndim - ctx.n_axes))
        gw = (grad * x_hat).sum(axis=batch_axes) if ctx.needs_input_grad[1] else None
        gb = grad.sum(axis=batch_axes) if ctx.needs_input_grad[2] else None
        return gx, gw, gb


def _n_axes(x, normalized_shape) -> int:
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if tuple(x.shape[x.ndim - len(shape):]) != shape:
        raise ValueError(
            f"layer_norm: normalized_shape {shape} does not match the last axes of the input "
            f"of shape {x.shape}"
        )
    return len(shape)


def layer_norm(x: Tensor, normalized_shape, weight=None, bias=None, eps: float = 1e-5) -> Tensor:
    """Normalize over the trailing ``normalized_shape`` axes, then scale and shift (fused)."""
    return LayerNormFunction.apply(x, weight, bias, n_axes=_n_axes(x, normalized_shape), eps=eps)


def layer_norm_composed(x: Tensor, normalized_shape, weight=None, bias=None, eps: float = 1e-5) -> Tensor:
    """The same layer norm from primitive ops, line by line as the formula."""
    axes = tuple(range(x.ndim - _n_axes(x, normalized_shape), x.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True)
    y = (x - mean) / (var + eps).sqrt()
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y
