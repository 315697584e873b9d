"""CuPy's kernels: fused ``ElementwiseKernel``s where NumPy chains ufuncs.

On a GPU each array operation is a kernel launch that reads and writes the
whole array in device memory.  The portable layer-norm step (``x_hat *=
rstd``, ``* weight``, ``+ bias``) is three launches and three round trips
through memory; one ``ElementwiseKernel`` does the three in a single pass,
each thread computing one element (row- and column-vectors broadcast as in
NumPy).  The same holds for the Adam update (five launches become one).
Row sums are CuPy's own reduction (``x.sum``, the portable form), an
embedding's gradient its atomic ``add.at``, and erf is
``cupyx.scipy.special.erf``.

The kernels are compiled by CuPy on first use and cached on disk.
"""
from __future__ import annotations

import cupy
from cupyx.scipy.special import erf as _cupy_erf

from .portable import Kernels

_scale_shift = cupy.ElementwiseKernel(
    "T rstd, T weight, T bias", "T x_hat, T out",
    "x_hat = x_hat * rstd; out = x_hat * weight + bias",
    "minitransformer_layer_norm_scale_shift",
)

_adam_update = cupy.ElementwiseKernel(
    "T grad, T beta1, T beta2, T step_size, T bias_correction2_sqrt, T eps", "T param, T exp_avg, T exp_avg_sq",
    """
    exp_avg = beta1 * exp_avg + (1 - beta1) * grad;
    exp_avg_sq = beta2 * exp_avg_sq + (1 - beta2) * grad * grad;
    param -= step_size * exp_avg / (sqrt(exp_avg_sq) / bias_correction2_sqrt + eps);
    """,
    "minitransformer_adam_update",
)


class CupyKernels(Kernels):
    def erf(self, x):
        return _cupy_erf(x)

    def scale_shift(self, x_hat, rstd, weight, bias, out):
        if weight is None or bias is None:
            return super().scale_shift(x_hat, rstd, weight, bias, out)
        _scale_shift(rstd, weight, bias, x_hat, out)

    def adam_update(self, param, grad, exp_avg, exp_avg_sq, beta1, beta2, step_size, bias_correction2_sqrt,
                    eps, max_exp_avg_sq=None):
        if max_exp_avg_sq is not None or grad.dtype != param.dtype:
            return super().adam_update(param, grad, exp_avg, exp_avg_sq, beta1, beta2, step_size,
                                       bias_correction2_sqrt, eps, max_exp_avg_sq)
        _adam_update(grad, beta1, beta2, step_size, bias_correction2_sqrt, eps, param, exp_avg, exp_avg_sq)
