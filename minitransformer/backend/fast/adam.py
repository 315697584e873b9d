"""The Adam update's fast version: in place, no temporaries (NumPy); one fused kernel (CuPy).

The formula (``optim/adam.py``) computes the moments, their bias
corrections and the step as new arrays.  Here the same update runs as a
chain of in-place ufuncs into the state buffers (NumPy), or as one CuPy
``ElementwiseKernel`` instead of five launches, in the form PyTorch
computes: ``step_size = lr / (1 - beta1^t)``,
``p -= step_size * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)``.
"""
from __future__ import annotations

import math

from .. import get_array_module
from . import cupy_kernels, fast_version_of


@fast_version_of("minitransformer.optim.adam.adam_update", "numpy", "cupy", "strict")
def adam_update_in_place(param, grad, exp_avg, exp_avg_sq, *, step, lr, beta1, beta2, eps, max_exp_avg_sq=None):
    xp = get_array_module(param)
    step_size = lr / (1 - beta1 ** step)
    bias_correction2_sqrt = math.sqrt(1 - beta2 ** step)
    if xp.__name__ == "cupy" and max_exp_avg_sq is None and grad.dtype == param.dtype:
        dtype = param.dtype.type
        cupy_kernels.adam_update()(grad, dtype(beta1), dtype(beta2), dtype(step_size),
                                   dtype(bias_correction2_sqrt), dtype(eps), param, exp_avg, exp_avg_sq)
        return
    exp_avg *= beta1
    exp_avg += (1.0 - beta1) * grad
    exp_avg_sq *= beta2
    exp_avg_sq += (1.0 - beta2) * (grad * grad)
    v = exp_avg_sq
    if max_exp_avg_sq is not None:
        xp.maximum(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq)
        v = max_exp_avg_sq
    denom = xp.sqrt(v)
    denom /= bias_correction2_sqrt
    denom += eps
    xp.divide(exp_avg, denom, out=denom)      # reuse the buffer: it now holds the direction
    denom *= step_size
    param -= denom
