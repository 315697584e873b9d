"""The affine map y = x W^T + b, with W of shape (out_features, in_features) as in PyTorch."""
from __future__ import annotations

from ..autograd import Function, Tensor
from ..backend import get_array_module
from ..ops._util import shapes_error
from ..parallel import for_each_row_block


class LinearFunction(Function):
    @staticmethod
    def forward(ctx, x, weight, bias=None):
        if x.shape[-1] != weight.shape[1]:
            raise shapes_error(
                "linear", x, weight,
                reason=f"are incompatible: the input's last axis ({x.shape[-1]}) must equal "
                f"in_features, the weight's second axis ({weight.shape[1]})",
            )
        # one 2-D product over all rows: BLAS is fastest on a single large GEMM
        x2 = x.reshape(-1, x.shape[-1])
        ctx.save_for_backward(x2, weight)
        ctx.x_shape = x.shape
        y = x2 @ weight.T
        if bias is not None:
            def add_bias(rows):   # element-wise: blocks of rows on separate threads
                y[rows] += bias

            for_each_row_block(add_bias, y)
        return y.reshape(x.shape[:-1] + (weight.shape[0],))

    @staticmethod
    def backward(ctx, grad):
        """y = x W^T + b: dL/dx = g W, dL/dW = g^T x (summed over every row), dL/db = sum_rows g.

        The rows of all leading axes are flattened into one matrix so each
        gradient is a single large matrix product.
        """
        x2, weight = ctx.saved_tensors
        g2 = grad.reshape(-1, grad.shape[-1])
        gx = (g2 @ weight).reshape(ctx.x_shape) if ctx.needs_input_grad[0] else None
        gw = g2.T @ x2 if ctx.needs_input_grad[1] else None
        gb = None
        if ctx.needs_input_grad[2]:
            # the sum over rows is a product with a vector of ones, which BLAS
            # computes about twice as fast as g2.sum(axis=0)
            gb = get_array_module(g2).ones(g2.shape[0], dtype=g2.dtype) @ g2
        return gx, gw, gb

    @staticmethod
    def backward_graph(ctx, grad):
        """The same three products on Tensors (create_graph)."""
        x, weight, _ = ctx.inputs
        g2 = grad.reshape(-1, grad.shape[-1])
        gx = (g2 @ weight).reshape(x.shape) if ctx.needs_input_grad[0] else None
        gw = g2.T @ x.reshape(-1, x.shape[-1]) if ctx.needs_input_grad[1] else None
        gb = g2.sum(axis=0) if ctx.needs_input_grad[2] else None
        return gx, gw, gb


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """y = x W^T + b for x of shape (..., in), W (out, in), b (out,): result (..., out)."""
    return LinearFunction.apply(x, weight, bias)


def linear_composed(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """The same map from primitive ops: matmul with the transposed weight, plus bias."""
    y = x @ weight.T
    return y + bias if bias is not None else y
