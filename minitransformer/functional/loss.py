"""Cross-entropy with label smoothing and ignored targets, fused with log-softmax.

For logits x (rows of C classes) and target t, label smoothing eps replaces
the one-hot target by q = (1 - eps) * onehot(t) + eps / C (as in the
Transformer paper and PyTorch), and the loss of a row is

    loss = -sum_c q_c log softmax(x)_c
         = -(1 - eps) log p_t - (eps / C) sum_c log p_c.
"""
from __future__ import annotations

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


def _check(logits, targets, label_smoothing, reduction):
    if reduction not in REDUCTIONS:
        raise ValueError(f"cross_entropy: reduction must be one of {REDUCTIONS}, got {reduction!r}")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    if targets.dtype.kind not in "iu":
        raise TypeError(f"cross_entropy: targets must be integer class ids, got dtype {targets.dtype}")
    if tuple(logits.shape[:-1]) != tuple(targets.shape):
        raise ValueError(
            f"cross_entropy: logits of shape {tuple(logits.shape)} need targets of shape "
            f"{tuple(logits.shape[:-1])}, got {tuple(targets.shape)}"
        )


def cross_entropy(logits: Tensor, targets, ignore_index: int | None = None,
                  label_smoothing: float = 0.0, reduction: str = "mean") -> Tensor:
    """Cross-entropy of ``logits`` (..., C) against integer ``targets`` (...).

    ``reduction='mean'`` averages over the targets that are not
    ``ignore_index``; ``'sum'`` adds them up (divide by your own token count,
    e.g. across accumulated micro-batches); ``'none'`` returns one loss per
    target (0 where ignored).
    """
    targets = targets if isinstance(targets, Tensor) else Tensor(get_array_module(logits.data).asarray(targets))
    _check(logits, targets, label_smoothing, reduction)
    num_classes = logits.shape[-1]
    if targets.numel():
        t = targets.data
        valid = t if ignore_index is None else t[t != ignore_index]
        bad = out_of_range(valid, num_classes)
        if bad is not None:
            raise IndexError(
                f"cross_entropy: target id {bad[0]} is out of range for logits with {num_classes} "
                f"classes (valid ids are 0..{num_classes - 1}; {bad[1]} target(s) out of range)"
            )
    return CrossEntropy.apply(
        logits, targets, ignore_index=ignore_index, label_smoothing=label_smoothing, reduction=reduction
    )


def cross_entropy_composed(logits: Tensor, targets, ignore_index: int | None = None,
                           label_smoothing: float = 0.0, reduction: str = "mean") -> Tensor:
    """The same loss from primitive ops: log-softmax, pick the target, mix in the mean."""
    xp = get_array_module(logits.data)
    targets = targets if isinstance(targets, Tensor) else Tensor(xp.asarray(targets))
    _check(logits, targets, label_smoothing, reduction)
    num_classes = logits.shape[-1]
    log_p = log_softmax(logits.reshape(-1, num_classes), axis=-1)
    t = targets.data.reshape(-1)
    valid = (t != ignore_index) if ignore_index is not None else xp.ones(t.shape, dtype=bool)
    t_safe = xp.where(valid, t, 0)
    nll = -log_p[xp.arange(t.size), t_safe]
    loss = (1 - label_smoothing) * nll - label_smoothing * log_p.mean(axis=1)
    loss = loss * Tensor(valid.astype(logits.dtype))
    if reduction == "none":
        return loss.reshape(targets.shape)
    total = loss.sum()
    return total / max(int(to_host(valid.sum())), 1) if reduction == "mean" else total
