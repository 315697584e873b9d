"""Inverted dropout (Srivastava et al. 2014), as in the Transformer paper."""
from __future__ import annotations

from ..autograd import Function, Tensor
from ..backend import get_array_module, get_rng


class Dropout(Function):
    @staticmethod
    def forward(ctx, x, p=0.5):
        xp = get_array_module(x)
        keep = get_rng(xp).random(x.shape, dtype=x.dtype) >= p
        # scale the kept values by 1/(1-p) now, so evaluation needs no rescaling
        scale = x.dtype.type(1.0 / (1.0 - p))
        mask = keep * scale
        ctx.save_for_backward(mask)
        return x * mask

    @staticmethod
    def backward(ctx, grad):
        """y = x * m / (1-p) with a fixed random mask m: dy/dx = m / (1-p)."""
        # BEGIN SOLUTION
        (mask,) = ctx.saved_tensors
        return grad * mask
        # END SOLUTION


def dropout(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero each element with probability ``p`` and scale the rest by 1/(1-p).

    The identity when ``training`` is False or p == 0; all zeros when p == 1
    (as PyTorch).  Draws come from the engine's seeded generator
    (``mt.manual_seed``).  ``inplace=True`` is accepted for PyTorch's code
    and computes out of place: use the result.
    """
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: p must be a probability in [0, 1], got {p!r}")
    if not training or p == 0.0:
        return input
    if p == 1.0:
        return input * 0.0                  # nothing kept: 1/(1-p) would be infinite
    return Dropout.apply(input, p=p)
