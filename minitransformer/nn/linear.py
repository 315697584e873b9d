"""Linear: the affine map y = x W^T + b, with PyTorch's layout and default init; and Identity, y = x."""
from __future__ import annotations

import math

from .. import functional as F
from ..autograd import Tensor
from ..backend import current_xp, get_default_dtype
from . import init
from .module import Module
from .parameter import Parameter


def _check_positive_int(cls: str, name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{cls}: {name} must be a positive integer, got {value!r}")


def empty_parameter(*shape) -> Parameter:
    """A Parameter of the given shape in the default dtype on the current backend
    (zeros until an ``nn.init`` function fills it)."""
    return Parameter(current_xp().zeros(shape, dtype=get_default_dtype()))


class Linear(Module):
    """y = x W^T + b for x of shape (..., in_features): result (..., out_features).

    ``weight`` has shape (out_features, in_features) and ``bias`` (out_features,),
    as in PyTorch.  Default init, as PyTorch's: W ~ U(-1/sqrt(in), 1/sqrt(in))
    (``kaiming_uniform_(W, a=sqrt(5))``) and b ~ U(-1/sqrt(in), 1/sqrt(in)).
    The forward is one fused op, ``F.linear``.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True):
        super().__init__()
        _check_positive_int("Linear", "in_features", in_features)
        _check_positive_int("Linear", "out_features", out_features)
        self.in_features, self.out_features = in_features, out_features
        self.weight = empty_parameter(out_features, in_features)
        self.bias = empty_parameter(out_features) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1.0 / math.sqrt(self.in_features)
            init.uniform_(self.bias, -bound, bound)

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Identity(Module):
    """y = x: a placeholder where a layer may be switched off (e.g. ``norm = LayerNorm(d) if
    use_norm else Identity()``).  It accepts and ignores any arguments, as PyTorch's."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, input: Tensor) -> Tensor:
        return input
