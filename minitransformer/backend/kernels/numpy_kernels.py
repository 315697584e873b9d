"""NumPy's kernels: row sums with ``einsum``, erf from SciPy where it is installed.

``x.sum(axis=-1)`` adds each row pairwise in a short loop, and on the rows
of the fused kernels (64 numbers for an attention softmax, 256 for a layer
norm, 8000 for a cross-entropy) that costs three to five times the
additions themselves.  ``einsum`` adds each row in one vectorized loop
instead, and sums a product without making the product array first::

    row_sum(x)      == x.sum(axis=-1, keepdims=True)
    row_dot(a, b)   == (a * b).sum(axis=-1, keepdims=True)

up to rounding (float32 rows of a few thousand numbers agree to about 1e-6
relative).  Each row's sum depends on that row only, so a block of rows
gets the same numbers as the whole array.

An embedding's gradient adds rows by token id.  NumPy's ``add.at`` does it
element by element; :meth:`NumpyKernels.scatter_add_rows` sorts the ids
instead, so that equal ones form runs: a run of one row (most ids of a
batch) is copied as it is, and only the longer runs are summed, by
``add.reduceat``.

The layer-norm steps and the Adam update are the portable in-place chains:
on NumPy, ufuncs writing into ``out=`` buffers are already the fastest form.
"""
from __future__ import annotations

import numpy

from .portable import Kernels


def _scipy_erf():
    try:
        from scipy.special import erf  # noqa: PLC0415  (optional: SciPy is not a dependency)
    except ImportError:
        return None
    return erf


class NumpyKernels(Kernels):
    def __init__(self):
        self._erf = _scipy_erf()

    def row_sum(self, x):
        return numpy.einsum("...j->...", x)[..., None]

    def row_dot(self, a, b):
        return numpy.einsum("...j,...j->...", a, b)[..., None]

    def erf(self, x):
        return self._erf(x) if self._erf is not None else super().erf(x)

    def scatter_add_rows(self, ids, rows, num_rows: int):
        out = numpy.zeros((num_rows, rows.shape[1]), dtype=rows.dtype)
        if ids.size == 0:
            return out
        order = numpy.argsort(ids, kind="stable")
        sorted_ids = ids[order]
        starts = numpy.flatnonzero(numpy.concatenate(([True], sorted_ids[1:] != sorted_ids[:-1])))
        lengths = numpy.diff(numpy.append(starts, ids.size))
        once = lengths == 1
        out[sorted_ids[starts[once]]] = rows[order[starts[once]]]
        repeated = ~once
        if repeated.any():
            in_repeated_run = numpy.repeat(repeated, lengths)     # sorted position -> its run is repeated
            run_starts = numpy.concatenate(([0], numpy.cumsum(lengths[repeated])[:-1]))
            out[sorted_ids[starts[repeated]]] = numpy.add.reduceat(rows[order[in_repeated_run]], run_starts, axis=0)
        return out
