"""Schedules that multiply the base lr by a factor: LambdaLR, StepLR, MultiStepLR, ExponentialLR."""
from __future__ import annotations

from bisect import bisect_right

from .base import LRScheduler


def _check_positive_int(name: str, key: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name}: {key} must be a positive integer, got {value!r}")
    return value


def _check_gamma(name: str, gamma) -> float:
    gamma = float(gamma)
    if not gamma > 0:
        raise ValueError(f"{name}: gamma must be > 0, got {gamma}")
    return gamma


class LambdaLR(LRScheduler):
    r"""lr = base_lr * lr_lambda(step): any schedule given as a function of the step number.

    ``lr_lambda`` is one function, or a list with one function per group.
    The functions are not part of ``state_dict()`` (they are code, not data):
    construct the scheduler with the same functions before loading.

        LambdaLR(opt, lambda step: 0.95 ** step)
    """

    _not_saved = ("optimizer", "lr_lambdas")

    def __init__(self, optimizer, lr_lambda, last_epoch: int = -1):
        n = len(optimizer.param_groups)
        if isinstance(lr_lambda, (list, tuple)):
            if len(lr_lambda) != n:
                raise ValueError(f"LambdaLR: expected {n} lr_lambdas (one per group), got {len(lr_lambda)}")
            self.lr_lambdas = list(lr_lambda)
        else:
            self.lr_lambdas = [lr_lambda] * n
        for f in self.lr_lambdas:
            if not callable(f):
                raise TypeError(f"LambdaLR: lr_lambda must be callable, got {type(f).__name__}")
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        return [base * f(self.last_epoch) for base, f in zip(self.base_lrs, self.lr_lambdas)]


class StepLR(LRScheduler):
    r"""lr = base_lr * gamma ** floor(step / step_size): decay by ``gamma`` every ``step_size`` steps."""

    def __init__(self, optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1):
        self.step_size = _check_positive_int("StepLR", "step_size", step_size)
        self.gamma = _check_gamma("StepLR", gamma)
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        k = self.last_epoch // self.step_size
        return [base * self.gamma ** k for base in self.base_lrs]


class MultiStepLR(LRScheduler):
    r"""lr = base_lr * gamma ** (number of milestones <= step): decay at chosen steps.

    A milestone listed twice decays twice there (as in PyTorch).
    """

    def __init__(self, optimizer, milestones, gamma: float = 0.1, last_epoch: int = -1):
        milestones = sorted(milestones)
        for m in milestones:
            if isinstance(m, bool) or not isinstance(m, int) or m < 0:
                raise ValueError(f"MultiStepLR: milestones must be integers >= 0, got {milestones}")
        self.milestones = milestones
        self.gamma = _check_gamma("MultiStepLR", gamma)
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        k = bisect_right(self.milestones, self.last_epoch)
        return [base * self.gamma ** k for base in self.base_lrs]


class ExponentialLR(LRScheduler):
    r"""lr = base_lr * gamma ** step: decay by ``gamma`` at every step."""

    def __init__(self, optimizer, gamma: float, last_epoch: int = -1):
        self.gamma = _check_gamma("ExponentialLR", gamma)
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        return [base * self.gamma ** self.last_epoch for base in self.base_lrs]
