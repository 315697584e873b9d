"""The differentiable ops, as functions and as Tensor methods and operators.

The Tensor class knows nothing of the ops (so ``autograd`` never imports
``ops``); this package attaches them once, here: after ``import
minitransformer``, ``a + b`` is ``Add.apply(a, b)`` and ``x.sum(axis=0)`` is
``Sum.apply(x, axis=0)``.
"""
from __future__ import annotations

from ..autograd import Tensor
from . import functions as _f
from .functions import (
    abs, add, argmax, broadcast_to, clip, concatenate, divide, equal, erf, exp, expand, gelu, getitem,
    greater, greater_equal, less, less_equal, log, logsumexp, masked_fill, matmul, max, maximum,
    mean, min, minimum, multiply, negative, not_equal, permute, power, relu, reshape, sigmoid,
    split, sqrt, squeeze, stack, subtract, sum, swapaxes, take, tanh, transpose, unsqueeze, var,
    where,
)


def _swap(fn):
    return lambda self, other: fn(other, self)


def attach_tensor_methods() -> None:
    """Give Tensor its operators and NumPy-style methods."""
    operators = {
        "__add__": _f.add, "__radd__": _swap(_f.add),
        "__sub__": _f.subtract, "__rsub__": _swap(_f.subtract),
        "__mul__": _f.multiply, "__rmul__": _swap(_f.multiply),
        "__truediv__": _f.divide, "__rtruediv__": _swap(_f.divide),
        "__pow__": _f.power, "__rpow__": _swap(_f.power),
        "__matmul__": _f.matmul, "__rmatmul__": _swap(_f.matmul),
        "__neg__": _f.negative, "__getitem__": _f.getitem,
        "__eq__": _f.equal, "__ne__": _f.not_equal,
        "__lt__": _f.less, "__le__": _f.less_equal,
        "__gt__": _f.greater, "__ge__": _f.greater_equal,
    }
    methods = {
        name: getattr(_f, name)
        for name in (
            "exp", "log", "sqrt", "abs", "erf", "tanh", "sigmoid", "relu", "gelu", "clip",
            "sum", "mean", "var", "max", "min", "logsumexp", "argmax",
            "reshape", "transpose", "permute", "swapaxes", "broadcast_to", "expand",
            "squeeze", "unsqueeze", "split", "take", "masked_fill", "matmul",
        )
    }
    for name, fn in {**operators, **methods}.items():
        setattr(Tensor, name, fn)
    # defining __eq__ would otherwise make tensors unhashable
    Tensor.__hash__ = object.__hash__
    Tensor.T = property(lambda self: _f.transpose(self))
    Tensor.view = _f.reshape
    Tensor.__abs__ = _f.abs


attach_tensor_methods()

__all__ = [
    "abs", "add", "argmax", "broadcast_to", "clip", "concatenate", "divide", "equal", "erf", "exp",
    "expand", "gelu", "getitem", "greater", "greater_equal", "less", "less_equal", "log",
    "logsumexp", "masked_fill", "matmul", "max", "maximum", "mean", "min", "minimum", "multiply",
    "negative", "not_equal", "permute", "power", "relu", "reshape", "sigmoid", "split", "sqrt",
    "squeeze", "stack", "subtract", "sum", "swapaxes", "take", "tanh", "transpose", "unsqueeze",
    "var", "where",
]
