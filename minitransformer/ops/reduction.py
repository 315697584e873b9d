"""Reductions along axes: sum, mean, var, max, min, logsumexp.

Backward undoes the reduction's change of shape: the gradient of the reduced
tensor is reshaped with the reduced axes kept (length 1) and broadcast back
over them, times the local derivative (1 for sum, 1/N for mean, ...).
"""
from __future__ import annotations

from ..autograd import Function
from ..backend import get_array_module
from .broadcasting import keepdims_shape, normalize_axis


def _expand(grad, x_shape, axes):
    """Broadcast a reduced gradient back to the input's shape."""
    xp = get_array_module(grad)
    return xp.broadcast_to(grad.reshape(keepdims_shape(x_shape, axes)), x_shape)


def _count(shape, axes) -> int:
    n = 1
    for a in axes:
        n *= shape[a]
    return n


def _drop_axes(out, axes):
    """A result computed with keepdims=True, without the reduced axes."""
    return out.reshape([n for i, n in enumerate(out.shape) if i not in axes])


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


def sum(x, axis=None, keepdims=False):  # noqa: A001  (NumPy's name)
    return Sum.apply(x, axis=axis, keepdims=keepdims)


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


def mean(x, axis=None, keepdims=False):
    return Mean.apply(x, axis=axis, keepdims=keepdims)


class Var(Function):
    @staticmethod
    def forward(ctx, x, axis=None, keepdims=False, ddof=0):
        axes = normalize_axis(axis, x.ndim, "var")
        centered = x - x.mean(axis=axes, keepdims=True)
        ctx.save_for_backward(x)
        ctx.axes, ctx.ddof = axes, ddof
        n = _count(x.shape, axes) - ddof
        return (centered * centered).sum(axis=axes, keepdims=keepdims) / n

    @staticmethod
    def backward(ctx, grad):
        """var = sum((x - mean)^2)/(N - ddof), so dvar/dx_i = 2 (x_i - mean)/(N - ddof).

        (The mean's own dependence on x_i drops out: sum(x - mean) = 0.)
        """
        (x,) = ctx.saved_tensors
        centered = x - x.mean(axis=ctx.axes, keepdims=True)
        n = _count(x.shape, ctx.axes) - ctx.ddof
        return _expand(grad, x.shape, ctx.axes) * centered * (2 / n)


def var(x, axis=None, keepdims=False, ddof=0):
    return Var.apply(x, axis=axis, keepdims=keepdims, ddof=ddof)


class _Extremum(Function):
    """Max and Min: the gradient goes to the extreme element (split evenly between ties)."""

    @staticmethod
    def backward(ctx, grad):
        """d max(x)/dx_i = 1 for the maximal x_i, 0 elsewhere; k tied maxima get 1/k each."""
        x, out = ctx.saved_tensors
        is_extreme = (x == out).astype(x.dtype)
        share = is_extreme / is_extreme.sum(axis=ctx.axes, keepdims=True)
        return _expand(grad, x.shape, ctx.axes) * share


def _extremum_forward(ctx, x, axis, keepdims, name):
    axes = normalize_axis(axis, x.ndim, name)
    out = getattr(x, name)(axis=axes, keepdims=True)
    ctx.save_for_backward(x, out)   # out only to tell which elements are extreme: a constant
    ctx.axes = axes
    return out if keepdims else _drop_axes(out, axes)


class Max(_Extremum):
    @staticmethod
    def forward(ctx, x, axis=None, keepdims=False):
        return _extremum_forward(ctx, x, axis, keepdims, "max")


class Min(_Extremum):
    @staticmethod
    def forward(ctx, x, axis=None, keepdims=False):
        return _extremum_forward(ctx, x, axis, keepdims, "min")


def max(x, axis=None, keepdims=False):  # noqa: A001
    return Max.apply(x, axis=axis, keepdims=keepdims)


def min(x, axis=None, keepdims=False):  # noqa: A001
    return Min.apply(x, axis=axis, keepdims=keepdims)


def _logsumexp_kept(x, axes):
    """log sum exp(x) over ``axes``, kept as axes of length 1 (stable: the max is subtracted)."""
    xp = get_array_module(x)
    m = xp.max(x, axis=axes, keepdims=True)
    m = xp.where(xp.isfinite(m), m, 0)      # a row of -inf: exp(-inf - 0) = 0, log 0 = -inf
    return xp.log(xp.exp(x - m).sum(axis=axes, keepdims=True)) + m


class LogSumExp(Function):
    @staticmethod
    def forward(ctx, x, axis=None, keepdims=False):
        axes = normalize_axis(axis, x.ndim, "logsumexp")
        out = _logsumexp_kept(x, axes)
        ctx.save_for_backward(x)
        ctx.axes = axes
        return out if keepdims else _drop_axes(out, axes)

    @staticmethod
    def backward(ctx, grad):
        """d logsumexp(x)/dx_i = exp(x_i - logsumexp(x)) = softmax(x)_i."""
        (x,) = ctx.saved_tensors
        xp = get_array_module(x)
        return _expand(grad, x.shape, ctx.axes) * xp.exp(x - _logsumexp_kept(x, ctx.axes))


def logsumexp(x, axis=None, keepdims=False):
    return LogSumExp.apply(x, axis=axis, keepdims=keepdims)
