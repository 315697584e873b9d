"""Matrix product with NumPy's rules: batched, broadcast batch dims, 1-D cases."""
from __future__ import annotations

import numpy

from ..autograd import Function
from .broadcasting import unbroadcast
from .checks import shapes_error


class MatMul(Function):
    @staticmethod
    def check(a, b):
        """Refuse 0-d operands, inner sizes that differ, batch axes that do not broadcast."""
        if a.ndim == 0 or b.ndim == 0:
            raise shapes_error("matmul", a, b, reason="are not allowed: matmul needs at least 1-D inputs (use * for scalars)")
        k_a = a.shape[-1]
        k_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
        if k_a != k_b:
            raise shapes_error(
                "matmul", a, b,
                reason=f"are incompatible: the last axis of the first ({k_a}) must equal "
                f"the {'only' if b.ndim == 1 else 'second-to-last'} axis of the second ({k_b})",
            )
        try:
            numpy.broadcast_shapes(a.shape[:-2], b.shape[:-2])
        except ValueError:
            raise shapes_error("matmul", a, b, reason="have batch dimensions that cannot be broadcast") from None

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a @ b

    @staticmethod
    def backward(ctx, grad):
        """For C = A B: dL/dA = dL/dC B^T and dL/dB = A^T dL/dC.

        1-D inputs are treated as a row (A) or a column (B) and the added axis
        removed again; batch axes that broadcasting added are summed out.
        """
        # BEGIN SOLUTION
        a, b = ctx.saved_tensors
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        g = grad
        # b's axis first: for 1-D @ 1-D the gradient is 0-d and gets (1,) then (1, 1)
        if b.ndim == 1:
            g = g[..., None]
        if a.ndim == 1:
            g = g[..., None, :]
        ga = gb = None
        if ctx.needs_input_grad[0]:
            ga = unbroadcast(g @ b2.swapaxes(-1, -2), a2.shape).reshape(a.shape)
        if ctx.needs_input_grad[1]:
            gb = unbroadcast(a2.swapaxes(-1, -2) @ g, b2.shape).reshape(b.shape)
        return ga, gb
        # END SOLUTION


def matmul(a, b):
    return MatMul.apply(a, b)
