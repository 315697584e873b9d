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


class no_grad(contextlib.ContextDecorator):
    """Record nothing inside the block (or the decorated function).

    Use it for evaluation, decoding and optimizer updates: no graph is built,
    so no memory is kept for a backward pass that never comes.
    """

    def __enter__(self):
        self._previous = flags.grad_enabled
        flags.grad_enabled = False
        return self

    def __exit__(self, *exc_info):
        flags.grad_enabled = self._previous
        return False


class enable_grad(contextlib.ContextDecorator):
    """Record the graph again inside a ``no_grad`` block."""

    def __enter__(self):
        self._previous = flags.grad_enabled
        flags.grad_enabled = True
        return self

    def __exit__(self, *exc_info):
        flags.grad_enabled = self._previous
        return False


class AnomalyError(FloatingPointError):
    """An op produced a NaN or infinite value while detect_anomaly was on."""


class detect_anomaly(contextlib.ContextDecorator):
    """Stop at the first op whose output or gradient is NaN or infinite.

    The error names the op, the shapes of its inputs and the line of user code
    that created it.  Slow (every value is checked): turn it on to debug.
    """

    def __enter__(self):
        self._previous = flags.anomaly
        flags.anomaly = True
        return self

    def __exit__(self, *exc_info):
        flags.anomaly = self._previous
        return False
