"""Activation functions as modules, with PyTorch's names and arguments.

Each is a Module without parameters whose forward calls a function of
``functional``; being modules, they can sit in a ``Sequential`` and show
in the model's ``repr``:

    ReLU        max(x, 0)
    GELU        x Phi(x), Phi the standard normal CDF (exact; approximate='tanh' for GPT-2's form)
    Tanh        tanh(x)
    Sigmoid     1 / (1 + exp(-x))
    Softmax     exp(x_i) / sum_j exp(x_j) along ``dim``
    LogSoftmax  x_i - log sum_j exp(x_j) along ``dim``
"""
from __future__ import annotations

from .. import functional as F
from ..autograd import Tensor
from .module import Module


class ReLU(Module):
    """max(x, 0), elementwise.  ``inplace=True`` is accepted and computes out of place
    (see ``F.relu``): the module's output is the same."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.relu(input)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class GELU(Module):
    """GELU(x) = x Phi(x): exact, with erf (``approximate='none'``, PyTorch's default),
    or its tanh approximation (``approximate='tanh'``)."""

    def __init__(self, approximate: str = "none"):
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, input: Tensor) -> Tensor:
        return F.gelu(input, approximate=self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class Tanh(Module):
    """tanh(x), elementwise."""

    def forward(self, input: Tensor) -> Tensor:
        return F.tanh(input)


class Sigmoid(Module):
    """1 / (1 + exp(-x)), elementwise."""

    def forward(self, input: Tensor) -> Tensor:
        return F.sigmoid(input)


class Softmax(Module):
    """Softmax along ``dim``.  ``dim=None`` follows PyTorch's deprecated implicit rule,
    with its warning (axis 0 for 0-, 1- and 3-dimensional inputs, else 1): name the axis."""

    def __init__(self, dim: int | None = None):
        super().__init__()
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:
        return F.softmax(input, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """Log-softmax along ``dim`` (with ``NLLLoss``, the same as ``CrossEntropyLoss``
    on the logits).  ``dim=None``: as ``Softmax``."""

    def __init__(self, dim: int | None = None):
        super().__init__()
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:
        return F.log_softmax(input, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"
