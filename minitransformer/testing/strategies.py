"""Hypothesis strategies for testing ops and models built on minitransformer.

Property-based tests state a fact that must hold for *every* input -- "the
backward of my op agrees with finite differences" -- and let Hypothesis hunt
for a counterexample, then shrink it to a minimal one::

    from hypothesis import given
    import minitransformer as mt
    from minitransformer.testing import tensors

    @given(tensors(dtype="float64"))
    def test_tanh_gradient(x):
        assert mt.gradcheck(lambda t: t.tanh(), [x])

This module needs ``hypothesis`` (``pip install 'minitransformer[test]'``); the
engine never imports it.  Shapes, broadcasting and op cases are drawn by the
same code the ``minitransformer gradcheck`` command uses
(``minitransformer.testing.cases`` and the OpSpecs of
``minitransformer.testing.registry``), here fed by Hypothesis instead of NumPy.
"""
from __future__ import annotations

import math

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from hypothesis.strategies import SearchStrategy

from ..autograd import tensor
from ..backend import get_backend
from . import cases, registry

__all__ = [
    "HypothesisChooser", "arrays", "broadcastable_shapes", "matmul_shapes", "op_inputs",
    "reduction_axes", "shapes", "tensors",
]

_FLOATS = {
    "real": st.floats(-3, 3, allow_subnormal=False),
    "positive": st.floats(0.5, 3),
    "nonzero": st.floats(0.5, 3) | st.floats(-3, -0.5),
}


class HypothesisChooser:
    """A chooser (see ``minitransformer.testing.cases``) drawing from Hypothesis.

    Wrap the ``draw`` of an ``st.composite`` function (or ``data.draw`` of
    ``st.data()``) to use the drawing helpers of ``cases`` in your strategies::

        @st.composite
        def square_matrices(draw):
            n = HypothesisChooser(draw).integer(1, 5)
            return draw(arrays((n, n)))
    """

    def __init__(self, draw):
        self._draw = draw

    def integer(self, low: int, high: int) -> int:
        return self._draw(st.integers(low, high))

    def array(self, shape, domain: str) -> np.ndarray:
        return self._draw(arrays(tuple(shape), domain=domain))

    def bools(self, shape) -> np.ndarray:
        return self._draw(hnp.arrays(np.bool_, tuple(shape)))

    def indices(self, shape, low: int, high: int) -> np.ndarray:
        return self._draw(hnp.arrays(np.int64, tuple(shape), elements=st.integers(low, high)))


def _composite(draw_case):
    """A strategy from a function of a chooser (the drawing code of ``cases``)."""
    return st.composite(lambda draw: draw_case(HypothesisChooser(draw)))()


def shapes(min_dims: int = 0, max_dims: int = 4, min_side: int = 1, max_side: int = 5) -> SearchStrategy:
    """Shapes with min_dims..max_dims axes, each of length min_side..max_side.

    Example: ``@given(tensors(shape=shapes(min_dims=1, max_side=3)))`` tests
    on vectors, matrices, ... up to 4-D, with sides 1 to 3.  Shrinks towards
    fewer axes and shorter ones, so a failure is reported on a small shape.
    """
    cases.check_shape_bounds(min_dims, max_dims, min_side, max_side)
    return _composite(lambda c: cases.draw_shape(c, min_dims, max_dims, min_side, max_side))


def broadcastable_shapes(n: int = 2, min_dims: int = 0, max_dims: int = 4, min_side: int = 1,
                         max_side: int = 5) -> SearchStrategy:
    """Tuples of ``n`` shapes that broadcast together.

    Each is a trailing part of a common shape (leading axes missing) with some
    sides set to 1 (stretched), e.g. ``((3, 1, 4), (2, 1, 1), (4,))``::

        @given(broadcastable_shapes(n=2))
        def test_add_shape(pair):
            a, b = (mt.zeros(s) for s in pair)
            assert (a + b).shape == np.broadcast_shapes(*pair)
    """
    if n < 1:
        raise ValueError(f"broadcastable_shapes: n must be at least 1, got {n}")
    cases.check_shape_bounds(min_dims, max_dims, min_side, max_side)
    return _composite(lambda c: cases.draw_broadcastable(c, n, min_dims, max_dims, min_side, max_side))


def matmul_shapes(max_batch_dims: int = 2, min_side: int = 1, max_side: int = 5) -> SearchStrategy:
    """Pairs of shapes (a, b) for which ``a @ b`` is defined.

    Covers vector @ vector (a 0-d result), vector @ matrix, matrix @ vector,
    and batched products whose batch axes broadcast, e.g. ``((2, 1, 3, 4), (5, 4, 2))``::

        @given(matmul_shapes())
        def test_matmul_shape(pair):
            a, b = pair
            assert (mt.zeros(a) @ mt.zeros(b)).shape == np.matmul(np.zeros(a), np.zeros(b)).shape
    """
    return _composite(lambda c: cases.draw_matmul(c, max_batch_dims, min_side, max_side))


def reduction_axes(ndim: int) -> SearchStrategy:
    """Values of a reduction's ``axis=`` for a tensor of ``ndim`` axes.

    None (every axis), one axis (possibly negative, like -1) or a tuple of
    distinct axes (possibly empty)::

        @given(st.data())
        def test_sum_shape(data):
            x = data.draw(tensors(shape=(2, 3, 4)))
            axis = data.draw(reduction_axes(3))
            assert x.sum(axis=axis).shape == x.numpy().sum(axis=axis).shape
    """
    return _composite(lambda c: cases.draw_axes(c, ndim))


def arrays(shape, dtype="float64", elements: SearchStrategy | None = None,
           domain: str = "real") -> SearchStrategy:
    """NumPy arrays of a shape (or a strategy of shapes) with values from ``domain``.

    Domains (see ``cases.DOMAINS``): "real" in [-3, 3]; "positive" in
    [0.5, 3]; "nonzero" with |x| in [0.5, 3]; "away_from_kinks": distinct
    values with |x| >= 0.1 and gaps >= 0.01.  ``elements`` (a strategy of
    floats representable in ``dtype``) replaces the domain::

        arrays((2, 3), domain="positive")                    # safe for log
        arrays(shapes(max_dims=2), elements=st.just(1.0))    # all ones
    """
    if isinstance(shape, SearchStrategy):
        return shape.flatmap(lambda s: arrays(s, dtype, elements, domain))
    shape, dtype = tuple(shape), np.dtype(dtype)
    if elements is not None:
        return hnp.arrays(dtype, shape, elements=elements)
    if domain == "away_from_kinks":
        size = math.prod(shape)
        grid = cases.kink_grid(size).tolist()
        # a unique list from sampled_from never retries: no ties, ever
        values = st.lists(st.sampled_from(grid), min_size=size, max_size=size, unique=True)
        return values.map(lambda v: np.array(v, dtype=np.float64).reshape(shape).astype(dtype))
    if domain not in _FLOATS:
        raise ValueError(f"arrays: unknown domain {domain!r}; choose one of {sorted(cases.DOMAINS)}")
    # drawn in float64, then rounded: float32 arrays need no float32-exact elements
    return hnp.arrays(np.float64, shape, elements=_FLOATS[domain]).map(lambda a: a.astype(dtype))


def tensors(shape=None, dtype="float64", requires_grad: bool = True, domain: str = "real",
            elements: SearchStrategy | None = None, backend: str | None = None) -> SearchStrategy:
    """Leaf Tensors of a shape (default: any of ``shapes()``) with values from ``domain``.

    ``dtype`` must be a float dtype (only floats take gradients); float64 is
    the default because ``mt.gradcheck`` needs it::

        @given(tensors(domain="away_from_kinks"))
        def test_relu_gradient(x):
            assert mt.gradcheck(lambda t: t.relu(), [x])
    """
    if np.dtype(dtype).kind != "f":
        raise ValueError(f"tensors: dtype {np.dtype(dtype)} is not a float dtype; use float32 or float64")
    shape = shapes() if shape is None else shape
    return arrays(shape, dtype, elements, domain).map(
        lambda a: tensor(a, dtype=a.dtype, requires_grad=requires_grad, backend=backend or get_backend())
    )


def op_inputs(spec, dtype="float64", max_dims: int = 4, max_side: int = 4) -> SearchStrategy:
    """Cases (``registry.Sample``) for an OpSpec, or the name of a registered one.

    A Sample holds the input arrays and the op's parameters (an axis, an
    index, ...); ``sample.tensors()`` makes fresh leaf tensors of them,
    ``sample.call(*tensors)`` runs the op and ``sample.expected()`` the NumPy
    reference::

        @given(op_inputs("MatMul"))
        def test_matmul(sample):
            out = sample.call(*sample.tensors())
            np.testing.assert_allclose(out.numpy(), sample.expected())
            assert mt.gradcheck(sample.call, sample.tensors())
    """
    if isinstance(spec, str):
        try:
            spec = registry.get_spec(spec)
        except KeyError as exc:
            raise ValueError(f"op_inputs: {exc.args[0]}") from None
    return _composite(lambda c: spec.draw(c, max_dims, max_side).astype(dtype))
