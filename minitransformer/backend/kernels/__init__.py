"""Kernels: the few array routines whose best form depends on the backend.

Almost all of the engine is one code path for every backend
(``xp = get_array_module(x)``).  A handful of routines are not, because
the fastest way to do them differs:

- a sum over each row: NumPy is fastest with ``einsum`` (one vectorized loop
  per row), CuPy with its reduction kernel (``x.sum(axis=-1)``);
- the error function: NumPy has none (SciPy has), CuPy has ``cupyx``'s;
- a layer norm's scale-and-shift, and the Adam update: NumPy runs them as
  a chain of in-place ufuncs (no temporaries), CuPy as one fused
  ``ElementwiseKernel`` instead of three to five kernel launches;
- an embedding's gradient (a scatter-add of rows by id): NumPy sorts the
  ids and adds runs with ``add.reduceat``, CuPy uses its atomic ``add.at``.

Each backend has one :class:`~.portable.Kernels` object (the portable
formulas, in plain ``xp`` calls; a backend overrides what it does better),
and an op asks for the kernels of its arrays::

    k = kernels_for(x)          # NumPy's, CuPy's or the strict backend's
    total = k.row_sum(x)

so the choice of backend is made here, once, and never in the layers.
"""
from __future__ import annotations

from .. import backend_of
from .portable import Kernels

__all__ = ["Kernels", "kernels_for", "kernels_of_backend"]

_kernels: dict = {}


def kernels_of_backend(name: str) -> Kernels:
    """The kernels of a backend by name ('numpy', 'cupy' or 'strict'), made once."""
    if name not in _kernels:
        if name == "numpy":
            from .numpy_kernels import NumpyKernels as kind  # noqa: PLC0415
        elif name == "strict":   # the portable formulas, run through strict arrays
            kind = Kernels
        elif name == "cupy":
            from .cupy_kernels import CupyKernels as kind  # noqa: PLC0415  (imports cupy)
        else:
            raise ValueError(f"kernels: unknown backend {name!r}")
        _kernels[name] = kind()
    return _kernels[name]


def kernels_for(array) -> Kernels:
    """The kernels of the backend that owns ``array``."""
    return kernels_of_backend(backend_of(array))
