"""The registry of differentiable ops: what each computes, and how to test it.

Every op (every ``mt.Function``) has an entry here, an :class:`OpSpec` saying

* what it computes on Tensors (``fn``) and, independently, in plain NumPy
  (``reference``) -- the property tests check that the two agree;
* how many tensors it takes (``arity``) and from which values (``domain``:
  ``"positive"`` for log, ``"away_from_kinks"`` for relu, ... see DOMAINS);
* how to draw a test case (``shapes``: a *case kind* such as ``"broadcast2"``
  or ``"reduce"``, which draws the input shapes and the op's parameters).

One table serves three customers: the property tests in tests/engine (cases
drawn by Hypothesis through ``minitransformer.testing.op_inputs``), the
``minitransformer gradcheck`` command (cases drawn by a NumPy Generator) and a
coverage test that fails when a Function exists that no spec exercises.

So that the same drawing code serves both sources of randomness, it draws
through a *chooser* with four methods -- ``integer(low, high)`` (inclusive),
``array(shape, domain)``, ``bools(shape)`` and ``indices(shape, low, high)``.
:class:`NumpyChooser` wraps a Generator; ``minitransformer.testing`` wraps
Hypothesis, which can then shrink a failing case to a minimal one.

Other modules add their ops with ``register(OpSpec(...))`` at import time.
"""
from __future__ import annotations

import importlib
import math
from dataclasses import dataclass, field
from dataclasses import replace as _replace
from typing import Callable

import numpy as np

from .autograd import tensor
from .backend import get_backend
from .ops import concatenate, maximum, minimum, stack, where
from .ops.indexing import IndexAdd

DOMAINS = {
    "real": "uniform in [-3, 3]",
    "positive": "in [0.5, 3] (log, sqrt, the base of pow)",
    "nonzero": "|x| in [0.5, 3], either sign (divisors)",
    "away_from_kinks": "distinct multiples of 0.01 with |x| >= 0.1, also distinct across the "
                       "op's inputs: no ties, nothing near 0 (relu, abs, max, min, clip)",
}

# Modules that register further specs when imported (the CLI and tests load them).
EXTENSION_MODULES = ("minitransformer.functional", "minitransformer.exercises.attention")


def kink_grid(size: int) -> np.ndarray:
    """Candidates for the 'away_from_kinks' domain: k/100 for 10 <= |k| <= K.

    Any ``size`` distinct picks are >= 0.1 away from 0 and >= 0.01 from each
    other, far more than gradcheck's eps = 1e-6, so no finite difference
    straddles a kink of relu, abs, max, min (or of clip at a bound halfway
    between two grid points, like 0.995).
    """
    k = np.arange(10, max(400, size // 2 + 10) + 1)
    return np.concatenate([-k[::-1], k]) / 100


class NumpyChooser:
    """Draws a case with a NumPy Generator (the gradcheck command uses it)."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng

    def integer(self, low: int, high: int) -> int:
        return int(self.rng.integers(low, high + 1))

    def array(self, shape, domain: str) -> np.ndarray:
        size, rng = math.prod(shape), self.rng
        if domain == "real":
            values = rng.uniform(-3, 3, size)
        elif domain == "positive":
            values = rng.uniform(0.5, 3, size)
        elif domain == "nonzero":
            values = rng.uniform(0.5, 3, size) * rng.choice([-1.0, 1.0], size)
        elif domain == "away_from_kinks":
            values = rng.choice(kink_grid(size), size, replace=False)
        else:
            raise ValueError(f"unknown domain {domain!r}; choose one of {sorted(DOMAINS)}")
        return values.reshape(shape)

    def bools(self, shape) -> np.ndarray:
        return np.asarray(self.rng.random(shape) < 0.5)

    def indices(self, shape, low: int, high: int) -> np.ndarray:
        return np.asarray(self.rng.integers(low, high + 1, size=shape), dtype=np.int64)


# ----------------------------------------------------------------- drawing shapes
def choice(c, options):
    """One of ``options``, drawn with chooser ``c``."""
    return options[c.integer(0, len(options) - 1)]


def permutation(c, n: int) -> tuple:
    """A random order of range(n) (Fisher-Yates; shrinks to the identity)."""
    items = list(range(n))
    for i in range(n - 1, 0, -1):
        j = i - c.integer(0, i)
        items[i], items[j] = items[j], items[i]
    return tuple(items)


def check_shape_bounds(min_dims, max_dims, min_side, max_side) -> None:
    if not (0 <= min_dims <= max_dims and 0 <= min_side <= max_side):
        raise ValueError(f"shape bounds need 0 <= min <= max, got dims {min_dims}..{max_dims}, "
                         f"sides {min_side}..{max_side}")


def draw_shape(c, min_dims=0, max_dims=4, min_side=1, max_side=4) -> tuple:
    """A shape of min_dims..max_dims axes, each of length min_side..max_side."""
    check_shape_bounds(min_dims, max_dims, min_side, max_side)
    return tuple(c.integer(min_side, max_side) for _ in range(c.integer(min_dims, max_dims)))


def draw_broadcast_from(c, shape, min_dims=0) -> tuple:
    """A shape that broadcasts to ``shape``: leading axes dropped, some sides set to 1."""
    ndim = c.integer(min(min_dims, len(shape)), len(shape))
    return tuple(1 if c.integer(0, 2) == 0 else n for n in shape[len(shape) - ndim:])


def draw_broadcastable(c, n=2, min_dims=0, max_dims=4, min_side=1, max_side=4) -> tuple:
    """``n`` shapes that broadcast together (missing leading axes, stretched 1s)."""
    full = draw_shape(c, min_dims, max_dims, min_side, max_side)
    return tuple(draw_broadcast_from(c, full, min_dims) for _ in range(n))


def draw_matmul(c, max_batch_dims=2, min_side=1, max_side=4) -> tuple:
    """Shapes (a, b) valid for a @ b: 1-D vectors, matrices, broadcast batches."""
    m, k, n = (c.integer(min_side, max_side) for _ in range(3))
    batch_a, batch_b = draw_broadcastable(c, 2, 0, max_batch_dims, min_side, max_side)
    a = (k,) if c.integer(0, 3) == 0 else batch_a + (m, k)
    b = (k,) if c.integer(0, 3) == 0 else batch_b + (k, n)
    return a, b


def draw_axes(c, ndim: int):
    """A reduction's ``axis``: None, one axis (maybe negative), or a tuple (maybe empty)."""
    kind = c.integer(0, 2) if ndim else choice(c, (0, 2))
    if kind == 0:
        return None
    if kind == 1:
        return c.integer(-ndim, ndim - 1)
    return tuple(a - ndim if c.integer(0, 1) else a for a in range(ndim) if c.integer(0, 1))


# ------------------------------------------------- case kinds: (shapes, params)
def _unary(c, d, s):
    return (draw_shape(c, 0, d, 1, s),), {}


def _broadcast2(c, d, s):
    return draw_broadcastable(c, 2, 0, d, 1, s), {}


def _matmul(c, d, s):
    return draw_matmul(c, max(d - 2, 0), 1, s), {}


def _reduce(c, d, s):
    shape = draw_shape(c, 0, d, 1, s)
    return (shape,), {"axis": draw_axes(c, len(shape)), "keepdims": bool(c.integer(0, 1))}


def _where(c, d, s):
    a, b, cond = draw_broadcastable(c, 3, 0, d, 1, s)
    return (a, b), {"condition": c.bools(cond)}


def _masked_fill(c, d, s):
    shape = draw_shape(c, 0, d, 1, s)
    mask = c.bools(draw_broadcast_from(c, shape))
    return (shape,), {"mask": mask, "value": choice(c, (0.0, 2.5, -1e4))}


def _reshape(c, d, s):
    shape = draw_shape(c, 0, d, 1, s)
    options = [(math.prod(shape),), shape[::-1], (1,) + shape, shape + (1,), (-1,)]
    if len(shape) >= 2:
        options += [(shape[0], -1), (shape[0] * shape[1],) + shape[2:]]
    return (shape,), {"shape": choice(c, options)}


def _transpose(c, d, s):
    shape = draw_shape(c, 0, d, 1, s)
    n = len(shape)
    axes = None if c.integer(0, 2) == 0 else tuple(a - n if c.integer(0, 1) else a for a in permutation(c, n))
    return (shape,), {"axes": axes}


def _broadcast_to(c, d, s):
    target = draw_shape(c, 0, d, 1, s)
    return (draw_broadcast_from(c, target),), {"shape": target}


def _concatenate(c, d, s):
    base = draw_shape(c, 1, d, 1, s)
    axis = c.integer(-len(base), len(base) - 1)
    k = axis % len(base)
    return tuple(base[:k] + (c.integer(1, s),) + base[k + 1:] for _ in range(3)), {"axis": axis}


def _stack(c, d, s):
    shape = draw_shape(c, 0, max(d - 1, 0), 1, s)
    return (shape, shape), {"axis": c.integer(-len(shape) - 1, len(shape))}


def _getitem(c, d, s):
    shape = draw_shape(c, 1, d, 1, s)
    n, kind = shape[0], c.integer(0, 5)
    if kind == 0:    # one integer: axis 0 disappears
        index = c.integer(-n, n - 1)
    elif kind == 1:  # a slice (maybe reversed, strided or empty)
        index = slice(c.integer(-n, n), c.integer(-n, n), choice(c, (1, 2, -1)))
    elif kind == 2:  # Ellipsis and an integer on the last axis
        index = (Ellipsis, c.integer(-shape[-1], shape[-1] - 1))
    elif kind == 3:  # a new axis, then every other row backwards
        index = (None, slice(None, None, -2))
    elif kind == 4:  # integer arrays with repeats: their gradients must add up
        index = c.indices(draw_shape(c, 1, 2, 1, s), -n, n - 1)
    else:            # a boolean mask over axis 0
        index = c.bools((n,))
    return (shape,), {"index": index}


def _take(c, d, s):
    shape = draw_shape(c, 1, max(d - 1, 1), 1, s)
    axis = c.integer(-len(shape), len(shape) - 1)
    indices = c.indices(draw_shape(c, 0, 2, 1, s), 0, shape[axis] - 1)
    return (shape,), {"indices": indices, "axis": axis}


def _index_add(c, d, s):
    (shape,), params = _getitem(c, d, s)
    picked = np.zeros(shape)[params["index"]].shape
    return (picked,), {"index": params["index"], "shape": shape}


CASE_KINDS: dict[str, Callable] = {
    "unary": _unary, "broadcast2": _broadcast2, "matmul": _matmul, "reduce": _reduce,
    "where": _where, "masked_fill": _masked_fill, "reshape": _reshape, "transpose": _transpose,
    "broadcast_to": _broadcast_to, "concatenate": _concatenate, "stack": _stack,
    "getitem": _getitem, "take": _take, "index_add": _index_add,
}


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


def register(spec: OpSpec, replace: bool = False) -> OpSpec:
    """Add ``spec`` to OP_SPECS (a name may be registered once unless ``replace``)."""
    if not isinstance(spec, OpSpec):
        raise TypeError(f"register: expected an OpSpec, got {type(spec).__name__}")
    if spec.name in OP_SPECS and not replace:
        raise ValueError(f"register: an OpSpec named {spec.name!r} is already registered")
    OP_SPECS[spec.name] = spec
    return spec


def all_specs() -> list:
    """Every registered spec, after importing the EXTENSION_MODULES that exist."""
    for name in EXTENSION_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:  # the module exists but fails: that is a bug to see
                raise
    return list(OP_SPECS.values())


def _add_at(out, index, values):
    np.add.at(out, index, values)
    return out


_SQRT_2_OVER_PI = math.sqrt(2 / math.pi)
_erf = np.vectorize(math.erf, otypes=[np.float64])

for _spec in (
    OpSpec("Add", lambda a, b: a + b, np.add, 2, shapes="broadcast2"),
    OpSpec("Sub", lambda a, b: a - b, np.subtract, 2, shapes="broadcast2"),
    OpSpec("Mul", lambda a, b: a * b, np.multiply, 2, shapes="broadcast2"),
    OpSpec("Div", lambda a, b: a / b, np.divide, 2, ("real", "nonzero"), shapes="broadcast2"),
    OpSpec("Pow", lambda a, b: a ** b, np.power, 2, ("positive", "real"), shapes="broadcast2"),
    OpSpec("Neg", lambda x: -x, np.negative),
    OpSpec("Exp", lambda x: x.exp(), np.exp),
    OpSpec("Log", lambda x: x.log(), np.log, domain="positive"),
    OpSpec("Sqrt", lambda x: x.sqrt(), np.sqrt, domain="positive"),
    OpSpec("Abs", lambda x: x.abs(), np.abs, domain="away_from_kinks"),
    OpSpec("Tanh", lambda x: x.tanh(), np.tanh),
    OpSpec("Sigmoid", lambda x: x.sigmoid(), lambda x: 1 / (1 + np.exp(-x))),
    OpSpec("Relu", lambda x: x.relu(), lambda x: np.maximum(x, 0), domain="away_from_kinks"),
    OpSpec("GeluTanh", lambda x: x.gelu(approximate="tanh"),
           lambda x: 0.5 * x * (1 + np.tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x ** 3)))),
    OpSpec("GeluErf", lambda x: x.gelu(approximate="none"),
           lambda x: 0.5 * x * (1 + _erf(x / math.sqrt(2)))),
    OpSpec("Erf", lambda x: x.erf(), _erf),
    # bounds halfway between grid points of 'away_from_kinks': no value sits on one
    OpSpec("Clip", lambda x: x.clip(-1.005, 0.995), lambda x: np.clip(x, -1.005, 0.995),
           domain="away_from_kinks"),
    OpSpec("Maximum", maximum, np.maximum, 2, "away_from_kinks", shapes="broadcast2"),
    OpSpec("Minimum", minimum, np.minimum, 2, "away_from_kinks", shapes="broadcast2"),
    OpSpec("Where", lambda a, b, condition: where(condition, a, b),
           lambda a, b, condition: np.where(condition, a, b), 2, shapes="where"),
    OpSpec("MaskedFill", lambda x, mask, value: x.masked_fill(mask, value),
           lambda x, mask, value: np.where(mask, value, x), shapes="masked_fill"),
    OpSpec("Sum", lambda x, **kw: x.sum(**kw), lambda x, **kw: np.sum(x, **kw), shapes="reduce"),
    OpSpec("Mean", lambda x, **kw: x.mean(**kw), lambda x, **kw: np.mean(x, **kw), shapes="reduce"),
    OpSpec("Var", lambda x, **kw: x.var(**kw), lambda x, **kw: np.var(x, **kw), shapes="reduce"),
    OpSpec("Max", lambda x, **kw: x.max(**kw), lambda x, **kw: np.max(x, **kw),
           domain="away_from_kinks", shapes="reduce"),
    OpSpec("Min", lambda x, **kw: x.min(**kw), lambda x, **kw: np.min(x, **kw),
           domain="away_from_kinks", shapes="reduce"),
    OpSpec("LogSumExp", lambda x, **kw: x.logsumexp(**kw),
           lambda x, axis, keepdims: np.log(np.sum(np.exp(x), axis=axis, keepdims=keepdims)),
           shapes="reduce"),
    OpSpec("MatMul", lambda a, b: a @ b, np.matmul, 2, shapes="matmul"),
    OpSpec("Reshape", lambda x, shape: x.reshape(shape), lambda x, shape: np.reshape(x, shape), shapes="reshape"),
    OpSpec("Transpose", lambda x, axes: x.transpose() if axes is None else x.transpose(axes),
           lambda x, axes: np.transpose(x, axes), shapes="transpose"),
    OpSpec("BroadcastTo", lambda x, shape: x.broadcast_to(shape), lambda x, shape: np.broadcast_to(x, shape),
           shapes="broadcast_to"),
    OpSpec("Concatenate", lambda *xs, axis: concatenate(xs, axis=axis),
           lambda *xs, axis: np.concatenate(xs, axis=axis), 3, shapes="concatenate"),
    OpSpec("Stack", lambda *xs, axis: stack(xs, axis=axis),
           lambda *xs, axis: np.stack(xs, axis=axis), 2, shapes="stack"),
    OpSpec("GetItem", lambda x, index: x[index], lambda x, index: x[index], shapes="getitem"),
    OpSpec("IndexAdd", lambda x, index, shape: IndexAdd.apply(x, index=index, shape=shape),
           lambda x, index, shape: _add_at(np.zeros(shape, x.dtype), index, x), shapes="index_add"),
    OpSpec("Take", lambda x, indices, axis: x.take(indices, axis=axis),
           lambda x, indices, axis: np.take(x, indices, axis=axis), shapes="take"),
):
    register(_spec)
del _spec
