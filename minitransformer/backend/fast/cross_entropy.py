"""Cross-entropy's fast version: the logits' rows in blocks, inside one buffer.

The logits are the largest array of a translation model (target tokens x
vocabulary: 4000 x 8000 floats, 128 MB).  The formula
(``functional/loss.py``) makes several arrays of that size; here each
block of rows is shifted, exponentiated and normalized inside its rows of
one buffer (which then holds the softmax, kept for backward), in chunks
that stay in the core's cache, and the blocks run on the CPU's threads.
"""
from __future__ import annotations

from .. import get_array_module, to_host
from ..threads import for_each_row_block
from . import fast_version_of
from .rows import row_sum


@fast_version_of("minitransformer.functional.loss.CrossEntropy", "numpy", "cupy", "strict")
class CrossEntropyRowBlocks:
    @staticmethod
    def forward(ctx, logits, targets, ignore_index=None, label_smoothing=0.0, reduction="mean"):
        xp = get_array_module(logits)
        num_classes = logits.shape[-1]
        x = logits.reshape(-1, num_classes)
        t = targets.reshape(-1)
        valid = t != ignore_index if ignore_index is not None else xp.ones(t.shape, dtype=bool)
        t_safe = xp.where(valid, t, 0)
        probs = xp.empty_like(x)
        loss = xp.empty(t.shape, dtype=x.dtype)

        def block(rows):
            buf = probs[rows]
            xp.subtract(x[rows], x[rows].max(axis=1, keepdims=True), out=buf)
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
        count = int(to_host(valid.sum()))
        ctx.save_for_backward(probs, t_safe, valid)
        ctx.eps, ctx.reduction, ctx.count = label_smoothing, reduction, count
        ctx.logits_shape = logits.shape
        if reduction == "none":
            return loss.reshape(targets.shape)
        total_loss = loss.sum()
        return total_loss / max(count, 1) if reduction == "mean" else total_loss

    @staticmethod
    def backward(ctx, grad):
        """w * (softmax(x) - q) per row, written into one buffer block by block."""
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

        def block(rows):
            probs, t, weight = all_probs[rows], all_t[rows], all_weights[rows]
            g = gx[rows]
            xp.multiply(probs, weight[:, None], out=g)
            if eps:
                g -= (weight * (eps / num_classes))[:, None]
            g[xp.arange(t.size), t] -= (1 - eps) * weight

        for_each_row_block(block, all_probs, passes=2)
        return gx.reshape(ctx.logits_shape), None
