"""The op registry covers every Function: coverage of the property tests cannot silently drop.

Adding a ``Function`` subclass anywhere in ``minitransformer`` without an
``OpSpec`` (``minitransformer.testing.specs``) fails here, naming the class;
every spec's second derivative is checked (``mt.gradgradcheck``), and the
graph pass (each backward run on Tensors, ``create_graph=True``) gives the
same first derivative as the array pass.  Only the ops whose adjoint is
another op have a second, hand-written ``backward_graph``.
"""
import importlib
import pkgutil

import numpy as np
import pytest

import minitransformer as mt
from minitransformer.testing import registry
from minitransformer.testing.registry import OpSpec, all_specs, register

# optional dependencies whose absence only disables a module (the GPU, MPI)
OPTIONAL = {"cupy", "cupyx", "mpi4py", "torch"}


def _import_every_module() -> list:
    """Import all of minitransformer's modules; return the errors of the broken ones."""
    errors = []

    def onerror(name):
        errors.append(f"{name}: cannot be walked")

    for info in pkgutil.walk_packages(mt.__path__, "minitransformer.", onerror=onerror):
        if info.name.endswith(".__main__"):  # a program, not a library module
            continue
        try:
            importlib.import_module(info.name)
        except ModuleNotFoundError as exc:
            if (exc.name or "").split(".")[0] not in OPTIONAL:
                errors.append(f"{info.name}: {exc!r}")
        except Exception as exc:  # noqa: BLE001  (report every broken module at once)
            errors.append(f"{info.name}: {exc!r}")
    return errors


def _package_functions() -> list:
    """Every Function subclass defined in the minitransformer package (not in tests)."""
    found, stack = [], list(mt.Function.__subclasses__())
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        # a class named _Base only shares a backward between ops (Max and Min): not an op itself
        if cls.__module__.split(".")[0] == "minitransformer" and not cls.__name__.startswith("_"):
            found.append(cls)
    return sorted(set(found), key=lambda c: (c.__module__, c.__name__))


def _covered_names() -> set:
    return {name for spec in all_specs() for name in spec.functions}


def _is_covered(cls, covered) -> bool:
    return cls.__name__ in covered or f"{cls.__module__}.{cls.__qualname__}" in covered


def test_every_module_imports():
    errors = _import_every_module()
    assert not errors, "modules of minitransformer fail to import:\n" + "\n".join(errors)


def test_every_function_subclass_has_an_opspec():
    _import_every_module()
    covered = _covered_names()
    missing = [f"{c.__module__}.{c.__qualname__}" for c in _package_functions() if not _is_covered(c, covered)]
    assert not missing, (
        f"{len(missing)} Function subclass(es) have no OpSpec, so no property test checks "
        "their forward or backward:\n  " + "\n  ".join(missing) +
        "\nadd one to the spec module of its family in minitransformer/testing/specs/ "
        "(see minitransformer/testing/registry.py)"
    )


def test_every_op_of_the_ops_package_has_an_opspec():
    """The core subset: holds even while other packages are mid-way through adding theirs."""
    covered = _covered_names()
    core = [c for c in _package_functions() if c.__module__.startswith("minitransformer.ops.")]
    assert len(core) >= 34
    assert [c.__name__ for c in core if not _is_covered(c, covered)] == []


def test_specs_name_only_existing_functions():
    """A misspelt name in ``functions`` would fake coverage."""
    _import_every_module()
    classes = _package_functions()
    known = {c.__name__ for c in classes} | {f"{c.__module__}.{c.__qualname__}" for c in classes}
    unknown = {spec.name: [n for n in spec.functions if n not in known] for spec in all_specs()}
    assert {k: v for k, v in unknown.items() if v} == {}


def test_every_spec_runs_its_named_functions():
    """Each spec's fn really applies the Function classes it claims to exercise."""
    for spec in all_specs():
        sample = spec.sample_inputs(np.random.default_rng(0), "float64")
        out = sample.call(*sample.tensors())
        seen, stack = set(), [out]
        while stack:  # walk the recorded graph
            t = stack.pop()
            if t is not None and t._ctx is not None:
                seen.add(t._ctx.name)
                stack.extend(t._ctx.inputs)
        assert set(n.rsplit(".", 1)[-1] for n in spec.functions) <= seen, spec.name


# the ops whose derivative is another op (scattering is the adjoint of picking): their
# graph pass applies that op; every other op runs its one backward on Tensors
ADJOINT_OPS = {"GetItem", "IndexAdd", "Take", "Embedding"}


def test_only_the_ops_whose_adjoint_is_another_op_have_a_second_backward():
    """Each op's derivative is written once: a backward_graph beside the backward is the exception."""
    _import_every_module()
    with_graph = {c.__name__ for c in _package_functions()
                  if any("backward_graph" in k.__dict__ for k in c.__mro__ if k is not mt.Function)}
    assert with_graph == ADJOINT_OPS


SPECS = all_specs()
SECOND_ORDER_SEEDS = (0, 1)  # two cases per op: the Hypothesis tests against PyTorch draw more


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_the_graph_pass_gives_the_array_passs_gradient(spec):
    """The two passes of an op's backward (on arrays, and on Tensors for create_graph) must not diverge."""
    for seed in SECOND_ORDER_SEEDS:
        sample = spec.sample_inputs(np.random.default_rng(seed), "float64")
        inputs = sample.tensors()
        out = sample.call(*inputs)
        v = mt.tensor(np.random.default_rng(seed + 100).standard_normal(out.shape), dtype="float64")
        fast = mt.grad(out, inputs, grad_outputs=v, retain_graph=True, allow_unused=True)
        graph = mt.grad(out, inputs, grad_outputs=v, create_graph=True, allow_unused=True)
        for i, (a, b) in enumerate(zip(fast, graph)):
            assert (a is None) == (b is None), f"{spec.name}: input {i} reached by one pass only"
            if a is not None:
                np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-10, atol=1e-12,
                                           err_msg=f"{spec.name}: input {i}, case {sample!r}")


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_second_derivative_matches_finite_differences(spec):
    for seed in SECOND_ORDER_SEEDS:
        sample = spec.sample_inputs(np.random.default_rng(seed), "float64")
        assert mt.gradgradcheck(sample.call, sample.tensors(), name=f"{spec.name} on {sample!r}")


def test_register_refuses_a_duplicate_name(monkeypatch):
    monkeypatch.setattr(registry, "OP_SPECS", dict(registry.OP_SPECS))
    with pytest.raises(ValueError, match="'Mul' is already registered"):
        register(OpSpec("Mul", lambda a, b: a * b, np.multiply, 2, shapes="broadcast2"))
    spec = register(OpSpec("Mul", lambda a, b: b * a, np.multiply, 2, shapes="broadcast2"), replace=True)
    assert registry.OP_SPECS["Mul"] is spec


def test_register_adds_a_spec_the_strategies_can_draw(monkeypatch):
    monkeypatch.setattr(registry, "OP_SPECS", dict(registry.OP_SPECS))
    register(OpSpec("Square", lambda x: x * x, np.square, functions=("Mul",)))
    sample = registry.OP_SPECS["Square"].sample_inputs(np.random.default_rng(1))
    (x,) = sample.tensors()
    np.testing.assert_allclose(sample.call(x).numpy(), x.numpy() ** 2)


@pytest.mark.parametrize("kwargs, message", [
    (dict(domain="negative"), "domain 'negative'"),
    (dict(arity=2, domain=("real",)), "tuple of 2"),
    (dict(shapes="triangle"), "unknown case kind 'triangle'"),
])
def test_opspec_validates_its_fields(kwargs, message):
    fields = dict(name="Bad", fn=lambda x: x, reference=lambda x: x) | kwargs
    with pytest.raises(ValueError, match=message):
        OpSpec(**fields)
