"""Reductions along axes: sum, mean, var, max, min, logsumexp.

Backward undoes the reduction's change of shape: the gradient of the reduced
tensor is reshaped with the reduced axes kept (length 1) and broadcast back
over them, times the local derivative (1 for sum, 1/N for mean, ...).
``backward_graph`` (for ``create_graph=True``) does the same with Tensor ops
on the input ``ctx.inputs[0]``.
"""
from __future__ import annotations

from ..autograd import Function
from ..backend import get_array_module
from ._util import constant, expand_graph, keepdims_shape, normalize_axis


def _expand(grad, x_shape, axes):
    """Broadcast a reduced gradient back to the input's shape."""
    xp = get_array_module(grad)
    return xp.broadcast_to(grad.reshape(keepdims_shape(x_shape, axes)), x_shape)


def _count(shape, axes) -> int:
    n = 1
    for a in axes:
        n *= shape[a]
    return n


class Sum(Function):
    @staticmethod
    def forward(ctx, x, axis=None, keepdims=False):
        ctx.axes = normalize_axis(axis, x.ndim, "sum")  # a sorted tuple of axes >= 0
        ctx.x_shape, ctx.keepdims = x.shape, keepdims
        return x.sum(axis=ctx.axes, keepdims=keepdims)

    @staticmethod
    def backward(ctx, grad):
        """d sum(x)/dx_i = 1: every input element gets the gradient of its sum.

        With keepdims=False the reduced axes are gone from grad: put them back
        with length 1 first, or broadcasting would align grad with the wrong
        axes of x (it lines shapes up from the right).
        """
        # BEGIN SOLUTION
        xp = get_array_module(grad)
        if not ctx.keepdims:
            grad = xp.expand_dims(grad, ctx.axes)
        return xp.broadcast_to(grad, ctx.x_shape)
        # END SOLUTION

    @staticmethod
    def backward_graph(ctx, grad):
        return expand_graph(grad, ctx.x_shape, ctx.axes)


class Mean(Function):
    @staticmethod
    def forward(ctx, x, axis=None, keepdims=False):
        ctx.axes = normalize_axis(axis, x.ndim, "mean")  # a sorted tuple of axes >= 0
        ctx.x_shape, ctx.keepdims = x.shape, keepdims
        return x.mean(axis=ctx.axes, keepdims=keepdims)

    @staticmethod
    def backward(ctx, grad):
        """d mean(x)/dx_i = 1/N, N the number of elements averaged (the product of
        the reduced axes' lengths, not x.size); the reduced axes go back as in Sum."""
        # BEGIN SOLUTION
        xp = get_array_module(grad)
        n = 1
        for axis in ctx.axes:
            n *= ctx.x_shape[axis]
        if not ctx.keepdims:
            grad = xp.expand_dims(grad, ctx.axes)
        return xp.broadcast_to(grad / n, ctx.x_shape)
        # END SOLUTION

    @staticmethod
    def backward_graph(ctx, grad):
        return expand_graph(grad / _count(ctx.x_shape, ctx.axes), ctx.x_shape, ctx.axes)


class Var(Function):
    @staticmethod
    def forward(ctx, x, axis=None, keepdims=False, ddof=0):
        axes = normalize_axis(axis, x.ndim, "var")
        centered = x - x.mean(axis=axes, keepdims=True)
        ctx.save_for_backward(centered)
        ctx.axes, ctx.ddof = axes, ddof
        n = _count(x.shape, axes) - ddof
        return (centered * centered).sum(axis=axes, keepdims=keepdims) / n

    @staticmethod
    def backward(ctx, grad):
        """var = sum((x - mean)^2)/(N - ddof), so dvar/dx_i = 2 (x_i - mean)/(N - ddof).

        (The mean's own dependence on x_i drops out: sum(x - mean) = 0.)
        """
        (centered,) = ctx.saved_tensors
        n = _count(centered.shape, ctx.axes) - ctx.ddof
        return _expand(grad, centered.shape, ctx.axes) * centered * (2 / n)

    @staticmethod
    def backward_graph(ctx, grad):
        x = ctx.inputs[0]
        centered = x - x.mean(axis=ctx.axes, keepdims=True)
        n = _count(x.shape, ctx.axes) - ctx.ddof
        return expand_graph(grad, x.shape, ctx.axes) * centered * (2 / n)


class Max(Function):
    @staticmethod
    def forward(ctx, x, axis=None, keepdims=False):
        axes = normalize_axis(axis, x.ndim, "max")
        out = x.max(axis=axes, keepdims=True)
        ctx.save_for_backward(x, out)
        ctx.axes = axes
        return out if keepdims else out.reshape([n for i, n in enumerate(out.shape) if i not in axes])

    @staticmethod
    def backward(ctx, grad):
        """The gradient goes to the maximal element (split evenly between ties)."""
        x, out = ctx.saved_tensors
        return _to_extremes(grad, x, out, ctx.axes)

    @staticmethod
    def backward_graph(ctx, grad):
        return _to_extremes_graph(ctx, grad)


class Min(Function):
    @staticmethod
    def forward(ctx, x, axis=None, keepdims=False):
        axes = normalize_axis(axis, x.ndim, "min")
        out = x.min(axis=axes, keepdims=True)
        ctx.save_for_backward(x, out)
        ctx.axes = axes
        return out if keepdims else out.reshape([n for i, n in enumerate(out.shape) if i not in axes])

    @staticmethod
    def backward(ctx, grad):
        """The gradient goes to the minimal element (split evenly between ties)."""
        x, out = ctx.saved_tensors
        return _to_extremes(grad, x, out, ctx.axes)

    @staticmethod
    def backward_graph(ctx, grad):
        return _to_extremes_graph(ctx, grad)


def _to_extremes(grad, x, out, axes):
    is_extreme = (x == out).astype(x.dtype)
    count = is_extreme.sum(axis=axes, keepdims=True)
    return _expand(grad, x.shape, axes) * is_extreme / count


def _to_extremes_graph(ctx, grad):
    """_to_extremes on Tensors: which elements are extreme is a constant."""
    x, out = ctx.saved_tensors
    is_extreme = (x == out).astype(x.dtype)
    share = is_extreme / is_extreme.sum(axis=ctx.axes, keepdims=True)
    return expand_graph(grad, x.shape, ctx.axes) * constant(share, grad)


class LogSumExp(Function):
    @staticmethod
    def forward(ctx, x, axis=None, keepdims=False):
        xp = get_array_module(x)
        axes = normalize_axis(axis, x.ndim, "logsumexp")
        # subtract the max so that exp never overflows; add it back after the log
        m = x.max(axis=axes, keepdims=True)
        m = xp.where(xp.isfinite(m), m, 0)
        out = xp.log(xp.exp(x - m).sum(axis=axes, keepdims=True)) + m
        ctx.save_for_backward(x, out)
        ctx.axes = axes
        return out if keepdims else out.reshape([n for i, n in enumerate(out.shape) if i not in axes])

    @staticmethod
    def backward(ctx, grad):
        """d logsumexp(x)/dx_i = exp(x_i - logsumexp(x)) = softmax(x)_i."""
        x, out = ctx.saved_tensors
        xp = get_array_module(x)
        return _expand(grad, x.shape, ctx.axes) * xp.exp(x - out)

    @staticmethod
    def backward_graph(ctx, grad):
        x = ctx.inputs[0]
        out = x.logsumexp(axis=ctx.axes, keepdims=True)
        return expand_graph(grad, x.shape, ctx.axes) * (x - out).exp()
