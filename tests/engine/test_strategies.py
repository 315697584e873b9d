"""The public Hypothesis strategies keep their promises (minitransformer.testing.strategies)."""
import numpy as np
import pytest
from hypothesis import find, given, settings
from hypothesis import strategies as st

import minitransformer as mt
from minitransformer.testing.cases import NumpyChooser, kink_grid
from minitransformer.testing import (
    arrays, broadcastable_shapes, matmul_shapes, op_inputs, reduction_axes, shapes, tensors,
)

FIND = settings(max_examples=1000, database=None, derandomize=True)


@given(shapes(min_dims=1, max_dims=3, min_side=2, max_side=4))
def test_shapes_respect_their_bounds(shape):
    assert 1 <= len(shape) <= 3 and all(2 <= n <= 4 for n in shape)


@given(broadcastable_shapes(n=3))
def test_broadcastable_shapes_broadcast(triple):
    np.broadcast_shapes(*triple)            # raises if they do not


def _stretched(p):
    """Some side 1 of the first shape is stretched to a longer one."""
    out = np.broadcast_shapes(*p)
    return any(n == 1 and m > 1 for n, m in zip(p[0][::-1], out[::-1]))


@pytest.mark.parametrize("condition", [
    lambda p: len(p[0]) < len(p[1]),                   # a missing leading axis
    _stretched,                                        # a stretched side of length 1
    lambda p: len(p[0]) < len(p[1]) and _stretched(p),
])
def test_broadcastable_shapes_include_stretching_and_missing_leading_axes(condition):
    find(broadcastable_shapes(), condition, settings=FIND)


@given(matmul_shapes())
def test_matmul_shapes_are_valid_for_matmul(pair):
    a, b = pair
    expected = np.matmul(np.zeros(a), np.zeros(b)).shape
    assert (mt.zeros(a) @ mt.zeros(b)).shape == expected


@pytest.mark.parametrize("condition", [
    lambda p: len(p[0]) == len(p[1]) == 1,                       # vector @ vector
    lambda p: len(p[0]) == 1 and len(p[1]) >= 3,                 # vector @ batch
    lambda p: len(p[0]) >= 3 and len(p[1]) >= 3 and p[0][:-2] != p[1][:-2],  # broadcast batches
])
def test_matmul_shapes_cover_the_special_cases(condition):
    find(matmul_shapes(), condition, settings=FIND)


@given(st.integers(0, 4).flatmap(lambda n: st.tuples(st.just(n), reduction_axes(n))))
def test_reduction_axes_are_valid_numpy_axes(case):
    ndim, axis = case
    x = np.zeros((2,) * ndim)
    assert mt.tensor(x).sum(axis=axis).shape == x.sum(axis=axis).shape


@given(tensors(shape=shapes(max_side=6), domain="away_from_kinks"))
def test_away_from_kinks_means_no_ties_and_nothing_near_zero(x):
    values = np.sort(x.numpy().ravel())
    assert (np.abs(values) >= 0.1 - 1e-12).all()
    assert (np.diff(values) >= 0.01 - 1e-12).all()
    assert x.requires_grad and x.dtype == np.float64


@pytest.mark.parametrize("domain, check", [
    ("real", lambda v: (np.abs(v) <= 3).all()),
    ("positive", lambda v: ((v >= 0.5) & (v <= 3)).all()),
    ("nonzero", lambda v: ((np.abs(v) >= 0.5) & (np.abs(v) <= 3)).all()),
])
def test_domains_of_arrays_and_of_the_numpy_chooser(domain, check):
    @settings(max_examples=20)
    @given(arrays((3, 4), dtype="float32", domain=domain))
    def hypothesis_side(a):
        assert a.dtype == np.float32 and check(a)

    hypothesis_side()
    assert check(NumpyChooser(np.random.default_rng(0)).array((50,), domain))


def test_kink_grid_grows_with_the_number_of_values():
    assert len(np.unique(kink_grid(2000))) >= 2000
    assert np.abs(kink_grid(10)).min() == pytest.approx(0.1)


@given(op_inputs("Maximum", dtype="float32"))
def test_op_inputs_of_a_two_input_op_avoid_ties_across_inputs(sample):
    a, b = sample.arrays
    assert a.dtype == b.dtype == np.float32
    assert len(np.intersect1d(a, b)) == 0
    out = sample.call(*sample.tensors())
    np.testing.assert_array_equal(out.numpy(), sample.expected())


def test_unknown_domains_and_dtypes_are_refused():
    with pytest.raises(ValueError, match="unknown domain 'negative'"):
        arrays((2,), domain="negative")
    with pytest.raises(ValueError, match="not a float dtype"):
        tensors(dtype="int32")
