"""One update of large-batch training: accumulate gradients, then step.

Gradient accumulation (fairseq's "update frequency") splits one large batch
into K micro-batches that are run one after another, each adding its gradient
to ``.grad``.  For the sum to equal the gradient of the large batch, every
micro-batch's summed token loss is divided by the number of target tokens of
the *whole* large batch -- not by its own count -- so that

    sum_k  loss_sum_k / N_total  =  loss_sum_union / N_total.

Memory stays that of one micro-batch: each graph is freed by its backward.
"""
from __future__ import annotations

import math

from ..backend import array_module, get_backend
from ..functional import cross_entropy
from ..optim import clip_grad_norm_


def batch_ids(batch, backend: str):
    """The batch's int64 id arrays (src, tgt_in, tgt_out), sent to ``backend``.

    They stay arrays: the model checks the ids once where they come in and
    hands the same arrays on to its embeddings, whose lookup checks their range.
    """
    xp = array_module(backend)
    return xp.asarray(batch.src), xp.asarray(batch.tgt_in), xp.asarray(batch.tgt_out)


def accumulate_gradients(model, micro_batches, *, pad_id: int = 0, label_smoothing: float = 0.0,
                         backend: str | None = None, num_tokens: int | None = None) -> float:
    """Run forward and backward on each micro-batch; return the summed token loss.

    Each micro-batch's loss is normalised by ``num_tokens`` (default: the
    non-pad target tokens of all micro-batches together), so the gradients
    left in ``.grad`` are those of the per-token mean loss of their union.
    """
    backend = backend or get_backend()
    total_tokens = num_tokens if num_tokens is not None else sum(b.num_tgt_tokens for b in micro_batches)
    if total_tokens <= 0:
        raise ValueError("accumulate_gradients: the batch holds no target tokens")
    loss_sum = 0.0
    for batch in micro_batches:
        src, tgt_in, tgt_out = batch_ids(batch, backend)
        logits = model(src, tgt_in)
        # one row of vocabulary logits per target token: (B*T, V) against (B*T,)
        loss = cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt_out.reshape(-1), ignore_index=pad_id,
                             label_smoothing=label_smoothing, reduction="sum")
        loss_sum += loss.item()
        (loss * (1.0 / total_tokens)).backward()
        # drop this micro-batch's logits (B, T, vocab), often its largest array, now:
        # otherwise they stay alive during the next micro-batch's forward
        del logits, loss
    return loss_sum


def train_step(model, optimizer, scheduler, micro_batches, *, pad_id=0, label_smoothing=0.0,
               clip_norm=None, backend=None, num_tokens=None, on_nonfinite="stop",
               gradient_hook=None) -> dict:
    """One optimizer update from K micro-batches; returns the step's numbers.

    ``num_tokens`` normalises the loss (default: the micro-batches' own
    non-pad target tokens; data-parallel training passes the count over all
    processes).  ``gradient_hook(params, loss_sum) -> loss_sum``, if given,
    runs between backward and the update with every parameter that requires
    grad (data-parallel training sums gradients and loss across processes
    there, and may give a gradient to a parameter that no micro-batch of this
    process reached).
    """
    model.train()
    tokens = sum(b.num_tgt_tokens for b in micro_batches) if num_tokens is None else num_tokens
    loss_sum = accumulate_gradients(model, micro_batches, pad_id=pad_id, label_smoothing=label_smoothing,
                                    backend=backend, num_tokens=tokens)
    if gradient_hook is not None:
        loss_sum = gradient_hook([p for p in model.parameters() if p.requires_grad], loss_sum)
    params = [p for p in model.parameters() if p.grad is not None]
    finite = math.isfinite(loss_sum)
    grad_norm = None
    if finite:
        # the joint gradient norm, also without clipping (max_norm inf clips nothing): a
        # finite loss can still have an inf or NaN gradient, which would poison every weight
        grad_norm = clip_grad_norm_(params, clip_norm or math.inf)
        finite = math.isfinite(grad_norm)
    result = {"loss": loss_sum / tokens, "tokens": tokens, "grad_norm": grad_norm, "finite": finite,
              "lr": optimizer.param_groups[0]["lr"]}
    if finite:
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
    optimizer.zero_grad()
    if not finite and on_nonfinite == "stop":
        raise NonFiniteLossError(
            f"the loss or gradient became NaN or infinite (loss sum {loss_sum}, gradient norm "
            f"{grad_norm}); the update was "
            "not applied and the last checkpoint is intact. Lower --lr, check the data, or "
            "rerun with --detect-anomaly to find the op"
        )
    return result


class NonFiniteLossError(FloatingPointError):
    """Training produced a NaN or infinite loss or gradient."""
