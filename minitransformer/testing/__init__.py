"""Test support: the op registry, the drawing of test cases, Hypothesis strategies.

Nothing in the engine imports this package; the tests, the ``minitransformer
gradcheck`` command and the exercise grader do.

* ``cases``: choosers (:class:`NumpyChooser`), value domains, shapes, axes and
  the *case kinds* that draw an op's inputs and parameters;
* ``registry``: :class:`OpSpec` (what an op computes, in Tensors and in NumPy,
  and how to draw its cases), :class:`Sample`, :func:`register`,
  :func:`all_specs`;
* ``specs``: the OpSpecs of minitransformer's own ops (primitive ops, fused
  ops, the exercises' Functions);
* ``strategies``: Hypothesis strategies (:func:`tensors`, :func:`op_inputs`,
  :func:`shapes`, ...), which need ``hypothesis`` (``pip install
  'minitransformer[test]'``).  They are imported on first use, so the rest of
  this package works without Hypothesis::

    from minitransformer.testing import op_inputs, tensors
"""
from __future__ import annotations

from .cases import DOMAINS, NumpyChooser, kink_grid
from .registry import all_specs, get_spec, register
from .spec import OpSpec, Sample

_STRATEGIES = (
    "HypothesisChooser", "arrays", "broadcastable_shapes", "matmul_shapes", "op_inputs",
    "reduction_axes", "shapes", "tensors",
)

__all__ = [
    "DOMAINS", "NumpyChooser", "OpSpec", "Sample", "all_specs", "get_spec", "kink_grid", "register",
    *_STRATEGIES,
]


def __getattr__(name: str):
    # PEP 562: the strategies import Hypothesis, so they load on first use only
    if name in _STRATEGIES:
        from . import strategies  # noqa: PLC0415

        return getattr(strategies, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_STRATEGIES))
