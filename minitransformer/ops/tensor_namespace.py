"""NumPy's names, on Tensors: the ``xp`` an op's backward gets when it runs on Tensors.

An op's backward is written once, as array code: ``xp = get_array_module(grad)``
then ``xp.exp(...)``, ``xp.where(...)``, ``xp.broadcast_to(...)``.  With
``create_graph=True`` the same backward runs on Tensors, and
``get_array_module`` of a Tensor returns this module: the same functions, by
the same names and with NumPy's arguments and meanings (``axis=``,
``keepdims=``), each made of the differentiable ops, so that the derivative
is recorded.  Where a Tensor's method means what PyTorch means and NumPy
means something else, this module keeps NumPy's meaning, since the code
that calls it is array code: ``transpose(x, axes)`` permutes every axis,
``max(x, axis)`` gives the values only, ``var(x)`` is the biased variance.
Functions of constant value (``sign``, ``isfinite``) give Tensors outside
the graph, as comparisons do.
"""
from __future__ import annotations

import numpy

from ..autograd import Tensor
from ..backend import get_array_module
from .arithmetic import add, divide, multiply, negative, power, subtract  # noqa: F401
from .matrix_product import matmul  # noqa: F401
from .reduction import Max, Min, Var, logsumexp, mean, sum  # noqa: F401
from .selection import maximum, minimum, where  # noqa: F401
from .shape import Transpose, broadcast_to, concatenate, reshape, stack, swapaxes  # noqa: F401
from .unary import abs, clip, cos, erf, exp, log, sigmoid, sin, sqrt, tanh  # noqa: F401

inf, pi, e, newaxis = numpy.inf, numpy.pi, numpy.e, None


def _array_module(x):
    return get_array_module(x.data if isinstance(x, Tensor) else x)


def transpose(x, axes=None):
    """NumPy's transpose: permute every axis (reverse them when ``axes`` is None)."""
    return Transpose.apply(x, None if axes is None else tuple(axes))


def max(x, axis=None, keepdims=False):  # noqa: A001  (NumPy's name)
    """NumPy's max: the values only, over ``axis`` (None, an int or a tuple)."""
    return Max.apply(x, axis=axis, keepdims=keepdims)


def min(x, axis=None, keepdims=False):  # noqa: A001
    return Min.apply(x, axis=axis, keepdims=keepdims)


amax, amin = max, min


def var(x, axis=None, keepdims=False, ddof=0):
    """NumPy's var: biased (divide by N) unless ``ddof`` says otherwise."""
    return Var.apply(x, axis=axis, keepdims=keepdims, ddof=ddof)


def std(x, axis=None, keepdims=False, ddof=0):
    return sqrt(var(x, axis=axis, keepdims=keepdims, ddof=ddof))


def expand_dims(x, axis):
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    ndim = x.ndim + len(axes)
    axes = sorted(a % ndim for a in axes)
    shape = list(x.shape)
    for a in axes:
        shape.insert(a, 1)
    return reshape(x, tuple(shape))


def moveaxis(x, source, destination):
    sources = [source] if isinstance(source, int) else list(source)
    destinations = [destination] if isinstance(destination, int) else list(destination)
    sources = [s % x.ndim for s in sources]
    destinations = [d % x.ndim for d in destinations]
    order = [a for a in range(x.ndim) if a not in sources]
    for d, s in sorted(zip(destinations, sources)):
        order.insert(d, s)
    return transpose(x, tuple(order))


def sign(x):
    """The sign of each element: a constant (its derivative is zero wherever it exists)."""
    return Tensor(_array_module(x).sign(x.data))


def isfinite(x):
    return Tensor(_array_module(x).isfinite(x.data))


def zeros_like(x, dtype=None):
    return Tensor(_array_module(x).zeros(x.shape, dtype=dtype or x.dtype))


def ones_like(x, dtype=None):
    return Tensor(_array_module(x).ones(x.shape, dtype=dtype or x.dtype))
