"""Small helpers shared by the ops: the unbroadcast rule and axis handling."""
from __future__ import annotations

import numpy

from ..autograd import Tensor
from ..backend import to_host


def unbroadcast(grad, shape):
    """Sum ``grad`` over the axes that broadcasting added or stretched.

    If ``a`` of shape ``shape`` was broadcast to ``grad.shape`` in the forward
    pass, each element of ``a`` was used once per copy, so its gradient is the
    sum of the gradients of its copies: sum the leading axes broadcasting
    added, then (keeping them) the axes of length 1 it stretched.
    """
    shape = tuple(shape)
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra > 0:
        grad = grad.sum(axis=tuple(range(extra)))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if stretched:
        grad = grad.sum(axis=stretched, keepdims=True)
    return grad


def graph_inputs(ctx, *values) -> tuple:
    """The op's inputs as ``backward_graph`` needs them.

    Each input Tensor (connected to the graph, so that the derivative's own
    dependence on it is recorded), or, where a Python number was given in
    its place, that number (``values`` are what forward saw, in order).
    """
    return tuple(v if t is None else t for t, v in zip(ctx.inputs, values))


def constant(array, like) -> Tensor:
    """``array`` as a Tensor of ``like``'s dtype that needs no gradient.

    For masks and piecewise-constant factors (relu's x > 0, a dropout mask):
    their derivative is zero wherever it exists, so they stay out of the graph.
    """
    if isinstance(array, (numpy.generic, bool)):  # 0-d arithmetic gives NumPy scalars
        array = numpy.asarray(array)
    return Tensor._from_op(array.astype(like.dtype, copy=False), None)


def expand_graph(grad: Tensor, x_shape, axes) -> Tensor:
    """A reduced gradient broadcast back to the input's shape (reductions' backward_graph)."""
    return grad.reshape(keepdims_shape(x_shape, axes)).broadcast_to(tuple(x_shape))


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


def shapes_error(op: str, *arrays, reason: str = "cannot be broadcast together") -> ValueError:
    """A ValueError naming the op and the shapes and dtypes of its inputs."""
    described = " and ".join(
        f"{tuple(a.shape)} {a.dtype}" if hasattr(a, "shape") else repr(a) for a in arrays
    )
    return ValueError(f"{op}: shapes {described} {reason}")


def out_of_range(ids, n: int):
    """``(first bad id, how many)`` for integer ``ids`` outside 0..n-1, or None when all are in range.

    The smallest and largest id are copied to the host (on a GPU, a wait for
    the device): an index out of range must stop the program with a Python
    error here, where a device kernel would read past the table silently.
    """
    if not ids.size or (int(to_host(ids.min())) >= 0 and int(to_host(ids.max())) < n):
        return None
    bad = ids[(ids < 0) | (ids >= n)].ravel()
    return int(to_host(bad[0])), int(bad.size)
