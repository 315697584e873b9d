"""The registry of differentiable ops: what each computes, and how to test it.

Every op (every ``mt.Function``) has an entry here, an :class:`~.spec.OpSpec`
saying what it computes and how to draw its cases (``spec.py``).

One table serves three customers: the property tests in tests/engine (cases
drawn by Hypothesis through ``minitransformer.testing.op_inputs``), the
``minitransformer gradcheck`` command and the exercise grader (cases drawn by
a NumPy Generator), and a coverage test that fails when a Function exists
that no spec exercises.

The specs of the package's own ops live in ``minitransformer.testing.specs``,
one module per family (primitive ops, fused ops, the exercises' Functions),
listed here by name: :func:`all_specs`,
:func:`get_spec` and :func:`register` always see every one of them, whatever
was imported before.  Add a spec of your own with ``register(OpSpec(...))``.
"""
from __future__ import annotations

from collections import Counter

from .spec import OpSpec, Sample  # noqa: F401  (Sample: re-exported with the registry)
from .specs import exercises, fused_ops, primitive_ops


# ------------------------------------------------------------- the registry
OP_SPECS: dict[str, OpSpec] = {}


def builtin_specs() -> tuple:
    """The specs of the package's own ops: primitive, fused, and the exercises' Functions."""
    specs = primitive_ops.PRIMITIVE_OP_SPECS + fused_ops.FUSED_OP_SPECS + exercises.EXERCISE_SPECS
    clashes = sorted(name for name, n in Counter(spec.name for spec in specs).items() if n > 1)
    if clashes:  # a clash must not silently hide a spec
        raise ValueError(f"built-in OpSpecs share the name(s) {', '.join(clashes)}")
    return specs


def _add_builtin_specs() -> None:
    """Put every built-in spec into OP_SPECS, unless its name is taken (by a replacement)."""
    for spec in builtin_specs():
        OP_SPECS.setdefault(spec.name, spec)


def register(spec: OpSpec, replace: bool = False) -> OpSpec:
    """Add ``spec`` to OP_SPECS (a name may be registered once unless ``replace``).

    The built-in specs count as registered: a new spec named ``"Mul"`` needs
    ``replace=True``.
    """
    if not isinstance(spec, OpSpec):
        raise TypeError(f"register: expected an OpSpec, got {type(spec).__name__}")
    _add_builtin_specs()
    if spec.name in OP_SPECS and not replace:
        raise ValueError(f"register: an OpSpec named {spec.name!r} is already registered")
    OP_SPECS[spec.name] = spec
    return spec


def all_specs() -> list:
    """Every registered spec: the built-in ones, then those added with :func:`register`."""
    _add_builtin_specs()
    return list(OP_SPECS.values())


def get_spec(name: str) -> OpSpec:
    """The registered spec named ``name``; KeyError (naming the registered ones) if none."""
    _add_builtin_specs()
    if name not in OP_SPECS:
        raise KeyError(f"no OpSpec named {name!r}; registered: {', '.join(OP_SPECS)}")
    return OP_SPECS[name]
