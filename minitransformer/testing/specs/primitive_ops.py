"""OpSpecs of the primitive ops: the Functions of ``minitransformer.ops``.

Arithmetic, unary functions, reductions, matmul, shape changes and indexing,
each with an independent NumPy reference and a case kind of
``minitransformer.testing.cases.CASE_KINDS``.  ``registry.all_specs()``
collects them with the other built-in specs.
"""
from __future__ import annotations

import math

import numpy as np

from ...ops import concatenate, maximum, minimum, stack, where
from ...ops.broadcasting import normalize_axis
from ...ops.indexing import IndexAdd
from ..cases import CASE_KINDS, draw_broadcast_from
from ..spec import OpSpec


def _add_at(out, index, values):
    np.add.at(out, index, values)
    return out


def _var_case(c, max_dims, max_side):
    """A reduction's case and a ``correction`` (0: biased, 1: unbiased, PyTorch's default),
    1 only where more than one element is averaged (else N - 1 = 0: nan)."""
    (shape,), params = CASE_KINDS["reduce"](c, max_dims, max_side)
    count = math.prod(shape[a] for a in normalize_axis(params["axis"], len(shape), "var"))
    return (shape,), {**params, "correction": c.integer(0, 1) if count > 1 else 0}


def _setitem_case(c, max_dims, max_side):
    """A tensor, an index drawn as getitem's, and a value broadcastable to the places it names.

    Repeated integer indices are made unique: a place written twice keeps one
    of its values, so the other has no derivative at all.
    """
    (shape,), params = CASE_KINDS["getitem"](c, max_dims, max_side)
    index = params["index"]
    if isinstance(index, np.ndarray) and index.dtype.kind == "i":
        index = np.unique(index % shape[0])
    written = np.zeros(shape)[index].shape
    return (shape, draw_broadcast_from(c, written)), {"index": index}


def _set_on_a_clone(x, value, index):
    """PyTorch's idiom: y = x.clone(); y[index] = value (the graph records the write)."""
    y = x.clone()
    y[index] = value
    return y


def _np_set(x, value, index):
    out = x.copy()
    out[index] = value
    return out


_SQRT_2_OVER_PI = math.sqrt(2 / math.pi)
_erf = np.vectorize(math.erf, otypes=[np.float64])

PRIMITIVE_OP_SPECS = (
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
    OpSpec("Sin", lambda x: x.sin(), np.sin),
    OpSpec("Cos", lambda x: x.cos(), np.cos),
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
    OpSpec("Var", lambda x, correction, **kw: x.var(**kw, correction=correction),
           lambda x, correction, **kw: np.var(x, ddof=correction, **kw), shapes=_var_case),
    OpSpec("Max", lambda x, **kw: x.max(**kw), lambda x, **kw: np.max(x, **kw),
           domain="away_from_kinks", shapes="reduce"),
    OpSpec("Min", lambda x, **kw: x.min(**kw), lambda x, **kw: np.min(x, **kw),
           domain="away_from_kinks", shapes="reduce"),
    OpSpec("LogSumExp", lambda x, **kw: x.logsumexp(**kw),
           lambda x, axis, keepdims: np.log(np.sum(np.exp(x), axis=axis, keepdims=keepdims)),
           shapes="reduce"),
    OpSpec("MatMul", lambda a, b: a @ b, np.matmul, 2, shapes="matmul"),
    OpSpec("Reshape", lambda x, shape: x.reshape(shape), lambda x, shape: np.reshape(x, shape), shapes="reshape"),
    OpSpec("Transpose", lambda x, axes: x.T if axes is None else x.permute(axes),
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
    OpSpec("Take", lambda x, indices, axis: x.index_select(axis, indices),
           lambda x, indices, axis: np.take(x, indices, axis=axis), shapes="take"),
    # casts and writes: float64 and back is exact from float32 and the identity on float64
    OpSpec("Cast", lambda x: x.astype("float64").astype(x.dtype), lambda x: x.astype("float64").astype(x.dtype)),
    OpSpec("SetItem", _set_on_a_clone, _np_set, 2, shapes=_setitem_case),
)
