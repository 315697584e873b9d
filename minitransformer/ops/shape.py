"""Ops that move values around without changing them.

Their backward moves the gradient back: reshape undoes reshape, transpose
applies the inverse permutation, broadcast_to sums over the broadcast axes,
concatenate and stack cut the gradient into the pieces' shapes.
"""
from __future__ import annotations

from ..autograd import Function
from ..backend import get_array_module
from .broadcasting import normalize_axis, unbroadcast


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
    @staticmethod
    def forward(ctx, x, axes=None):
        if axes is None:
            axes = tuple(reversed(range(x.ndim)))
        if sorted(a % max(x.ndim, 1) for a in axes) != list(range(x.ndim)):
            raise ValueError(f"transpose: axes {tuple(axes)} are not a permutation of the {x.ndim} axes of shape {tuple(x.shape)}")
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



def reshape(x, *shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    return Reshape.apply(x, tuple(int(s) for s in shape))


def transpose(x, *axes):
    """Permute axes as NumPy does; with no axes, reverse them."""
    if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
        axes = tuple(axes[0])
    return Transpose.apply(x, tuple(axes) if axes else None)


def permute(x, *axes):
    return transpose(x, *axes)


def swapaxes(x, axis1: int, axis2: int):
    axes = list(range(x.ndim))
    axes[axis1], axes[axis2] = axes[axis2], axes[axis1]
    return Transpose.apply(x, tuple(axes))


def broadcast_to(x, shape):
    return BroadcastTo.apply(x, tuple(shape))


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
    return Reshape.apply(x, new_shape)


def unsqueeze(x, axis: int):
    """Insert an axis of length 1 at position ``axis`` (NumPy's expand_dims)."""
    ndim = x.ndim + 1
    if not -ndim <= axis < ndim:
        raise ValueError(f"unsqueeze: axis {axis} out of range for a result with {ndim} dimensions")
    axis %= ndim
    return Reshape.apply(x, x.shape[:axis] + (1,) + x.shape[axis:])


def concatenate(tensors, axis=0):
    return Concatenate.apply(*tensors, axis=axis)


def stack(tensors, axis=0):
    return Stack.apply(*tensors, axis=axis)


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
        parts.append(x[tuple(index)])
    return parts
