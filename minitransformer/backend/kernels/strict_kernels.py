"""The strict backend's kernels: the portable ones, on strict arrays.

The strict backend stands in for a device on a CPU, so its kernels are
the portable formulas CuPy falls back on, run through strict arrays (any
host conversion inside them raises).  Only erf has no formula in array
calls: the device computes it with NumPy's kernel on the arrays it holds,
as CuPy computes it with its own.
"""
from __future__ import annotations

from .. import strict
from .numpy_kernels import NumpyKernels
from .portable import Kernels


class StrictKernels(Kernels):
    name = "strict"

    def __init__(self):
        self._numpy = NumpyKernels()

    def erf(self, x):
        return strict.StrictArray(self._numpy.erf(x.get()))
