"""Sums and means over the last axes, as the fused kernels need them.

A softmax divides by the sum of each row, a layer norm takes the mean of
each row, and their backward passes sum a product over each row::

    row_sum(x)      == x.sum(axis=-1, keepdims=True)
    row_dot(a, b)   == (a * b).sum(axis=-1, keepdims=True)

Each backend sums rows its fastest way (NumPy with ``einsum``, CuPy with
its reduction kernel: see ``backend/kernels``); each row's sum depends on
that row only, so a block of rows gets the same numbers as the whole
array.  ``row_mean`` and ``row_mean_of_product`` are the means over the
last ``n_axes`` axes (a layer norm may normalize over several).
"""
from __future__ import annotations

from ..backend.kernels import kernels_for


def row_sum(x):
    """Sum over the last axis, keeping it (size 1) for broadcasting."""
    return kernels_for(x).row_sum(x)


def row_dot(a, b):
    """Sum over the last axis of ``a * b``, keeping it (size 1)."""
    return kernels_for(a).row_dot(a, b)


def _flat_rows(a, n_axes: int):
    """``a`` with its last ``n_axes`` axes merged into one (a view when they are contiguous)."""
    return a.reshape(a.shape[:a.ndim - n_axes] + (-1,))


def row_mean(a, n_axes: int = 1):
    """The mean over the last ``n_axes`` axes, kept as axes of size 1."""
    flat = _flat_rows(a, n_axes)
    return (row_sum(flat) / flat.shape[-1]).reshape(a.shape[:a.ndim - n_axes] + (1,) * n_axes)


def row_mean_of_product(a, b, n_axes: int = 1):
    """The mean of ``a * b`` over the last ``n_axes`` axes, without making ``a * b``."""
    flat_a, flat_b = _flat_rows(a, n_axes), _flat_rows(b, n_axes)
    return (row_dot(flat_a, flat_b) / flat_a.shape[-1]).reshape(a.shape[:a.ndim - n_axes] + (1,) * n_axes)
