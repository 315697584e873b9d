"""The user-facing functions: ``mt.exp(x)``, ``mt.matmul(a, b)``, ``mt.sum(x, axis=1)``...

Each is a thin wrapper that applies a Function; arguments follow NumPy
(``axis=``, ``keepdims=``).  Comparisons return boolean tensors that carry no
gradient.  ``attach_tensor_methods`` (called once by the package) also makes
them methods and operators of Tensor: ``x.sum(axis=0)``, ``a @ b``, ``x[1:]``.
"""
from __future__ import annotations

import numpy

from ..autograd import Tensor
from ..backend import get_array_module
from . import arithmetic, indexing, matmul as _matmul, reduction, selection, shape as _shape, unary


def _scalar(x):
    """NumPy scalars become Python numbers, which never upcast a float32 tensor."""
    return x.item() if isinstance(x, numpy.generic) else x


def _data(x):
    return x.data if isinstance(x, Tensor) else x


# ---------------------------------------------------------------- arithmetic
def add(a, b):
    return arithmetic.Add.apply(_scalar(a), _scalar(b))


def subtract(a, b):
    return arithmetic.Sub.apply(_scalar(a), _scalar(b))


def multiply(a, b):
    return arithmetic.Mul.apply(_scalar(a), _scalar(b))


def divide(a, b):
    return arithmetic.Div.apply(_scalar(a), _scalar(b))


def power(a, b):
    return arithmetic.Pow.apply(_scalar(a), _scalar(b))


def negative(a):
    return arithmetic.Neg.apply(a)


# ---------------------------------------------------------------- elementwise
def exp(x):
    return unary.Exp.apply(x)


def log(x):
    return unary.Log.apply(x)


def sqrt(x):
    return unary.Sqrt.apply(x)


def abs(x):  # noqa: A001  (NumPy's name)
    return unary.Abs.apply(x)


def tanh(x):
    return unary.Tanh.apply(x)


def sigmoid(x):
    return unary.Sigmoid.apply(x)


def relu(x):
    return unary.Relu.apply(x)


def gelu(x, approximate: str = "tanh"):
    """GELU: ``approximate='tanh'`` (the fast form) or ``'none'`` (exact, with erf)."""
    if approximate == "tanh":
        return unary.GeluTanh.apply(x)
    if approximate == "none":
        return unary.GeluErf.apply(x)
    raise ValueError(f"gelu: approximate must be 'tanh' or 'none', got {approximate!r}")


def erf(x):
    """The error function 2/sqrt(pi) * integral_0^x exp(-t^2) dt, elementwise."""
    return unary.Erf.apply(x)


def clip(x, low=None, high=None):
    return unary.Clip.apply(x, _scalar(low), _scalar(high))


def maximum(a, b):
    return selection.Maximum.apply(_scalar(a), _scalar(b))


def minimum(a, b):
    return selection.Minimum.apply(_scalar(a), _scalar(b))


def where(condition, a, b):
    """Elements of ``a`` where ``condition`` is True, of ``b`` elsewhere."""
    cond = condition if isinstance(condition, Tensor) else Tensor(get_array_module(_data(a), _data(b)).asarray(condition))
    return selection.Where.apply(cond, _scalar(a), _scalar(b))


def masked_fill(x, mask, value):
    """``x`` with ``value`` written where ``mask`` is True (as PyTorch's masked_fill)."""
    mask = mask if isinstance(mask, Tensor) else Tensor(get_array_module(x.data).asarray(mask))
    return selection.MaskedFill.apply(x, mask, float(value))


# ---------------------------------------------------------------- reductions
def sum(x, axis=None, keepdims=False):  # noqa: A001
    return reduction.Sum.apply(x, axis=axis, keepdims=keepdims)


def mean(x, axis=None, keepdims=False):
    return reduction.Mean.apply(x, axis=axis, keepdims=keepdims)


def var(x, axis=None, keepdims=False, ddof=0):
    return reduction.Var.apply(x, axis=axis, keepdims=keepdims, ddof=ddof)


def max(x, axis=None, keepdims=False):  # noqa: A001
    return reduction.Max.apply(x, axis=axis, keepdims=keepdims)


def min(x, axis=None, keepdims=False):  # noqa: A001
    return reduction.Min.apply(x, axis=axis, keepdims=keepdims)


def logsumexp(x, axis=None, keepdims=False):
    return reduction.LogSumExp.apply(x, axis=axis, keepdims=keepdims)


# ---------------------------------------------------------------- matmul, shapes
def matmul(a, b):
    return _matmul.MatMul.apply(a, b)


def reshape(x, *shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    return _shape.Reshape.apply(x, tuple(int(s) for s in shape))


def transpose(x, *axes):
    """Permute axes as NumPy does; with no axes, reverse them."""
    if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
        axes = tuple(axes[0])
    return _shape.Transpose.apply(x, tuple(axes) if axes else None)


def permute(x, *axes):
    return transpose(x, *axes)


def swapaxes(x, axis1: int, axis2: int):
    axes = list(range(x.ndim))
    axes[axis1], axes[axis2] = axes[axis2], axes[axis1]
    return _shape.Transpose.apply(x, tuple(axes))


def broadcast_to(x, shape):
    return _shape.BroadcastTo.apply(x, tuple(shape))


def expand(x, *shape):
    """PyTorch's name for broadcast_to; -1 keeps a dimension."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    offset = len(shape) - x.ndim
    shape = tuple(x.shape[i - offset] if s == -1 else s for i, s in enumerate(shape))
    return broadcast_to(x, shape)


def squeeze(x, axis=None):
    """Remove axes of length 1 (all of them, or the ones named)."""
    if axis is None:
        new_shape = tuple(n for n in x.shape if n != 1)
    else:
        axes = (axis,) if isinstance(axis, int) else tuple(axis)
        axes = {a % x.ndim for a in axes}
        for a in axes:
            if x.shape[a] != 1:
                raise ValueError(f"squeeze: axis {a} has length {x.shape[a]}, not 1 (shape {x.shape})")
        new_shape = tuple(n for i, n in enumerate(x.shape) if i not in axes)
    return _shape.Reshape.apply(x, new_shape)


def unsqueeze(x, axis: int):
    """Insert an axis of length 1 at position ``axis`` (NumPy's expand_dims)."""
    ndim = x.ndim + 1
    if not -ndim <= axis < ndim:
        raise ValueError(f"unsqueeze: axis {axis} out of range for a result with {ndim} dimensions")
    axis %= ndim
    return _shape.Reshape.apply(x, x.shape[:axis] + (1,) + x.shape[axis:])


def concatenate(tensors, axis=0):
    return _shape.Concatenate.apply(*tensors, axis=axis)


def stack(tensors, axis=0):
    return _shape.Stack.apply(*tensors, axis=axis)


def split(x, indices_or_sections, axis=0):
    """Split along ``axis`` like numpy.split: a count of equal parts, or cut points."""
    n = x.shape[axis]
    if isinstance(indices_or_sections, int):
        if indices_or_sections <= 0 or n % indices_or_sections:
            raise ValueError(f"split: axis {axis} of length {n} cannot be split into {indices_or_sections} equal parts")
        step = n // indices_or_sections
        cuts = list(range(step, n, step))
    else:
        cuts = list(indices_or_sections)
    bounds = [0] + cuts + [n]
    index = [slice(None)] * x.ndim
    parts = []
    for start, stop in zip(bounds[:-1], bounds[1:]):
        index[axis] = slice(start, stop)
        parts.append(getitem(x, tuple(index)))
    return parts


def getitem(x, index):
    return indexing.GetItem.apply(x, indexing._unwrap_index(index))


def take(x, indices, axis=0):
    """Gather slices of ``x`` along ``axis`` (the embedding lookup for axis 0)."""
    xp = get_array_module(x.data)
    idx = indices if isinstance(indices, Tensor) else Tensor(xp.asarray(indices))
    return indexing.Take.apply(x, idx, axis=axis)


# ---------------------------------------------------------------- comparisons
def _compare(op_name, fn, a, b):
    try:
        return Tensor(fn(_data(a), _data(_scalar(b))))
    except ValueError:
        from ._util import shapes_error  # noqa: PLC0415

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


def argmax(x, axis=None):
    """Indices of the maxima (int64, no gradient)."""
    return Tensor(get_array_module(x.data).argmax(x.data, axis=axis))
