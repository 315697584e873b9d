"""OpSpecs of the fused ops of ``minitransformer.functional``.

Each spec pairs the fused op (``fn``, on Tensors) with a plain-NumPy
``reference`` written independently of it, and says how to draw a case.  The
registry's property tests then check every fused op's forward against its
reference (float64 and float32) and its hand-derived backward against finite
differences; the ``minitransformer gradcheck`` command uses the same table.
``registry.all_specs()`` collects them with the other built-in specs.
"""
from __future__ import annotations

import numpy as np

from ...backend import array_module, get_backend, get_rng, manual_seed
from ...functional.activation import log_softmax, softmax
from ...functional.attention import masked_softmax, scaled_dot_product_attention
from ...functional.dropout import dropout
from ...functional.embedding import embedding
from ...functional.linear import linear
from ...functional.loss import cross_entropy
from ...functional.normalization import layer_norm
from ..cases import choice, draw_broadcast_from, draw_shape
from ..spec import OpSpec


# ------------------------------------------------------------ NumPy references
def _softmax_ref(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _log_softmax_ref(x, axis):
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def _layer_norm_ref(x, weight=None, bias=None, *, normalized_shape, eps):
    axes = tuple(range(x.ndim - len(normalized_shape), x.ndim))
    mu = x.mean(axis=axes, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=axes, keepdims=True)
    y = (x - mu) / np.sqrt(var + eps)
    y = y if weight is None else y * weight
    return y if bias is None else y + bias


def _cross_entropy_ref(logits, targets, ignore_index, label_smoothing, reduction):
    """-sum_c q_c log p_c with q = (1 - eps) onehot(t) + eps / C, row by row."""
    C = logits.shape[-1]
    log_p = _log_softmax_ref(logits.reshape(-1, C), axis=-1)
    t = targets.reshape(-1)
    valid = np.ones(t.shape, bool) if ignore_index is None else t != ignore_index
    q = np.full(log_p.shape, label_smoothing / C, dtype=logits.dtype)
    q[np.arange(t.size), np.where(valid, t, 0)] += 1 - label_smoothing
    rows = np.where(valid, -(q * log_p).sum(axis=1), 0).astype(logits.dtype)
    if reduction == "none":
        return rows.reshape(targets.shape)
    total = rows.sum()
    return total / max(int(valid.sum()), 1) if reduction == "mean" else total


def _masked_softmax_ref(scores, mask):
    """Softmax over allowed places (mask True); a row with none allowed is all zeros."""
    allowed = np.broadcast_to(True if mask is None else mask, scores.shape)
    safe = np.where(allowed, scores, scores.min() if scores.size else 0)
    e = np.where(allowed, np.exp(safe - safe.max(axis=-1, keepdims=True)), 0)
    total = e.sum(axis=-1, keepdims=True)
    return (e / np.where(total == 0, 1, total)).astype(scores.dtype)


def _attention_ref(q, k, v, mask):
    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1]).astype(q.dtype)
    return _masked_softmax_ref(scores, mask) @ v


def _dropout_fn(x, p, seed):
    # reseeding makes every call draw the same mask (gradcheck calls fn many
    # times); note that it resets the engine's generator, as mt.manual_seed does
    manual_seed(seed)
    return dropout(x, p)


def _dropout_ref(x, p, seed):
    """The engine's documented draw: keep where U[0,1) >= p, from the seeded generator."""
    manual_seed(seed)
    keep = get_rng(array_module(get_backend())).random(x.shape, dtype=x.dtype) >= p
    keep = keep.get() if hasattr(keep, "get") else np.asarray(keep)
    return np.where(keep, x / (1 - p), 0).astype(x.dtype)


# ------------------------------------------------------------ drawing cases
# Each returns (input shapes, params) for a chooser c, at most max_dims axes
# and sides up to max_side (as the case kinds of cases.CASE_KINDS).
def _axis_case(c, d, s):
    shape = draw_shape(c, 1, d, 1, s)
    return (shape,), {"axis": c.integer(-len(shape), len(shape) - 1)}


def _layer_norm_shapes(c, d, s):
    n = c.integer(1, min(2, max(d, 1)))
    shape = draw_shape(c, n, max(d, n), 1, s)
    normalized = shape[len(shape) - n:]
    return shape, normalized, {"normalized_shape": normalized, "eps": choice(c, (1e-5, 1e-3))}


def _layer_norm_case(c, d, s):
    shape, normalized, params = _layer_norm_shapes(c, d, s)
    return (shape, normalized, normalized), params


def _layer_norm_plain_case(c, d, s):
    shape, _, params = _layer_norm_shapes(c, d, s)
    return (shape,), params


def _linear_shapes(c, d, s):
    lead = draw_shape(c, 0, max(d - 1, 0), 1, s)
    n_in, n_out = c.integer(1, s), c.integer(1, s)
    return lead + (n_in,), (n_out, n_in), (n_out,)


def _linear_case(c, d, s):
    return _linear_shapes(c, d, s), {}


def _linear_no_bias_case(c, d, s):
    return _linear_shapes(c, d, s)[:2], {}


def _embedding_case(c, d, s):
    rows, dim = c.integer(1, s + 2), c.integer(1, s)
    ids = c.indices(draw_shape(c, 0, max(d - 1, 0), 1, s), 0, rows - 1)  # repeats add up
    return ((rows, dim),), {"ids": ids}


def _cross_entropy_rows(x, targets, reduction, **kw):
    """F.cross_entropy on rows of classes: the cases draw logits (..., C) with the classes last,
    F.cross_entropy takes PyTorch's (N, C)."""
    loss = cross_entropy(x.reshape(-1, x.shape[-1]), targets.reshape(-1), reduction=reduction, **kw)
    return loss.reshape(targets.shape) if reduction == "none" else loss


def _dropout_case(c, d, s):
    return (draw_shape(c, 0, d, 1, s),), {"p": choice(c, (0.1, 0.5, 0.8)), "seed": c.integer(0, 2**16)}


def _cross_entropy_case(c, d, s):
    lead = draw_shape(c, 0, max(d - 1, 0), 1, s)
    classes = c.integer(1, s + 1)
    ignore_index = choice(c, (None, -1))
    low = 0 if ignore_index is None else -1  # -1: an ignored row
    params = {"targets": c.indices(lead, low, classes - 1), "ignore_index": ignore_index,
              "label_smoothing": choice(c, (0.0, 0.1, 0.3)), "reduction": choice(c, ("mean", "sum", "none"))}
    return (lead + (classes,),), params


def _mask_for(c, scores_shape):
    """None, or a boolean mask broadcastable to the scores (fully masked rows included)."""
    return None if c.integer(0, 3) == 0 else c.bools(draw_broadcast_from(c, scores_shape))


def _masked_softmax_case(c, d, s):
    shape = draw_shape(c, 1, d, 1, s)
    return (shape,), {"mask": _mask_for(c, shape)}


def _attention_case(c, d, s):
    batch = draw_shape(c, 0, max(d - 2, 0), 1, s)
    lq, lk, dk, dv = (c.integer(1, s) for _ in range(4))
    return (batch + (lq, dk), batch + (lk, dk), batch + (lk, dv)), {"mask": _mask_for(c, batch + (lq, lk))}


# the exercises' fused attention draws its cases as this one (specs/exercises.py)
ATTENTION_SPEC = OpSpec(
    "ScaledDotProductAttention", lambda q, k, v, mask: scaled_dot_product_attention(q, k, v, mask=mask),
    _attention_ref, 3, functions=("Softmax", "MatMul", "Mul", "Transpose"), shapes=_attention_case)

FUSED_OP_SPECS = (
    OpSpec("Softmax", lambda x, axis: softmax(x, axis=axis), _softmax_ref, shapes=_axis_case),
    OpSpec("LogSoftmax", lambda x, axis: log_softmax(x, axis=axis), _log_softmax_ref, shapes=_axis_case),
    OpSpec("LayerNorm", lambda x, w, b, **kw: layer_norm(x, weight=w, bias=b, **kw),
           lambda x, w, b, **kw: _layer_norm_ref(x, w, b, **kw), 3,
           functions=("LayerNorm",), shapes=_layer_norm_case),
    OpSpec("LayerNormNoAffine", lambda x, **kw: layer_norm(x, **kw), lambda x, **kw: _layer_norm_ref(x, **kw),
           functions=("LayerNorm",), shapes=_layer_norm_plain_case),
    OpSpec("Linear", linear, lambda x, w, b: x @ w.T + b, 3, functions=("Linear",), shapes=_linear_case),
    OpSpec("LinearNoBias", linear, lambda x, w: x @ w.T, 2, functions=("Linear",),
           shapes=_linear_no_bias_case),
    OpSpec("Embedding", lambda w, ids: embedding(ids, w), lambda w, ids: w[ids],
           functions=("Embedding",), shapes=_embedding_case),
    OpSpec("Dropout", _dropout_fn, _dropout_ref, functions=("Dropout",), shapes=_dropout_case),
    OpSpec("CrossEntropy", _cross_entropy_rows, _cross_entropy_ref,
           functions=("CrossEntropy",), shapes=_cross_entropy_case),
    OpSpec("MaskedSoftmax", masked_softmax, _masked_softmax_ref, functions=("Softmax",), shapes=_masked_softmax_case),
    ATTENTION_SPEC,
)
