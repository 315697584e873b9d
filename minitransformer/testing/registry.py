"""The registry of differentiable ops: what each computes, and how to test it.

Every op (every ``mt.Function``) has an entry here, an :class:`OpSpec` saying

* what it computes on Tensors (``fn``) and, independently, in plain NumPy
  (``reference``) -- the property tests check that the two agree;
* how many tensors it takes (``arity``) and from which values (``domain``:
  ``"positive"`` for log, ``"away_from_kinks"`` for relu, ... see
  ``cases.DOMAINS``);
* how to draw a test case (``shapes``: a *case kind* of ``cases.CASE_KINDS``
  such as ``"broadcast2"`` or ``"reduce"``, which draws the input shapes and
  the op's parameters).

One table serves three customers: the property tests in tests/engine (cases
drawn by Hypothesis through ``minitransformer.testing.op_inputs``), the
``minitransformer gradcheck`` command and the exercise grader (cases drawn by
a NumPy Generator), and a coverage test that fails when a Function exists
that no spec exercises.

The specs of the package's own ops live in ``minitransformer.testing.specs``,
one module per family (primitive ops, fused ops, the exercises' Functions),
which :func:`builtin_specs` imports by name: :func:`all_specs`,
:func:`get_spec` and :func:`register` always see every one of them, whatever
was imported before.  Add a spec of your own with ``register(OpSpec(...))``.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from dataclasses import replace as _replace
from typing import Callable

import numpy as np

from ..autograd import tensor
from ..backend import get_backend
from .cases import CASE_KINDS, DOMAINS, NumpyChooser


# ------------------------------------------------------------- the spec itself
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


# ------------------------------------------------------------- the registry
OP_SPECS: dict[str, OpSpec] = {}


def builtin_specs() -> tuple:
    """The specs of the package's own ops: primitive, fused, and the exercises' Functions."""
    # imported here, not at the top: the spec modules import OpSpec from this module
    from .specs import exercises, fused_ops, primitive_ops  # noqa: PLC0415

    specs = primitive_ops.PRIMITIVE_OP_SPECS + fused_ops.FUSED_OP_SPECS + exercises.EXERCISE_SPECS
    clashes = sorted(name for name, n in Counter(spec.name for spec in specs).items() if n > 1)
    if clashes:  # a clash must not silently hide a spec
        raise ValueError(f"built-in OpSpecs share the name(s) {', '.join(clashes)}")
    return specs


def _add_builtin_specs() -> None:
    """Put every built-in spec into OP_SPECS, unless its name is taken (by a replacement)."""
    for spec in builtin_specs():
        OP_SPECS.setdefault(spec.name, spec)


def register(spec: OpSpec, replace: bool = False) -> OpSpec:
    """Add ``spec`` to OP_SPECS (a name may be registered once unless ``replace``).

    The built-in specs count as registered: a new spec named ``"Mul"`` needs
    ``replace=True``.
    """
    if not isinstance(spec, OpSpec):
        raise TypeError(f"register: expected an OpSpec, got {type(spec).__name__}")
    _add_builtin_specs()
    if spec.name in OP_SPECS and not replace:
        raise ValueError(f"register: an OpSpec named {spec.name!r} is already registered")
    OP_SPECS[spec.name] = spec
    return spec


def all_specs() -> list:
    """Every registered spec: the built-in ones, then those added with :func:`register`."""
    _add_builtin_specs()
    return list(OP_SPECS.values())


def get_spec(name: str) -> OpSpec:
    """The registered spec named ``name``; KeyError (naming the registered ones) if none."""
    _add_builtin_specs()
    if name not in OP_SPECS:
        raise KeyError(f"no OpSpec named {name!r}; registered: {', '.join(OP_SPECS)}")
    return OP_SPECS[name]
