"""Dropout as a layer: active in training mode, the identity in eval mode."""
from __future__ import annotations

from .. import functional as F
from ..autograd import Tensor
from .module import Module


class Dropout(Module):
    """Zero each element with probability p and scale the rest by 1/(1-p) while
    ``self.training`` (``model.train()``); pass x through unchanged after ``model.eval()``."""

    def __init__(self, p: float = 0.5, inplace: bool = False):
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout: p must be a probability in [0, 1], got {p!r}")
        self.p = float(p)
        self.inplace = inplace          # accepted for PyTorch's code; F.dropout computes out of place

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}" + (", inplace=True" if self.inplace else "")
