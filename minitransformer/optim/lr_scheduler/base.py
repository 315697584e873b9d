"""LRScheduler: the base class of learning-rate schedules, with PyTorch's semantics.

    opt = SGD(model.parameters(), lr=0.1)
    sched = StepLR(opt, step_size=30)     # sets the lr for step 0 right away
    for epoch in range(100):
        train_one_epoch(opt)              # optimizer.step() uses the current lr
        sched.step()                      # then move to the next lr

``last_epoch`` counts the ``step()`` calls: constructing the scheduler makes
the first call (``last_epoch`` goes from -1 to 0) and stores each group's
starting lr as ``group["initial_lr"]``, the *base lr* the schedule scales.
Whether a "step" is an epoch or an update depends only on how often you call
``step()``.  Subclasses write ``get_lr()``: the lrs at ``self.last_epoch``.

Here every schedule is computed in closed form from ``base_lrs`` and
``last_epoch``.  PyTorch computes most of them recursively from the current
``group["lr"]`` (so that several schedulers can be chained); the two agree
to rounding whenever this scheduler is the only thing that changes the lr.
"""
from __future__ import annotations

import copy

from ..optimizer import Optimizer


class LRScheduler:
    """Base class: set each group's lr from ``get_lr()`` at every ``step()``.

    Args:
        optimizer: the optimizer whose ``param_groups[i]["lr"]`` to drive.
        last_epoch: -1 to start fresh; a larger value resumes at that step
            (the groups must then already hold ``"initial_lr"``).
    """

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1):
        name = type(self).__name__
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{name}: expected an Optimizer, got {type(optimizer).__name__}")
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise ValueError(
                        f"{name}: last_epoch={last_epoch} resumes a schedule, but param_groups[{i}] "
                        "has no 'initial_lr' (load the optimizer's state_dict first, or use last_epoch=-1)"
                    )
        self.base_lrs = [float(group["initial_lr"]) for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._step_count = 0
        self.step()                        # the initial step: the lr for step 0

    def get_lr(self) -> list:
        """The learning rate of each group at step ``self.last_epoch``."""
        raise NotImplementedError(f"{type(self).__name__} defines no get_lr()")

    def step(self) -> None:
        """Advance one step (call it after ``optimizer.step()``) and set the new lrs."""
        self._step_count += 1
        self.last_epoch += 1
        self._set_lrs(self.get_lr())

    def _set_lrs(self, lrs) -> None:
        for group, lr in zip(self.optimizer.param_groups, lrs):
            group["lr"] = float(lr)         # a Python float never upcasts float32 params
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def get_last_lr(self) -> list:
        """The lrs set by the latest step, one per parameter group."""
        return list(self._last_lr)

    # ------------------------------------------------------------ checkpoints
    _not_saved = ("optimizer",)

    def state_dict(self) -> dict:
        """Every attribute except the optimizer (and functions): plain numbers, lists, dicts."""
        return copy.deepcopy({k: v for k, v in self.__dict__.items() if k not in self._not_saved})

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore a ``state_dict()``, and put the saved lrs back into the optimizer.

        (PyTorch leaves the optimizer alone here; re-applying the lrs makes
        the resume correct whether the optimizer's own state was loaded
        before or after this scheduler was constructed.)
        """
        self.__dict__.update(copy.deepcopy(dict(state_dict)))
        self._set_lrs(self._last_lr)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(last_epoch={self.last_epoch}, lr={self.get_last_lr()})"
