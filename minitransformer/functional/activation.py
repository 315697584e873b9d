"""Softmax and log-softmax: each one op, its formula and its derivative.

    softmax(x)_i     = exp(x_i) / sum_j exp(x_j)
    log_softmax(x)_i = x_i - log sum_j exp(x_j)

along one axis.  Subtracting the row's maximum first changes nothing
mathematically and keeps every exp <= 1.  Softmax takes an optional
boolean mask (True = keep): masked places get weight 0, and a row with
every place masked gets all zeros (never NaN), as the attention needs.
The ``*_composed`` versions chain primitive ops instead; tests check that
both agree, in values and in gradients.
"""
from __future__ import annotations

from ..autograd import Function, Tensor
from ..backend import get_array_module
from ..ops import gelu, relu  # noqa: F401  (re-exported: F.relu, F.gelu)


def stable_softmax(x, axis=-1, mask=None):
    """softmax along ``axis`` of an array, masked places (mask False) 0, an all-masked row all 0."""
    xp = get_array_module(x)
    if mask is not None:
        x = xp.where(mask, x, -xp.inf)
    m = xp.max(x, axis=axis, keepdims=True)
    m = xp.where(xp.isfinite(m), m, 0)         # an all-masked row: every score is -inf
    e = xp.exp(x - m)                          # exp(-inf) = 0 at masked places
    total = e.sum(axis=axis, keepdims=True)
    return e / xp.where(total == 0, 1, total)


def stable_log_softmax(x, axis=-1):
    """log softmax along ``axis`` of an array: (x - max) - log sum exp(x - max)."""
    xp = get_array_module(x)
    shifted = x - xp.max(x, axis=axis, keepdims=True)
    return shifted - xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))


class Softmax(Function):
    @staticmethod
    def forward(ctx, x, axis=-1, mask=None):
        y = stable_softmax(x, axis, mask)
        ctx.save_for_backward(y)
        ctx.axis = axis
        return y

    @staticmethod
    def backward(ctx, grad):
        """dy_i/dx_j = y_i (delta_ij - y_j), so dL/dx = y * (g - sum_j g_j y_j).

        Masked places have y = 0, so they get no gradient.
        """
        # BEGIN SOLUTION
        (y,) = ctx.saved_tensors
        return y * (grad - (grad * y).sum(axis=ctx.axis, keepdims=True))
        # END SOLUTION


class LogSoftmax(Function):
    @staticmethod
    def forward(ctx, x, axis=-1):
        y = stable_log_softmax(x, axis)
        ctx.save_for_backward(y)
        ctx.axis = axis
        return y

    @staticmethod
    def backward(ctx, grad):
        """y_i = x_i - logsumexp(x): dy_i/dx_j = delta_ij - softmax(x)_j,
        so dL/dx = g - softmax(x) * sum_i g_i, with softmax(x) = exp(y)."""
        # BEGIN SOLUTION
        (y,) = ctx.saved_tensors
        xp = get_array_module(y)
        return grad - xp.exp(y) * grad.sum(axis=ctx.axis, keepdims=True)
        # END SOLUTION


def softmax(x: Tensor, axis: int = -1) -> Tensor:
    """softmax(x)_i = exp(x_i) / sum_j exp(x_j) along ``axis`` (one op, stable)."""
    return Softmax.apply(x, axis=axis)


def log_softmax(x: Tensor, axis: int = -1) -> Tensor:
    """log softmax(x)_i = x_i - log sum_j exp(x_j) along ``axis`` (one op, stable)."""
    return LogSoftmax.apply(x, axis=axis)


def softmax_composed(x: Tensor, axis: int = -1) -> Tensor:
    """The same softmax from primitive ops: exp(x - max) / sum(exp(x - max))."""
    e = (x - x.max(axis=axis, keepdims=True)).exp()
    return e / e.sum(axis=axis, keepdims=True)


def log_softmax_composed(x: Tensor, axis: int = -1) -> Tensor:
    """The same log-softmax from primitive ops: x - logsumexp(x)."""
    return x - x.logsumexp(axis=axis, keepdims=True)
