"""The exercises: which backward passes students write, with a hint and a check each.

An :class:`Exercise` names the Function classes involved (their reference
implementation, whose ``backward`` carries the solution markers), a one- or
two-sentence hint, and its :class:`Check` s.  A check says how to draw a case
-- the input shapes and values and the op's parameters, by the drawing code
of an OpSpec (``minitransformer.testing.registry``: broadcasting, 1-D matmul operands,
reduction axes, masks...) -- how to run the student's classes on it, what to
call the inputs in a message, and the formula each input's gradient must
follow.  Every case is float64, as finite differences need.

To add an exercise: put ``# BEGIN SOLUTION`` / ``# END SOLUTION`` around the
body of the reference ``backward`` (after its docstring) and append an
Exercise here with the next number (see docs/instructors.md).
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..autograd import Tensor, tensor
from ..backend import get_array_module, manual_seed


@dataclass(frozen=True)
class FunctionRef:
    """A Function class of the reference implementation: ``module.name``.

    ``task``: what its ``backward`` computes, for the student's file, where it
    replaces the reference docstring (which states the answer): the incoming
    gradient and the gradients to return, with their shapes, and what forward
    left in ``ctx``.  The derivation is in the documentation.
    """

    module: str
    name: str
    task: str = ""

    def load(self):
        return getattr(importlib.import_module(self.module), self.name)


@dataclass(frozen=True)
class Check:
    """One family of cases of an exercise, graded by forward and gradient checks.

    ``spec``: the OpSpec whose drawing code and NumPy ``reference`` are used;
    ``call(classes, *tensors, **params)``: runs the student's classes
    (``classes.Mul``...) on the case; ``inputs``: a name per tensor input, as
    messages say it; ``formulas``: for each input name, the rule its gradient
    follows (the end of a failure message: "Check: ...").

    ``fixed``: the edge cases run before any random one, each ``(input
    shapes, params)``; their values come from a generator of their own, so
    they are the same for every seed.  They are chosen so that each classic
    mistake fails on one of them (a reduced axis in the middle with
    keepdims=False, broadcasting on both sides, non-square matrices...): the
    verdict on such a mistake cannot depend on the seed, and the random cases
    only add coverage.
    """

    name: str
    spec: str
    call: Callable
    inputs: tuple
    formulas: dict = field(default_factory=dict)
    max_dims: int = 3
    max_side: int = 3
    fixed: tuple = ()


@dataclass(frozen=True)
class Exercise:
    number: int
    slug: str
    title: str
    functions: tuple
    hint: str
    checks: tuple
    docs: str = ""                 # the documentation page with the derivation
    extra_checks: tuple = ()       # (name, fn(classes) -> None or what is wrong, in words)

    @property
    def filename(self) -> str:
        return f"exercise_{self.number:02d}_{self.slug}.py"

    @property
    def class_names(self) -> tuple:
        return tuple(f.name for f in self.functions)


# What each backward computes, as the student's file states it in place of the
# reference docstring: the shapes in and out and what forward saved, never the
# answer (the derivation is in the docs page of the exercise).
TASKS = {
    "Mul": "grad is dL/dc, of c's shape, for c = a * b (a's and b's shapes broadcast together). "
           "Return (dL/da, dL/db), of a's shape and of b's shape. forward saved a and b "
           "(ctx.saved_tensors).",
    "Div": "grad is dL/dc, of c's shape, for c = a / b (a's and b's shapes broadcast together). "
           "Return (dL/da, dL/db), of a's shape and of b's shape. forward saved a and b "
           "(ctx.saved_tensors).",
    "MatMul": "grad is dL/dC, of C's shape, for C = A @ B as numpy.matmul computes it (a 1-D A or B "
              "has no axis for it in C; batch axes broadcast). Return (dL/dA, dL/dB), of A's shape "
              "and of B's shape. forward saved A and B (ctx.saved_tensors).",
    "Sum": "grad is dL/dy, of y's shape, for y = x.sum(axis=ctx.axes, keepdims=ctx.keepdims) "
           "(without the reduced axes unless ctx.keepdims). Return dL/dx, of x's shape, "
           "ctx.x_shape. forward saved ctx.axes (a sorted tuple of axes >= 0), ctx.x_shape and "
           "ctx.keepdims; no arrays.",
    "Mean": "grad is dL/dy, of y's shape, for y = x.mean(axis=ctx.axes, keepdims=ctx.keepdims) "
            "(without the reduced axes unless ctx.keepdims). Return dL/dx, of x's shape, "
            "ctx.x_shape. forward saved ctx.axes (a sorted tuple of axes >= 0), ctx.x_shape and "
            "ctx.keepdims; no arrays.",
    "Exp": "grad is dL/dy, of x's shape, for the elementwise exponential y = e^x. Return dL/dx, "
           "of x's shape. forward saved its output y (ctx.saved_tensors).",
    "Log": "grad is dL/dy, of x's shape, for the elementwise natural logarithm y = log(x). "
           "Return dL/dx, of x's shape. forward saved x (ctx.saved_tensors).",
    "Softmax": "grad is dL/dy, of y's shape (x's), for y = softmax(x) along axis ctx.axis "
               "(a masked place has y = 0). Return dL/dx, of x's shape. forward saved y "
               "(ctx.saved_tensors) and ctx.axis.",
    "LogSoftmax": "grad is dL/dy, of y's shape (x's), for y = log_softmax(x) along axis ctx.axis. "
                  "Return dL/dx, of x's shape. forward saved y (ctx.saved_tensors) and ctx.axis.",
    "CrossEntropy": "grad is dL/dloss, of the loss's shape: () for reduction 'mean' or 'sum', "
                    "targets' shape for 'none'. Return (dL/dlogits, None): dL/dlogits of logits' "
                    "shape (..., C), None for the integer targets. forward saved logits, t (the "
                    "targets flattened, an ignored one replaced by 0) and valid (flattened, False "
                    "where ignored) in ctx.saved_tensors, and ctx.eps (the label smoothing), "
                    "ctx.reduction and ctx.count (the number of valid targets).",
    "LayerNorm": "grad is dL/dy, of x's shape, for y = x_hat * weight + bias, x_hat the "
                 "normalization of x over its last ctx.n_axes axes (weight, bias: None or of the "
                 "shape of those axes). Return (dL/dx, dL/dweight, dL/dbias), each of its input's "
                 "shape; None for a gradient ctx.needs_input_grad does not ask for. forward saved x "
                 "and weight (ctx.saved_tensors), ctx.n_axes and ctx.eps; _normalized(x, n_axes, "
                 "eps) gives (x_hat, rstd).",
    "Embedding": "grad is dL/dout, of out's shape ids.shape + (D,), for out = the rows of the "
                 "table W, of shape (ctx.num_rows, D), picked by ids. Return (dL/dW, None): dL/dW "
                 "of W's shape, None for the integer ids. forward saved ids (ctx.saved_tensors), "
                 "ctx.num_rows and ctx.padding_idx (None or the row of the padding token).",
    "Attention": "grad is dL/dO, of O's shape (..., L_q, d_v), for O = P @ v with the weights "
                 "P = attention_weights(q, k, mask), of shape (..., L_q, L_k). Return (dL/dq, "
                 "dL/dk, dL/dv), of q's shape (..., L_q, d_k), k's (..., L_k, d_k) and v's "
                 "(..., L_k, d_v). forward saved q, k, v and mask (None or booleans) in "
                 "ctx.saved_tensors, not P: call attention_weights again.",
    "Dropout": "grad is dL/dy, of x's shape, for y = x * mask. Return dL/dx, of x's shape. "
               "forward saved mask (ctx.saved_tensors), of x's shape: 0 where x was dropped, "
               "1/(1-p) where kept.",
}


def _ops(module: str, *names: str) -> tuple:
    return tuple(FunctionRef(f"minitransformer.{module}", n, TASKS[n]) for n in names)


# ------------------------------------------------ running the student's classes
def _dropout(C, x, p, seed):
    manual_seed(seed)  # the same mask on every call: finite differences need one function
    return C.Dropout.apply(x, p=p)


def _on(x, ids):
    """Integer ``ids`` as a Tensor on the backend of Tensor ``x`` (ops refuse mixed backends)."""
    return Tensor(get_array_module(x.data).asarray(ids))


def _cross_entropy(C, x, targets, ignore_index, label_smoothing, reduction):
    return C.CrossEntropy.apply(x, _on(x, targets), ignore_index=ignore_index,
                                        label_smoothing=label_smoothing, reduction=reduction)


def _layer_norm(C, x, w=None, b=None, *, normalized_shape, eps):
    return C.LayerNorm.apply(x, w, b, n_axes=len(normalized_shape), eps=eps)


def _embedding_padding(C):
    """The padding row gets no gradient (finite differences cannot see that: it is a rule).

    padding_idx is 2, not 0, and row 0 is used: a padding row hard-coded as 0 fails.
    """
    ids = np.array([[0, 2, 0], [3, 2, 1]])
    w = tensor(np.linspace(-1, 1, 12).reshape(4, 3), dtype="float64", requires_grad=True)
    out = C.Embedding.apply(w, _on(w, ids), padding_idx=2)
    upstream = np.arange(1.0, 19.0).reshape(2, 3, 3)
    out.backward(tensor(upstream, dtype="float64"))
    got = np.zeros(w.shape) if w.grad is None else w.grad.numpy()
    want = np.zeros((4, 3))
    np.add.at(want, ids.reshape(-1), upstream.reshape(-1, 3))
    want[2] = 0
    if got.shape != want.shape or not np.allclose(got, want):
        return (f"With W of shape (4, 3), ids {ids.tolist()}, padding_idx=2 and dL/dout = "
                f"{upstream.tolist()}, dL/dW should be {want.tolist()} (row 2, the padding row, gets no "
                f"gradient; row 0 is an ordinary row) but it is {np.round(got, 4).tolist()}.")
    return None


# ------------------------------------------------ the fixed edge cases of each check
# Small, non-square shapes (a transpose or a swapped axis cannot hide behind equal
# sides), reduced axes in the middle with keepdims=False (broadcasting a reduced
# gradient back without putting its axes back fails there), both sides broadcast.
_BROADCAST = (
    (((2, 3), (2, 3)), {}), (((2, 3), (3,)), {}), (((2, 1), (1, 3)), {}),
    (((), (2, 3)), {}), (((2, 1, 3), (4, 1)), {}),
)
_MATMUL = (
    (((2, 3), (3, 4)), {}), (((3,), (3, 2)), {}), (((2, 3), (3,)), {}), (((3,), (3,)), {}),
    (((2, 2, 3), (3, 4)), {}), (((2, 3), (2, 3, 4)), {}), (((1, 2, 3), (2, 3, 2)), {}),
)
_REDUCE = tuple(((shape,), {"axis": axis, "keepdims": keepdims}) for shape, axis, keepdims in (
    ((2, 3), 1, False), ((2, 3), 0, False), ((3, 3), 1, False), ((2, 3, 4), (0, 2), False),
    ((2, 3, 4), 1, True), ((2, 3, 4), -2, False), ((2, 3), None, False),
))
_AXIS = tuple(((shape,), {"axis": axis}) for shape, axis in (
    ((2, 3), -1), ((2, 3), 0), ((3, 3), 0), ((2, 3, 4), 1)))
_CROSS_ENTROPY = tuple(((shape,), {"targets": np.array(t), "ignore_index": ignore, "label_smoothing": eps,
                                   "reduction": reduction})
                       for shape, t, ignore, eps, reduction in (
    ((4, 3), [2, -1, 0, 1], -1, 0.0, "mean"),      # the mean is over the 3 valid rows, not 4
    ((4, 3), [1, 1, -1, 2], -1, 0.1, "sum"),
    ((2, 2, 3), [[1, -1], [-1, 2]], -1, 0.3, "none"),
    ((3, 4), [3, 0, 1], None, 0.1, "mean"),
))
_LAYER_NORM = tuple(((x, n, n), {"normalized_shape": n, "eps": 1e-5})
                    for x, n in (((2, 3), (3,)), ((2, 2, 3), (2, 3)), ((3, 4), (4,))))
_LAYER_NORM_PLAIN = tuple(((x,), {"normalized_shape": n, "eps": 1e-5})
                          for x, n in (((2, 3), (3,)), ((2, 3, 2), (3, 2))))
_EMBEDDING = (
    # id 1 three times (its gradients add up); row 5 unused (the table is not max(ids) + 1 long)
    (((6, 3),), {"ids": np.array([[1, 4, 1], [2, 1, 0]])}),
    (((4, 2),), {"ids": np.array([3, 3, 3])}),
    (((3, 2),), {"ids": np.array(2)}),
)
_ATTENTION = (
    # d_k = 2 and rows with several allowed keys: the 1/sqrt(d_k) and the softmax term both show
    (((2, 3, 2), (2, 4, 2), (2, 4, 3)),
     {"mask": np.array([[[True, True, False, True], [True, False, True, False], [False] * 4]])}),
    (((3, 2), (4, 2), (4, 1)), {"mask": None}),
    (((1, 2, 3), (1, 3, 3), (1, 3, 2)), {"mask": None}),
)
_DROPOUT = ((((2, 3),), {"p": 0.5, "seed": 1}), (((4, 4),), {"p": 0.25, "seed": 7}))


_UNBROADCAST = "then sum over the axes broadcasting added or stretched: unbroadcast(..., {}.shape)"

EXERCISES = (
    Exercise(
        1, "mul", "Mul backward", _ops("ops.arithmetic", "Mul"),
        "Multiplication broadcasts: d(a*b)/da = b and d(a*b)/db = a, then sum each gradient "
        "over the axes that broadcasting added or stretched (see ops/broadcasting.unbroadcast).",
        (Check("Mul", "Mul", lambda C, a, b: C.Mul.apply(a, b), ("a", "b"), {
            "a": "for c = a * b, dL/da = dL/dc * b, " + _UNBROADCAST.format("a"),
            "b": "for c = a * b, dL/db = dL/dc * a, " + _UNBROADCAST.format("b")}, fixed=_BROADCAST),),
        "concepts/broadcasting.md"),
    Exercise(
        2, "div", "Div backward", _ops("ops.arithmetic", "Div"),
        "For c = a / b: dc/da = 1/b and dc/db = -a/b^2 (mind the sign); as in Mul, sum each "
        "gradient over its broadcast axes with unbroadcast.",
        (Check("Div", "Div", lambda C, a, b: C.Div.apply(a, b), ("a", "b"), {
            "a": "for c = a / b, dL/da = dL/dc / b, " + _UNBROADCAST.format("a"),
            "b": "for c = a / b, dL/db = -dL/dc * a / b^2, " + _UNBROADCAST.format("b")}, fixed=_BROADCAST),),
        "layers/elementwise-and-arithmetic.md"),
    Exercise(
        3, "matmul", "MatMul backward", _ops("ops.matrix_product", "MatMul"),
        "For C = A B: dL/dA = dL/dC B^T and dL/dB = A^T dL/dC, with swapaxes(-1, -2) as the "
        "transpose; treat a 1-D A as a row and a 1-D B as a column, and sum out broadcast batch axes.",
        (Check("MatMul", "MatMul", lambda C, a, b: C.MatMul.apply(a, b), ("A", "B"), {
            "A": "dL/dA = dL/dC B^T (batch axes that broadcasting added summed out)",
            "B": "dL/dB = A^T dL/dC (batch axes that broadcasting added summed out)"}, 4, 3, _MATMUL),),
        "layers/matmul.md"),
    Exercise(
        4, "sum", "Sum backward", _ops("ops.reduction", "Sum"),
        "Each element of x enters its sum once: reshape the incoming gradient so that the reduced "
        "axes have length 1 (as keepdims=True would) and broadcast it back to x's shape.",
        (Check("Sum", "Sum", lambda C, x, **kw: C.Sum.apply(x, **kw), ("x",), {
            "x": "for y = x.sum(axis), dL/dx[i] = dL/dy at the place x[i] was summed into"}, fixed=_REDUCE),),
        "layers/reductions.md"),
    Exercise(
        5, "mean", "Mean backward", _ops("ops.reduction", "Mean"),
        "Like Sum, but each element counts 1/N, where N is the number of elements averaged "
        "(the product of the lengths of the reduced axes).",
        (Check("Mean", "Mean", lambda C, x, **kw: C.Mean.apply(x, **kw), ("x",), {
            "x": "for y = x.mean(axis), dL/dx[i] = dL/dy / N at the place x[i] was averaged into"},
              fixed=_REDUCE),),
        "layers/reductions.md"),
    Exercise(
        6, "exp_log", "Exp and Log backward", _ops("ops.unary", "Exp", "Log"),
        "Multiply the incoming gradient by the local derivative: d exp(x)/dx = exp(x), which "
        "forward saved, and d log(x)/dx = 1/x.",
        (Check("Exp", "Exp", lambda C, x: C.Exp.apply(x), ("x",), {"x": "for y = exp(x), dL/dx = dL/dy * exp(x)"},
               fixed=((((2, 3),), {}), (((),), {}))),
         Check("Log", "Log", lambda C, x: C.Log.apply(x), ("x",), {"x": "for y = log(x), dL/dx = dL/dy / x"},
               fixed=((((2, 3),), {}), (((),), {})))),
        "layers/elementwise-and-arithmetic.md"),
    Exercise(
        7, "softmax", "Softmax backward", _ops("functional.activation", "Softmax"),
        "The Jacobian of y = softmax(x) is diag(y) - y y^T, so dL/dx = y * (g - sum(g * y)) with "
        "the sum along the softmax axis (keepdims=True).",
        (Check("Softmax", "Softmax", lambda C, x, axis: C.Softmax.apply(x, axis=axis), ("x",), {
            "x": "for y = softmax(x), dL/dx = y * (dL/dy - sum(dL/dy * y, axis, keepdims=True))"}, fixed=_AXIS),),
        "layers/softmax.md"),
    Exercise(
        8, "log_softmax_cross_entropy", "LogSoftmax and cross-entropy backward",
        _ops("functional.activation", "LogSoftmax") + _ops("functional.loss", "CrossEntropy"),
        "log softmax(x) = x - logsumexp(x), so dL/dx = g - softmax(x) * sum(g); the cross-entropy "
        "of a row has gradient softmax(x) - q (q: the smoothed one-hot target), zero for ignored "
        "rows and divided by the number of valid rows for reduction='mean'.",
        (Check("LogSoftmax", "LogSoftmax", lambda C, x, axis: C.LogSoftmax.apply(x, axis=axis), ("x",), {
            "x": "for y = log_softmax(x), dL/dx = dL/dy - softmax(x) * sum(dL/dy, axis, keepdims=True)"},
               fixed=_AXIS),
         Check("CrossEntropy", "CrossEntropy", _cross_entropy, ("logits",), {
             "logits": "dloss/dlogits = softmax(logits) - q for every valid row (q = (1 - eps) "
                       "onehot(target) + eps / C), 0 for an ignored row, times the incoming "
                       "gradient (divided by the count of valid rows for reduction='mean')"},
               fixed=_CROSS_ENTROPY)),
        "layers/cross-entropy.md"),
    Exercise(
        9, "layer_norm", "LayerNorm backward", _ops("functional.normalization", "LayerNorm"),
        "With x_hat = (x - mean) * rstd and g_hat = g * weight: dL/dx = rstd * (g_hat - mean(g_hat) "
        "- x_hat * mean(g_hat * x_hat)), one mean term per path (through the mean and through the "
        "variance); dweight and dbias sum over the batch axes.",
        (Check("LayerNorm", "LayerNorm", _layer_norm, ("x", "weight", "bias"), {
            "x": "dL/dx = rstd * (g_hat - mean(g_hat) - x_hat * mean(g_hat * x_hat)), g_hat = dL/dy * weight",
            "weight": "dL/dweight = sum over the batch axes of dL/dy * x_hat",
            "bias": "dL/dbias = sum over the batch axes of dL/dy"}, fixed=_LAYER_NORM),
         Check("LayerNorm without weight and bias", "LayerNormNoAffine", _layer_norm, ("x",), {
             "x": "dL/dx = rstd * (g - mean(g) - x_hat * mean(g * x_hat)), g = dL/dy"}, fixed=_LAYER_NORM_PLAIN)),
        "layers/layer-norm.md"),
    Exercise(
        10, "embedding", "Embedding backward", _ops("functional.embedding", "Embedding"),
        "out[p] = W[ids[p]], so row i of dL/dW is the sum of the gradients at every position "
        "where ids == i: a repeated id must accumulate (ops/indexing.scatter_add_rows or "
        "np.add.at), not overwrite; the padding row gets no gradient.",
        (Check("Embedding", "Embedding", lambda C, w, ids: C.Embedding.apply(w, _on(w, ids)),
               ("W",), {"W": "dL/dW[i] = sum of dL/dout[p] over the positions p with ids[p] == i"},
               fixed=_EMBEDDING),),
        "layers/embedding.md", extra_checks=(("Embedding with padding_idx", _embedding_padding),)),
    Exercise(
        11, "attention", "Attention backward", _ops("functional.fused_attention", "Attention"),
        "Recompute the weights P with the mask, then dV = P^T G, dP = G V^T, dS = P * (dP - "
        "rowsum(dP * P)), dQ = dS K / sqrt(d_k) and dK = dS^T Q / sqrt(d_k).",
        (Check("Attention", "FusedAttention",
               lambda C, q, k, v, mask: C.Attention.apply(q, k, v, mask=mask), ("q", "k", "v"), {
                   "q": "dL/dq = dS k / sqrt(d_k), dS = P * (dP - rowsum(dP * P)), dP = G v^T, "
                        "P = attention_weights(q, k, mask)",
                   "k": "dL/dk = dS^T q / sqrt(d_k), dS = P * (dP - rowsum(dP * P)), dP = G v^T, "
                        "P = attention_weights(q, k, mask)",
                   "v": "dL/dv = P^T G with P = attention_weights(q, k, mask), the mask included"},
               fixed=_ATTENTION),),
        "layers/attention.md"),
    Exercise(
        12, "dropout", "Dropout backward", _ops("functional.dropout", "Dropout"),
        "y = x * mask, and the saved mask already holds 0 or 1/(1-p): a dropped element gets no "
        "gradient, a kept one the incoming gradient scaled by 1/(1-p).",
        (Check("Dropout", "Dropout", _dropout, ("x",), {
            "x": "dL/dx = dL/dy * mask: 0 where dropped, 1/(1-p) where kept"}, fixed=_DROPOUT),),
        "layers/dropout.md"),
)


def get_exercise(number: int) -> Exercise:
    """The exercise numbered ``number`` (1..N); ValueError for another number."""
    for ex in EXERCISES:
        if ex.number == number:
            return ex
    raise ValueError(f"there is no exercise {number!r}; the exercises are numbered 1 to {len(EXERCISES)}")


def select(numbers=None) -> list:
    """The exercises numbered ``numbers`` (all when None or empty), in order, once each."""
    if not numbers:
        return list(EXERCISES)
    return [get_exercise(n) for n in sorted(set(numbers))]
