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
from ..ops._util import constant, out_of_range
from ..parallel import for_each_row_block
from .activation import log_softmax, softmax
from .rowsums import row_sum

REDUCTIONS = ("mean", "sum", "none")


class CrossEntropyFunction(Function):
    @staticmethod
    def forward(ctx, logits, targets, ignore_index=None, label_smoothing=0.0, reduction="mean"):
        xp = get_array_module(logits)
        num_classes = logits.shape[-1]
        x = logits.reshape(-1, num_classes)
        t = targets.reshape(-1)
        valid = t != ignore_index if ignore_index is not None else xp.ones(t.shape, dtype=bool)
        t_safe = xp.where(valid, t, 0)
        # the logits are large (tokens x vocabulary): each block of rows works in its
        # rows of one buffer, shifted -> exp -> softmax, and the rows run on separate threads
        probs = xp.empty_like(x)
        loss = xp.empty(t.shape, dtype=x.dtype)

        def block(rows):
            buf = probs[rows]
            xp.subtract(x[rows], x[rows].max(axis=1, keepdims=True), out=buf)
            # log p_c = (x_c - max) - log sum_j exp(x_j - max)
            picked = buf[xp.arange(buf.shape[0]), t_safe[rows]]      # x_t - max
            mean_shifted = row_sum(buf)[:, 0] / num_classes if label_smoothing else None
            xp.exp(buf, out=buf)
            total = row_sum(buf)
            log_norm = xp.log(total[:, 0])
            buf /= total                                           # softmax(x)
            nll = log_norm - picked                                # -log p_t
            if label_smoothing:
                smooth = log_norm - mean_shifted                   # -mean_c log p_c
                loss[rows] = (1 - label_smoothing) * nll + label_smoothing * smooth
            else:
                loss[rows] = nll

        for_each_row_block(block, x, passes=6)
        loss *= valid
        count = int(to_host(valid.sum()))   # the divisor of 'mean', a Python number
        ctx.save_for_backward(probs, t_safe, valid)
        ctx.eps, ctx.reduction, ctx.count = label_smoothing, reduction, count
        ctx.logits_shape = logits.shape
        if reduction == "none":
            return loss.reshape(targets.shape)
        total_loss = loss.sum()
        # mean over zero valid targets would be 0/0: return 0 with zero gradient
        return total_loss / max(count, 1) if reduction == "mean" else total_loss

    @staticmethod
    def backward(ctx, grad):
        """d loss/d x_c = softmax(x)_c - q_c per valid row (zero for ignored rows);
        with reduction='mean' each row's gradient is divided by the number of valid rows."""
        # BEGIN SOLUTION
        all_probs, all_t, valid = ctx.saved_tensors
        xp = get_array_module(all_probs)
        eps, num_classes = ctx.eps, all_probs.shape[1]
        if ctx.reduction == "none":
            all_weights = grad.reshape(-1) * valid
        else:
            scale = grad / max(ctx.count, 1) if ctx.reduction == "mean" else grad
            all_weights = valid * scale
        all_weights = all_weights.astype(all_probs.dtype, copy=False)
        gx = xp.empty_like(all_probs)

        def block(rows):   # each row's gradient needs that row only
            probs, t, weight = all_probs[rows], all_t[rows], all_weights[rows]
            g = gx[rows]                                 # w * (p - q), q = (1-eps) onehot + eps/C
            xp.multiply(probs, weight[:, None], out=g)
            if eps:
                g -= (weight * (eps / num_classes))[:, None]
            g[xp.arange(t.size), t] -= (1 - eps) * weight

        for_each_row_block(block, all_probs, passes=2)
        return gx.reshape(ctx.logits_shape), None
        # END SOLUTION

    @staticmethod
    def backward_graph(ctx, grad):
        """The formula above on Tensors, softmax(x) recomputed from the logits (create_graph);
        the smoothed targets q and the valid rows are constants."""
        _, t, valid = ctx.saved_tensors
        logits = ctx.inputs[0]
        xp = get_array_module(t)
        num_classes = logits.shape[-1]
        probs = softmax(logits.reshape(-1, num_classes), axis=-1)
        q = xp.full(probs.shape, ctx.eps / num_classes, dtype=probs.dtype)
        q[xp.arange(t.size), t] += 1 - ctx.eps
        valid = constant(valid, probs)
        if ctx.reduction == "none":
            weights = grad.reshape(-1) * valid
        else:
            weights = (grad / max(ctx.count, 1) if ctx.reduction == "mean" else grad) * valid
        gx = (probs - constant(q, probs)) * weights.reshape(-1, 1)
        return gx.reshape(ctx.logits_shape), None


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
    if targets.size:
        t = targets.data
        valid = t if ignore_index is None else t[t != ignore_index]
        bad = out_of_range(valid, num_classes)
        if bad is not None:
            raise IndexError(
                f"cross_entropy: target id {bad[0]} is out of range for logits with {num_classes} "
                f"classes (valid ids are 0..{num_classes - 1}; {bad[1]} target(s) out of range)"
            )
    return CrossEntropyFunction.apply(
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
