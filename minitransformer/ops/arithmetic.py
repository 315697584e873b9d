"""The four arithmetic operations, power and negation, under broadcasting.

Every binary op follows the same two steps in backward: the local derivative
(d(a*b)/da = b, ...) times the incoming gradient, then ``unbroadcast`` back to
the input's shape.  Python numbers can stand for either input; they get no
gradient and keep the tensor's float dtype (NumPy's weak scalars).

Their ``backward_graph`` (the same derivative on Tensors, for
``create_graph=True``) reads the inputs from ``ctx.inputs``; for add, subtract
and negate the array backward already works on Tensors as it stands.
"""
from __future__ import annotations

import math

from ..autograd import Function, Tensor
from ..backend import get_array_module
from ._util import graph_inputs, shapes_error, unbroadcast


def _binary(op, fn, a, b):
    try:
        return fn(a, b)
    except ValueError:
        raise shapes_error(op, a, b) from None


class Add(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.shapes = (getattr(a, "shape", ()), getattr(b, "shape", ()))
        return _binary("add", lambda x, y: x + y, a, b)

    @staticmethod
    def backward(ctx, grad):
        """d(a+b)/da = 1 and d(a+b)/db = 1: the gradient passes through, unbroadcast."""
        sa, sb = ctx.shapes
        return unbroadcast(grad, sa), unbroadcast(grad, sb)

    backward_graph = backward  # uses only what Tensors have too: a graph with create_graph


class Sub(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.shapes = (getattr(a, "shape", ()), getattr(b, "shape", ()))
        return _binary("subtract", lambda x, y: x - y, a, b)

    @staticmethod
    def backward(ctx, grad):
        """d(a-b)/da = 1 and d(a-b)/db = -1."""
        sa, sb = ctx.shapes
        gb = unbroadcast(-grad, sb) if ctx.needs_input_grad[1] else None
        return unbroadcast(grad, sa), gb

    backward_graph = backward


class Mul(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return _binary("multiply", lambda x, y: x * y, a, b)

    @staticmethod
    def backward(ctx, grad):
        """d(a*b)/da = b and d(a*b)/db = a; each summed over its broadcast axes."""
        # BEGIN SOLUTION
        a, b = ctx.saved_tensors
        ga = unbroadcast(grad * b, a.shape) if ctx.needs_input_grad[0] else None
        gb = unbroadcast(grad * a, b.shape) if ctx.needs_input_grad[1] else None
        return ga, gb
        # END SOLUTION

    @staticmethod
    def backward_graph(ctx, grad):
        """As backward, on the input Tensors: d(g*b)/db = g records the second derivative."""
        a, b = graph_inputs(ctx, *ctx.saved_tensors)
        ga = unbroadcast(grad * b, a.shape) if ctx.needs_input_grad[0] else None
        gb = unbroadcast(grad * a, b.shape) if ctx.needs_input_grad[1] else None
        return ga, gb


class Div(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return _binary("divide", lambda x, y: x / y, a, b)

    @staticmethod
    def backward(ctx, grad):
        """d(a/b)/da = 1/b and d(a/b)/db = -a/b^2."""
        # BEGIN SOLUTION
        a, b = ctx.saved_tensors
        ga = unbroadcast(grad / b, a.shape) if ctx.needs_input_grad[0] else None
        gb = unbroadcast(-grad * a / (b * b), b.shape) if ctx.needs_input_grad[1] else None
        return ga, gb
        # END SOLUTION

    @staticmethod
    def backward_graph(ctx, grad):
        """As backward, on the input Tensors."""
        a, b = graph_inputs(ctx, *ctx.saved_tensors)
        ga = unbroadcast(grad / b, a.shape) if ctx.needs_input_grad[0] else None
        gb = unbroadcast(-grad * a / (b * b), b.shape) if ctx.needs_input_grad[1] else None
        return ga, gb


class Pow(Function):
    @staticmethod
    def forward(ctx, a, b):
        out = _binary("power", lambda x, y: x ** y, a, b)
        ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        """d(a^b)/da = b * a^(b-1) and d(a^b)/db = a^b * log(a) (a > 0)."""
        a, b, out = ctx.saved_tensors
        ga = gb = None
        if ctx.needs_input_grad[0]:
            ga = unbroadcast(grad * b * a ** (b - 1), a.shape)
        if ctx.needs_input_grad[1]:
            xp = get_array_module(a, b)
            # asarray: log of a Python number would be a float64 scalar, upcasting float32
            gb = unbroadcast(grad * out * xp.log(xp.asarray(a, dtype=out.dtype)), b.shape)
        return ga, gb

    @staticmethod
    def backward_graph(ctx, grad):
        """As backward, on the input Tensors (a^b recomputed from them)."""
        a, b = graph_inputs(ctx, *ctx.saved_tensors[:2])
        ga = gb = None
        if ctx.needs_input_grad[0]:
            ga = unbroadcast(grad * b * a ** (b - 1), a.shape)
        if ctx.needs_input_grad[1]:
            log_a = a.log() if isinstance(a, Tensor) else math.log(a)
            gb = unbroadcast(grad * a ** b * log_a, b.shape)
        return ga, gb


class Neg(Function):
    @staticmethod
    def forward(ctx, a):
        return -a

    @staticmethod
    def backward(ctx, grad):
        """d(-a)/da = -1."""
        return -grad

    backward_graph = backward
