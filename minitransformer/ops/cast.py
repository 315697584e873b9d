"""Casts: a tensor's values in another dtype, and clone (a copy in the same one).

Between float dtypes a cast is differentiable, and its derivative is the
identity: y = x, only rounded to y's precision.  The gradient that reaches
y (in y's dtype) goes back to x cast to x's dtype, as in PyTorch, so that
each gradient keeps its input's dtype:

    x = mt.tensor([1.0, 2.0], dtype=mt.float64, requires_grad=True)
    x.float().sum().backward()       # x.grad is float64

To an integer or bool dtype (``x.long()``, ``x.bool()``), or from one, there
is no derivative: the result is a new tensor outside the graph.
"""
from __future__ import annotations

import numpy

from ..autograd import Function, Tensor


class Cast(Function):
    @staticmethod
    def forward(ctx, x, dtype):
        ctx.input_dtype = x.dtype
        return x.astype(dtype)          # always a copy, even to x's own dtype: clone() is this op

    @staticmethod
    def backward(ctx, grad):
        """dy/dx = 1: the gradient, cast back to the input's dtype (astype is a Cast on Tensors too)."""
        return grad.astype(ctx.input_dtype), None


def astype(x, dtype) -> Tensor:
    """``x`` cast to ``dtype``, always a copy (NumPy's ``astype``): differentiable from one float
    dtype to another, a new tensor outside the graph otherwise."""
    dtype = numpy.dtype(dtype)
    if dtype.kind == "f" and x.dtype.kind == "f":
        return Cast.apply(x, dtype)
    return Tensor(x.data.astype(dtype))


def clone(x) -> Tensor:
    """A copy of ``x`` that keeps its place in the graph (gradients flow back to ``x``)."""
    return astype(x, x.dtype)
