"""Softmax and log-softmax: each one op, its formula and its derivative.

    softmax(x)_i     = exp(x_i) / sum_j exp(x_j)
    log_softmax(x)_i = x_i - log sum_j exp(x_j)

along one axis.  Subtracting the row's maximum first changes nothing
mathematically and keeps every exp <= 1.  Softmax takes an optional
boolean mask (True = keep): masked places get weight 0, and a row with
every place masked gets all zeros (never NaN), as the attention needs.
The ``*_composed`` versions chain primitive ops instead; tests check that
both agree, in values and in gradients.

The functions users call (``softmax``, ``log_softmax``, ``relu``, ``gelu``,
``tanh``, ``sigmoid``) take PyTorch's arguments: the axis is ``dim=``
(NumPy's ``axis=`` is accepted too), GELU is exact unless
``approximate='tanh'``.
"""
from __future__ import annotations

import warnings

import numpy

from .. import ops
from ..autograd import Function, Tensor
from ..backend import get_array_module


def stable_softmax(x, axis=-1, mask=None):
    """softmax along ``axis`` of an array, masked places (mask False) 0, an all-masked row all 0."""
    xp = get_array_module(x)
    if mask is not None:
        x = xp.where(mask, x, -xp.inf)
    m = xp.max(x, axis=axis, keepdims=True)
    m = xp.where(xp.isfinite(m), m, 0)         # an all-masked row: every score is -inf
    e = xp.exp(x - m)                          # exp(-inf) = 0 at masked places
    total = e.sum(axis=axis, keepdims=True)
    return e / xp.where(total == 0, 1, total)


def stable_log_softmax(x, axis=-1):
    """log softmax along ``axis`` of an array: (x - max) - log sum exp(x - max)."""
    xp = get_array_module(x)
    shifted = x - xp.max(x, axis=axis, keepdims=True)
    return shifted - xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))


class Softmax(Function):
    @staticmethod
    def forward(ctx, x, axis=-1, mask=None):
        y = stable_softmax(x, axis, mask)
        ctx.save_for_backward(y)
        ctx.axis = axis
        return y

    @staticmethod
    def backward(ctx, grad):
        """dy_i/dx_j = y_i (delta_ij - y_j), so dL/dx = y * (g - sum_j g_j y_j).

        Masked places have y = 0, so they get no gradient.
        """
        # BEGIN SOLUTION
        (y,) = ctx.saved_tensors
        return y * (grad - (grad * y).sum(axis=ctx.axis, keepdims=True))
        # END SOLUTION


class LogSoftmax(Function):
    @staticmethod
    def forward(ctx, x, axis=-1):
        y = stable_log_softmax(x, axis)
        ctx.save_for_backward(y)
        ctx.axis = axis
        return y

    @staticmethod
    def backward(ctx, grad):
        """y_i = x_i - logsumexp(x): dy_i/dx_j = delta_ij - softmax(x)_j,
        so dL/dx = g - softmax(x) * sum_i g_i, with softmax(x) = exp(y)."""
        # BEGIN SOLUTION
        (y,) = ctx.saved_tensors
        xp = get_array_module(y)
        return grad - xp.exp(y) * grad.sum(axis=ctx.axis, keepdims=True)
        # END SOLUTION


def _softmax_dim(name: str, ndim: int, dim, axis) -> int:
    """The axis of a softmax: ``dim`` (PyTorch) or ``axis`` (NumPy), not both.

    With neither, PyTorch's old implicit rule, with its warning: axis 0 for a
    0-, 1- or 3-dimensional input, else axis 1 (for a (batch, classes) input,
    the classes; for (batch, length, classes), *not* the classes: name it).
    """
    if dim is not None and axis is not None and dim != axis:
        raise TypeError(f"{name}: got dim={dim} and axis={axis}; pass one of them")
    if dim is None:
        dim = axis
    if dim is None:
        warnings.warn(
            f"Implicit dimension choice for {name} has been deprecated. "
            "Change the call to include dim=X as an argument.", UserWarning, stacklevel=3,
        )
        dim = 0 if ndim in (0, 1, 3) else 1
    return dim


def _cast(x: Tensor, dtype, name: str) -> Tensor:
    """``dtype=``: the input is cast before the op (as PyTorch does, to avoid overflow in float16)."""
    if dtype is None or numpy.dtype(dtype) == x.dtype:
        return x
    if x.requires_grad:
        raise TypeError(
            f"{name}: dtype={numpy.dtype(dtype)} would cast an input of dtype {x.dtype} that requires grad, "
            "and the engine's cast is not differentiable; cast the input's data before the graph starts"
        )
    return x.astype(dtype)


def softmax(input: Tensor, dim: int | None = None, *, dtype=None, axis: int | None = None) -> Tensor:
    """softmax(x)_i = exp(x_i) / sum_j exp(x_j) along ``dim`` (one op, stable)."""
    dim = _softmax_dim("softmax", input.ndim, dim, axis)
    return Softmax.apply(_cast(input, dtype, "softmax"), axis=dim)


def log_softmax(input: Tensor, dim: int | None = None, *, dtype=None, axis: int | None = None) -> Tensor:
    """log softmax(x)_i = x_i - log sum_j exp(x_j) along ``dim`` (one op, stable)."""
    dim = _softmax_dim("log_softmax", input.ndim, dim, axis)
    return LogSoftmax.apply(_cast(input, dtype, "log_softmax"), axis=dim)


def relu(input: Tensor, inplace: bool = False) -> Tensor:
    """max(x, 0), elementwise.

    ``inplace=True`` is accepted for PyTorch's code and computes out of
    place: the result is the same, but ``input`` is not overwritten (in
    PyTorch, in place only saves memory; use the result, as usual).
    """
    return ops.relu(input)


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """GELU, x Phi(x): exact (with erf) by default, as PyTorch; ``approximate='tanh'``
    gives the tanh form of GPT-2 and BERT."""
    return ops.gelu(input, approximate=approximate)


def tanh(input: Tensor) -> Tensor:
    """tanh(x), elementwise."""
    return ops.tanh(input)


def sigmoid(input: Tensor) -> Tensor:
    """1 / (1 + exp(-x)), elementwise."""
    return ops.sigmoid(input)


def softmax_composed(x: Tensor, axis: int = -1) -> Tensor:
    """The same softmax from primitive ops: exp(x - max) / sum(exp(x - max))."""
    xp = get_array_module(x)                   # the Tensor namespace: NumPy's names, differentiable
    e = xp.exp(x - xp.max(x, axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def log_softmax_composed(x: Tensor, axis: int = -1) -> Tensor:
    """The same log-softmax from primitive ops: x - logsumexp(x)."""
    return x - get_array_module(x).logsumexp(x, axis=axis, keepdims=True)
