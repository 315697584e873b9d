"""Ops that move values around without changing them.

Their backward moves the gradient back: reshape undoes reshape, transpose
applies the inverse permutation, broadcast_to sums over the broadcast axes,
concatenate and stack cut the gradient into the pieces' shapes.  Each
backward uses only methods that Tensors have too (reshape, transpose,
indexing, sums), so it serves as its own ``backward_graph``: given a Tensor
gradient (``create_graph=True``), it records its steps in the graph.
"""
from __future__ import annotations

from ..autograd import Function
from ..backend import get_array_module
from ._util import normalize_axis, unbroadcast


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

    backward_graph = backward


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
        return grad.transpose(inverse), None

    backward_graph = backward


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

    backward_graph = backward


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

    backward_graph = backward


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

    backward_graph = backward
