"""Softmax and log-softmax, fused (one op with a hand-derived backward) and composed.

The composed versions chain the engine's primitive ops and read like the
formulas; the fused ones compute the same values in one pass and derive the
backward by hand, which is faster and keeps fewer arrays alive.  Tests check
that both agree, in values and in gradients.  Each fused op's
``backward_graph`` (for ``create_graph=True``) is its backward formula on
Tensors, with the softmax recomputed from the input.
"""
from __future__ import annotations

from ..autograd import Function, Tensor
from ..backend import get_array_module
from ..ops import gelu, relu  # noqa: F401  (re-exported: F.relu, F.gelu)


class Softmax(Function):
    @staticmethod
    def forward(ctx, x, axis=-1):
        xp = get_array_module(x)
        # subtracting the row max changes nothing mathematically and keeps exp <= 1
        e = xp.exp(x - x.max(axis=axis, keepdims=True))
        y = e / e.sum(axis=axis, keepdims=True)
        ctx.save_for_backward(y)
        ctx.axis = axis
        return y

    @staticmethod
    def backward(ctx, grad):
        """dy_i/dx_j = y_i (delta_ij - y_j), so dL/dx = y * (g - sum_j g_j y_j)."""
        # BEGIN SOLUTION
        (y,) = ctx.saved_tensors
        return y * (grad - (grad * y).sum(axis=ctx.axis, keepdims=True))
        # END SOLUTION

    @staticmethod
    def backward_graph(ctx, grad):
        y = Softmax.apply(ctx.inputs[0], axis=ctx.axis)
        return y * (grad - (grad * y).sum(axis=ctx.axis, keepdims=True))


class LogSoftmax(Function):
    @staticmethod
    def forward(ctx, x, axis=-1):
        xp = get_array_module(x)
        shifted = x - x.max(axis=axis, keepdims=True)
        y = shifted - xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))
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

    @staticmethod
    def backward_graph(ctx, grad):
        p = Softmax.apply(ctx.inputs[0], axis=ctx.axis)
        return grad - p * grad.sum(axis=ctx.axis, keepdims=True)


def softmax(x: Tensor, axis: int = -1) -> Tensor:
    """softmax(x)_i = exp(x_i) / sum_j exp(x_j) along ``axis`` (fused, stable)."""
    return Softmax.apply(x, axis=axis)


def log_softmax(x: Tensor, axis: int = -1) -> Tensor:
    """log softmax(x)_i = x_i - log sum_j exp(x_j) along ``axis`` (fused, stable)."""
    return LogSoftmax.apply(x, axis=axis)


def softmax_composed(x: Tensor, axis: int = -1) -> Tensor:
    """The same softmax from primitive ops: exp(x - max) / sum(exp(x - max))."""
    e = (x - x.max(axis=axis, keepdims=True)).exp()
    return e / e.sum(axis=axis, keepdims=True)


def log_softmax_composed(x: Tensor, axis: int = -1) -> Tensor:
    """The same log-softmax from primitive ops: x - logsumexp(x)."""
    return x - x.logsumexp(axis=axis, keepdims=True)
