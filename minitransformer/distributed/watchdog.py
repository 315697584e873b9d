"""A watchdog that turns a hung collective into a clear, prompt failure.

A collective (all-reduce, broadcast, barrier) returns only when *every*
rank has entered it.  If one rank dies, the others may wait forever: Open
MPI's ``mpirun`` notices a process that exits and tears the job down, but a
rank that hangs (a deadlocked data loader, a stuck GPU, a lost node under a
launcher that does not kill the others) would freeze the whole job while the
cluster bills for it.

So every collective runs inside ``watchdog.guard("name")``: a background
thread holds a deadline ``timeout`` seconds ahead; if the collective has not
returned by then, the thread prints

    rank R: collective NAME timed out after T s; another rank probably died or hangs

and calls ``on_timeout`` (``MPI_Abort``, which makes the launcher kill every
rank), then exits the process in case that returned.  mpi4py releases
Python's GIL inside blocking MPI calls, which is what lets the thread run
while the main thread waits.

One thread serves all collectives; arming and disarming is a lock and a
notify, microseconds next to an all-reduce.
"""
from __future__ import annotations

import contextlib
import os
import sys
import threading
import time

__all__ = ["Watchdog"]


class Watchdog:
    """Abort when a guarded block runs longer than ``timeout`` seconds.

    ``on_timeout()`` is called from the watchdog thread; ``exit(code)``
    (default ``os._exit``) runs after it in case it returns.  ``timeout=None``
    disables the watchdog.
    """

    def __init__(self, timeout: float | None, on_timeout, *, rank: int = 0, exit=os._exit,
                 stream=None):
        if timeout is not None and not timeout > 0:
            raise ValueError(f"Watchdog: timeout must be positive seconds or None, got {timeout!r}")
        self.timeout, self.rank = timeout, rank
        self._on_timeout, self._exit, self._stream = on_timeout, exit, stream
        self._cond = threading.Condition()
        self._deadline = None
        self._what = None
        self._thread = None
        self.fired = None  # the name of the collective that timed out, once one has

    @contextlib.contextmanager
    def guard(self, what: str):
        """Run the ``with`` block under the deadline; ``what`` names it in the message."""
        if self.timeout is None:
            yield
            return
        with self._cond:
            if self._thread is None:
                self._thread = threading.Thread(target=self._watch, name="collective-watchdog", daemon=True)
                self._thread.start()
            self._deadline = time.monotonic() + self.timeout
            self._what = what
            self._cond.notify()
        try:
            yield
        finally:
            with self._cond:
                self._deadline = None

    def _watch(self) -> None:
        with self._cond:
            while True:
                if self._deadline is None:
                    self._cond.wait()
                    continue
                remaining = self._deadline - time.monotonic()
                if remaining > 0:
                    self._cond.wait(remaining)
                    continue
                what = self._what
                break
        self.fired = what
        stream = self._stream or sys.stderr
        print(f"rank {self.rank}: collective {what} timed out after {self.timeout:g} s; "
              "another rank probably died or hangs. Aborting the job "
              "(raise --collective-timeout if this step is legitimately slow)", file=stream, flush=True)
        try:
            self._on_timeout()
        finally:
            self._exit(1)
