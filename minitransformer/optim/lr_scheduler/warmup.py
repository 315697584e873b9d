r"""Transformer schedules: a linear warmup, then a decay.

Adam's first updates rest on moment estimates built from a handful of
gradients, and the freshly initialised attention layers are fragile, so
Transformers start with a small lr that grows linearly for ``warmup`` updates
("warmup") before it decays.  Call ``step()`` after every optimizer update.

Step numbers.  These classes count *updates* with :math:`s` = ``last_epoch + 1``:
at construction (``last_epoch = 0``) the optimizer gets the lr of update
:math:`s = 1`; after ``k`` calls of ``step()`` it holds the lr of update
:math:`s = k + 1`.  The one exception is :class:`InverseSqrt`, which follows
fairseq and uses :math:`n` = ``last_epoch`` = the number of updates already
done (so its first update uses ``warmup_init_lr``).
"""
from __future__ import annotations

import math

from .base import LRScheduler


def _check_int(name: str, key: str, value, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name}: {key} must be an integer >= {low}, got {value!r}")
    return value


class NoamLR(LRScheduler):
    r"""The schedule of "Attention Is All You Need" (Vaswani et al., 2017, eq. 3).

    .. math::
        \eta(s) = \text{factor} \cdot d_{model}^{-1/2}
                  \cdot \min\big(s^{-1/2},\ s \cdot \text{warmup}^{-3/2}\big)

    for update :math:`s = 1, 2, \dots`: a linear rise for ``warmup`` updates
    to the peak :math:`\text{factor}/\sqrt{d_{model} \cdot \text{warmup}}` at
    :math:`s = \text{warmup}`, then a decay as :math:`1/\sqrt{s}`.  The lr is
    absolute: the optimizer's own lr is ignored.  The paper uses
    :math:`d_{model} = 512`, warmup = 4000, factor = 1 (peak about 7e-4).

    ``peak_lr=`` (or :meth:`from_peak`) picks the factor that makes the lr at
    the end of warmup equal ``peak_lr``:
    :math:`\eta(s) = \text{peak\_lr} \cdot \min(\sqrt{\text{warmup}/s},\ s/\text{warmup})`.
    """

    def __init__(self, optimizer, d_model: int, warmup: int, factor: float = 1.0,
                 peak_lr: float | None = None, last_epoch: int = -1):
        self.d_model = _check_int("NoamLR", "d_model", d_model, 1)
        self.warmup = _check_int("NoamLR", "warmup", warmup, 1)
        if peak_lr is not None:
            if not peak_lr > 0:
                raise ValueError(f"NoamLR: peak_lr must be > 0, got {peak_lr!r}")
            factor = float(peak_lr) * math.sqrt(d_model * warmup)
        self.peak_lr = None if peak_lr is None else float(peak_lr)
        if not factor > 0:
            raise ValueError(f"NoamLR: factor must be > 0, got {factor!r}")
        self.factor = float(factor)
        super().__init__(optimizer, last_epoch)

    @classmethod
    def from_peak(cls, optimizer, peak_lr: float, warmup: int, d_model: int = 512,
                  last_epoch: int = -1) -> "NoamLR":
        """A Noam schedule whose lr at update ``warmup`` is ``peak_lr`` (d_model then cancels out)."""
        return cls(optimizer, d_model=d_model, warmup=warmup, peak_lr=peak_lr, last_epoch=last_epoch)

    def lr_at(self, s: int) -> float:
        """The formula, for update number ``s >= 1``."""
        if self.peak_lr is not None:     # the same curve, written so that lr(warmup) == peak_lr exactly
            return self.peak_lr * min(math.sqrt(self.warmup / s), s / self.warmup)
        return self.factor * self.d_model ** -0.5 * min(s ** -0.5, s * self.warmup ** -1.5)

    def get_lr(self):
        return [self.lr_at(self.last_epoch + 1)] * len(self.optimizer.param_groups)


class _WarmupThenDecay(LRScheduler):
    """Linear warmup to each group's base lr, then ``_shape(progress)`` down to ``min_lr``."""

    def __init__(self, optimizer, warmup: int, total_steps: int, min_lr: float = 0.0,
                 last_epoch: int = -1):
        name = type(self).__name__
        self.warmup = _check_int(name, "warmup", warmup, 0)
        self.total_steps = _check_int(name, "total_steps", total_steps, 1)
        if total_steps <= warmup:
            raise ValueError(f"{name}: total_steps={total_steps} must exceed warmup={warmup}")
        self.min_lr = float(min_lr)
        for group in optimizer.param_groups:
            base = group.get("initial_lr", group["lr"])
            if not 0.0 <= self.min_lr <= base:
                raise ValueError(f"{name}: min_lr={min_lr} must be in [0, base lr={base}]")
        super().__init__(optimizer, last_epoch)

    def _shape(self, progress: float) -> float:
        raise NotImplementedError

    def lr_at(self, s: int, base: float) -> float:
        """The lr of update ``s >= 1`` for a group whose base lr is ``base``."""
        if s <= self.warmup:
            return base * s / self.warmup            # base/warmup at s=1, ..., base at s=warmup
        progress = min(1.0, (s - self.warmup) / (self.total_steps - self.warmup))
        return self.min_lr + (base - self.min_lr) * self._shape(progress)

    def get_lr(self):
        return [self.lr_at(self.last_epoch + 1, base) for base in self.base_lrs]


class WarmupLinear(_WarmupThenDecay):
    r"""Linear warmup to the base lr over ``warmup`` updates, then linear decay to ``min_lr``.

    .. math::
        \eta(s) = \eta_{base}\, s / W \quad (s \le W), \qquad
        \eta(s) = \eta_{min} + (\eta_{base} - \eta_{min})(1 - x), \quad
        x = \min\!\big(1, \tfrac{s - W}{T - W}\big) \quad (s > W)

    with :math:`W` = warmup and :math:`T` = total_steps: the lr reaches
    ``min_lr`` at update :math:`T` and stays there (BERT's schedule).
    """

    def _shape(self, progress: float) -> float:
        return 1.0 - progress


class WarmupCosine(_WarmupThenDecay):
    r"""Linear warmup to the base lr over ``warmup`` updates, then half a cosine down to ``min_lr``.

    .. math::
        \eta(s) = \eta_{base}\, s / W \quad (s \le W), \qquad
        \eta(s) = \eta_{min} + \tfrac12(\eta_{base} - \eta_{min})(1 + \cos \pi x), \quad
        x = \min\!\big(1, \tfrac{s - W}{T - W}\big) \quad (s > W)

    The lr reaches ``min_lr`` at update :math:`T` = total_steps and stays there.
    """

    def _shape(self, progress: float) -> float:
        return 0.5 * (1.0 + math.cos(math.pi * progress))


class InverseSqrt(LRScheduler):
    r"""fairseq's ``inverse_sqrt``: linear warmup, then decay as :math:`1/\sqrt{n}`.

    With :math:`n` = ``last_epoch`` = updates already done, :math:`W` = warmup
    and :math:`\eta` the group's base lr:

    .. math::
        \eta(n) = \eta_{init} + n\,(\eta - \eta_{init}) / W \quad (n < W), \qquad
        \eta(n) = \eta \sqrt{W / n} \quad (n \ge W)

    So the first update uses :math:`\eta_{init}` (``warmup_init_lr``, 0 by
    default, as in fairseq) and update :math:`W + 1` the peak :math:`\eta`.
    Like Noam's schedule without its dependence on :math:`d_{model}`.
    """

    def __init__(self, optimizer, warmup: int, warmup_init_lr: float = 0.0, last_epoch: int = -1):
        self.warmup = _check_int("InverseSqrt", "warmup", warmup, 1)
        if not warmup_init_lr >= 0:
            raise ValueError(f"InverseSqrt: warmup_init_lr must be >= 0, got {warmup_init_lr!r}")
        self.warmup_init_lr = float(warmup_init_lr)
        super().__init__(optimizer, last_epoch)

    def lr_at(self, n: int, base: float) -> float:
        """The lr after ``n >= 0`` updates for a group whose base lr is ``base``."""
        if n < self.warmup:
            return self.warmup_init_lr + n * (base - self.warmup_init_lr) / self.warmup
        return base * math.sqrt(self.warmup) / math.sqrt(n)

    def get_lr(self):
        return [self.lr_at(self.last_epoch, base) for base in self.base_lrs]
