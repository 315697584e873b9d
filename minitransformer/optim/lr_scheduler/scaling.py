"""The linear scaling rule (Goyal et al., 2017): scale the lr with the batch size."""
from __future__ import annotations


def linear_scaling_rule(base_lr: float, base_batch: int, batch: int) -> float:
    """``base_lr * batch / base_batch``: the lr for ``batch`` given one tuned for ``base_batch``.

    A batch k times larger averages k times more examples per update, so an
    epoch has k times fewer updates; multiplying the lr by k keeps the
    distance travelled per epoch about the same.  It holds up to a point
    (and needs a warmup at large k); beyond it, see LAMB.
    """
    base_lr = float(base_lr)
    if not base_lr >= 0:
        raise ValueError(f"linear_scaling_rule: base_lr must be >= 0, got {base_lr}")
    for key, value in (("base_batch", base_batch), ("batch", batch)):
        if isinstance(value, bool) or not value > 0:
            raise ValueError(f"linear_scaling_rule: {key} must be > 0, got {value!r}")
    return base_lr * batch / base_batch
