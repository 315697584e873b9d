"""Elementwise functions of one tensor: exp, log, sqrt, abs, tanh, sigmoid, relu, gelu, erf, clip.

Each backward multiplies the incoming gradient by the derivative, evaluated
at the saved input or, where it is cheaper, at the saved output
(d exp(x)/dx = exp(x), d tanh(x)/dx = 1 - tanh(x)^2).

``backward_graph`` (for ``create_graph=True``) writes the same derivative with
Tensor ops on the input ``ctx.inputs[0]``, recomputing what backward read from
its saved arrays; a piecewise-constant factor (relu's x > 0, abs's sign,
clip's inside) enters as a constant, since its own derivative is zero.
"""
from __future__ import annotations

import math


from ..autograd import Function
from ..backend import get_array_module
from ..backend.kernels import kernels_for
from ..parallel import for_each_row_block
from ._util import constant


class Exp(Function):
    @staticmethod
    def forward(ctx, x):
        out = get_array_module(x).exp(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        """d exp(x)/dx = exp(x): reuse the output."""
        # BEGIN SOLUTION
        (out,) = ctx.saved_tensors
        return grad * out
        # END SOLUTION

    @staticmethod
    def backward_graph(ctx, grad):
        return grad * ctx.inputs[0].exp()


class Log(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return get_array_module(x).log(x)

    @staticmethod
    def backward(ctx, grad):
        """d log(x)/dx = 1/x."""
        # BEGIN SOLUTION
        (x,) = ctx.saved_tensors
        return grad / x
        # END SOLUTION

    @staticmethod
    def backward_graph(ctx, grad):
        return grad / ctx.inputs[0]


class Sqrt(Function):
    @staticmethod
    def forward(ctx, x):
        out = get_array_module(x).sqrt(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        """d sqrt(x)/dx = 1 / (2 sqrt(x))."""
        (out,) = ctx.saved_tensors
        return grad / (2 * out)

    @staticmethod
    def backward_graph(ctx, grad):
        return grad / (2 * ctx.inputs[0].sqrt())


class Abs(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return get_array_module(x).abs(x)

    @staticmethod
    def backward(ctx, grad):
        """d|x|/dx = sign(x) (0 at x = 0, the subgradient PyTorch uses)."""
        (x,) = ctx.saved_tensors
        return grad * get_array_module(x).sign(x)

    @staticmethod
    def backward_graph(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * constant(get_array_module(x).sign(x), grad)


class Tanh(Function):
    @staticmethod
    def forward(ctx, x):
        out = get_array_module(x).tanh(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        """d tanh(x)/dx = 1 - tanh(x)^2."""
        (out,) = ctx.saved_tensors
        return grad * (1 - out * out)

    @staticmethod
    def backward_graph(ctx, grad):
        t = ctx.inputs[0].tanh()
        return grad * (1 - t * t)


class Sigmoid(Function):
    @staticmethod
    def forward(ctx, x):
        xp = get_array_module(x)
        # 1/(1+e^-x) overflows e^-x for x << 0; the tanh form never does
        out = 0.5 * (xp.tanh(0.5 * x) + 1)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        """d s(x)/dx = s(x) (1 - s(x))."""
        (out,) = ctx.saved_tensors
        return grad * out * (1 - out)

    @staticmethod
    def backward_graph(ctx, grad):
        s = ctx.inputs[0].sigmoid()
        return grad * s * (1 - s)


class Relu(Function):
    @staticmethod
    def forward(ctx, x):
        xp = get_array_module(x)
        out = xp.empty_like(x)

        def block(rows):   # element-wise: blocks of rows run on separate threads
            xp.maximum(x[rows], 0, out=out[rows])

        for_each_row_block(block, x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        """d relu(x)/dx = 1 where x > 0, else 0."""
        (out,) = ctx.saved_tensors
        xp = get_array_module(grad)
        gx = xp.empty(out.shape, dtype=grad.dtype)

        def block(rows):
            xp.multiply(grad[rows], out[rows] > 0, out=gx[rows])

        for_each_row_block(block, out, passes=2)
        return gx

    @staticmethod
    def backward_graph(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * constant(out > 0, grad)


_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_GELU_C = 0.044715


class GeluTanh(Function):
    @staticmethod
    def forward(ctx, x):
        """gelu(x) ~= x/2 (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3)."""
        xp = get_array_module(x)
        t = xp.tanh(_SQRT_2_OVER_PI * (x + _GELU_C * x * x * x))
        ctx.save_for_backward(x, t)
        return 0.5 * x * (1 + t)

    @staticmethod
    def backward(ctx, grad):
        """d/dx = (1 + t)/2 + x/2 (1 - t^2) du/dx, du/dx = sqrt(2/pi) (1 + 3 * 0.044715 x^2)."""
        x, t = ctx.saved_tensors
        du = _SQRT_2_OVER_PI * (1 + 3 * _GELU_C * x * x)
        return grad * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * du)

    @staticmethod
    def backward_graph(ctx, grad):
        x = ctx.inputs[0]
        t = (_SQRT_2_OVER_PI * (x + _GELU_C * x * x * x)).tanh()
        du = _SQRT_2_OVER_PI * (1 + 3 * _GELU_C * x * x)
        return grad * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * du)


def erf(x):
    """The error function, elementwise, by the kernel of x's backend (NumPy has none of its own)."""
    return kernels_for(x).erf(x)


class GeluErf(Function):
    @staticmethod
    def forward(ctx, x):
        """gelu(x) = x Phi(x), Phi(x) = (1 + erf(x / sqrt 2)) / 2."""
        cdf = (0.5 * (1 + erf(x * (1 / math.sqrt(2))))).astype(x.dtype, copy=False)
        ctx.save_for_backward(x, cdf)
        return x * cdf

    @staticmethod
    def backward(ctx, grad):
        """d(x Phi(x))/dx = Phi(x) + x phi(x), phi(x) = exp(-x^2/2) / sqrt(2 pi)."""
        x, cdf = ctx.saved_tensors
        xp = get_array_module(x)
        pdf = xp.exp(-0.5 * x * x) * (1 / math.sqrt(2 * math.pi))
        return grad * (cdf + x * pdf)

    @staticmethod
    def backward_graph(ctx, grad):
        x = ctx.inputs[0]
        cdf = 0.5 * (1 + Erf.apply(x * (1 / math.sqrt(2))))
        pdf = (-0.5 * x * x).exp() * (1 / math.sqrt(2 * math.pi))
        return grad * (cdf + x * pdf)


class Erf(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return erf(x).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        """d erf(x)/dx = 2/sqrt(pi) exp(-x^2)."""
        (x,) = ctx.saved_tensors
        return grad * (2 / math.sqrt(math.pi)) * get_array_module(x).exp(-x * x)

    @staticmethod
    def backward_graph(ctx, grad):
        x = ctx.inputs[0]
        return grad * (2 / math.sqrt(math.pi)) * (-x * x).exp()


class Clip(Function):
    @staticmethod
    def forward(ctx, x, low=None, high=None):
        ctx.save_for_backward(x)
        ctx.bounds = (low, high)
        return get_array_module(x).clip(x, low, high)

    @staticmethod
    def backward(ctx, grad):
        """d clip(x)/dx = 1 inside [low, high], 0 where the value was clipped."""
        (x,) = ctx.saved_tensors
        return grad * _inside(x, *ctx.bounds), None, None

    @staticmethod
    def backward_graph(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * constant(_inside(x, *ctx.bounds), grad), None, None


def _inside(x, low, high):
    """Where low <= x <= high (a missing bound does not clip)."""
    inside = get_array_module(x).ones(x.shape, dtype=bool)
    if low is not None:
        inside &= x >= low
    if high is not None:
        inside &= x <= high
    return inside
