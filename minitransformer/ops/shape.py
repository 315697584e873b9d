"""Ops that move values around without changing them.

Their backward moves the gradient back: reshape undoes reshape, a
permutation of the dims applies the inverse permutation, broadcast_to sums
over the broadcast axes, concatenate and stack cut the gradient into the
pieces' shapes.

The functions speak PyTorch: ``transpose(x, dim0, dim1)`` swaps two dims,
``permute(x, dims)`` reorders them all (NumPy's ``transpose(axes)``, the
``Transpose`` Function), ``split`` cuts pieces of a given size, ``repeat``
tiles.  The rest are made of those few Functions: a view, a flatten, a
squeeze are reshapes; ``expand`` and ``repeat`` broadcast.
"""
from __future__ import annotations

import math
import operator

import numpy

from ..autograd import Function
from ..backend import get_array_module
from .broadcasting import dim_argument, normalize_axis, unbroadcast


class Reshape(Function):
    @staticmethod
    def forward(ctx, x, shape):
        ctx.x_shape = x.shape
        try:
            return x.reshape(shape)
        except ValueError:
            raise ValueError(
                f"reshape: cannot reshape a tensor of shape {tuple(x.shape)} ({x.size} elements) "
                f"into shape {tuple(shape)}"
            ) from None

    @staticmethod
    def backward(ctx, grad):
        """Reshaping keeps every value: reshape the gradient back."""
        return grad.reshape(ctx.x_shape), None



class Transpose(Function):
    """A permutation of the dims (NumPy's ``transpose(axes)``): ``permute`` and ``transpose`` apply it."""

    @staticmethod
    def forward(ctx, x, axes=None):
        if axes is None:
            axes = tuple(reversed(range(x.ndim)))
        if sorted(a % max(x.ndim, 1) for a in axes) != list(range(x.ndim)):
            raise ValueError(f"permute: dims {tuple(axes)} are not a permutation of the {x.ndim} dims of "
                             f"shape {tuple(x.shape)}")
        ctx.axes = tuple(a % x.ndim for a in axes)
        return x.transpose(ctx.axes)

    @staticmethod
    def backward(ctx, grad):
        """Apply the inverse permutation: axis axes[i] of x became axis i of the output."""
        inverse = [0] * len(ctx.axes)
        for i, a in enumerate(ctx.axes):
            inverse[a] = i
        return get_array_module(grad).transpose(grad, inverse), None



class BroadcastTo(Function):
    @staticmethod
    def forward(ctx, x, shape):
        ctx.x_shape = x.shape
        try:
            return get_array_module(x).broadcast_to(x, shape)
        except ValueError:
            raise ValueError(f"broadcast_to: cannot broadcast shape {tuple(x.shape)} to {tuple(shape)}") from None

    @staticmethod
    def backward(ctx, grad):
        """Each element was copied: sum the copies' gradients (unbroadcast)."""
        return unbroadcast(grad, ctx.x_shape), None



class Concatenate(Function):
    @staticmethod
    def forward(ctx, *xs, axis=0):
        if not xs:
            raise ValueError("concatenate: needs at least one tensor")
        axis = normalize_axis(axis, xs[0].ndim, "concatenate")[0]
        ctx.axis, ctx.sizes = axis, [x.shape[axis] for x in xs]
        try:
            return get_array_module(*xs).concatenate(xs, axis=axis)
        except ValueError:
            shapes = ", ".join(str(tuple(x.shape)) for x in xs)
            raise ValueError(
                f"concatenate: shapes {shapes} must agree on every axis but axis {axis}"
            ) from None

    @staticmethod
    def backward(ctx, grad):
        """Each input receives its own slice of the gradient along the axis."""
        pieces, start = [], 0
        index = [slice(None)] * grad.ndim
        for n in ctx.sizes:
            index[ctx.axis] = slice(start, start + n)
            pieces.append(grad[tuple(index)])
            start += n
        return tuple(pieces)



class Stack(Function):
    @staticmethod
    def forward(ctx, *xs, axis=0):
        if not xs:
            raise ValueError("stack: needs at least one tensor")
        if len({x.shape for x in xs}) > 1:
            shapes = ", ".join(str(tuple(x.shape)) for x in xs)
            raise ValueError(f"stack: all tensors must have the same shape, got {shapes}")
        ctx.axis = normalize_axis(axis, xs[0].ndim + 1, "stack")[0]
        ctx.count = len(xs)
        return get_array_module(*xs).stack(xs, axis=ctx.axis)

    @staticmethod
    def backward(ctx, grad):
        """Input i receives the gradient's slice i along the new axis."""
        index = [slice(None)] * grad.ndim
        pieces = []
        for i in range(ctx.count):
            index[ctx.axis] = i
            pieces.append(grad[tuple(index)])
        return tuple(pieces)



def _sizes(op: str, sizes) -> tuple:
    """``f(2, 3)`` and ``f((2, 3))`` alike (PyTorch takes both), as a tuple of ints."""
    if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
        sizes = sizes[0]
    try:
        return tuple(map(operator.index, sizes))   # ints (NumPy's too); a float is refused, not truncated
    except TypeError:
        raise TypeError(f"{op}: sizes must be ints, got {tuple(sizes)!r}") from None


def reshape(x, *shape):
    """The same elements in another shape (one size may be -1: what is left): ``x.reshape(2, -1)``."""
    return Reshape.apply(x, _sizes("reshape", shape))


def view(x, *shape):
    """PyTorch's ``view``: :func:`reshape`.  PyTorch's refuses a tensor whose memory
    is not laid out in order (after a transpose); the arrays here always allow a reshape."""
    return Reshape.apply(x, _sizes("view", shape))


def contiguous(x):
    """``x`` itself.  In PyTorch it copies a tensor whose memory is out of order
    so that ``view`` accepts it; here every reshape works, so there is nothing to do."""
    return x


def permute(x, *dims):
    """Reorder the dims: dim ``dims[i]`` of ``x`` becomes dim ``i`` (``x.permute(0, 2, 1, 3)``).

    NumPy calls this ``transpose(axes)``; on a Tensor ``transpose`` swaps two dims (PyTorch).
    """
    return Transpose.apply(x, _sizes("permute", dims))


def transpose(x, *dims):
    """``transpose(x, dim0, dim1)``: swap two dims (PyTorch's meaning): ``k.transpose(-2, -1)``.

    NumPy's ``a.transpose(axes)``, a whole permutation, is :func:`permute`;
    ``x.T`` reverses every dim.
    """
    if len(dims) != 2:
        shown = ", ".join(map(str, dims[0] if len(dims) == 1 and isinstance(dims[0], (tuple, list)) else dims))
        raise TypeError(f"transpose: takes the two dims to swap (PyTorch's meaning), got {dims!r}; "
                        f"for NumPy's transpose, a permutation of every dim, use permute({shown})")
    dim0, dim1 = dims
    ndim = max(x.ndim, 1)
    for d in (dim0, dim1):
        if not isinstance(d, (int, numpy.integer)) or not -ndim <= d < ndim:
            raise ValueError(f"transpose: dims ({dim0!r}, {dim1!r}) are not two dims of shape {tuple(x.shape)} "
                             "(transpose(dim0, dim1) swaps two dims; for a permutation of all of them use permute)")
    order = list(range(x.ndim))
    if x.ndim:
        order[dim0], order[dim1] = order[dim1], order[dim0]
    return Transpose.apply(x, tuple(order))


def swapaxes(x, axis1: int, axis2: int):
    """NumPy's name of :func:`transpose`: swap two axes."""
    return transpose(x, axis1, axis2)


def t(x):
    """The transpose of a matrix (a 0-d or 1-d tensor comes back as it is), as PyTorch's ``x.t()``."""
    if x.ndim > 2:
        raise ValueError(f"t: expects a tensor of at most 2 dims, got shape {tuple(x.shape)}; "
                         "use transpose(dim0, dim1) or permute")
    return Transpose.apply(x, None)


def reversed_dims(x):
    """``x.T``: every dim reversed (NumPy's ``a.T``; PyTorch's for a matrix)."""
    return Transpose.apply(x, None)


def broadcast_to(x, shape):
    return BroadcastTo.apply(x, tuple(shape))


def expand(x, *sizes):
    """PyTorch's broadcast: dims of length 1 stretched to ``sizes`` (no copy in PyTorch).

    -1 keeps a dim's length; new dims may be added in front (not -1 there):
    ``mt.ones(3, 1).expand(2, -1, 4)`` has shape (2, 3, 4).
    """
    sizes = _sizes("expand", sizes)
    new = len(sizes) - x.ndim
    if new < 0:
        raise ValueError(f"expand: {len(sizes)} sizes {sizes} for a tensor of {x.ndim} dims "
                         f"(shape {tuple(x.shape)}): give at least one size per dim")
    if -1 in sizes[:new]:
        raise ValueError(f"expand: -1 in sizes {sizes} at a new leading dim: it has no length to keep")
    shape = tuple(x.shape[i - new] if n == -1 else n for i, n in enumerate(sizes))
    return broadcast_to(x, shape)


def repeat(x, *sizes):
    """PyTorch's ``repeat``: tile ``x`` ``sizes[i]`` times along dim i (NumPy's ``tile``).

    ``mt.tensor([1, 2]).repeat(2, 2)`` is ``[[1, 2, 1, 2], [1, 2, 1, 2]]``.
    ``sizes`` has at least one entry per dim; extra ones add leading dims.  It
    is a broadcast between reshapes: x as (1, n0, 1, n1, ...) broadcast to
    (r0, n0, r1, n1, ...) and flattened pairwise to (r0*n0, r1*n1, ...), so
    the gradient of each element is the sum over its copies.
    """
    sizes = _sizes("repeat", sizes)
    if len(sizes) < x.ndim:
        raise ValueError(f"repeat: {len(sizes)} repeat counts {sizes} for a tensor of {x.ndim} dims "
                         f"(shape {tuple(x.shape)}): give one per dim at least")
    if any(r < 0 for r in sizes):
        raise ValueError(f"repeat: counts must be >= 0, got {sizes}")
    shape = (1,) * (len(sizes) - x.ndim) + tuple(x.shape)
    interleaved = tuple(k for n in shape for k in (1, n))
    tiled = tuple(k for r, n in zip(sizes, shape) for k in (r, n))
    out = broadcast_to(Reshape.apply(x, interleaved), tiled)
    return Reshape.apply(out, tuple(r * n for r, n in zip(sizes, shape)))


def flatten(x, start_dim: int = 0, end_dim: int = -1):
    """Dims ``start_dim`` to ``end_dim`` (both included) merged into one; a 0-d tensor becomes shape (1,)."""
    if x.ndim == 0:
        normalize_axis(start_dim, 1, "flatten"), normalize_axis(end_dim, 1, "flatten")
        return Reshape.apply(x, (1,))
    start, end = (normalize_axis(d, x.ndim, "flatten")[0] for d in (start_dim, end_dim))
    if start > end:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} (shape {tuple(x.shape)})")
    merged = math.prod(x.shape[start:end + 1])
    return Reshape.apply(x, x.shape[:start] + (merged,) + x.shape[end + 1:])


def squeeze(x, dim=None, *, axis=None):
    """Remove dims of length 1: all of them, or those named by ``dim`` (an int or a tuple).

    As in PyTorch, a named dim whose length is not 1 is left as it is (NumPy
    would raise).
    """
    dim = dim_argument("squeeze", dim, axis)
    if dim is None:
        named = set(range(x.ndim))
    else:
        named = set(normalize_axis(dim, max(x.ndim, 1), "squeeze")) if x.ndim else set()
    new_shape = tuple(n for i, n in enumerate(x.shape) if not (i in named and n == 1))
    return Reshape.apply(x, new_shape)


def unsqueeze(x, dim=None, *, axis=None):
    """Insert a dim of length 1 at position ``dim`` of the result (NumPy's expand_dims)."""
    dim = dim_argument("unsqueeze", dim, axis)
    ndim = x.ndim + 1
    if not isinstance(dim, (int, numpy.integer)) or not -ndim <= dim < ndim:
        raise ValueError(f"unsqueeze: dim {dim!r} out of range for a result with {ndim} dimensions "
                         f"(valid: {-ndim}..{ndim - 1})")
    dim %= ndim
    return Reshape.apply(x, x.shape[:dim] + (1,) + x.shape[dim:])


def concatenate(tensors, dim=None, *, axis=None):
    """Join tensors along an existing dim (default 0); their other dims must agree.
    PyTorch's ``cat``; ``axis=`` is NumPy's name."""
    dim = dim_argument("concatenate", dim, axis)
    return Concatenate.apply(*tensors, axis=0 if dim is None else dim)


def cat(tensors, dim: int = 0):
    """PyTorch's name of :func:`concatenate`: ``mt.cat([a, b], dim=-1)``."""
    return Concatenate.apply(*tensors, axis=dim)


def stack(tensors, dim=None, *, axis=None):
    """Join tensors of one shape along a new dim (default 0)."""
    dim = dim_argument("stack", dim, axis)
    return Stack.apply(*tensors, axis=0 if dim is None else dim)


def split(x, split_size_or_sections, dim: int = 0) -> tuple:
    """Cut ``x`` along ``dim`` into pieces, as PyTorch's ``split``.

    An int is the length of each piece (the last one may be shorter):
    ``x.split(2)`` of a length-5 dim gives lengths 2, 2, 1.  A list gives the
    lengths themselves, which must add up to the dim's length.  (NumPy's
    ``split`` takes a *count* of pieces: that is :func:`chunk`.)
    """
    axis = normalize_axis(dim, x.ndim, "split")[0]
    n = x.shape[axis]
    if isinstance(split_size_or_sections, (int, numpy.integer)):
        size = int(split_size_or_sections)
        if size <= 0 and not (size == 0 and n == 0):
            raise ValueError(f"split: the size of each piece must be positive, got {size}")
        sizes = [min(size, n - start) for start in range(0, n, size)] if n else [0]
    else:
        sizes = [int(k) for k in split_size_or_sections]
        if any(k < 0 for k in sizes) or sum(sizes) != n:
            raise ValueError(f"split: lengths {sizes} must be >= 0 and add up to {n}, the length of dim "
                             f"{dim} of shape {tuple(x.shape)}")
    index = [slice(None)] * x.ndim
    pieces, start = [], 0
    for k in sizes:
        index[axis] = slice(start, start + k)
        pieces.append(x[tuple(index)])
        start += k
    return tuple(pieces)


def chunk(x, chunks: int, dim: int = 0) -> tuple:
    """Cut ``x`` along ``dim`` into ``chunks`` pieces of ceil(n / chunks) elements (the last
    may be shorter, and there may be fewer pieces), as PyTorch's ``chunk``."""
    if isinstance(chunks, bool) or not isinstance(chunks, (int, numpy.integer)) or chunks <= 0:
        raise ValueError(f"chunk: the number of chunks must be a positive int, got {chunks!r}")
    n = x.shape[normalize_axis(dim, x.ndim, "chunk")[0]]
    return split(x, max(-(-n // int(chunks)), 1), dim)
