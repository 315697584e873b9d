"""Reductions along axes: sum, mean, var, std, max, min, amax, amin, logsumexp.

Backward undoes the reduction's change of shape: the gradient of the reduced
tensor is reshaped with the reduced axes kept (length 1) and broadcast back
over them, times the local derivative (1 for sum, 1/N for mean, ...).

The functions users call speak PyTorch, ``x.sum(dim, keepdim=False)``, and
accept NumPy's names too (``axis=``, ``keepdims=``).  Where the two differ in
meaning, a Tensor follows PyTorch: ``var`` and ``std`` are unbiased by default
(divide by N - 1), and ``x.max(dim)`` returns the pair (values, indices).  The
Functions themselves (``Sum``, ``Var``, ``Max``, ...) keep NumPy's arguments,
which is how the arrays inside forward and backward are reduced.
"""
from __future__ import annotations

import math

import numpy

from ..autograd import Function, Tensor
from ..backend import get_array_module
from .broadcasting import dim_argument, keepdim_argument, keepdims_shape, normalize_axis
from .ordering import extremum_along
from .selection import maximum, minimum
from .unary import sqrt


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


def sum(x, dim=None, keepdim=False, *, axis=None, keepdims=None):  # noqa: A001  (PyTorch's and NumPy's name)
    """The sum over ``dim`` (None: every dim; an int, negative ones too, or a tuple);
    ``keepdim=True`` keeps each summed dim with length 1.  ``axis``/``keepdims`` are NumPy's names."""
    return Sum.apply(x, axis=dim_argument("sum", dim, axis), keepdims=keepdim_argument("sum", keepdim, keepdims))


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


def mean(x, dim=None, keepdim=False, *, axis=None, keepdims=None):
    """The mean over ``dim`` (as :func:`sum`)."""
    return Mean.apply(x, axis=dim_argument("mean", dim, axis), keepdims=keepdim_argument("mean", keepdim, keepdims))


class Var(Function):
    @staticmethod
    def forward(ctx, x, axis=None, keepdims=False, ddof=0):
        axes = normalize_axis(axis, x.ndim, "var")
        centered = x - x.mean(axis=axes, keepdims=True)
        ctx.save_for_backward(x)
        ctx.axes, ctx.ddof = axes, ddof
        # N - ddof <= 0 (one element, unbiased): 0/0 = nan, as in PyTorch and NumPy
        n = _count(x.shape, axes) - ddof
        n = n if n > 0 else 0
        return (centered * centered).sum(axis=axes, keepdims=keepdims) / n

    @staticmethod
    def backward(ctx, grad):
        """var = sum((x - mean)^2)/(N - ddof), so dvar/dx_i = 2 (x_i - mean)/(N - ddof).

        (The mean's own dependence on x_i drops out: sum(x - mean) = 0.)
        """
        (x,) = ctx.saved_tensors
        centered = x - x.mean(axis=ctx.axes, keepdims=True)
        n = _count(x.shape, ctx.axes) - ctx.ddof
        scale = 2 / n if n > 0 else math.inf     # undefined, as the forward's nan: 0 * inf = nan
        return _expand(grad, x.shape, ctx.axes) * centered * scale


def _correction(op: str, unbiased, correction, ddof) -> int:
    """The c of the divisor N - c: PyTorch's ``correction`` (or ``unbiased``), NumPy's ``ddof``; 1 if none is given."""
    given = {name: v for name, v in (("unbiased", unbiased), ("correction", correction), ("ddof", ddof))
             if v is not None}
    if len(given) > 1:
        raise TypeError(f"{op}: got {', '.join(f'{k}={v!r}' for k, v in given.items())}; they say one "
                        "thing (what N is reduced by): pass one")
    if unbiased is not None:
        return 1 if unbiased else 0
    return 1 if not given else int(next(iter(given.values())))


def var(x, dim=None, unbiased=None, keepdim=False, *, correction=None, axis=None, keepdims=None, ddof=None):
    """The variance over ``dim``: sum((x - mean)^2) / (N - correction).

    As in PyTorch, unbiased by default (``correction=1``, Bessel's correction:
    divide by N - 1); ``correction=0`` or ``unbiased=False`` give the biased
    variance (divide by N) that layer norm uses.  NumPy's ``ddof=`` is the same
    number as ``correction`` -- but NumPy's default, ddof=0, is not a Tensor's.
    ``x.var(False)`` is PyTorch's older spelling of ``unbiased=False``.
    """
    if isinstance(dim, bool):           # var(unbiased): PyTorch's older overload
        dim, unbiased = None, dim if unbiased is None else unbiased
    axis = dim_argument("var", dim, axis)
    correction = _correction("var", unbiased, correction, ddof)
    return Var.apply(x, axis=axis, keepdims=keepdim_argument("var", keepdim, keepdims), ddof=correction)


def std(x, dim=None, unbiased=None, keepdim=False, *, correction=None, axis=None, keepdims=None, ddof=None):
    """The standard deviation sqrt(var(x)), with :func:`var`'s arguments (unbiased by default).

    Its derivative is the chain rule through the two ops: dstd/dx_i =
    dvar/dx_i / (2 std) = (x_i - mean) / ((N - correction) std).  Where std = 0
    (all values equal) that is 0/0: nan, as in PyTorch.
    """
    return sqrt(var(x, dim, unbiased, keepdim, correction=correction, axis=axis, keepdims=keepdims, ddof=ddof))


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


def _extremum(x, dim, keepdim, axis, keepdims, name):
    """max or min under PyTorch's and NumPy's meanings (see :func:`max`)."""
    if isinstance(dim, Tensor):         # mt.max(a, b): the elementwise maximum
        if axis is not None or keepdims is not None or keepdim:
            raise TypeError(f"{name}(a, b) of two tensors is elementwise: it takes no dim")
        return (maximum if name == "max" else minimum)(x, dim)
    if dim is None:                     # every element, or NumPy's axis=: values only
        function = Max if name == "max" else Min
        return function.apply(x, axis=axis, keepdims=keepdim_argument(name, keepdim, keepdims))
    if axis is not None:
        dim_argument(name, dim, axis)   # raises: both names given
    if not isinstance(dim, (int, numpy.integer)):
        raise TypeError(f"{name}: dim must be an int, got {dim!r}; over several dims use "
                        f"a{name}(dims) or axis=dims (values only)")
    return extremum_along(x, dim, keepdim_argument(name, keepdim, keepdims), name)


def max(x, dim=None, keepdim=False, *, axis=None, keepdims=None):  # noqa: A001
    """PyTorch's three meanings of one name, and NumPy's:

    * ``x.max()``: the largest element, a 0-d tensor (tied maxima share the gradient evenly);
    * ``x.max(dim, keepdim=False)``: the pair ``(values, indices)`` along one dim
      (a :class:`~.ordering.ValuesIndices`); ``values`` is differentiable and its gradient
      goes to the element at ``indices`` (the first of tied maxima), as in
      PyTorch; ``indices`` are int64, without gradient;
    * ``mt.max(a, b)`` with a Tensor ``b``: the elementwise maximum (:func:`maximum`);
    * ``x.max(axis=..., keepdims=...)``, NumPy's spelling: the values only,
      over one axis or a tuple of them (what NumPy gives, and PyTorch's ``amax``:
      tied maxima share the gradient).  PyTorch reads ``axis=`` as ``dim=`` and
      returns the pair; here the NumPy name keeps NumPy's meaning, which is
      what code written for arrays (a softmax's ``x.max(axis=-1, keepdims=True)``) expects.
    """
    return _extremum(x, dim, keepdim, axis, keepdims, "max")


def min(x, dim=None, keepdim=False, *, axis=None, keepdims=None):  # noqa: A001
    """The smallest element, or ``(values, indices)`` along ``dim``, or the elementwise minimum (see :func:`max`)."""
    return _extremum(x, dim, keepdim, axis, keepdims, "min")


def amax(x, dim=None, keepdim=False, *, axis=None, keepdims=None):
    """The largest values over ``dim`` (None or ``()``: every dim; an int or a tuple), values only;
    tied maxima share the gradient evenly, as in PyTorch's ``amax``."""
    axis = dim_argument("amax", dim, axis)
    return Max.apply(x, axis=None if axis == () else axis, keepdims=keepdim_argument("amax", keepdim, keepdims))


def amin(x, dim=None, keepdim=False, *, axis=None, keepdims=None):
    """The smallest values over ``dim`` (as :func:`amax`)."""
    axis = dim_argument("amin", dim, axis)
    return Min.apply(x, axis=None if axis == () else axis, keepdims=keepdim_argument("amin", keepdim, keepdims))


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


def logsumexp(x, dim=None, keepdim=False, *, axis=None, keepdims=None):
    """log(sum(exp(x))) over ``dim`` (None: every dim), computed without overflow."""
    return LogSumExp.apply(x, axis=dim_argument("logsumexp", dim, axis),
                           keepdims=keepdim_argument("logsumexp", keepdim, keepdims))
