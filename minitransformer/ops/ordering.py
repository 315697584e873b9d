"""Where the largest values are: argmax, argmin, topk, and max/min along a dim with their indices.

An index is an integer: it has no derivative, so ``argmax`` and ``topk``'s
indices are int64 tensors outside the graph.  The *values* they point at are
differentiable: they are picked from the input with the indices
(:func:`take_along_dim`, an indexing op), so the gradient of a picked value
goes back to the one element it was picked from -- for tied maxima, to the
one whose index was returned, as in PyTorch.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy

from ..autograd import Tensor
from ..backend import backend_of, get_array_module
from .broadcasting import dim_argument, keepdim_argument, normalize_axis
from .indexing import getitem


class ValuesIndices(NamedTuple):
    """What ``x.max(dim)``, ``x.min(dim)`` and ``x.topk(k)`` return, as PyTorch does:
    ``values, indices = x.max(dim)``, or ``.values`` and ``.indices``."""

    values: Tensor
    indices: Tensor


def stable_argsort(keys, axis: int):
    """The indices that sort ``keys`` along ``axis``, ties kept in their order.

    NumPy is asked for its stable sort; CuPy's sort is always stable (and older
    versions take no ``kind``)."""
    xp = get_array_module(keys)
    if backend_of(keys) == "cupy":
        return xp.argsort(keys, axis=axis)
    return xp.argsort(keys, axis=axis, kind="stable")


def _one_dim(op: str, dim, ndim: int) -> int:
    """``dim`` as an axis >= 0 (a 0-d tensor has the one dim 0 or -1, as in PyTorch)."""
    return normalize_axis(dim, max(ndim, 1), op)[0]


def take_along_dim(x, indices, dim: int):
    """``out[i][j][k] = x[i][indices[i][j][k]][k]`` for dim 1: the elements ``indices`` name along ``dim``.

    ``indices`` (an int array of x's backend) has x's shape on every other
    dim.  It is x indexed by one integer array per dim: ``indices`` on ``dim``
    and ``arange`` on the others, which broadcast together; the indexing op's
    backward adds each value's gradient back at its place.
    """
    xp = get_array_module(indices)
    index = []
    for axis in range(x.ndim):
        if axis == dim:
            index.append(indices)
        else:
            shape = [1] * x.ndim
            shape[axis] = indices.shape[axis]
            index.append(xp.arange(indices.shape[axis]).reshape(shape))
    return getitem(x, tuple(index))


def extremum_along(x, dim: int, keepdim: bool, name: str) -> ValuesIndices:
    """``(values, indices)`` of the max (``name="max"``) or min of ``x`` along one dim."""
    if x.ndim == 0:
        _one_dim(name, dim, 0)
        return ValuesIndices(x.reshape(()), Tensor(get_array_module(x.data).zeros((), dtype=numpy.int64)))
    axis = _one_dim(name, dim, x.ndim)
    if x.shape[axis] == 0:
        raise IndexError(f"{name}: dim {dim} of shape {x.shape} is empty: it has no {name}imum")
    xp = get_array_module(x.data)
    pick = xp.argmax if name == "max" else xp.argmin     # the first of tied extrema
    indices = xp.expand_dims(pick(x.data, axis=axis), axis).astype(numpy.int64)
    values = take_along_dim(x, indices, axis)
    if not keepdim:
        values, indices = values.squeeze(axis), xp.squeeze(indices, axis)
    return ValuesIndices(values, Tensor(indices))


def _arg_extremum(op: str, x, dim, keepdim, axis, keepdims):
    dim = dim_argument(op, dim, axis)
    keepdim = keepdim_argument(op, keepdim, keepdims)
    xp = get_array_module(x.data)
    pick = xp.argmax if op == "argmax" else xp.argmin
    if x.data.size == 0:
        raise ValueError(f"{op}: the tensor of shape {x.shape} is empty")
    if dim is None:                     # the index into the flattened tensor
        index = pick(x.data).astype(numpy.int64)
        return Tensor(index.reshape((1,) * x.ndim) if keepdim else index)
    if x.ndim == 0:
        _one_dim(op, dim, 0)
        return Tensor(xp.zeros((), dtype=numpy.int64))
    axis = _one_dim(op, dim, x.ndim)
    index = pick(x.data, axis=axis).astype(numpy.int64)
    return Tensor(xp.expand_dims(index, axis) if keepdim else index)


def argmax(x, dim=None, keepdim=False, *, axis=None, keepdims=None):
    """Indices of the maxima along ``dim`` (int64, no gradient); with no dim, the
    index into the flattened tensor.  Ties give the first index."""
    return _arg_extremum("argmax", x, dim, keepdim, axis, keepdims)


def argmin(x, dim=None, keepdim=False, *, axis=None, keepdims=None):
    """Indices of the minima along ``dim`` (as :func:`argmax`)."""
    return _arg_extremum("argmin", x, dim, keepdim, axis, keepdims)


def topk(x, k: int, dim: int = -1, largest: bool = True, sorted: bool = True) -> ValuesIndices:  # noqa: A002
    """The ``k`` largest (or, with ``largest=False``, smallest) values along ``dim``, and their indices.

    Returns ``(values, indices)`` like PyTorch: ``values`` differentiable (each
    one's gradient goes to the element it came from), ``indices`` int64.  The
    values always come out sorted, largest first (smallest first with
    ``largest=False``), which ``sorted=False`` also allows; tied values keep
    their order in ``x``.
    """
    xp = get_array_module(x.data)
    if x.data.dtype.kind not in "iuf":
        raise TypeError(f"topk: expected a tensor of numbers, got dtype {x.dtype}")
    axis = _one_dim("topk", dim, x.ndim)
    n = x.shape[axis] if x.ndim else 1
    if isinstance(k, bool) or not isinstance(k, (int, numpy.integer)) or not 0 <= k <= n:
        raise ValueError(f"topk: k={k!r} is out of range: dim {dim} of shape {x.shape} has {n} elements")
    if x.ndim == 0:                     # as in PyTorch: the one element and its index 0
        return ValuesIndices(x.reshape(()), Tensor(xp.zeros((), dtype=numpy.int64)))
    # a stable sort keeps tied values in their order; the largest first is the
    # smallest of -x (for unsigned integers, of the bitwise complement)
    keys = x.data if not largest else (~x.data if x.data.dtype.kind == "u" else -x.data)
    order = stable_argsort(keys, axis)
    first_k = (slice(None),) * axis + (slice(0, k),)
    indices = order[first_k].astype(numpy.int64)
    return ValuesIndices(take_along_dim(x, indices, axis), Tensor(indices))
