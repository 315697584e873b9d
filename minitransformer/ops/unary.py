"""Elementwise functions of one tensor: exp, log, sqrt, abs, sin, cos, tanh, sigmoid, relu, gelu, erf, clip.

Each backward multiplies the incoming gradient by the derivative, evaluated
at the saved input or, where it is cheaper, at the saved output
(d exp(x)/dx = exp(x), d tanh(x)/dx = 1 - tanh(x)^2).  A piecewise-constant
factor (relu's x > 0, abs's sign, clip's inside) is a comparison: on
Tensors (``create_graph=True``) it is a constant, since its own derivative
is zero.
"""
from __future__ import annotations

import math

from ..autograd import Function, Tensor
from ..backend import get_array_module
from ..backend.special import erf as erf_of_array
from .broadcasting import python_scalar


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


def exp(x):
    return Exp.apply(x)


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


def log(x):
    return Log.apply(x)


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


def sqrt(x):
    return Sqrt.apply(x)


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


def abs(x):  # noqa: A001  (NumPy's name)
    return Abs.apply(x)


class Sin(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return get_array_module(x).sin(x)

    @staticmethod
    def backward(ctx, grad):
        """d sin(x)/dx = cos(x)."""
        (x,) = ctx.saved_tensors
        return grad * get_array_module(x).cos(x)


def sin(x):
    return Sin.apply(x)


class Cos(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return get_array_module(x).cos(x)

    @staticmethod
    def backward(ctx, grad):
        """d cos(x)/dx = -sin(x)."""
        (x,) = ctx.saved_tensors
        return -grad * get_array_module(x).sin(x)


def cos(x):
    return Cos.apply(x)


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


def tanh(x):
    return Tanh.apply(x)


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


def sigmoid(x):
    return Sigmoid.apply(x)


class Relu(Function):
    @staticmethod
    def forward(ctx, x):
        out = get_array_module(x).maximum(x, 0)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        """d relu(x)/dx = 1 where x > 0, else 0."""
        (out,) = ctx.saved_tensors
        return grad * (out > 0)


def relu(x):
    return Relu.apply(x)


_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_GELU_C = 0.044715


class GeluTanh(Function):
    @staticmethod
    def forward(ctx, x):
        """gelu(x) ~= x/2 (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3)."""
        xp = get_array_module(x)
        ctx.save_for_backward(x)
        return 0.5 * x * (1 + xp.tanh(_SQRT_2_OVER_PI * (x + _GELU_C * x * x * x)))

    @staticmethod
    def backward(ctx, grad):
        """d/dx = (1 + t)/2 + x/2 (1 - t^2) du/dx, t = tanh(u), du/dx = sqrt(2/pi) (1 + 3 * 0.044715 x^2)."""
        (x,) = ctx.saved_tensors
        t = get_array_module(x).tanh(_SQRT_2_OVER_PI * (x + _GELU_C * x * x * x))
        du = _SQRT_2_OVER_PI * (1 + 3 * _GELU_C * x * x)
        return grad * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * du)


class GeluErf(Function):
    @staticmethod
    def forward(ctx, x):
        """gelu(x) = x Phi(x), Phi(x) = (1 + erf(x / sqrt 2)) / 2."""
        ctx.save_for_backward(x)
        return x * _normal_cdf(x)

    @staticmethod
    def backward(ctx, grad):
        """d(x Phi(x))/dx = Phi(x) + x phi(x), phi(x) = exp(-x^2/2) / sqrt(2 pi)."""
        (x,) = ctx.saved_tensors
        pdf = get_array_module(x).exp(-0.5 * x * x) * (1 / math.sqrt(2 * math.pi))
        return grad * (_normal_cdf(x) + x * pdf)


def _normal_cdf(x):
    """Phi(x) = (1 + erf(x / sqrt 2)) / 2, in x's dtype."""
    return 0.5 * (1 + erf(x * (1 / math.sqrt(2))))


def gelu(x, approximate: str = "none"):
    """GELU: ``approximate='none'`` (exact, with erf; PyTorch's default) or ``'tanh'`` (the fast form)."""
    if approximate == "tanh":
        return GeluTanh.apply(x)
    if approximate == "none":
        return GeluErf.apply(x)
    raise ValueError(f"gelu: approximate must be 'tanh' or 'none', got {approximate!r}")


class Erf(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return erf_of_array(x).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        """d erf(x)/dx = 2/sqrt(pi) exp(-x^2)."""
        (x,) = ctx.saved_tensors
        return grad * (2 / math.sqrt(math.pi)) * get_array_module(x).exp(-x * x)


def erf(x):
    """The error function 2/sqrt(pi) * integral_0^x exp(-t^2) dt, elementwise (of a Tensor or an array)."""
    if isinstance(x, Tensor):
        return Erf.apply(x)
    return erf_of_array(x).astype(x.dtype, copy=False)


class Clip(Function):
    @staticmethod
    def forward(ctx, x, low=None, high=None):
        ctx.save_for_backward(x)
        ctx.bounds = (low, high)
        return get_array_module(x).clip(x, low, high)

    @staticmethod
    def backward(ctx, grad):
        """d clip(x)/dx = 1 inside [low, high], 0 where the value was clipped (a missing bound does not clip)."""
        (x,) = ctx.saved_tensors
        low, high = ctx.bounds
        g = grad
        if low is not None:
            g = g * (x >= low)
        if high is not None:
            g = g * (x <= high)
        return g, None, None


def clip(x, low=None, high=None):
    return Clip.apply(x, python_scalar(low), python_scalar(high))
