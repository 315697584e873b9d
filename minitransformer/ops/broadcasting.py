"""Shapes under broadcasting and reductions: the unbroadcast rule and axis handling.

A Tensor method takes its axes under PyTorch's names (``dim=``,
``keepdim=``) or NumPy's (``axis=``, ``keepdims=``): :func:`dim_argument`
and :func:`keepdim_argument` accept either, and refuse both at once.
"""
from __future__ import annotations

import numpy


def unbroadcast(grad, shape):
    """Sum ``grad`` over the axes that broadcasting added or stretched.

    If ``a`` of shape ``shape`` was broadcast to ``grad.shape`` in the forward
    pass, each element of ``a`` was used once per copy, so its gradient is the
    sum of the gradients of its copies: sum the leading axes broadcasting
    added, then (keeping them) the axes of length 1 it stretched.
    (Works on arrays and on Tensors alike.)
    """
    shape = tuple(shape)
    if tuple(grad.shape) == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra > 0:
        grad = grad.sum(axis=tuple(range(extra)))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if stretched:
        grad = grad.sum(axis=stretched, keepdims=True)
    return grad


def normalize_axis(axis, ndim: int, op: str):
    """``axis`` as a sorted tuple of non-negative axes (None means all)."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, numpy.integer)) else tuple(axis)
    out = []
    for a in axes:
        a = int(a)
        if not -ndim <= a < max(ndim, 1):
            raise ValueError(f"{op}: axis {a} is out of range for a tensor with {ndim} dimension(s)")
        out.append(a % ndim if ndim else 0)
    return tuple(sorted(set(out)))


def keepdims_shape(shape, axes) -> tuple:
    """The shape a reduction over ``axes`` has with keepdims=True."""
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


def python_scalar(x):
    """A NumPy scalar as a Python number, which (as a weak scalar) never upcasts a float32 tensor."""
    return x.item() if isinstance(x, numpy.generic) else x


def dim_argument(op: str, dim, axis):
    """The axes of a reduction, given as PyTorch's ``dim`` or NumPy's ``axis`` (one name, not both)."""
    if axis is None:
        return dim
    if dim is not None:
        raise TypeError(f"{op}: got dim={dim!r} and axis={axis!r}; they are one argument under "
                        "PyTorch's and NumPy's names: pass one")
    return axis


def keepdim_argument(op: str, keepdim, keepdims) -> bool:
    """Whether a reduction keeps its reduced axes: PyTorch's ``keepdim`` or NumPy's ``keepdims``."""
    if keepdims is None:
        return bool(keepdim)
    if keepdim:
        raise TypeError(f"{op}: got keepdim={keepdim!r} and keepdims={keepdims!r}; they are one argument "
                        "under PyTorch's and NumPy's names: pass one")
    return bool(keepdims)
