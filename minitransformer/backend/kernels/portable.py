"""The portable kernels: each routine as its formula in plain ``xp`` calls.

These run on any backend: the strict backend uses them as they are (so a
CPU test runs the formulas CuPy falls back on, through arrays that refuse
host use), and they are the reference the faster versions of NumPy and
CuPy are tested against.
"""
from __future__ import annotations

import math

import numpy

from .. import get_array_module, to_host


class Kernels:
    """Backend-specific routines; a backend subclasses this and overrides what it does faster."""

    # ---------------------------------------------------------- row sums
    def row_sum(self, x):
        """Sum over the last axis, kept (size 1) for broadcasting: ``x.sum(axis=-1, keepdims=True)``."""
        return x.sum(axis=-1, keepdims=True)

    def row_dot(self, a, b):
        """Sum over the last axis of ``a * b``, kept (size 1)."""
        return (a * b).sum(axis=-1, keepdims=True)

    # ---------------------------------------------------------- gathers and scatters
    def scatter_add_rows(self, ids, rows, num_rows: int):
        """``out[i] = sum of rows[j] over all j with ids[j] == i``, shape (num_rows, D):
        one scatter-add (on a GPU, atomic adds: fast)."""
        out = get_array_module(rows).zeros((num_rows, rows.shape[1]), dtype=rows.dtype)
        get_array_module(rows).add.at(out, ids, rows)
        return out

    # ---------------------------------------------------------- special functions
    def erf(self, x):
        """The error function, elementwise: ``math.erf`` on a host copy, sent back.

        Neither NumPy nor the array API has an erf, so the portable form is the
        one exact to the last bit, and slow; SciPy's and CuPy's override it."""
        host = to_host(x)
        values = numpy.vectorize(math.erf, otypes=[host.dtype])(host)
        return get_array_module(x).asarray(values)

    # ---------------------------------------------------------- layer norm
    def scale_shift(self, x_hat, rstd, weight, bias, out):
        """The last step of a layer norm's forward, on centred rows ``x_hat = x - mean``:

            x_hat <- x_hat * rstd          (in place: the normalized rows, kept for backward)
            out   <- x_hat * weight + bias

        ``weight`` and ``bias`` may be None (no affine part)."""
        x_hat *= rstd
        if weight is None:
            out[...] = x_hat
        else:
            get_array_module(out).multiply(x_hat, weight, out=out)
        if bias is not None:
            out += bias

    # ---------------------------------------------------------- optimizers
    def adam_update(self, param, grad, exp_avg, exp_avg_sq, beta1, beta2, step_size, bias_correction2_sqrt,
                    eps, max_exp_avg_sq=None):
        """One Adam step, in place on ``param``, ``exp_avg`` (m) and ``exp_avg_sq`` (v):

            m <- beta1 m + (1 - beta1) g
            v <- beta2 v + (1 - beta2) g^2          (AMSGrad: vmax <- max(vmax, v), used below)
            p <- p - step_size * m / (sqrt(v) / bias_correction2_sqrt + eps)

        with ``step_size = lr / (1 - beta1^t)``, the form PyTorch computes."""
        xp = get_array_module(param)
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
