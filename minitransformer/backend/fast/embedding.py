"""The embedding gradient's fast version on NumPy: sorted ids and ``add.reduceat``.

An embedding's gradient adds rows by token id (``dW[ids[p]] += g[p]``).
NumPy's ``add.at``, the formula's scatter-add, goes element by element.
Here the ids are sorted instead, so that equal ones form runs: a run of
one row (most ids of a batch) is copied as it is, and only the longer
runs are summed, by ``add.reduceat``.  Only the backward is replaced; the
forward (the lookup and its bound check) is the formula's.  CuPy's
``add.at`` is atomic adds on the GPU, already fast: the formula there.
"""
from __future__ import annotations

import numpy

from . import fast_version_of


def scatter_add_rows_sorted(ids, rows, num_rows: int):
    """``out[i] = sum of rows[j] over all j with ids[j] == i``, shape (num_rows, D)."""
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


@fast_version_of("minitransformer.functional.embedding.Embedding", "numpy")
class EmbeddingSortedScatter:
    @staticmethod
    def backward(ctx, grad):
        (ids,) = ctx.saved_tensors
        dim = grad.shape[-1]
        gw = scatter_add_rows_sorted(ids.reshape(-1), grad.reshape(-1, dim), ctx.num_rows)
        if ctx.padding_idx is not None:
            gw[ctx.padding_idx] = 0
        return gw, None
