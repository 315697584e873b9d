"""EarlyStopping: stop training when a validation metric has stopped improving.

    early = EarlyStopping(patience=5, mode="min", restore_best=True)
    for step in range(max_steps):
        train(...)
        if early.step(validation_loss(), step=step, model=model):
            break                     # the best weights are back in the model

Validation loss usually falls, flattens, then rises once the model starts to
overfit; the weights from the best evaluation generalise best.  Patience
absorbs the noise of single evaluations.
"""
from __future__ import annotations

import math


class EarlyStopping:
    """Count evaluations without improvement; say stop after ``patience`` of them.

    A metric improves on ``best`` when ``metric < best - min_delta``
    (``mode="min"``, for losses) or ``metric > best + min_delta``
    (``mode="max"``, for BLEU or accuracy).  The first metric always
    improves.  A nan metric never improves.

    Args:
        patience: evaluations without improvement to tolerate (>= 1):
            ``step`` returns True on the ``patience``-th bad one in a row.
        min_delta: how much better (>= 0) counts as an improvement.
        mode: "min" or "max".
        restore_best: when ``step`` says stop and a model was passed to
            ``step``, load the best weights back into it.

    Attributes:
        best: the best metric so far (None before the first step).
        best_step: the step of ``best`` (``step=`` argument, else the call count, from 1).
        num_bad: evaluations since the last improvement.
        should_stop: True once the patience ran out.
        best_weights: ``{name: NumPy array}`` copy of the model at the best
            step, kept whenever ``step`` receives a model (None otherwise).
    """

    def __init__(self, patience: int, min_delta: float = 0.0, mode: str = "min",
                 restore_best: bool = False):
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 1:
            raise ValueError(f"EarlyStopping: patience must be an integer >= 1, got {patience!r}")
        if not min_delta >= 0:
            raise ValueError(f"EarlyStopping: min_delta must be >= 0, got {min_delta!r}")
        if mode not in ("min", "max"):
            raise ValueError(f"EarlyStopping: mode must be 'min' or 'max', got {mode!r}")
        self.patience, self.min_delta, self.mode = patience, float(min_delta), mode
        self.restore_best = bool(restore_best)
        self.best = None
        self.best_step = None
        self.num_bad = 0
        self.should_stop = False
        self.calls = 0
        self.best_weights = None

    def is_improvement(self, metric: float) -> bool:
        if math.isnan(metric):
            return False
        if self.best is None:
            return True
        if self.mode == "min":
            return metric < self.best - self.min_delta
        return metric > self.best + self.min_delta

    def step(self, metric, step: int | None = None, model=None) -> bool:
        """Record one evaluation; True when training should stop.

        ``metric`` is a number (or a one-element Tensor); ``model``, if given,
        is copied at each new best.
        """
        metric = float(metric.item() if hasattr(metric, "item") else metric)
        self.calls += 1
        if self.is_improvement(metric):
            self.best = metric
            self.best_step = self.calls if step is None else int(step)
            self.num_bad = 0
            if model is not None:
                # copies: the live arrays keep changing as training goes on
                self.best_weights = {name: t.numpy() for name, t in model.state_dict().items()}
        else:
            self.num_bad += 1
        if self.num_bad >= self.patience:
            self.should_stop = True
        if self.should_stop and self.restore_best and model is not None:
            self.restore(model)
        return self.should_stop

    def restore(self, model) -> None:
        """Load the best weights seen into ``model`` (needs a model passed to an earlier step)."""
        if self.best_weights is None:
            raise ValueError("EarlyStopping.restore: no weights were kept; pass model= to step() "
                             "so that the best weights are copied")
        model.load_state_dict(self.best_weights)

    def state_dict(self) -> dict:
        """Plain data: numbers, strings, None, and NumPy arrays for the best weights."""
        state = {k: v for k, v in self.__dict__.items() if k != "best_weights"}
        state["best_weights"] = None if self.best_weights is None else \
            {k: v.copy() for k, v in self.best_weights.items()}
        return state

    def load_state_dict(self, state: dict) -> None:
        for key in ("patience", "min_delta", "mode", "restore_best", "best", "best_step",
                    "num_bad", "should_stop", "calls"):
            if key in state:
                setattr(self, key, state[key])
        weights = state.get("best_weights")
        self.best_weights = None if weights is None else {k: v.copy() for k, v in weights.items()}

    def __repr__(self) -> str:
        return (f"EarlyStopping(mode={self.mode!r}, patience={self.patience}, best={self.best}, "
                f"best_step={self.best_step}, num_bad={self.num_bad})")
