"""The affine map y = x W^T + b, with W of shape (out_features, in_features) as in PyTorch."""
from __future__ import annotations

from ..autograd import Function, Tensor
from ..ops.checks import shapes_error


class Linear(Function):
    @staticmethod
    def check(x, weight, bias=None):
        if x.shape[-1] != weight.shape[1]:
            raise shapes_error(
                "linear", x, weight,
                reason=f"are incompatible: the input's last axis ({x.shape[-1]}) must equal "
                f"in_features, the weight's second axis ({weight.shape[1]})",
            )

    @staticmethod
    def forward(ctx, x, weight, bias=None):
        ctx.save_for_backward(x, weight)
        y = x @ weight.T
        return y if bias is None else y + bias

    @staticmethod
    def backward(ctx, grad):
        """y = x W^T + b: dL/dx = g W, dL/dW = g^T x (summed over every row), dL/db = sum_rows g.

        The rows of all leading axes are flattened into one matrix, so that
        each gradient is one matrix product.
        """
        x, weight = ctx.saved_tensors
        g2 = grad.reshape(-1, grad.shape[-1])
        gx = (g2 @ weight).reshape(x.shape) if ctx.needs_input_grad[0] else None
        gw = g2.T @ x.reshape(-1, x.shape[-1]) if ctx.needs_input_grad[1] else None
        gb = g2.sum(axis=0) if ctx.needs_input_grad[2] else None
        return gx, gw, gb


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """y = x W^T + b for x of shape (..., in), W (out, in), b (out,): result (..., out)."""
    return Linear.apply(input, weight, bias)


def linear_composed(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """The same map from primitive ops: matmul with the transposed weight, plus bias."""
    y = x @ weight.T
    return y + bias if bias is not None else y
