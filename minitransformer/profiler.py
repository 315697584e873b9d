"""A per-op profiler: where does a training step spend its time?

    from minitransformer.profiler import profile

    with profile() as prof:
        logits = model(src, tgt_in)                                  # (B, T, V)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt_out.reshape(-1))
        loss.backward()
        with prof.section("optimizer"):
            optimizer.step()
    print(prof.table())

Inside the block every op's ``forward`` and ``backward`` is timed (the
engine calls ``record(name, phase, seconds)`` on the object in
``autograd.grad_mode.flags.profiler``) and the times are added up per op
kind (the Function's class name: ``Linear``, ``MatMul``, ...).

What the numbers mean
---------------------
* An op's time is the time of its array code alone: ``forward(ctx, ...)``
  or ``backward(ctx, grad)``.  The Python around it -- building Tensors,
  recording the graph, walking it in ``backward()``, calling Modules -- is
  *not* in any row; ``wall - ops`` in the footer is that overhead (plus
  whatever else ran in the block, e.g. the optimizer).  Under the profiler
  the engine also takes the slower checked path, so ``wall`` is inflated:
  compare op times with op times, and time whole steps without the profiler.
* ``prof.section(name)`` times any block by hand (the optimizer step, data
  loading); sections are wall time and may contain ops counted above.
* On the CuPy backend, kernels run asynchronously: an op's time is mostly
  its launch time.  Run with ``CUDA_LAUNCH_BLOCKING=1`` to see kernel times.
"""
from __future__ import annotations

import contextlib
import time

from .autograd.grad_mode import flags

__all__ = ["Profiler", "profile"]


class _Stat:
    """Seconds and calls of one op kind, per phase."""

    __slots__ = ("forward_s", "backward_s", "forward_calls", "backward_calls")

    def __init__(self):
        self.forward_s = self.backward_s = 0.0
        self.forward_calls = self.backward_calls = 0

    @property
    def total_s(self) -> float:
        return self.forward_s + self.backward_s


class Profiler:
    """Collects op times; use it through ``with profile() as prof:``.

    ``record(name, phase, seconds)`` is the engine's hook (phase is
    ``"forward"`` or ``"backward"``).  After (or during) the block:
    ``rows()`` per op, ``totals()`` summed, ``sections()`` the timed
    sections, ``table()`` all of it as text.
    """

    PHASES = ("forward", "backward")

    def __init__(self):
        self._stats: dict[str, _Stat] = {}
        self._sections: dict[str, list] = {}    # name -> [seconds, calls]
        self._start = None
        self._wall = 0.0

    # ------------------------------------------------------------ the engine's hook
    def record(self, name: str, phase: str, seconds: float) -> None:
        stat = self._stats.get(name)
        if stat is None:
            stat = self._stats[name] = _Stat()
        if phase == "forward":
            stat.forward_s += seconds
            stat.forward_calls += 1
        elif phase == "backward":
            stat.backward_s += seconds
            stat.backward_calls += 1
        else:
            raise ValueError(f"Profiler.record: phase must be one of {self.PHASES}, got {phase!r} (op {name})")

    # ------------------------------------------------------------ manual sections
    @contextlib.contextmanager
    def section(self, name: str):
        """Time the block under ``name`` (wall time; ops inside are also counted per op)."""
        if not isinstance(name, str) or not name:
            raise TypeError(f"Profiler.section: name must be a non-empty string, got {name!r}")
        start = time.perf_counter()
        try:
            yield self
        finally:
            entry = self._sections.setdefault(name, [0.0, 0])
            entry[0] += time.perf_counter() - start
            entry[1] += 1

    # ------------------------------------------------------------ results
    @property
    def wall_s(self) -> float:
        """Seconds spent inside the ``with profile()`` block (so far, if still inside)."""
        if self._start is not None:
            return self._wall + time.perf_counter() - self._start
        return self._wall

    def rows(self) -> list[dict]:
        """One dict per op kind, largest total first: op, forward_s, backward_s, total_s,
        forward_calls, backward_calls, percent (of all ops' time)."""
        grand = sum(s.total_s for s in self._stats.values())
        rows = [
            dict(op=name, forward_s=s.forward_s, backward_s=s.backward_s, total_s=s.total_s,
                 forward_calls=s.forward_calls, backward_calls=s.backward_calls,
                 percent=100.0 * s.total_s / grand if grand > 0 else 0.0)
            for name, s in self._stats.items()
        ]
        rows.sort(key=lambda r: (-r["total_s"], r["op"]))
        return rows

    def totals(self) -> dict:
        """Summed over op kinds: forward_s, backward_s, total_s (= ops), calls
        (forward applications), backward_calls, wall_s and overhead_s = wall - ops."""
        fwd = sum(s.forward_s for s in self._stats.values())
        bwd = sum(s.backward_s for s in self._stats.values())
        wall = self.wall_s
        return dict(
            forward_s=fwd, backward_s=bwd, total_s=fwd + bwd,
            calls=sum(s.forward_calls for s in self._stats.values()),
            backward_calls=sum(s.backward_calls for s in self._stats.values()),
            wall_s=wall, overhead_s=max(wall - fwd - bwd, 0.0),
        )

    def sections(self) -> dict:
        """``{name: {"seconds": s, "calls": n}}`` of the ``prof.section`` blocks."""
        return {name: {"seconds": s, "calls": n} for name, (s, n) in self._sections.items()}

    def table(self, limit: int | None = None, steps: int = 1) -> str:
        """The per-op table as text, sorted by total time.

        ``limit`` keeps the first rows only; ``steps`` divides every time and
        call count (profile N training steps, pass steps=N to read per step).
        """
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise ValueError(f"Profiler.table: steps must be a positive integer, got {steps!r}")
        rows = self.rows()
        shown = rows if limit is None else rows[:limit]
        width = max([len("op")] + [len(r["op"]) for r in shown])
        per = " per step" if steps > 1 else ""
        head = (f"{'op':<{width}}  {'forward ms':>10}  {'backward ms':>11}  {'total ms':>9}  "
                f"{'calls':>7}  {'% of ops':>8}  {'us/call':>8}")
        lines = [head, "-" * len(head)]
        for r in shown:
            calls = max(r["forward_calls"], r["backward_calls"])
            us = 1e6 * r["total_s"] / calls if calls else 0.0
            lines.append(
                f"{r['op']:<{width}}  {1e3 * r['forward_s'] / steps:>10.3f}  {1e3 * r['backward_s'] / steps:>11.3f}  "
                f"{1e3 * r['total_s'] / steps:>9.3f}  {r['forward_calls'] / steps:>7.0f}  {r['percent']:>7.1f}%  "
                f"{us:>8.1f}"
            )
        if len(shown) < len(rows):
            rest = rows[len(shown):]
            lines.append(f"... {len(rest)} more op kinds, {1e3 * sum(r['total_s'] for r in rest) / steps:.3f} ms")
        t = self.totals()
        lines.append("-" * len(head))
        lines.append(
            f"{'all ops':<{width}}  {1e3 * t['forward_s'] / steps:>10.3f}  {1e3 * t['backward_s'] / steps:>11.3f}  "
            f"{1e3 * t['total_s'] / steps:>9.3f}  {t['calls'] / steps:>7.0f}  {100.0 if rows else 0.0:>7.1f}%"
        )
        wall = t["wall_s"]
        share = 100.0 * t["total_s"] / wall if wall > 0 else 0.0
        lines.append(
            f"wall {1e3 * wall / steps:.3f} ms{per}: ops {share:.1f}%, the rest ({1e3 * t['overhead_s'] / steps:.3f} ms) "
            "is Python outside the ops' array code (graph building, module calls, optimizer, profiler)"
        )
        for name, sec in self.sections().items():
            lines.append(f"section {name!r}: {1e3 * sec['seconds'] / steps:.3f} ms{per} "
                         f"({sec['calls']} call{'s' if sec['calls'] != 1 else ''}, wall time, may include ops above)")
        return "\n".join(lines)

    def __repr__(self) -> str:
        t = self.totals()
        return f"Profiler({len(self._stats)} op kinds, {t['calls']} calls, ops {1e3 * t['total_s']:.3f} ms)"


@contextlib.contextmanager
def profile(profiler: Profiler | None = None):
    """``with profile() as prof:`` times every op inside the block.

    The hook is removed when the block ends, also when it raises; an outer
    profiler (nested blocks) is restored and does not see the inner block's
    ops.  Pass ``profiler`` to keep adding to an existing one.
    """
    prof = Profiler() if profiler is None else profiler
    if not isinstance(prof, Profiler):
        raise TypeError(f"profile: profiler must be a Profiler or None, got {type(prof).__name__}")
    previous = flags.profiler
    flags.profiler = prof
    prof._start = time.perf_counter()
    try:
        yield prof
    finally:
        prof._wall += time.perf_counter() - prof._start
        prof._start = None
        flags.profiler = previous
