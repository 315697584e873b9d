"""ReduceLROnPlateau: cut the lr when a validation metric stops improving."""
from __future__ import annotations

import math

from ..optimizer import Optimizer
from .base import LRScheduler


class ReduceLROnPlateau(LRScheduler):
    r"""Multiply every group's lr by ``factor`` after ``patience`` steps without improvement.

    Call ``step(metric)`` once per evaluation (e.g. with the validation loss).
    A metric counts as an improvement on the best so far when

    ===========  ==========================  ==========================
    mode         threshold_mode="rel"        threshold_mode="abs"
    ===========  ==========================  ==========================
    ``"min"``    metric < best (1 - thr)     metric < best - thr
    ``"max"``    metric > best (1 + thr)     metric > best + thr
    ===========  ==========================  ==========================

    Each non-improving step adds one to ``num_bad_epochs``; when it exceeds
    ``patience``, lr <- max(lr * factor, min_lr) (skipped when that changes
    the lr by less than ``eps``), and the next ``cooldown`` steps are ignored.
    The lr never goes up.  Unlike the other schedulers nothing happens at
    construction: the optimizer's lrs are the starting point.

    Args:
        optimizer: the optimizer.  mode: "min" or "max".
        factor: in (0, 1).  patience: int >= 0.  threshold: >= 0.
        threshold_mode: "rel" or "abs".  cooldown: int >= 0.
        min_lr: a float, or a list with one per group.  eps: >= 0.
    """

    def __init__(self, optimizer, mode: str = "min", factor: float = 0.1, patience: int = 10,
                 threshold: float = 1e-4, threshold_mode: str = "rel", cooldown: int = 0,
                 min_lr=0.0, eps: float = 1e-8):
        name = "ReduceLROnPlateau"
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{name}: expected an Optimizer, got {type(optimizer).__name__}")
        if mode not in ("min", "max"):
            raise ValueError(f"{name}: mode must be 'min' or 'max', got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"{name}: threshold_mode must be 'rel' or 'abs', got {threshold_mode!r}")
        if not 0.0 < factor < 1.0:
            raise ValueError(f"{name}: factor must be in (0, 1) (new_lr = lr * factor), got {factor!r}")
        for key, value in (("patience", patience), ("cooldown", cooldown)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name}: {key} must be an integer >= 0, got {value!r}")
        for key, value in (("threshold", threshold), ("eps", eps)):
            if not value >= 0:
                raise ValueError(f"{name}: {key} must be >= 0, got {value!r}")
        n = len(optimizer.param_groups)
        if isinstance(min_lr, (list, tuple)):
            if len(min_lr) != n:
                raise ValueError(f"{name}: expected {n} min_lrs (one per group), got {len(min_lr)}")
            self.min_lrs = [float(m) for m in min_lr]
        else:
            self.min_lrs = [float(min_lr)] * n
        self.optimizer = optimizer
        self.mode, self.threshold_mode = mode, threshold_mode
        self.factor, self.threshold, self.eps = float(factor), float(threshold), float(eps)
        self.patience, self.cooldown = patience, cooldown
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0
        self.last_epoch = 0
        self._last_lr = [float(group["lr"]) for group in optimizer.param_groups]

    def is_better(self, metric: float, best: float) -> bool:
        if self.mode == "min":
            return metric < (best * (1.0 - self.threshold) if self.threshold_mode == "rel"
                             else best - self.threshold)
        return metric > (best * (1.0 + self.threshold) if self.threshold_mode == "rel"
                         else best + self.threshold)

    @property
    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def step(self, metrics) -> None:
        """Record one evaluation's metric (a number or a one-element Tensor) and maybe cut the lr."""
        current = float(metrics.item() if hasattr(metrics, "item") else metrics)
        self.last_epoch += 1
        if self.is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.in_cooldown:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0            # bad steps during the cooldown do not count
        if self.num_bad_epochs > self.patience:
            self._reduce_lr()
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def _reduce_lr(self) -> None:
        if len(self.min_lrs) != len(self.optimizer.param_groups):
            raise ValueError(
                f"ReduceLROnPlateau: the optimizer now has {len(self.optimizer.param_groups)} "
                f"parameter groups but min_lrs has {len(self.min_lrs)} (a group was added after "
                "the scheduler was built; set scheduler.min_lrs to one value per group)"
            )
        for group, min_lr in zip(self.optimizer.param_groups, self.min_lrs):
            old = float(group["lr"])
            new = max(old * self.factor, min_lr)
            if old - new > self.eps:
                group["lr"] = new
