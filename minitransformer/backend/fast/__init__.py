"""Fast versions of named ops: where the engine's speed lives.

Every op of the engine is written once, as its formula (``ops/``,
``functional/``): the forward and the backward a student reads and could
have written.  Some of those formulas are on the hot path of training and
can be computed faster in a way that depends on the backend: blocks of
rows on the CPU's threads, ``out=`` buffers that avoid temporaries, row
sums by ``einsum``, a fused CuPy ``ElementwiseKernel``.  Such code lives
here, one file per op, and is *registered as the fast version of a named
op* for the backends it serves::

    @fast_version_of("minitransformer.functional.normalization.LayerNorm", "numpy")
    class LayerNormRowBlocks:
        @staticmethod
        def forward(ctx, x, weight, bias, n_axes=1, eps=1e-5): ...
        @staticmethod
        def backward(ctx, grad): ...

``Function.apply`` then runs the fast version's forward (and, later, its
backward) instead of the formula's whenever the op's arrays belong to one
of those backends.  A fast version takes the same arguments and returns
the same values as the formula, up to rounding; ``tests/backend`` proves
it for every entry of :func:`registered`, in float64 and float32, values
and gradients.  The name is the op class's module and name, so that a
class of the same name elsewhere (a student's exercise file) is never
replaced by the fast version: the grader grades the student's formula.

``formulas_only()`` (or ``MINITRANSFORMER_FAST_KERNELS=0`` in the
environment) switches every fast version off: the engine then runs the
textbook code alone, slower and with the same results.

Besides whole ops, a few *routines* have fast versions too (the Adam
update, the sum of two gradients in the backward pass): they are
registered and looked up the same way, under the routine's name.
"""
from __future__ import annotations

import contextlib
import os

__all__ = ["fast_version_of", "find_fast_version", "fast_kernels_enabled", "formulas_only", "registered"]

_REGISTRY: dict = {}   # (op name, backend name) -> implementation


class _State:
    enabled = os.environ.get("MINITRANSFORMER_FAST_KERNELS", "1").strip() not in ("0", "false", "no", "off")
    generation = 0     # bumped on every switch, so callers can cache lookups


state = _State()


def fast_version_of(op: str, *backends: str):
    """Class decorator: register the class as the fast version of ``op`` on ``backends``."""
    if not backends:
        raise ValueError(f"fast_version_of({op!r}): name at least one backend ('numpy', 'cupy', 'strict')")

    def register(implementation):
        for backend in backends:
            key = (op, backend)
            if key in _REGISTRY and _REGISTRY[key] is not implementation:
                raise ValueError(f"{op} already has a fast version on {backend}: {_REGISTRY[key].__qualname__}")
            _REGISTRY[key] = implementation
        return implementation

    return register


def find_fast_version(op: str, backend: str):
    """The fast version of ``op`` on ``backend``, or None (none registered, or switched off)."""
    if not state.enabled:
        return None
    return _REGISTRY.get((op, backend))


def registered() -> dict:
    """Every registration: ``{(op name, backend name): implementation}``."""
    return dict(_REGISTRY)


def fast_kernels_enabled() -> bool:
    """True unless :func:`formulas_only` (or the environment) switched the fast versions off."""
    return state.enabled


@contextlib.contextmanager
def formulas_only(enabled: bool = False):
    """Run the formulas alone inside the block (``formulas_only(True)`` switches the fast ones back on)."""
    previous = state.enabled
    state.enabled = enabled
    state.generation += 1
    try:
        yield
    finally:
        state.enabled = previous
        state.generation += 1


# the fast versions register themselves when imported; each depends only on the backend
from . import adam, cross_entropy, embedding, gradient_sum, layer_norm, linear, matmul, relu, softmax  # noqa: E402,F401
