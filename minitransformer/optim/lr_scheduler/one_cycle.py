"""OneCycleLR: the 1cycle policy (Smith & Topin, 2018), as in PyTorch."""
from __future__ import annotations

import math

from .base import LRScheduler


def _per_group(name: str, key: str, value, n: int) -> list:
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise ValueError(f"OneCycleLR: expected {n} values of {key} (one per group), got {len(value)}")
        return [float(v) for v in value]
    return [float(value)] * n


class OneCycleLR(LRScheduler):
    r"""Warm up from ``max_lr/div_factor`` to ``max_lr``, then anneal far below the start.

    Over ``total_steps`` (or ``epochs * steps_per_epoch``) optimizer steps;
    call ``step()`` after every batch.  With :math:`T` = total_steps and
    :math:`a` = pct_start, the phases end at these step numbers:

    * two phases: :math:`aT - 1` (initial_lr :math:`\to` max_lr), then
      :math:`T - 1` (max_lr :math:`\to` min_lr);
    * ``three_phase=True``: :math:`aT - 1` (up), :math:`2aT - 2` (back down to
      initial_lr), :math:`T - 1` (initial_lr :math:`\to` min_lr);

    where initial_lr = max_lr / div_factor and min_lr = initial_lr /
    final_div_factor.  Inside a phase from :math:`s_0` to :math:`s_1` the value
    goes from start to end with :math:`x = (t - s_0)/(s_1 - s_0)`:
    ``anneal_strategy="cos"``: :math:`\text{end} + (\text{start} - \text{end})(1 + \cos\pi x)/2`;
    ``"linear"``: :math:`\text{start} + (\text{end} - \text{start})\, x`.

    With ``cycle_momentum`` the momentum (SGD/RMSprop ``momentum``, or Adam's
    :math:`\beta_1`) moves the opposite way, max_momentum :math:`\to`
    base_momentum :math:`\to` max_momentum: when the lr is high, a lower
    momentum keeps the effective step size in check.

    The base lr the optimizer was built with is ignored: ``max_lr`` sets the scale.
    Stepping past ``total_steps`` raises ValueError.
    """

    def __init__(self, optimizer, max_lr, total_steps: int | None = None, epochs: int | None = None,
                 steps_per_epoch: int | None = None, pct_start: float = 0.3,
                 anneal_strategy: str = "cos", cycle_momentum: bool = True,
                 base_momentum=0.85, max_momentum=0.95, div_factor: float = 25.0,
                 final_div_factor: float = 1e4, three_phase: bool = False, last_epoch: int = -1):
        def positive_int(key, v):
            if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
                raise ValueError(f"OneCycleLR: {key} must be a positive integer, got {v!r}")
            return v

        if total_steps is not None:
            self.total_steps = positive_int("total_steps", total_steps)
        elif epochs is not None and steps_per_epoch is not None:
            self.total_steps = (positive_int("epochs", epochs)
                                * positive_int("steps_per_epoch", steps_per_epoch))
        else:
            raise ValueError("OneCycleLR: give total_steps, or both epochs and steps_per_epoch")
        if not 0.0 <= pct_start <= 1.0:
            raise ValueError(f"OneCycleLR: pct_start must be in [0, 1], got {pct_start!r}")
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"OneCycleLR: anneal_strategy must be 'cos' or 'linear', "
                             f"got {anneal_strategy!r}")
        self.anneal_strategy = anneal_strategy
        T, a = self.total_steps, float(pct_start)
        # each phase: (last step number, group key of start value, of end value) for lr, momentum
        if three_phase:
            self.phases = [
                dict(end_step=a * T - 1, start_lr="initial_lr", end_lr="max_lr",
                     start_momentum="max_momentum", end_momentum="base_momentum"),
                dict(end_step=2 * a * T - 2, start_lr="max_lr", end_lr="initial_lr",
                     start_momentum="base_momentum", end_momentum="max_momentum"),
                dict(end_step=T - 1, start_lr="initial_lr", end_lr="min_lr",
                     start_momentum="max_momentum", end_momentum="max_momentum"),
            ]
        else:
            self.phases = [
                dict(end_step=a * T - 1, start_lr="initial_lr", end_lr="max_lr",
                     start_momentum="max_momentum", end_momentum="base_momentum"),
                dict(end_step=T - 1, start_lr="max_lr", end_lr="min_lr",
                     start_momentum="base_momentum", end_momentum="max_momentum"),
            ]
        groups = optimizer.param_groups
        if last_epoch == -1:
            for m, group in zip(_per_group("OneCycleLR", "max_lr", max_lr, len(groups)), groups):
                group["initial_lr"] = m / div_factor
                group["max_lr"] = m
                group["min_lr"] = group["initial_lr"] / final_div_factor
        self.cycle_momentum = bool(cycle_momentum)
        if self.cycle_momentum:
            if "momentum" not in optimizer.defaults and "betas" not in optimizer.defaults:
                raise ValueError(f"OneCycleLR: cycle_momentum=True needs an optimizer with momentum or "
                                 f"betas; {type(optimizer).__name__} has neither (pass cycle_momentum=False)")
            self.use_beta1 = "betas" in optimizer.defaults
            if last_epoch == -1:
                maxes = _per_group("OneCycleLR", "max_momentum", max_momentum, len(groups))
                bases = _per_group("OneCycleLR", "base_momentum", base_momentum, len(groups))
                for m, b, group in zip(maxes, bases, groups):
                    self._set_momentum(group, m)
                    group["max_momentum"] = m
                    group["base_momentum"] = b
        super().__init__(optimizer, last_epoch)

    def _set_momentum(self, group: dict, value: float) -> None:
        if self.use_beta1:
            group["betas"] = (value, *group["betas"][1:])
        else:
            group["momentum"] = value

    def _anneal(self, start: float, end: float, pct: float) -> float:
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def get_lr(self):
        """The lrs at ``last_epoch``; with cycle_momentum, also sets each group's momentum."""
        t = self.last_epoch
        if t > self.total_steps:
            raise ValueError(f"OneCycleLR: tried to step {t} times; the schedule has "
                             f"total_steps={self.total_steps}")
        lrs = []
        for group in self.optimizer.param_groups:
            start_step = 0.0
            for i, phase in enumerate(self.phases):
                end_step = phase["end_step"]
                if t <= end_step or i == len(self.phases) - 1:
                    pct = (t - start_step) / (end_step - start_step)
                    lrs.append(self._anneal(group[phase["start_lr"]], group[phase["end_lr"]], pct))
                    if self.cycle_momentum:
                        self._set_momentum(group, self._anneal(
                            group[phase["start_momentum"]], group[phase["end_momentum"]], pct))
                    break
                start_step = end_step
        return lrs

    def load_state_dict(self, state_dict: dict) -> None:
        super().load_state_dict(state_dict)
        if self.cycle_momentum:
            self.get_lr()        # put the momentum of the current step back too
