"""Every registered op, on random cases: forward == NumPy, backward == finite differences.

The cases come from the op's OpSpec (minitransformer/testing/specs/) through
Hypothesis: random shapes up to 4-D with sides up to 4, broadcasting, axes,
indices.  A failure is shrunk to a small case and printed with its arrays.
"""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import minitransformer as mt
from minitransformer.testing import all_specs, op_inputs

SPECS = all_specs()
# float32 results may differ from NumPy's by a few ulps (sigmoid via tanh, erf, summation order)
TOLERANCES = {"float64": dict(rtol=1e-9, atol=1e-12), "float32": dict(rtol=2e-5, atol=2e-5)}
SETTINGS = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
@SETTINGS
@given(data=st.data())
def test_forward_matches_numpy_reference(spec, data):
    sample = data.draw(op_inputs(spec), label="sample")
    for dtype, tolerance in TOLERANCES.items():
        case = sample.astype(dtype)
        out = case.call(*case.tensors(requires_grad=False))
        expected = case.expected()
        assert out.shape == expected.shape
        assert out.dtype == np.dtype(dtype), f"{spec.name} turned {dtype} inputs into {out.dtype}"
        np.testing.assert_allclose(out.numpy(), expected, **tolerance)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
@SETTINGS
@given(data=st.data())
def test_backward_matches_finite_differences(spec, data):
    sample = data.draw(op_inputs(spec), label="sample")
    assert mt.gradcheck(sample.call, sample.tensors(), name=spec.name)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_gradient_reaches_every_input(spec):
    """A backward that silently returned None would pass gradcheck vacuously: not here."""
    sample = spec.sample_inputs(np.random.default_rng(0), "float64")
    inputs = sample.tensors()
    out = sample.call(*inputs)
    out.backward(mt.ones_like(out))
    for i, x in enumerate(inputs):
        assert x.grad is not None, f"{spec.name}: input {i} received no gradient"
        assert x.grad.shape == x.shape
