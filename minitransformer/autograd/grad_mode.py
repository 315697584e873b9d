"""Switches that change how the graph is recorded: no_grad and detect_anomaly.

Kept in a module of their own so that the Tensor, the Function and the
backward pass can all read them without importing one another.
"""
from __future__ import annotations

import contextlib


class _Flags:
    grad_enabled = True    # record the graph for backward?
    anomaly = False        # check every forward/backward value for NaN and inf?
    profiler = None        # an object with .record(name, phase, seconds), or None


flags = _Flags()


def is_grad_enabled() -> bool:
    """True when ops record the graph (the default)."""
    return flags.grad_enabled


class _FlagSetting(contextlib.ContextDecorator):
    """Set one of the ``flags`` inside a ``with`` block (or a decorated function), then restore it.

    A subclass names the flag and the value.  The values it replaced are
    kept on a stack, so one instance -- a decorator's, shared by every call --
    may be entered again before it exits, as a recursive function does.
    """

    flag: str
    value: bool

    def __new__(cls, func=None):
        """``@no_grad`` without parentheses decorates ``func`` at once, as ``@no_grad()`` does."""
        setting = super().__new__(cls)
        if func is None:
            return setting
        setting.__init__()
        return setting(func)

    def __init__(self, func=None):
        self._previous = []

    def __enter__(self):
        self._previous.append(getattr(flags, self.flag))
        setattr(flags, self.flag, self.value)
        return self

    def __exit__(self, *exc_info):
        setattr(flags, self.flag, self._previous.pop())
        return False


class no_grad(_FlagSetting):
    """Record nothing inside the block (or the decorated function).

    Use it for evaluation, decoding and optimizer updates: no graph is built,
    so no memory is kept for a backward pass that never comes.
    """

    flag, value = "grad_enabled", False


class enable_grad(_FlagSetting):
    """Record the graph again inside a ``no_grad`` block."""

    flag, value = "grad_enabled", True


class AnomalyError(FloatingPointError):
    """An op produced a NaN or infinite value while detect_anomaly was on."""


class detect_anomaly(_FlagSetting):
    """Stop at the first op whose output or gradient is NaN or infinite.

    The error names the op, the shapes of its inputs and the line of user code
    that created it.  Slow (every value is checked): turn it on to debug.
    """

    flag, value = "anomaly", True
