"""LayerNorm (Ba et al. 2016): normalize each position's features, then scale and shift.

    y = (x - mean(x)) / sqrt(var(x) + eps) * weight + bias

with mean and biased variance over the trailing ``normalized_shape`` axes
(for a Transformer, the d_model features of one token).
"""
from __future__ import annotations

from .. import functional as F
from ..autograd import Tensor
from . import init
from .linear import empty_parameter
from .module import Module


class LayerNorm(Module):
    """Layer normalization over the last axes; ``weight`` (gamma) starts at 1, ``bias`` (beta) at 0
    (``bias=False``: no shift, as PyTorch's)."""

    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True, bias: bool = True):
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
        if not shape or any(isinstance(n, bool) or not isinstance(n, int) or n <= 0 for n in shape):
            raise ValueError(f"LayerNorm: normalized_shape must be positive integers, got {normalized_shape!r}")
        if not eps > 0:
            raise ValueError(f"LayerNorm: eps must be > 0 (it keeps 1/sqrt(var + eps) finite), got {eps!r}")
        self.normalized_shape, self.eps = shape, float(eps)
        self.elementwise_affine = elementwise_affine
        if elementwise_affine:
            self.weight = init.ones_(empty_parameter(*shape))
            self.bias = init.zeros_(empty_parameter(*shape)) if bias else None
        else:
            self.weight = self.bias = None

    def forward(self, x: Tensor) -> Tensor:
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"
