"""Test configuration: Hypothesis profiles and the --backend option.

``pytest --backend cupy`` (or MINITRANSFORMER_BACKEND=cupy) runs the
backend-parametrized tests on CuPy; without a GPU those cases skip with the
reason.  The 'ci' Hypothesis profile is derandomized so CI cannot flake.
"""
import os
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# Code shared by test files lives in tests/helpers/ and is imported as ``helpers``
# (``from helpers.compare import assert_same``): --import-mode=importlib puts no
# test folder on sys.path, so this puts tests/ there, first.
sys.path.insert(0, str(Path(__file__).resolve().parent))

settings.register_profile(
    "ci", derandomize=True, max_examples=25, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "dev", max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


def pytest_addoption(parser):
    parser.addoption(
        "--backend", action="store", default=os.environ.get("MINITRANSFORMER_BACKEND", "numpy"),
        choices=["numpy", "cupy", "strict"],
        help="array backend of the whole suite (cupy: on a GPU; strict: NumPy arrays that act as CuPy's)",
    )


def pytest_configure(config):
    """With --backend cupy every test runs on CuPy (the GPU run of the whole suite);
    with --backend strict on strict arrays, which find on a CPU what CuPy would refuse."""
    if config.getoption("--backend") != "numpy":
        import minitransformer as mt

        mt.use_backend(config.getoption("--backend"))


def pytest_generate_tests(metafunc):
    if "backend" in metafunc.fixturenames:
        metafunc.parametrize("backend", ["numpy", "cupy"], indirect=True)


@pytest.fixture
def backend(request):
    """A backend name; CuPy cases skip with the reason where no GPU is usable."""
    import minitransformer as mt

    name = request.param
    if name == "cupy":
        try:
            mt.backend.array_module("cupy")
        except mt.BackendError as exc:
            pytest.skip(f"CuPy backend unavailable: {exc}")
    with mt.use_backend(name):
        yield name


@pytest.fixture(autouse=True)
def _reset_engine_state(request):
    """Each test starts on the suite's backend, with float32, grad mode on and a fixed seed
    (a test, or a Trainer, that switches the backend for good is switched back)."""
    import minitransformer as mt

    mt.manual_seed(0)
    with mt.use_backend(request.config.getoption("--backend")), mt.set_default_dtype("float32"):
        yield
    assert mt.is_grad_enabled(), "a test left no_grad switched on"
