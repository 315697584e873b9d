"""Layer normalization (Ba et al. 2016): one op, and the same composed from primitive ops.

    y = (x - mean(x)) / sqrt(var(x) + eps) * weight + bias

with mean and (biased) variance over the last ``len(normalized_shape)`` axes.
"""
from __future__ import annotations

from ..autograd import Function, Tensor
from ..backend import get_array_module


def _normalized(x, n_axes, eps):
    """x_hat = (x - mean) * rstd and rstd = 1 / sqrt(var + eps), over the last ``n_axes`` axes."""
    xp = get_array_module(x)
    axes = tuple(range(x.ndim - n_axes, x.ndim))
    centered = x - x.mean(axis=axes, keepdims=True)
    # eps > 0 keeps rstd finite for a constant row (var = 0)
    rstd = 1 / xp.sqrt((centered * centered).mean(axis=axes, keepdims=True) + eps)
    return centered * rstd, rstd


class LayerNorm(Function):
    @staticmethod
    def forward(ctx, x, weight, bias, n_axes=1, eps=1e-5):
        x_hat, _ = _normalized(x, n_axes, eps)
        y = x_hat if weight is None else x_hat * weight
        if bias is not None:
            y = y + bias
        ctx.save_for_backward(x, weight)
        ctx.n_axes, ctx.eps = n_axes, eps
        return y

    @staticmethod
    def backward(ctx, grad):
        """With x_hat = (x - mu) * rstd and g_hat = dL/dx_hat = g * weight:

            dL/dx = rstd * (g_hat - mean(g_hat) - x_hat * mean(g_hat * x_hat))

        (the two mean terms are the paths through mu and through var), the
        means over the normalized axes; dL/dweight = sum over rows of
        g * x_hat, dL/dbias = sum over rows of g.  x_hat and rstd are
        recomputed from x, the saved input.
        """
        # BEGIN SOLUTION
        x, weight = ctx.saved_tensors
        x_hat, rstd = _normalized(x, ctx.n_axes, ctx.eps)
        axes = tuple(range(x.ndim - ctx.n_axes, x.ndim))
        g_hat = grad if weight is None else grad * weight
        gx = rstd * (g_hat - g_hat.mean(axis=axes, keepdims=True)
                     - x_hat * (g_hat * x_hat).mean(axis=axes, keepdims=True))
        rows = tuple(range(x.ndim - ctx.n_axes))
        gw = (grad * x_hat).sum(axis=rows) if ctx.needs_input_grad[1] else None
        gb = grad.sum(axis=rows) if ctx.needs_input_grad[2] else None
        return gx, gw, gb
        # END SOLUTION


def _n_axes(x, normalized_shape) -> int:
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if tuple(x.shape[x.ndim - len(shape):]) != shape:
        raise ValueError(
            f"layer_norm: normalized_shape {shape} does not match the last axes of the input "
            f"of shape {x.shape}"
        )
    return len(shape)


def layer_norm(input: Tensor, normalized_shape, weight=None, bias=None, eps: float = 1e-5) -> Tensor:
    """Normalize over the trailing ``normalized_shape`` axes, then scale and shift (one op)."""
    return LayerNorm.apply(input, weight, bias, n_axes=_n_axes(input, normalized_shape), eps=eps)


def layer_norm_composed(x: Tensor, normalized_shape, weight=None, bias=None, eps: float = 1e-5) -> Tensor:
    """The same layer norm from primitive ops, line by line as the formula."""
    axes = tuple(range(x.ndim - _n_axes(x, normalized_shape), x.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True, correction=0)    # biased: divide by N, as layer norm does
    y = (x - mean) / (var + eps).sqrt()
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y
