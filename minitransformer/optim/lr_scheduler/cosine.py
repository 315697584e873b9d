"""Cosine annealing (Loshchilov & Hutter, 2017), without and with warm restarts."""
from __future__ import annotations

import math

from .base import LRScheduler


def _cosine(base: float, eta_min: float, t: float, period: float) -> float:
    """eta_min + (base - eta_min) * (1 + cos(pi t / period)) / 2: from base at t=0 to eta_min at t=period."""
    return eta_min + (base - eta_min) * (1.0 + math.cos(math.pi * t / period)) / 2.0


class CosineAnnealingLR(LRScheduler):
    r"""Half a cosine wave from the base lr down to ``eta_min`` over ``T_max`` steps.

    .. math::
        \eta_t = \eta_{min} + \tfrac12 (\eta_{base} - \eta_{min})
                 \big(1 + \cos(\pi\, t / T_{max})\big)

    Computed in closed form.  Past ``T_max`` the formula keeps going, so the lr
    climbs back up over the next ``T_max`` steps (period ``2 T_max``), exactly
    as PyTorch's recursive form does; stop training at ``T_max`` or use
    :class:`CosineAnnealingWarmRestarts` to restart on purpose.
    """

    def __init__(self, optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1):
        if isinstance(T_max, bool) or not isinstance(T_max, int) or T_max <= 0:
            raise ValueError(f"CosineAnnealingLR: T_max must be a positive integer, got {T_max!r}")
        self.T_max = T_max
        self.eta_min = float(eta_min)
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        return [_cosine(base, self.eta_min, self.last_epoch, self.T_max) for base in self.base_lrs]


class CosineAnnealingWarmRestarts(LRScheduler):
    r"""SGDR: cosine annealing that restarts at the base lr, each period ``T_mult`` times longer.

    .. math::
        \eta_t = \eta_{min} + \tfrac12 (\eta_{base} - \eta_{min})
                 \big(1 + \cos(\pi\, T_{cur} / T_i)\big)

    :math:`T_{cur}` counts the steps since the last restart and :math:`T_i` is
    the current period: :math:`T_0, T_0 T_{mult}, T_0 T_{mult}^2, \dots`.  At a
    restart the lr jumps back to the base lr.

    ``step(epoch)`` also accepts a fractional epoch (``epoch + i / iters``), as
    in PyTorch, to anneal within epochs.
    """

    def __init__(self, optimizer, T_0: int, T_mult: int = 1, eta_min: float = 0.0,
                 last_epoch: int = -1):
        if isinstance(T_0, bool) or not isinstance(T_0, int) or T_0 <= 0:
            raise ValueError(f"CosineAnnealingWarmRestarts: T_0 must be a positive integer, got {T_0!r}")
        if isinstance(T_mult, bool) or not isinstance(T_mult, int) or T_mult < 1:
            raise ValueError(f"CosineAnnealingWarmRestarts: T_mult must be an integer >= 1, got {T_mult!r}")
        self.T_0 = T_0
        self.T_i = T_0
        self.T_mult = T_mult
        self.eta_min = float(eta_min)
        self.T_cur = last_epoch
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        return [_cosine(base, self.eta_min, self.T_cur, self.T_i) for base in self.base_lrs]

    def step(self, epoch=None) -> None:
        """Advance one step, or jump to ``epoch`` (an int or a fraction of the epochs)."""
        self._step_count += 1
        if epoch is None and self.last_epoch < 0:
            epoch = 0
        if epoch is None:
            epoch = self.last_epoch + 1
            self.T_cur += 1
            if self.T_cur >= self.T_i:            # restart
                self.T_cur -= self.T_i
                self.T_i *= self.T_mult
        else:
            if epoch < 0:
                raise ValueError(f"CosineAnnealingWarmRestarts: epoch must be >= 0, got {epoch}")
            if epoch >= self.T_0:
                if self.T_mult == 1:
                    self.T_cur = epoch % self.T_0
                else:
                    # the periods T_0 (1 + m + ... + m^(n-1)) = T_0 (m^n - 1)/(m - 1) fit before epoch
                    n = int(math.log(epoch / self.T_0 * (self.T_mult - 1) + 1, self.T_mult))
                    self.T_cur = epoch - self.T_0 * (self.T_mult ** n - 1) / (self.T_mult - 1)
                    self.T_i = self.T_0 * self.T_mult ** n
            else:
                self.T_i = self.T_0
                self.T_cur = epoch
        self.last_epoch = math.floor(epoch)
        self._set_lrs(self.get_lr())
