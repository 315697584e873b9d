"""The functional ops' OpSpecs (minitransformer/testing/specs/fused_ops.py) are registered and sound.

The deep checks (forward vs the NumPy reference in float32 and float64,
gradcheck, on Hypothesis-drawn cases) run for every registered spec in
tests/engine/test_ops_properties.py; here: every fused Function of the
functional package is covered, and each spec's reference agrees on a few
NumPy-drawn cases, so a broken spec is reported next to the functional tests.
"""
import inspect

import numpy as np
import pytest

import minitransformer as mt
import minitransformer.functional as F
from minitransformer.testing.registry import OP_SPECS, all_specs
from minitransformer.testing.specs.fused_ops import FUSED_OP_SPECS


def _functional_function_classes():
    return sorted({cls.__name__ for _, cls in inspect.getmembers(F, inspect.isclass)
                   if issubclass(cls, mt.Function) and cls.__module__.startswith("minitransformer.functional")})


def test_every_fused_functional_op_is_covered_by_a_registered_spec():
    classes = _functional_function_classes()
    assert set(classes) >= {"Softmax", "LogSoftmax", "LayerNorm", "Linear", "Embedding",
                            "Dropout", "CrossEntropy"}
    covered = {name for spec in all_specs() for name in spec.functions}
    assert [c for c in classes if c not in covered] == []
    for spec in FUSED_OP_SPECS:
        assert OP_SPECS[spec.name] is spec


@pytest.mark.parametrize("spec", FUSED_OP_SPECS, ids=lambda s: s.name)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_spec_reference_matches_the_op(spec, dtype):
    rng = np.random.default_rng(0)
    tol = dict(rtol=1e-10, atol=1e-12) if dtype == "float64" else dict(rtol=2e-5, atol=2e-5)
    for _ in range(5):
        sample = spec.sample_inputs(rng, dtype)
        inputs = sample.tensors()
        out = sample.call(*inputs)
        assert out.dtype == np.dtype(dtype)
        np.testing.assert_allclose(out.numpy(), sample.expected(), **tol)
        out.backward(np.ones(out.shape))
        assert all(t.grad is not None and t.grad.shape == t.shape for t in inputs)  # every input takes one
