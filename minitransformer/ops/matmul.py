"""Matrix product with NumPy's rules: batched, broadcast batch dims, 1-D cases.

``backward`` works on arrays and uses the threaded products of
``minitransformer.parallel``; ``backward_graph`` (for ``create_graph=True``)
is the same two formulas with Tensor matmuls, so that the gradient's own
dependence on A, B and dL/dC is recorded.
"""
from __future__ import annotations

from ..autograd import Function
from ..parallel import matmul
from ._util import graph_inputs, shapes_error, unbroadcast


class MatMul(Function):
    @staticmethod
    def forward(ctx, a, b):
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
        ctx.save_for_backward(a, b)
        try:
            return matmul(a, b)   # a @ b, a batch of small products over threads
        except ValueError:
            raise shapes_error("matmul", a, b, reason="have batch dimensions that cannot be broadcast") from None

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
            ga = matmul(g, b2.swapaxes(-1, -2))
            ga = unbroadcast(ga, a2.shape).reshape(a.shape)
        if ctx.needs_input_grad[1]:
            if b2.ndim == 2 and a2.ndim > 2:
                # a weight shared by every row of a batch: one large GEMM
                # (A reshaped to rows)^T G instead of a batch of small ones summed
                gb = a2.reshape(-1, a2.shape[-1]).T @ g.reshape(-1, g.shape[-1])
            else:
                gb = unbroadcast(matmul(a2.swapaxes(-1, -2), g), b2.shape)
            gb = gb.reshape(b.shape)
        return ga, gb
        # END SOLUTION

    @staticmethod
    def backward_graph(ctx, grad):
        a, b = graph_inputs(ctx, *ctx.saved_tensors)
        a2 = a.reshape(1, -1) if a.ndim == 1 else a
        b2 = b.reshape(-1, 1) if b.ndim == 1 else b
        g = grad
        if b.ndim == 1:
            g = g.unsqueeze(-1)
        if a.ndim == 1:
            g = g.unsqueeze(-2)
        ga = gb = None
        if ctx.needs_input_grad[0]:
            ga = unbroadcast(g @ b2.swapaxes(-1, -2), a2.shape).reshape(a.shape)
        if ctx.needs_input_grad[1]:
            gb = unbroadcast(a2.swapaxes(-1, -2) @ g, b2.shape).reshape(b.shape)
        return ga, gb
