"""How a test case is drawn: choosers, value domains, shapes, axes and case kinds.

The same drawing code serves two sources of randomness.  It draws through a
*chooser* with four methods -- ``integer(low, high)`` (inclusive),
``array(shape, domain)``, ``bools(shape)`` and ``indices(shape, low, high)``:
:class:`NumpyChooser` wraps a NumPy Generator (the ``minitransformer
gradcheck`` command and the exercise grader use it);
``minitransformer.testing.strategies.HypothesisChooser`` wraps Hypothesis,
which can then shrink a failing case to a minimal one.

* ``DOMAINS``: the sets of values an op's inputs are drawn from
  ("positive" for log, "away_from_kinks" for relu, ...);
* ``draw_shape``, ``draw_broadcastable``, ``draw_matmul``, ``draw_axes``:
  shapes and reduction axes;
* ``CASE_KINDS``: a name per way to draw an op's case -- its input shapes and
  its parameters, e.g. ``"broadcast2"`` or ``"reduce"`` (an ``OpSpec``'s
  ``shapes``).
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np

DOMAINS = {
    "real": "uniform in [-3, 3]",
    "positive": "in [0.5, 3] (log, sqrt, the base of pow)",
    "nonzero": "|x| in [0.5, 3], either sign (divisors)",
    "away_from_kinks": "distinct multiples of 0.01 with |x| >= 0.1, also distinct across the "
                       "op's inputs: no ties, nothing near 0 (relu, abs, max, min, clip)",
}

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
