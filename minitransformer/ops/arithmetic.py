"""The four arithmetic operations, power and negation, under broadcasting.

Every binary op follows the same two steps in backward: the local derivative
(d(a*b)/da = b, ...) times the incoming gradient, then ``unbroadcast`` back to
the input's shape.  Python numbers can stand for either input; they get no
gradient and keep the tensor's float dtype (NumPy's weak scalars).
"""
from __future__ import annotations

import math

from ..autograd import Function
from ..backend import get_array_module
from .broadcasting import python_scalar, unbroadcast
from .checks import shapes_error


def _binary(op, fn, a, b):
    try:
        return fn(a, b)
    except ValueError:
        raise shapes_error(op, a, b) from None


def _shape(x) -> tuple:
    return tuple(getattr(x, "shape", ()))


class Add(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.shapes = (_shape(a), _shape(b))
        return _binary("add", lambda x, y: x + y, a, b)

    @staticmethod
    def backward(ctx, grad):
        """d(a+b)/da = 1 and d(a+b)/db = 1: the gradient passes through, unbroadcast."""
        sa, sb = ctx.shapes
        return unbroadcast(grad, sa), unbroadcast(grad, sb)


def add(a, b):
    return Add.apply(python_scalar(a), python_scalar(b))


class Sub(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.shapes = (_shape(a), _shape(b))
        return _binary("subtract", lambda x, y: x - y, a, b)

    @staticmethod
    def backward(ctx, grad):
        """d(a-b)/da = 1 and d(a-b)/db = -1."""
        sa, sb = ctx.shapes
        gb = unbroadcast(-grad, sb) if ctx.needs_input_grad[1] else None
        return unbroadcast(grad, sa), gb


def subtract(a, b):
    return Sub.apply(python_scalar(a), python_scalar(b))


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


def multiply(a, b):
    return Mul.apply(python_scalar(a), python_scalar(b))


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


def divide(a, b):
    return Div.apply(python_scalar(a), python_scalar(b))


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
            ga = unbroadcast(grad * b * a ** (b - 1), _shape(a))
        if ctx.needs_input_grad[1]:
            # a Python number's log stays a Python number: no float64 upcast of a float32 b
            log_a = get_array_module(a).log(a) if hasattr(a, "shape") else math.log(a)
            gb = unbroadcast(grad * out * log_a, _shape(b))
        return ga, gb


def power(a, b):
    return Pow.apply(python_scalar(a), python_scalar(b))


class Neg(Function):
    @staticmethod
    def forward(ctx, a):
        return -a

    @staticmethod
    def backward(ctx, grad):
        """d(-a)/da = -1."""
        return -grad


def negative(a):
    return Neg.apply(a)
