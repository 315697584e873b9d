"""The error function, which NumPy lacks: each backend's own, else ``math.erf``.

``erf(x) = 2/sqrt(pi) * integral_0^x exp(-t^2) dt`` (the exact GELU needs
it).  Neither NumPy nor the array API has one: SciPy's is used where SciPy
is installed, ``cupyx.scipy.special.erf`` on a GPU, and otherwise
``math.erf`` element by element on a host copy, exact to the last bit and
slow.
"""
from __future__ import annotations

import functools
import math

import numpy

from . import backend_of, get_array_module, to_host


@functools.cache
def _scipy_erf():
    try:
        from scipy.special import erf  # noqa: PLC0415  (optional: SciPy is not a dependency)
    except ImportError:
        return None
    return erf


def erf_elementwise(x):
    """``math.erf`` of every element, on a host copy sent back to ``x``'s backend."""
    host = to_host(x)
    values = numpy.vectorize(math.erf, otypes=[host.dtype])(host)
    return get_array_module(x).asarray(values)


def erf(x):
    """The error function of every element of the array ``x``."""
    backend = backend_of(x)
    if backend == "numpy" and _scipy_erf() is not None:
        return _scipy_erf()(x)
    if backend == "cupy":
        from cupyx.scipy.special import erf as cupy_erf  # noqa: PLC0415  (CuPy only)

        return cupy_erf(x)
    return erf_elementwise(x)
