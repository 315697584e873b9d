"""The autograd core: Tensor, Function, the backward pass and grad modes."""
from .engine import GraphError
from .factories import arange, full, ones, ones_like, rand, randn, tensor, zeros, zeros_like
from .function import Context, Function
from .gradients import grad
from .grad_mode import AnomalyError, detect_anomaly, enable_grad, is_grad_enabled, no_grad
from .tensor import Tensor

__all__ = [
    "AnomalyError", "Context", "Function", "GraphError", "Tensor", "arange", "detect_anomaly",
    "enable_grad", "full", "grad", "is_grad_enabled", "no_grad", "ones", "ones_like", "rand", "randn",
    "tensor", "zeros", "zeros_like",
]
