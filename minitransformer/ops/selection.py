"""Ops that choose between values: maximum, minimum, where, masked_fill.

The gradient goes to whichever input was chosen; for ties in maximum and
minimum it is split half and half, as PyTorch does.  Which input was chosen
does not change under a small change of the inputs, so in ``backward_graph``
(for ``create_graph=True``) the choice enters as a constant factor.
"""
from __future__ import annotations

from ..autograd import Function
from ..backend import get_array_module
from ._util import constant, shapes_error, unbroadcast


class Maximum(Function):
    @staticmethod
    def forward(ctx, a, b):
        xp = get_array_module(a, b)
        ctx.save_for_backward(a, b)
        try:
            return xp.maximum(a, b)
        except ValueError:
            raise shapes_error("maximum", a, b) from None

    @staticmethod
    def backward(ctx, grad):
        """d max(a,b)/da = 1 where a > b, 1/2 where a == b, else 0 (and likewise for b)."""
        a, b = ctx.saved_tensors
        share_a = (a > b) + 0.5 * (a == b)
        ga = unbroadcast(grad * share_a, a.shape) if ctx.needs_input_grad[0] else None
        gb = unbroadcast(grad * (1 - share_a), b.shape) if ctx.needs_input_grad[1] else None
        return _cast(ga, a), _cast(gb, b)

    @staticmethod
    def backward_graph(ctx, grad):
        a, b = ctx.saved_tensors
        return _shares_graph(ctx, grad, (a > b) + 0.5 * (a == b))


class Minimum(Function):
    @staticmethod
    def forward(ctx, a, b):
        xp = get_array_module(a, b)
        ctx.save_for_backward(a, b)
        try:
            return xp.minimum(a, b)
        except ValueError:
            raise shapes_error("minimum", a, b) from None

    @staticmethod
    def backward(ctx, grad):
        """d min(a,b)/da = 1 where a < b, 1/2 where a == b, else 0 (and likewise for b)."""
        a, b = ctx.saved_tensors
        share_a = (a < b) + 0.5 * (a == b)
        ga = unbroadcast(grad * share_a, a.shape) if ctx.needs_input_grad[0] else None
        gb = unbroadcast(grad * (1 - share_a), b.shape) if ctx.needs_input_grad[1] else None
        return _cast(ga, a), _cast(gb, b)

    @staticmethod
    def backward_graph(ctx, grad):
        a, b = ctx.saved_tensors
        return _shares_graph(ctx, grad, (a < b) + 0.5 * (a == b))


def _shares_graph(ctx, grad, share_a):
    """The backward of maximum/minimum on Tensors: a's share of the gradient, b's the rest."""
    a, b = ctx.saved_tensors
    share_a = get_array_module(grad.data).asarray(share_a)
    ga = unbroadcast(grad * constant(share_a, grad), a.shape) if ctx.needs_input_grad[0] else None
    gb = unbroadcast(grad * constant(1 - share_a, grad), b.shape) if ctx.needs_input_grad[1] else None
    return ga, gb


def _cast(g, like):
    # (a > b) + 0.5 is a float64 array of shares: bring the product back to float32
    if g is None or not hasattr(like, "dtype"):
        return g
    return g.astype(like.dtype, copy=False)


class Where(Function):
    @staticmethod
    def forward(ctx, condition, a, b):
        xp = get_array_module(condition, a, b)
        if condition.dtype != bool:
            raise TypeError(f"where: condition must be boolean, got dtype {condition.dtype}")
        ctx.condition = condition
        ctx.shapes = (getattr(a, "shape", ()), getattr(b, "shape", ()))
        try:
            return xp.where(condition, a, b)
        except ValueError:
            raise shapes_error("where", condition, a, b) from None

    @staticmethod
    def backward(ctx, grad):
        """d where(c, a, b)/da = c and d/db = not c (unbroadcast each)."""
        c = ctx.condition
        sa, sb = ctx.shapes
        ga = unbroadcast(grad * c, sa) if ctx.needs_input_grad[1] else None
        gb = unbroadcast(grad * ~c, sb) if ctx.needs_input_grad[2] else None
        return None, ga, gb

    @staticmethod
    def backward_graph(ctx, grad):
        c = ctx.condition
        sa, sb = ctx.shapes
        ga = unbroadcast(grad * constant(c, grad), sa) if ctx.needs_input_grad[1] else None
        gb = unbroadcast(grad * constant(~c, grad), sb) if ctx.needs_input_grad[2] else None
        return None, ga, gb


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
        ctx.mask = mask
        return out

    @staticmethod
    def backward(ctx, grad):
        """Filled places are constants: gradient 0 there, 1 elsewhere."""
        return grad * ~ctx.mask, None, None

    @staticmethod
    def backward_graph(ctx, grad):
        return grad * constant(~ctx.mask, grad), None, None
