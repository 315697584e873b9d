"""Comparisons and logic: boolean tensors that carry no gradient.

A comparison's value does not change under a small change of its inputs,
so it has no derivative to propagate: the results are plain boolean
tensors, outside the graph (masks for where, masked_fill and attention).
"""
from __future__ import annotations

from ..autograd import Tensor
from .broadcasting import python_scalar
from .checks import shapes_error


def _data(x):
    return x.data if isinstance(x, Tensor) else x


def _compare(op_name, fn, a, b):
    try:
        return Tensor(fn(_data(a), _data(python_scalar(b))))
    except ValueError:
        raise shapes_error(op_name, _data(a), _data(b)) from None


def equal(a, b):
    return _compare("equal", lambda x, y: x == y, a, b)


def not_equal(a, b):
    return _compare("not_equal", lambda x, y: x != y, a, b)


def less(a, b):
    return _compare("less", lambda x, y: x < y, a, b)


def less_equal(a, b):
    return _compare("less_equal", lambda x, y: x <= y, a, b)


def greater(a, b):
    return _compare("greater", lambda x, y: x > y, a, b)


def greater_equal(a, b):
    return _compare("greater_equal", lambda x, y: x >= y, a, b)


def _logical(op_name, fn, a, b):
    for x in (a, b):
        dtype = getattr(_data(x), "dtype", None)
        if dtype is not None and dtype.kind != "b":
            raise TypeError(f"{op_name}: logical operators need boolean tensors, got dtype {dtype} "
                            "(compare first, e.g. (x > 0) & (y > 0))")
    return _compare(op_name, fn, a, b)


def logical_and(a, b):
    return _logical("logical_and", lambda x, y: x & y, a, b)


def logical_or(a, b):
    return _logical("logical_or", lambda x, y: x | y, a, b)


def logical_xor(a, b):
    return _logical("logical_xor", lambda x, y: x ^ y, a, b)


def logical_not(a):
    if a.dtype.kind != "b":
        raise TypeError(f"logical_not: ~ needs a boolean tensor, got dtype {a.dtype} (compare first, e.g. ~(x > 0))")
    return Tensor(~a.data)
