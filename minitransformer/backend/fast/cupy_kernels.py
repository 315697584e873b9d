"""CuPy's fused ``ElementwiseKernel``s, compiled on first use (and cached on disk by CuPy).

On a GPU each array operation is a kernel launch that reads and writes the
whole array in device memory.  The layer-norm step ``x_hat *= rstd; out =
x_hat * weight + bias`` is three launches and three round trips through
memory; one ``ElementwiseKernel`` does the three in a single pass, each
thread computing one element (row and column vectors broadcast as in
NumPy).  The same holds for the Adam update (five launches become one).
Nothing here imports CuPy until a CuPy array asks for a kernel.
"""
from __future__ import annotations

import functools


@functools.cache
def layer_norm_scale_shift():
    import cupy  # noqa: PLC0415  (optional dependency, only reached with CuPy arrays)

    return cupy.ElementwiseKernel(
        "T rstd, T weight, T bias", "T x_hat, T out",
        "x_hat = x_hat * rstd; out = x_hat * weight + bias",
        "minitransformer_layer_norm_scale_shift",
    )


@functools.cache
def adam_update():
    import cupy  # noqa: PLC0415

    return cupy.ElementwiseKernel(
        "T grad, T beta1, T beta2, T step_size, T bias_correction2_sqrt, T eps",
        "T param, T exp_avg, T exp_avg_sq",
        """
        exp_avg = beta1 * exp_avg + (1 - beta1) * grad;
        exp_avg_sq = beta2 * exp_avg_sq + (1 - beta2) * grad * grad;
        param -= step_size * exp_avg / (sqrt(exp_avg_sq) / bias_correction2_sqrt + eps);
        """,
        "minitransformer_adam_update",
    )
