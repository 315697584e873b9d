"""Cross-entropy with label smoothing and ignored targets, fused with log-softmax;
and the losses built from it: negative log-likelihood, mean squared error.

For logits x (rows of C classes) and target t, label smoothing eps replaces
the one-hot target by q = (1 - eps) * onehot(t) + eps / C (as in the
Transformer paper and PyTorch), and the loss of a row is

    loss = -sum_c q_c log softmax(x)_c
         = -(1 - eps) log p_t - (eps / C) sum_c log p_c.

The functions take PyTorch's arguments and layouts: ``input`` is (C,),
(N, C) or (N, C, d1, ..., dk), **the classes at dim 1**, and ``target``
has the input's shape without dim 1 (class ids) or the input's shape
(class probabilities).  A model's (B, T, C) logits, classes last, go in as
``logits.reshape(-1, C)`` with ``target.reshape(-1)``: the fused op works on
such rows, so that costs no copy.
"""
from __future__ import annotations

import warnings

from ..autograd import Function, Tensor
from ..backend import get_array_module, to_host
from ..ops.checks import out_of_range
from .activation import log_softmax, stable_log_softmax

REDUCTIONS = ("mean", "sum", "none")


class CrossEntropy(Function):
    @staticmethod
    def forward(ctx, logits, targets, ignore_index=None, label_smoothing=0.0, reduction="mean"):
        xp = get_array_module(logits)
        num_classes = logits.shape[-1]
        log_p = stable_log_softmax(logits.reshape(-1, num_classes), axis=-1)
        t = targets.reshape(-1)
        valid = t != ignore_index if ignore_index is not None else xp.ones(t.shape, dtype=bool)
        t_safe = xp.where(valid, t, 0)                       # an ignored row picks class 0, then counts 0
        nll = -log_p[xp.arange(t.size), t_safe]              # -log p_t
        smooth = -log_p.mean(axis=-1)                        # -mean_c log p_c
        loss = ((1 - label_smoothing) * nll + label_smoothing * smooth) * valid
        count = int(to_host(valid.sum()))   # the divisor of 'mean', a Python number
        ctx.save_for_backward(logits, t_safe, valid)
        ctx.eps, ctx.reduction, ctx.count = label_smoothing, reduction, count
        if reduction == "none":
            return loss.reshape(targets.shape)
        # mean over zero valid targets would be 0/0: return 0 with zero gradient
        return loss.sum() / max(count, 1) if reduction == "mean" else loss.sum()

    @staticmethod
    def backward(ctx, grad):
        """d loss/d x_c = softmax(x)_c - q_c per valid row (zero for ignored rows),
        q = (1 - eps) onehot(t) + eps/C the smoothed target; with reduction='mean'
        each row's gradient is divided by the number of valid rows."""
        # BEGIN SOLUTION
        logits, t, valid = ctx.saved_tensors
        xp = get_array_module(logits)
        num_classes = logits.shape[-1]
        probs = xp.exp(stable_log_softmax(logits.reshape(-1, num_classes), axis=-1))
        q = get_array_module(t).full(tuple(probs.shape), ctx.eps / num_classes, dtype=logits.dtype)
        q[get_array_module(t).arange(t.size), t] += 1 - ctx.eps
        if ctx.reduction == "none":
            row_weights = grad.reshape(-1) * valid
        elif ctx.reduction == "mean":
            row_weights = grad / max(ctx.count, 1) * valid
        else:
            row_weights = grad * valid
        gx = (probs - q) * row_weights.reshape(-1, 1)
        return gx.reshape(logits.shape), None
        # END SOLUTION


# ---------------------------------------------------------------- the arguments


def resolve_reduction(name: str, size_average, reduce, reduction: str) -> str:
    """PyTorch's deprecated ``size_average``/``reduce`` pair, mapped to ``reduction`` as PyTorch does."""
    if size_average is not None or reduce is not None:
        size_average = True if size_average is None else size_average
        reduce = True if reduce is None else reduce
        reduction = "mean" if size_average and reduce else "sum" if reduce else "none"
        warnings.warn(f"{name}: size_average and reduce are deprecated (as in PyTorch); "
                      f"use reduction='{reduction}' instead", UserWarning, stacklevel=3)
    if reduction not in REDUCTIONS:
        raise ValueError(f"{name}: reduction must be one of {REDUCTIONS}, got {reduction!r}")
    return reduction


def _as_tensor(value, like: Tensor) -> Tensor:
    """A target or weight given as an array or list, as a Tensor on ``like``'s backend."""
    return value if isinstance(value, Tensor) else Tensor(get_array_module(like.data).asarray(value))


def _classes_last(x: Tensor) -> Tensor:
    """PyTorch's (N, C, d1, ..., dk) as (N, d1, ..., dk, C), the op's rows of C classes;
    (C,) and (N, C) are already so."""
    return x if x.ndim <= 2 else get_array_module(x).moveaxis(x, 1, -1)


def _check_target(name: str, input: Tensor, target: Tensor) -> bool:
    """Check the shapes; True when ``target`` holds class probabilities, False for class ids."""
    if input.ndim == 0:
        raise ValueError(f"{name}: input must have a class axis, (C,), (N, C) or (N, C, d1, ...); got a scalar")
    ids_shape = () if input.ndim == 1 else (input.shape[0], *input.shape[2:])
    if target.dtype.kind == "f" and tuple(target.shape) == tuple(input.shape):
        return True
    if target.dtype.kind in "iu" and tuple(target.shape) == ids_shape:
        return False
    hint = ""
    if input.ndim >= 3:
        hint = (". The classes are at dim 1, as in PyTorch: for logits (B, T, C) with the classes last, "
                "pass logits.reshape(-1, C) and target.reshape(-1)")
    if target.dtype.kind not in "iuf":
        raise TypeError(f"{name}: target must hold integer class ids or float class probabilities, "
                        f"got dtype {target.dtype}")
    raise ValueError(
        f"{name}: input of shape {tuple(input.shape)} ({input.shape[0 if input.ndim == 1 else 1]} classes) "
        f"needs a target of class ids of shape {ids_shape} or of class probabilities of shape "
        f"{tuple(input.shape)}; got shape {tuple(target.shape)} dtype {target.dtype}{hint}"
    )


def _check_ids(name: str, target: Tensor, num_classes: int, ignore_index, what: str = "logits") -> None:
    """Every id that is not ``ignore_index`` must be a class (one check, on the host)."""
    if target.data.size:
        t = target.data
        valid = t if ignore_index is None else t[t != ignore_index]
        bad = out_of_range(valid, num_classes)
        if bad is not None:
            raise IndexError(
                f"{name}: target id {bad[0]} is out of range for {what} with {num_classes} "
                f"classes (valid ids are 0..{num_classes - 1}; {bad[1]} target(s) out of range)"
            )


def _class_weight(name: str, weight, input: Tensor, num_classes: int) -> Tensor:
    weight = _as_tensor(weight, input)
    if tuple(weight.shape) != (num_classes,):
        raise ValueError(f"{name}: weight must have one value per class, shape ({num_classes},); "
                         f"got shape {tuple(weight.shape)}")
    if weight.dtype != input.dtype and not weight.requires_grad:
        weight = Tensor(weight.data.astype(input.dtype))
    return weight


def _reduce(loss: Tensor, reduction: str, total):
    """'none': the loss of each target; 'sum'; 'mean': the sum divided by ``total``
    (the number, or the summed weight, of the targets that count; 0 / 0 gives 0)."""
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    if isinstance(total, Tensor):
        return loss.sum() / get_array_module(total).where(total == 0, 1.0, total)
    return loss.sum() / max(total, 1)


# ---------------------------------------------------------------- the losses


def cross_entropy(input: Tensor, target, weight=None, size_average=None, ignore_index: int = -100,
                  reduce=None, reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """Cross-entropy of logits ``input`` (classes at dim 1) against ``target``, as PyTorch's.

    ``target`` holds class ids (the input's shape without dim 1), or class
    probabilities (the input's shape).  ``reduction='mean'`` averages over
    the ids that are not ``ignore_index`` (weighted by ``weight[target]``
    when class weights are given); ``'sum'`` adds the losses up (divide by
    your own token count, e.g. across accumulated micro-batches); ``'none'``
    returns one loss per target (0 where ignored).  ``ignore_index=None``:
    no id is ignored.

    With class ids and no ``weight`` this is one op, ``CrossEntropy``;
    class weights and class probabilities go through the composed version.
    Unlike PyTorch, a mean over no target at all (every id ignored) is 0,
    with zero gradient, rather than NaN.
    """
    name = "cross_entropy"
    reduction = resolve_reduction(name, size_average, reduce, reduction)
    target = _as_tensor(target, input)
    if weight is not None or _check_target(name, input, target):
        return cross_entropy_composed(input, target, weight, ignore_index=ignore_index, reduction=reduction,
                                      label_smoothing=label_smoothing)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{name}: label_smoothing must be in [0, 1], got {label_smoothing}")
    _check_ids(name, target, input.shape[0 if input.ndim == 1 else 1], ignore_index)
    return CrossEntropy.apply(
        _classes_last(input), target, ignore_index=ignore_index, label_smoothing=label_smoothing,
        reduction=reduction,
    )


def _nll_rows(log_p: Tensor, target: Tensor, weight, ignore_index):
    """For rows ``log_p`` (M, C) and their class ids: ``-w[t] log p_t`` of each row, each
    row's weight ``w[t]`` (1 without class weights), and which rows count (1, or 0 where
    ``t`` is ``ignore_index``)."""
    xp = get_array_module(log_p.data)
    t = target.data.reshape(-1)
    valid = t != ignore_index if ignore_index is not None else xp.ones(t.shape, dtype=bool)
    t_safe = xp.where(valid, t, 0)                 # an ignored row picks class 0, then counts 0
    counts = Tensor(valid.astype(log_p.dtype))
    row_weight = counts if weight is None else weight[t_safe] * counts
    return -log_p[xp.arange(t.size), t_safe] * row_weight, row_weight, counts


def cross_entropy_composed(input: Tensor, target, weight=None, ignore_index: int = -100,
                           reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """The same loss from primitive ops, as PyTorch defines it: the negative
    log-likelihood of the log-softmax, mixed with the mean over classes."""
    name = "cross_entropy"
    reduction = resolve_reduction(name, None, None, reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{name}: label_smoothing must be in [0, 1], got {label_smoothing}")
    target = _as_tensor(target, input)
    probabilities = _check_target(name, input, target)
    num_classes = input.shape[0 if input.ndim == 1 else 1]
    w = None if weight is None else _class_weight(name, weight, input, num_classes)
    log_p = log_softmax(_classes_last(input), dim=-1)             # (..., C)
    if probabilities:
        # q = (1 - eps) target + eps / C; loss = -sum_c w_c q_c log p_c; 'mean' divides by the rows
        q = _classes_last(target) * (1 - label_smoothing) + label_smoothing / num_classes
        terms = log_p * q if w is None else log_p * q * w
        loss = -terms.sum(axis=-1)
        return _reduce(loss, reduction, loss.data.size)
    _check_ids(name, target, num_classes, ignore_index)
    rows = log_p.reshape(-1, num_classes)
    nll, row_weight, counts = _nll_rows(rows, target, w, ignore_index)
    smooth = -(rows if w is None else rows * w).sum(axis=-1) * counts     # -sum_c w_c log p_c
    loss = (1 - label_smoothing) * nll + (label_smoothing / num_classes) * smooth
    if reduction == "none":
        return loss.reshape(target.shape)
    # 'mean' divides by the summed weights of the rows that count (their number without weights)
    total = row_weight.sum() if w is not None else int(to_host(counts.data.sum()))
    return _reduce(loss, reduction, total)


def nll_loss(input: Tensor, target, weight=None, size_average=None, ignore_index: int = -100, reduce=None,
             reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of log-probabilities ``input`` (classes at dim 1, e.g. from
    ``log_softmax(x, dim=1)``) at the class ids ``target``: ``-w[t] input[t]``.

    ``'mean'`` divides by the summed weights of the targets that count (their
    number without ``weight``).  ``cross_entropy(x, t)`` is
    ``nll_loss(log_softmax(x, dim=1), t)``.
    """
    name = "nll_loss"
    reduction = resolve_reduction(name, size_average, reduce, reduction)
    target = _as_tensor(target, input)
    if _check_target(name, input, target):
        raise TypeError(f"{name}: target must hold integer class ids, got dtype {target.dtype}")
    num_classes = input.shape[0 if input.ndim == 1 else 1]
    _check_ids(name, target, num_classes, ignore_index, what="log-probabilities")
    w = None if weight is None else _class_weight(name, weight, input, num_classes)
    rows = _classes_last(input).reshape(-1, num_classes)
    loss, row_weight, counts = _nll_rows(rows, target, w, ignore_index)
    if reduction == "none":
        return loss.reshape(target.shape)
    return _reduce(loss, reduction, row_weight.sum() if w is not None else int(to_host(counts.data.sum())))


def mse_loss(input: Tensor, target, size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    """Mean squared error, (input - target)^2, averaged (or summed, or each) over every element."""
    name = "mse_loss"
    reduction = resolve_reduction(name, size_average, reduce, reduction)
    target = _as_tensor(target, input)
    if tuple(target.shape) != tuple(input.shape):
        warnings.warn(
            f"{name}: target shape {tuple(target.shape)} differs from input shape {tuple(input.shape)}: "
            "they will be broadcast together, which is rarely what you mean (as PyTorch warns)",
            UserWarning, stacklevel=2,
        )
    diff = input - target
    squared = diff * diff
    return _reduce(squared, reduction, squared.data.size)
