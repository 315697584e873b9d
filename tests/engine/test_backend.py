"""Backends (NumPy, CuPy), the default dtype, the tensor factory's dtype rules and seeding."""
import os
import subprocess
import sys

import numpy as np
import pytest

import minitransformer as mt
from minitransformer import backend as backend_module

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_factories_put_tensors_on_the_current_backend():
    assert mt.get_backend() in backend_module.BACKENDS
    assert mt.zeros(2).backend == mt.randn(2).backend == mt.tensor([1]).backend == mt.get_backend()


def test_use_backend_as_a_call_and_as_a_context_manager(monkeypatch):
    # pretend CuPy is usable (NumPy stands in) to see the switching itself
    real = backend_module.array_module
    monkeypatch.setattr(backend_module, "array_module", lambda name: np if name == "cupy" else real(name))
    start = mt.get_backend()
    with mt.use_backend("cupy"):
        assert mt.get_backend() == "cupy"
        with mt.use_backend("numpy"):
            assert mt.get_backend() == "numpy"
        assert mt.get_backend() == "cupy"
    assert mt.get_backend() == start
    mt.use_backend("CuPy")                 # a plain call switches for good (names ignore case)
    assert mt.get_backend() == "cupy"
    mt.use_backend(start)
    assert mt.get_backend() == start


def test_an_unknown_backend_name_lists_the_choices():
    with pytest.raises(ValueError, match=r"unknown backend 'jax'.*numpy.*cupy"):
        mt.use_backend("jax")


@pytest.mark.skipif(mt.cupy_available(), reason="CuPy is usable here")
def test_asking_for_cupy_without_it_says_what_is_missing_and_how_to_fix_it():
    start = mt.get_backend()
    with pytest.raises(mt.BackendError) as info:
        mt.use_backend("cupy")
    message = str(info.value)
    assert "cupy" in message.lower()
    assert ("not installed" in message and "pip install" in message) or "no CUDA device" in message
    assert "'numpy' backend" in message
    assert mt.get_backend() == start       # a failed switch changes nothing
    with pytest.raises(mt.BackendError):
        mt.zeros(2, backend="cupy")


def _run(code, backend):
    env = dict(os.environ, PYTHONPATH=ROOT)
    env.pop("MINITRANSFORMER_BACKEND", None)
    if backend is not None:
        env["MINITRANSFORMER_BACKEND"] = backend
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=60)


def test_the_environment_variable_chooses_the_backend():
    code = "import minitransformer as mt; print(mt.get_backend(), mt.zeros(2).backend)"
    for value in (None, " NumPy "):        # unset: NumPy; set: read without case or spaces
        result = _run(code, value)
        assert result.returncode == 0, result.stderr
        assert result.stdout.split() == ["numpy", "numpy"]
    bad = _run("import minitransformer", "tensorflow")
    assert bad.returncode != 0
    assert "MINITRANSFORMER_BACKEND='tensorflow' is not a backend" in bad.stderr


def test_set_default_dtype_as_a_call_and_as_a_context_manager():
    assert mt.get_default_dtype() == np.float32
    with mt.set_default_dtype("float64"):
        assert mt.tensor([1.5]).dtype == np.float64
        assert mt.randn(2).dtype == np.float64
    assert mt.tensor([1.5]).dtype == np.float32
    mt.set_default_dtype(np.float64)      # the test fixture restores float32 afterwards
    assert mt.zeros(1).dtype == np.float64
    with pytest.raises(TypeError, match="int32 is not a float dtype"):
        mt.set_default_dtype("int32")


@pytest.mark.parametrize("data, kwargs, dtype", [
    ([1.0, 2.0], {}, "float32"),                       # floats: the default float dtype
    (np.array([1.0], dtype=np.float64), {}, "float32"),
    (2.5, {}, "float32"),
    ([1, 2.5], {}, "float32"),
    ([1, 2], {}, "int64"),                             # integers keep their kind (token ids)
    (np.array([1, 2], dtype=np.int32), {}, "int32"),
    ([True, False], {}, "bool"),                       # so do booleans (masks)
    ([1.0, 2.0], {"dtype": "float64"}, "float64"),     # dtype= wins
    ([1, 2], {"dtype": "float32"}, "float32"),
    ([1.0], {"dtype": np.float16}, "float16"),
])
def test_tensor_dtype_rules(data, kwargs, dtype):
    assert mt.tensor(data, **kwargs).dtype == np.dtype(dtype)


def test_tensor_dtype_rules_follow_the_default_dtype():
    with mt.set_default_dtype("float64"):
        assert mt.tensor([1.0]).dtype == np.float64
        assert mt.tensor([1]).dtype == np.int64


def test_manual_seed_makes_random_draws_reproducible():
    mt.manual_seed(123)
    a, b = mt.randn(3, 4), mt.rand(5)
    mt.manual_seed(123)
    np.testing.assert_array_equal(mt.randn(3, 4).numpy(), a.numpy())
    np.testing.assert_array_equal(mt.rand(5).numpy(), b.numpy())
    mt.manual_seed(124)
    assert not np.array_equal(mt.randn(3, 4).numpy(), a.numpy())
    assert ((b.numpy() >= 0) & (b.numpy() < 1)).all()
    with pytest.raises(ValueError, match="non-negative integer"):
        mt.manual_seed(-1)


class OtherBackendArray(np.ndarray):
    """Stands in for a CuPy array: another array type, which says it lives on the GPU."""

    @property
    def __cuda_array_interface__(self):
        return {}


def test_mixing_backends_is_a_clear_error_naming_both():
    host = mt.tensor([1.0, 2.0], backend="numpy")
    device = mt.Tensor(np.ones(2, dtype=np.float32).view(OtherBackendArray))
    assert device.backend == "cupy"
    with pytest.raises(TypeError) as info:
        host + device
    message = str(info.value)
    assert message.startswith("Add: inputs live on different backends")
    assert "numpy (2,)" in message and "cupy (2,)" in message
    assert ".to('numpy')" in message


def test_a_small_model_step_on_each_backend(backend):
    """Forward and backward of x @ w -> relu -> mean on the ``backend`` fixture (CuPy skips without a GPU)."""
    x = mt.randn(4, 3)
    w = mt.randn(3, 2, requires_grad=True)
    loss = (x @ w).relu().mean()
    loss.backward()
    assert x.backend == w.grad.backend == backend
    xn, wn = x.numpy(), w.numpy()
    mask = (xn @ wn) > 0
    np.testing.assert_allclose(loss.item(), np.maximum(xn @ wn, 0).mean(), rtol=1e-6)
    np.testing.assert_allclose(w.grad.numpy(), xn.T @ (mask / mask.size), rtol=1e-5, atol=1e-7)
