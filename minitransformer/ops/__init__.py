"""The differentiable ops, as functions and as Tensor methods and operators.

Each op is one file: its Function class (forward and backward, the formula)
and the function users call, side by side.  The Tensor class knows nothing
of the ops (so ``autograd`` never imports ``ops``); this package attaches
them once, here: after ``import minitransformer``, ``a + b`` is
``Add.apply(a, b)`` and ``x.sum(dim=0)`` is ``Sum.apply(x, axis=0)``.  It
also registers the Tensor namespace (:mod:`.tensor_namespace`) as the
``xp`` of Tensors, so that each backward runs on Tensors too.

Tensor's methods speak PyTorch (``x.transpose(0, 1)`` swaps two dims,
``x.max(dim)`` returns values and indices, ``x.var()`` is unbiased,
``x.size()`` is the shape) and accept NumPy's spellings where they mean no
different thing (``axis=``, ``keepdims=``, ``astype``, ``swapaxes``).
"""
from __future__ import annotations

from ..autograd import Tensor
from ..backend import register_namespace
from . import tensor_namespace
from .arithmetic import add, divide, multiply, negative, power, subtract
from .comparison import (
    equal, greater, greater_equal, less, less_equal, logical_and, logical_not, logical_or, logical_xor,
    not_equal,
)
from .indexing import getitem, index_select
from .matrix_product import matmul
from .ordering import ValuesIndices, argmax, argmin, topk
from .reduction import amax, amin, logsumexp, max, mean, min, std, sum, var
from .sampling import multinomial
from .selection import masked_fill, maximum, minimum, tril, triu, where
from .shape import (
    broadcast_to, cat, chunk, concatenate, contiguous, expand, flatten, permute, repeat, reshape,
    reversed_dims, split, squeeze, stack, swapaxes, t, transpose, unsqueeze, view,
)
from .unary import abs, clip, cos, erf, exp, gelu, log, relu, sigmoid, sin, sqrt, tanh


def _swap(fn):
    return lambda self, other: fn(other, self)


def attach_tensor_methods() -> None:
    """Give Tensor its operators and NumPy-style methods."""
    operators = {
        "__add__": add, "__radd__": _swap(add),
        "__sub__": subtract, "__rsub__": _swap(subtract),
        "__mul__": multiply, "__rmul__": _swap(multiply),
        "__truediv__": divide, "__rtruediv__": _swap(divide),
        "__pow__": power, "__rpow__": _swap(power),
        "__matmul__": matmul, "__rmatmul__": _swap(matmul),
        "__neg__": negative, "__getitem__": getitem,
        "__eq__": equal, "__ne__": not_equal,
        "__lt__": less, "__le__": less_equal,
        "__gt__": greater, "__ge__": greater_equal,
        "__and__": logical_and, "__rand__": _swap(logical_and),
        "__or__": logical_or, "__ror__": _swap(logical_or),
        "__xor__": logical_xor, "__rxor__": _swap(logical_xor),
        "__invert__": logical_not, "__abs__": abs,
    }
    methods = {
        "exp": exp, "log": log, "sqrt": sqrt, "abs": abs, "sin": sin, "cos": cos, "erf": erf,
        "tanh": tanh, "sigmoid": sigmoid, "relu": relu, "gelu": gelu, "clip": clip,
        "sum": sum, "mean": mean, "var": var, "std": std, "max": max, "min": min, "amax": amax,
        "amin": amin, "logsumexp": logsumexp, "argmax": argmax, "argmin": argmin, "topk": topk,
        "multinomial": multinomial, "maximum": maximum, "minimum": minimum,
        "reshape": reshape, "view": view, "contiguous": contiguous, "flatten": flatten,
        "transpose": transpose, "permute": permute, "swapaxes": swapaxes, "t": t,
        "broadcast_to": broadcast_to, "expand": expand, "repeat": repeat, "squeeze": squeeze,
        "unsqueeze": unsqueeze, "split": split, "chunk": chunk, "triu": triu, "tril": tril,
        "index_select": index_select, "masked_fill": masked_fill, "matmul": matmul,
    }
    for name, fn in {**operators, **methods}.items():
        setattr(Tensor, name, fn)
    # defining __eq__ would otherwise make tensors unhashable
    Tensor.__hash__ = object.__hash__
    Tensor.T = property(reversed_dims)


attach_tensor_methods()
register_namespace(Tensor, tensor_namespace)

__all__ = [
    "ValuesIndices", "abs", "add", "amax", "amin", "argmax", "argmin", "broadcast_to", "cat", "chunk",
    "clip", "concatenate", "cos", "divide", "equal", "erf", "exp", "expand", "flatten",
    "gelu", "getitem", "index_select", "greater", "greater_equal", "less", "less_equal", "log", "logical_and",
    "logical_not", "logical_or", "logical_xor", "logsumexp", "masked_fill", "matmul", "max", "maximum",
    "mean", "min", "minimum", "multinomial", "multiply", "negative", "not_equal", "permute", "power",
    "relu", "reshape", "sigmoid", "sin", "split", "sqrt", "squeeze", "stack", "std",
    "subtract", "sum", "swapaxes", "t", "tanh", "topk", "transpose", "tril", "triu",
    "unsqueeze", "var", "where",
]


# ---------------------------------------------------------------------------
# Casts and in-place ops (dtypes: cast.py; x[i] = v, zero_, add_, +=: in_place.py)
# ---------------------------------------------------------------------------
from .cast import astype, clone  # noqa: E402
from .in_place import IN_PLACE_METHODS  # noqa: E402


def attach_cast_and_in_place_methods() -> None:
    """Give Tensor ``astype`` and ``clone`` (differentiable between floats) and PyTorch's
    in-place methods (``x[i] = v``, ``fill_``, ``add_``, ``+=`` ...), each returning the tensor."""
    for name, fn in {"astype": astype, "clone": clone, **IN_PLACE_METHODS}.items():
        setattr(Tensor, name, fn)


attach_cast_and_in_place_methods()
__all__ += ["clone"]
