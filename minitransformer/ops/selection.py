"""Ops that choose between values: maximum, minimum, where, masked_fill, triu, tril.

The gradient goes to whichever input was chosen; for ties in maximum and
minimum it is split half and half, as PyTorch does.  Which input was chosen
does not change under a small change of the inputs: it is a comparison,
a constant factor on Tensors too (``create_graph=True``).
"""
from __future__ import annotations

from ..autograd import Function, Tensor
from ..backend import get_array_module
from .broadcasting import python_scalar, unbroadcast
from .checks import shapes_error


def _shape(x) -> tuple:
    return tuple(getattr(x, "shape", ()))


class _Choice(Function):
    """Maximum and Minimum: the chosen input gets the gradient, ties half each."""

    @staticmethod
    def backward(ctx, grad):
        """d max(a,b)/da = 1 where a was chosen, 1/2 where a == b, else 0 (and likewise for b)."""
        a, b = ctx.saved_tensors
        chosen_a = (a > b) if ctx.pick == "maximum" else (a < b)
        share_a = (chosen_a + 0.5 * (a == b)).astype(grad.dtype)
        ga = unbroadcast(grad * share_a, _shape(a)) if ctx.needs_input_grad[0] else None
        gb = unbroadcast(grad * (1 - share_a), _shape(b)) if ctx.needs_input_grad[1] else None
        return ga, gb


def _choice_forward(ctx, a, b, pick):
    xp = get_array_module(a, b)
    ctx.save_for_backward(a, b)
    ctx.pick = pick
    try:
        return getattr(xp, pick)(a, b)
    except ValueError:
        raise shapes_error(pick, a, b) from None


class Maximum(_Choice):
    @staticmethod
    def forward(ctx, a, b):
        return _choice_forward(ctx, a, b, "maximum")


class Minimum(_Choice):
    @staticmethod
    def forward(ctx, a, b):
        return _choice_forward(ctx, a, b, "minimum")


def maximum(a, b):
    return Maximum.apply(python_scalar(a), python_scalar(b))


def minimum(a, b):
    return Minimum.apply(python_scalar(a), python_scalar(b))


class Where(Function):
    @staticmethod
    def forward(ctx, condition, a, b):
        xp = get_array_module(condition, a, b)
        if condition.dtype != bool:
            raise TypeError(f"where: condition must be boolean, got dtype {condition.dtype}")
        ctx.save_for_backward(condition)
        ctx.shapes = (_shape(a), _shape(b))
        try:
            return xp.where(condition, a, b)
        except ValueError:
            raise shapes_error("where", condition, a, b) from None

    @staticmethod
    def backward(ctx, grad):
        """d where(c, a, b)/da = c and d/db = not c (unbroadcast each)."""
        (c,) = ctx.saved_tensors
        sa, sb = ctx.shapes
        ga = unbroadcast(grad * c, sa) if ctx.needs_input_grad[1] else None
        gb = unbroadcast(grad * ~c, sb) if ctx.needs_input_grad[2] else None
        return None, ga, gb


def where(condition, a, b):
    """Elements of ``a`` where ``condition`` is True, of ``b`` elsewhere."""
    if not isinstance(condition, Tensor):
        data = [x.data for x in (a, b) if isinstance(x, Tensor)]
        condition = Tensor(get_array_module(*data).asarray(condition))
    return Where.apply(condition, python_scalar(a), python_scalar(b))


class MaskedFill(Function):
    @staticmethod
    def forward(ctx, x, mask, value):
        xp = get_array_module(x, mask)
        if mask.dtype != bool:
            raise TypeError(f"masked_fill: mask must be boolean (True = fill), got dtype {mask.dtype}")
        try:
            out = xp.where(mask, xp.asarray(value, dtype=x.dtype), x)
        except ValueError:
            raise shapes_error("masked_fill", x, mask) from None
        if out.shape != x.shape:
            raise shapes_error("masked_fill", x, mask, reason="differ: the mask must broadcast to the tensor's shape")
        ctx.save_for_backward(mask)
        return out

    @staticmethod
    def backward(ctx, grad):
        """Filled places are constants: gradient 0 there, 1 elsewhere."""
        (mask,) = ctx.saved_tensors
        return grad * ~mask, None, None


def masked_fill(x, mask, value):
    """``x`` with ``value`` written where ``mask`` is True (as PyTorch's masked_fill)."""
    mask = mask if isinstance(mask, Tensor) else Tensor(get_array_module(x.data).asarray(mask))
    return MaskedFill.apply(x, mask, float(value))


def _triangle(op: str, x, diagonal: int, upper: bool):
    if x.ndim < 2:
        raise ValueError(f"{op}: needs a matrix or a batch of matrices, got shape {x.shape}")
    xp = get_array_module(x.data)
    rows, cols = x.shape[-2:]
    # (j - i >= diagonal) keeps the upper triangle: a comparison, a constant mask
    offset = xp.arange(cols)[None, :] - xp.arange(rows)[:, None]
    outside = offset < diagonal if upper else offset > diagonal
    return MaskedFill.apply(x, Tensor(outside), 0.0)


def triu(x, diagonal: int = 0):
    """The upper triangle of the last two dims: ``x[..., i, j]`` where ``j - i >= diagonal``, 0 below.

    The zeros are written, not multiplied in (a -inf below the diagonal
    becomes 0, not nan); the gradient below is 0, as for :func:`masked_fill`.
    """
    return _triangle("triu", x, diagonal, upper=True)


def tril(x, diagonal: int = 0):
    """The lower triangle of the last two dims: ``x[..., i, j]`` where ``j - i <= diagonal``, 0 above."""
    return _triangle("tril", x, diagonal, upper=False)
