"""The autograd core: Tensor, Function, the backward pass and grad modes; dtypes and devices."""
from .devices import device
from .dtypes import dtype, double, float16, float32, float64, half, int32, int64, long, uint8
from .engine import GraphError
from .factories import (
    BoolTensor, ByteTensor, DoubleTensor, FloatTensor, IntTensor, LongTensor, arange, empty, empty_like,
    from_numpy, full, full_like, ones, ones_like, rand, rand_like, randn, randn_like, tensor, zeros, zeros_like,
)
from .function import Context, Function
from .gradients import grad
from .grad_mode import AnomalyError, detect_anomaly, enable_grad, is_grad_enabled, no_grad
from .tensor import Tensor
from .versions import InPlaceError

# (mt.float, mt.int and mt.bool are in dtypes.py, never in an __all__: they would hide the builtins)
__all__ = [
    "AnomalyError", "BoolTensor", "ByteTensor", "Context", "DoubleTensor", "FloatTensor", "Function",
    "GraphError", "InPlaceError", "IntTensor", "LongTensor", "Tensor", "arange", "detect_anomaly", "device",
    "double", "dtype", "empty", "empty_like", "enable_grad", "float16", "float32", "float64", "from_numpy", "full",
    "full_like", "grad", "half", "int32", "int64", "is_grad_enabled", "long", "no_grad", "ones", "ones_like",
    "rand", "rand_like", "randn", "randn_like", "tensor", "uint8", "zeros", "zeros_like",
]
