"""Indexing: x[index] with NumPy's rules, x[index] = value, and take (gather) along an axis.

The backward of picking elements puts the gradient back where they came from:
a zero tensor of the input's shape with the gradient added at the index.  For
``create_graph=True`` that scatter is itself an op, :class:`IndexAdd`, whose
backward is picking again (``grad[index]``): the two are each other's adjoint,
so gradients of any order alternate between them.  These ops therefore have
a ``backward_graph`` (the adjoint op, on Tensors) beside their array
``backward``; the registry tests prove the two equal.

Writing, ``x[index] = value``, is :class:`SetItem` when the graph must
record it (``ops/in_place.py`` decides): the new tensor is x with value put
at index.  Its derivative keeps x's gradient where x was kept and hands the
gradient of the written places to value.
"""
from __future__ import annotations

import numpy

from ..autograd import Function, Tensor
from ..backend import get_array_module
from .broadcasting import unbroadcast
from .checks import out_of_range


def _is_basic(index) -> bool:
    """True for ints, slices, None and Ellipsis: a view, every element picked once."""
    items = index if isinstance(index, tuple) else (index,)
    return all(isinstance(i, (int, slice)) or i is None or i is Ellipsis for i in items)


def _unwrap_index(index):
    """Tensors inside an index become their arrays (they carry no gradient)."""
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, tuple):
        return tuple(i.data if isinstance(i, Tensor) else i for i in index)
    return index


def _index_on_backend_of(x, index):
    """``index`` with its host NumPy arrays sent to ``x``'s backend (a mask or ids built
    on the host index a device array as they do in CuPy and PyTorch: copied there)."""
    xp = get_array_module(x)
    if xp is numpy:
        return index
    if isinstance(index, tuple):
        return tuple(_index_on_backend_of(x, i) for i in index)
    return xp.asarray(index) if isinstance(index, numpy.ndarray) else index


class GetItem(Function):
    @staticmethod
    def forward(ctx, x, index):
        index = _index_on_backend_of(x, index)
        ctx.x_shape, ctx.x_dtype, ctx.index = x.shape, x.dtype, index
        try:
            return x[index]
        except IndexError as exc:
            raise IndexError(f"getitem: index {index!r} is invalid for a tensor of shape {tuple(x.shape)}: {exc}") from None

    @staticmethod
    def backward(ctx, grad):
        """Scatter the gradient back to the picked places, zeros elsewhere.

        An integer-array index may pick one element several times: those
        gradients must add up, so advanced indexing uses ``add.at``.
        """
        return _index_add(grad, ctx.index, ctx.x_shape, ctx.x_dtype), None

    @staticmethod
    def backward_graph(ctx, grad):
        return IndexAdd.apply(grad, index=ctx.index, shape=ctx.x_shape), None


class SetItem(Function):
    """x with ``value`` written at ``index`` (broadcast, cast to x's dtype): ``out = x; out[index] = value``."""

    @staticmethod
    def forward(ctx, x, value, index=None):
        xp = get_array_module(x)
        index = _index_on_backend_of(x, index)
        out = x.copy()
        try:
            out[index] = value
        except (IndexError, ValueError) as exc:
            kind = IndexError if isinstance(exc, IndexError) else ValueError
            raise kind(
                f"setitem: cannot write a value of shape {tuple(getattr(value, 'shape', ()))} at index "
                f"{index!r} of a tensor of shape {tuple(x.shape)}: {exc}"
            ) from None
        kept = xp.ones(x.shape, dtype=x.dtype)
        kept[index] = 0                 # 1 where x's value is kept: a constant mask
        ctx.save_for_backward(kept)
        ctx.index, ctx.value_shape = index, tuple(getattr(value, "shape", ()))
        return out

    @staticmethod
    def backward(ctx, grad):
        """d out/dx is 1 where x was kept, 0 where value was written; d out/d value
        picks the written places (summed over the axes value was broadcast along).

        (A place written twice by repeated integer indices keeps one value, as in
        NumPy; each copy of value gets that place's gradient.)
        """
        (kept,) = ctx.saved_tensors
        grad_value = None
        if ctx.needs_input_grad[1]:
            picked = grad[ctx.index]
            # value may carry leading axes of length 1 that the written place lacks
            extra = len(ctx.value_shape) - picked.ndim
            if extra > 0:
                picked = picked.reshape((1,) * extra + tuple(picked.shape))
            grad_value = unbroadcast(picked, ctx.value_shape)
        return grad * kept, grad_value


def setitem(x, index, value):
    """A new tensor: ``x`` with ``value`` written at ``index``, recorded in the graph."""
    return SetItem.apply(x, value, index=_unwrap_index(index))


def _index_add(values, index, shape, dtype):
    """zeros(shape) with ``values`` added at ``index`` (repeated picks add up)."""
    xp = get_array_module(values)
    out = xp.zeros(shape, dtype=dtype)
    if _is_basic(index):
        out[index] = values
    else:
        xp.add.at(out, index, values)
    return out


class IndexAdd(Function):
    """The adjoint of ``x[index]``: a zero tensor of ``shape`` with ``values`` added at ``index``."""

    @staticmethod
    def forward(ctx, values, index=None, shape=()):
        index = _index_on_backend_of(values, index)
        ctx.index = index
        try:
            return _index_add(values, index, tuple(shape), values.dtype)
        except (IndexError, ValueError) as exc:
            raise ValueError(
                f"IndexAdd: values of shape {tuple(values.shape)} cannot be added at index {index!r} "
                f"of a tensor of shape {tuple(shape)}: {exc}"
            ) from None

    @staticmethod
    def backward(ctx, grad):
        """out = sum of values put at index, so d out/d values picks: dL/dvalues = g[index]."""
        return grad[ctx.index]

    @staticmethod
    def backward_graph(ctx, grad):
        return GetItem.apply(grad, ctx.index)


class Take(Function):
    @staticmethod
    def forward(ctx, x, indices, axis=0):
        xp = get_array_module(x)
        if indices.dtype.kind not in "iu":
            raise TypeError(f"index_select: indices must be integers, got dtype {indices.dtype}")
        axis = axis % x.ndim
        n = x.shape[axis]
        bad = out_of_range(indices, n)
        if bad is not None:
            raise IndexError(
                f"index_select: index {bad[0]} is out of range for axis {axis} of size {n} "
                f"(shape {tuple(x.shape)}); valid indices are 0..{n - 1}, negative ones are not allowed"
            )
        ctx.save_for_backward(indices)
        ctx.x_shape, ctx.axis = x.shape, axis
        return xp.take(x, indices, axis=axis)

    @staticmethod
    def backward(ctx, grad):
        """out[..., j, ...] = x[..., indices[j], ...]: add each slice's gradient to
        the slice of x it came from (repeated indices accumulate)."""
        (indices,) = ctx.saved_tensors
        xp = get_array_module(grad)
        axis = ctx.axis
        # move the gathered axes to the front: rows of (num_indices, rest)
        g = xp.moveaxis(grad, list(range(axis, axis + indices.ndim)), list(range(indices.ndim)))
        g = g.reshape(indices.size, -1)
        rows = scatter_add_rows(indices.reshape(-1), g, ctx.x_shape[axis])
        x_moved = (ctx.x_shape[axis],) + ctx.x_shape[:axis] + ctx.x_shape[axis + 1:]
        return xp.moveaxis(rows.reshape(x_moved), 0, axis), None

    @staticmethod
    def backward_graph(ctx, grad):
        """take(x, indices, axis) is x[:, ..., :, indices]: its adjoint is IndexAdd there."""
        (indices,) = ctx.saved_tensors
        index = (slice(None),) * ctx.axis + (indices,)
        return IndexAdd.apply(grad, index=index, shape=ctx.x_shape), None


def scatter_add_rows(ids, rows, num_rows: int):
    """out[i] = sum of rows[j] over all j with ids[j] == i, shape (num_rows, D): an
    embedding's gradient (repeated ids add up; ``add.at`` adds every one, where
    ``out[ids] += rows`` would keep only the last)."""
    xp = get_array_module(rows)
    out = xp.zeros((num_rows, rows.shape[1]), dtype=rows.dtype)
    xp.add.at(out, ids, rows)
    return out


def getitem(x, index):
    return GetItem.apply(x, _unwrap_index(index))


def index_select(x, dim, index):
    """The slices of ``x`` at integer ``index`` along ``dim`` (PyTorch's index_select; the
    embedding lookup for dim 0).  ``index`` may have any shape: its axes replace ``dim``."""
    xp = get_array_module(x.data)
    idx = index if isinstance(index, Tensor) else Tensor(xp.asarray(index))
    return Take.apply(x, idx, axis=dim)
