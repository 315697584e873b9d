"""Every fast version the backend registers equals the formula it replaces.

``minitransformer.backend.fast`` registers faster implementations of named
ops (row blocks on threads, ``out=`` buffers, einsum row sums, fused CuPy
kernels) and of two routines (the Adam update, the sum of two gradients).
Here each one runs against the op's formula (``formulas_only()``) on cases
drawn from the op registry, in float64 and float32: the same values and the
same gradients, up to rounding.  A fast version of an op no spec exercises
fails here, as does one registered under a name that is no op.
"""
import importlib

import numpy as np
import pytest

import minitransformer as mt
from minitransformer.autograd import Function
from minitransformer.autograd.engine import sum_of_gradients
from minitransformer.autograd.function import _implementation
from minitransformer.backend import fast
from minitransformer.backend.fast import formulas_only, registered
from minitransformer.optim.adam import adam_update
from minitransformer.testing import all_specs

OPS = sorted({name for name, _ in registered()})
TOLERANCE = {"float64": dict(rtol=1e-9, atol=1e-12), "float32": dict(rtol=2e-4, atol=2e-5)}


def resolve(name):
    module, attribute = name.rsplit(".", 1)
    return getattr(importlib.import_module(module), attribute)


def specs_running(class_name):
    return [s for s in all_specs() if class_name in s.functions]


def run(sample):
    """The op's output and the gradients of a fixed weighted sum of it, as host arrays."""
    inputs = sample.tensors()
    out = sample.call(*inputs)
    weights = mt.tensor(np.linspace(-1.0, 1.0, max(out.numel(), 1)).reshape(out.shape), dtype=out.dtype)
    (out * weights).sum().backward()
    grads = [t.grad.numpy() if t.grad is not None else None for t in inputs]
    return out.numpy(), grads


@pytest.mark.parametrize("name", OPS)
def test_every_fast_version_names_an_op_or_routine_of_the_engine(name):
    target = resolve(name)
    assert (isinstance(target, type) and issubclass(target, Function)) or callable(target)
    for (op, backend), implementation in registered().items():
        if op == name:
            assert backend in ("numpy", "cupy", "strict")
            if isinstance(target, type):
                assert hasattr(implementation, "backward"), f"{implementation} has no backward"


@pytest.mark.parametrize("name", [n for n in OPS if isinstance(resolve(n), type)])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_the_fast_version_of_each_op_equals_its_formula(name, dtype):
    op = resolve(name)
    specs = specs_running(op.__name__)
    assert specs, f"no OpSpec runs {op.__name__}: register one, so that its fast version is checked"
    if mt.get_backend() == "numpy":
        assert _implementation(op, np.ndarray) is not op, f"{name} has no fast version on NumPy"
    for spec in specs:
        for seed in range(4):
            sample = spec.sample_inputs(np.random.default_rng(seed), dtype=dtype, max_dims=3, max_side=5)
            mt.manual_seed(seed)
            fast_out, fast_grads = run(sample)
            with formulas_only():
                mt.manual_seed(seed)
                formula_out, formula_grads = run(sample)
            np.testing.assert_allclose(fast_out, formula_out, **TOLERANCE[dtype], err_msg=f"{spec.name} {sample}")
            for got, want in zip(fast_grads, formula_grads):
                assert (got is None) == (want is None)
                if got is not None:
                    np.testing.assert_allclose(got, want, **TOLERANCE[dtype], err_msg=f"{spec.name} {sample}")


def test_formulas_only_switches_every_fast_version_off_and_back_on():
    op = resolve(OPS[0]) if isinstance(resolve(OPS[0]), type) else mt.functional.LayerNorm
    assert fast.fast_kernels_enabled()
    with formulas_only():
        assert not fast.fast_kernels_enabled()
        assert _implementation(op, np.ndarray) is op
        assert all(fast.find_fast_version(n, b) is None for n, b in registered())
    assert fast.fast_kernels_enabled()


def test_a_class_of_the_same_name_elsewhere_keeps_its_own_code():
    """A student's LayerNorm (another module) is graded as written, never replaced."""
    namespace = {}
    exec("from minitransformer.autograd import Function\n"
         "class LayerNorm(Function):\n"
         "    @staticmethod\n"
         "    def forward(ctx, x, weight, bias, n_axes=1, eps=1e-5):\n"
         "        return x * 0\n", namespace)
    student = namespace["LayerNorm"]
    assert _implementation(student, np.ndarray) is student
    out = student.apply(mt.tensor(np.ones((2, 3))), None, None)
    np.testing.assert_array_equal(out.numpy(), np.zeros((2, 3)))


@pytest.mark.parametrize("amsgrad", [False, True])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_the_fast_adam_update_equals_the_formula_over_three_steps(amsgrad, dtype):
    update = fast.find_fast_version("minitransformer.optim.adam.adam_update", "numpy")
    assert update is not None
    states = []
    for implementation in (update, adam_update):
        rng = np.random.default_rng(0)   # the same parameter and gradients for both
        start = rng.standard_normal((5, 4)).astype(dtype)
        param = start.copy()
        m, v, vmax = np.zeros_like(param), np.zeros_like(param), np.zeros_like(param)
        for step in range(1, 4):
            grad = rng.standard_normal((5, 4)).astype(dtype)
            implementation(param, grad, m, v, step=step, lr=0.1, beta1=0.9, beta2=0.98, eps=1e-8,
                           max_exp_avg_sq=vmax if amsgrad else None)
            if step == 1:   # m_hat = g, v_hat = g^2: every coordinate moves by lr against g's sign
                np.testing.assert_allclose(param - start, -0.1 * np.sign(grad), rtol=1e-4)
        states.append((param, m, v, vmax))
    for got, want in zip(*states):
        np.testing.assert_allclose(got, want, **TOLERANCE[dtype])


def test_the_fast_sum_of_gradients_equals_the_formula():
    add = fast.find_fast_version("minitransformer.autograd.engine.sum_of_gradients", "numpy")
    a, b = np.random.default_rng(1).standard_normal((2, 64, 33))
    np.testing.assert_array_equal(add(a, b), sum_of_gradients(a, b))
    np.testing.assert_array_equal(add(a, b[0]), a + b[0])     # shapes differ: the plain sum


def test_the_environment_switch_runs_the_formulas():
    import subprocess
    import sys

    code = ("import minitransformer as mt, numpy as np\n"
            "from minitransformer.autograd.function import _implementation\n"
            "op = mt.functional.LayerNorm\n"
            "print(mt.backend.fast.fast_kernels_enabled(), _implementation(op, np.ndarray) is op)")
    out = subprocess.run([sys.executable, "-c", code], env={"MINITRANSFORMER_FAST_KERNELS": "0", "PATH": ""},
                         capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "True"]
