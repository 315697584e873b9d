"""An op's spec: what it computes, in Tensors and in NumPy, and how to draw a case of it.

An :class:`OpSpec` says

* what the op computes on Tensors (``fn``) and, independently, in plain NumPy
  (``reference``) -- the property tests check that the two agree;
* how many tensors it takes (``arity``) and from which values (``domain``:
  ``"positive"`` for log, ``"away_from_kinks"`` for relu, ... see
  ``cases.DOMAINS``);
* how to draw a test case (``shapes``: a *case kind* of ``cases.CASE_KINDS``
  such as ``"broadcast2"`` or ``"reduce"``, which draws the input shapes and
  the op's parameters).

A :class:`Sample` is one drawn case.  The specs themselves are listed in
``minitransformer.testing.specs`` and collected by ``registry``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from dataclasses import replace as _replace
from typing import Callable

import numpy as np

from ..autograd import tensor
from ..backend import get_backend
from .cases import CASE_KINDS, DOMAINS, NumpyChooser


@dataclass(frozen=True)
class OpSpec:
    """One differentiable op, as the tests and the gradcheck command see it.

    ``fn(*tensors, **params)`` and ``reference(*arrays, **params)`` compute the
    same thing; ``shapes`` names a case kind of CASE_KINDS (or is a function
    ``(chooser, max_dims, max_side) -> (input shapes, params)``); ``domain`` is
    one name of DOMAINS for every input, or a tuple with one per input;
    ``functions`` names the Function classes the op runs.
    """

    name: str
    fn: Callable
    reference: Callable
    arity: int = 1
    domain: str | tuple = "real"
    functions: tuple = ()
    shapes: str | Callable = "unary"

    def __post_init__(self):
        if not self.functions:
            object.__setattr__(self, "functions", (self.name,))
        if not isinstance(self.arity, int) or self.arity < 1:
            raise ValueError(f"OpSpec {self.name}: arity must be a positive integer, got {self.arity!r}")
        bad = [d for d in self.input_domains() if d not in DOMAINS]
        if bad or len(self.input_domains()) != self.arity:
            raise ValueError(f"OpSpec {self.name}: domain {self.domain!r} must be one of "
                             f"{sorted(DOMAINS)} or a tuple of {self.arity} of them")
        if isinstance(self.shapes, str) and self.shapes not in CASE_KINDS:
            raise ValueError(f"OpSpec {self.name}: unknown case kind {self.shapes!r}; "
                             f"choose one of {sorted(CASE_KINDS)} or pass a function")

    def input_domains(self) -> tuple:
        return (self.domain,) * self.arity if isinstance(self.domain, str) else tuple(self.domain)

    def draw(self, c, max_dims: int = 4, max_side: int = 4) -> "Sample":
        """A float64 case drawn with chooser ``c``: input arrays and params."""
        kind = CASE_KINDS[self.shapes] if isinstance(self.shapes, str) else self.shapes
        shapes, params = kind(c, max_dims, max_side)
        if len(shapes) != self.arity:
            raise ValueError(f"OpSpec {self.name}: case kind gave {len(shapes)} shapes for arity {self.arity}")
        domains = self.input_domains()
        arrays = [None] * self.arity
        # inputs away from kinks are drawn together: no ties *between* inputs either
        joint = [i for i in range(self.arity) if domains[i] == "away_from_kinks"]
        if joint:
            sizes = [math.prod(shapes[i]) for i in joint]
            flat = c.array((sum(sizes),), "away_from_kinks")
            for i, piece in zip(joint, np.split(flat, np.cumsum(sizes)[:-1])):
                arrays[i] = piece.reshape(shapes[i])
        for i in range(self.arity):
            if arrays[i] is None:
                arrays[i] = c.array(shapes[i], domains[i])
        return Sample(self, tuple(np.asarray(a, dtype=np.float64) for a in arrays), params)

    def sample_inputs(self, rng: np.random.Generator, dtype="float64",
                      max_dims: int = 3, max_side: int = 3) -> "Sample":
        """A small random case, drawn with a NumPy Generator, in ``dtype``."""
        return self.draw(NumpyChooser(rng), max_dims, max_side).astype(dtype)


@dataclass
class Sample:
    """One case of an op: the input arrays (one dtype) and the op's params."""

    spec: OpSpec
    arrays: tuple
    params: dict = field(default_factory=dict)

    @property
    def shapes(self) -> tuple:
        return tuple(a.shape for a in self.arrays)

    @property
    def dtype(self):
        return self.arrays[0].dtype

    def astype(self, dtype) -> "Sample":
        return _replace(self, arrays=tuple(a.astype(dtype) for a in self.arrays))

    def tensors(self, requires_grad: bool = True, backend: str | None = None) -> tuple:
        """Fresh leaf tensors of the inputs, on ``backend`` (default: the current one)."""
        return tuple(tensor(a, dtype=a.dtype, requires_grad=requires_grad,
                            backend=backend or get_backend()) for a in self.arrays)

    def call(self, *tensors):
        """The op on these tensors: ``spec.fn(*tensors, **params)``."""
        return self.spec.fn(*tensors, **self.params)

    def expected(self) -> np.ndarray:
        """The NumPy reference on the same inputs."""
        return np.asarray(self.spec.reference(*(a.copy() for a in self.arrays), **self.params))

    def __repr__(self) -> str:
        return f"Sample({self.spec.name}, shapes={self.shapes}, params={self.params!r}, arrays={self.arrays!r})"


