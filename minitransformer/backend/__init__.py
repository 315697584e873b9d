"""Array backends: NumPy on the CPU, CuPy on a CUDA GPU, and a strict one for tests.

Every op gets its array namespace from the arrays it receives, in the spirit
of Chainer's ``get_array_module``::

    xp = get_array_module(x)     # numpy or cupy, whichever owns x
    y = xp.exp(x - xp.max(x, axis=-1, keepdims=True))

so one code path serves both backends.  This module is the only place that
imports ``numpy``/``cupy`` to decide *which* library to use; it also keeps the
default float dtype and the seeded random generators.

The third backend, ``strict`` (:mod:`.strict`), runs on NumPy but refuses,
as CuPy does and more, every use of an array as a host array: tests on a
CPU find the code that would break, or copy to the host, on a GPU.  Copies
to the host that are meant go through :func:`to_host`.
"""
from __future__ import annotations

import contextlib
import os

import numpy

from . import strict as _strict
from .strict import StrictArray, StrictArrayError  # noqa: F401  (raised by strict arrays; caught by users)

BACKENDS = ("numpy", "cupy", "strict")


class BackendError(RuntimeError):
    """The requested backend cannot be used here (not installed, no GPU)."""


def _import_cupy():
    """Return the ``cupy`` module, or raise a BackendError that says how to fix it."""
    try:
        import cupy  # noqa: PLC0415  (optional dependency)
    except ImportError as exc:
        raise BackendError(
            "backend 'cupy' requested but CuPy is not installed: "
            "pip install 'minitransformer[gpu]' (CUDA 12; for another CUDA pick the "
            "matching cupy-cudaXXx wheel), or use the 'numpy' backend"
        ) from exc
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # CUDA driver missing or broken
        raise BackendError(
            f"backend 'cupy' requested: CuPy is installed but no CUDA device is usable ({exc}); "
            "use the 'numpy' backend on this machine"
        ) from exc
    if count == 0:
        raise BackendError(
            "backend 'cupy' requested: CuPy is installed but no CUDA device is present; "
            "use the 'numpy' backend on this machine"
        )
    return cupy


def cupy_available() -> bool:
    """True when CuPy is installed and a CUDA device is present."""
    try:
        _import_cupy()
    except BackendError:
        return False
    return True


def array_module(name: str):
    """The array library (``numpy`` or ``cupy`` module) of a backend name."""
    if name == "numpy":
        return numpy
    if name == "cupy":
        return _import_cupy()
    if name == "strict":
        return _strict.xp
    raise ValueError(f"unknown backend {name!r}; choose one of {BACKENDS}")


_NAMESPACES: dict = {}   # array-like types of the layers above (the Tensor) -> their namespace


def register_namespace(kind: type, namespace) -> None:
    """Make ``get_array_module`` return ``namespace`` for values of type ``kind``.

    The autograd's Tensor registers the Tensor namespace (``exp``, ``where``,
    ... on Tensors), so that an op's backward, written with
    ``xp = get_array_module(grad)``, runs on Tensors too (higher-order gradients).
    """
    _NAMESPACES[kind] = namespace


def get_array_module(*arrays):
    """Return ``numpy`` or ``cupy``: the library that owns the given arrays.

    Plain Python numbers and NumPy arrays give ``numpy``.  Only CuPy arrays
    carry a ``__cuda_array_interface__``, so CuPy need not be imported to tell;
    strict arrays give the strict namespace, Tensors the Tensor namespace.
    """
    for a in arrays:
        kind = type(a)
        if kind is StrictArray:
            return _strict.xp
        if kind in _NAMESPACES:
            return _NAMESPACES[kind]
        if hasattr(a, "__cuda_array_interface__"):
            import cupy  # noqa: PLC0415

            return cupy
    return numpy


def backend_of(array) -> str:
    """The backend name ('numpy', 'cupy' or 'strict') of one array."""
    if type(array) is StrictArray:
        return "strict"
    return "cupy" if hasattr(array, "__cuda_array_interface__") else "numpy"


def backend_of_type(array_type: type) -> str:
    """The backend name of arrays of type ``array_type``."""
    if array_type is numpy.ndarray:
        return "numpy"
    return "strict" if array_type is StrictArray else "cupy"


def is_array(x) -> bool:
    """True for an array of any backend (not for NumPy scalars or Python numbers)."""
    return isinstance(x, numpy.ndarray) or type(x) is StrictArray or hasattr(x, "__cuda_array_interface__")


def to_host(array) -> numpy.ndarray:
    """The array as a host NumPy array: a copy off the device for CuPy and strict
    arrays, the array itself for NumPy's.

    Every copy to the host that the engine means to make (a loss to log, a
    checkpoint to write, ``Tensor.numpy()``) goes through here, so that each
    one is visible in the code; on a GPU each one also waits for the device.
    """
    if isinstance(array, numpy.ndarray):
        return array
    if isinstance(array, (numpy.generic, int, float)):   # bool is an int
        return numpy.asarray(array)
    return array.get()


# --------------------------------------------------------------------------
# The current backend: where factories (zeros, randn, tensor(...)) put arrays.
# --------------------------------------------------------------------------
class _Setting(contextlib.AbstractContextManager):
    """A global setting changed at once, and restored when used as ``with``.

    ``use_backend("cupy")`` switches for the rest of the program;
    ``with use_backend("cupy"): ...`` switches only inside the block.
    """

    def __init__(self, restore):
        self._restore = restore

    def __exit__(self, *exc_info):
        self._restore()
        return False


def _initial_backend() -> str:
    name = os.environ.get("MINITRANSFORMER_BACKEND", "numpy").strip().lower() or "numpy"
    if name not in BACKENDS:
        raise BackendError(
            f"MINITRANSFORMER_BACKEND={name!r} is not a backend; choose one of {BACKENDS}"
        )
    return name


_state = {"backend": _initial_backend(), "dtype": numpy.dtype("float32")}


def get_backend() -> str:
    """Name of the current backend: 'numpy' or 'cupy'."""
    return _state["backend"]


def use_backend(name: str):
    """Switch the current backend; also a context manager that switches back.

    Raises BackendError when 'cupy' is asked for where CuPy or a GPU is missing.
    """
    name = str(name).lower()
    array_module(name)  # validates, and raises a clear error for a missing GPU
    previous = _state["backend"]
    _state["backend"] = name

    def restore():
        _state["backend"] = previous

    return _Setting(restore)


def current_xp():
    """The array library of the current backend."""
    return array_module(_state["backend"])


# --------------------------------------------------------------------------
# Default float dtype: float32 for speed; float64 for gradient checks.
# --------------------------------------------------------------------------
FLOAT_DTYPES = (numpy.dtype("float16"), numpy.dtype("float32"), numpy.dtype("float64"))


def get_default_dtype():
    """The float dtype given to float data that names no dtype (float32 at start)."""
    return _state["dtype"]


def set_default_dtype(dtype):
    """Set the default float dtype; also a context manager that restores it."""
    dtype = numpy.dtype(dtype)
    if dtype not in FLOAT_DTYPES:
        raise TypeError(f"set_default_dtype: {dtype} is not a float dtype; use float32 or float64")
    previous = _state["dtype"]
    _state["dtype"] = dtype

    def restore():
        _state["dtype"] = previous

    return _Setting(restore)


# --------------------------------------------------------------------------
# Seeded randomness, one generator per backend.
# --------------------------------------------------------------------------
_rngs: dict = {}
_seed = {"value": None}


def manual_seed(seed: int) -> None:
    """Seed every random draw of the engine (NumPy now, CuPy when first used)."""
    if not isinstance(seed, (int, numpy.integer)) or seed < 0:
        raise ValueError(f"manual_seed: seed must be a non-negative integer, got {seed!r}")
    _seed["value"] = int(seed)
    _rngs.clear()


def get_rng(xp=None):
    """The engine's random generator for the array library ``xp`` (default: current)."""
    xp = current_xp() if xp is None else xp
    name = xp.__name__
    if name not in _rngs:
        _rngs[name] = xp.random.default_rng(_seed["value"])
    return _rngs[name]


# the backends whose generators run on the host, so that their state is a plain dict
_HOST_GENERATORS = ("numpy", "strict")


def get_rng_state() -> dict:
    """A JSON-friendly snapshot of the NumPy generator, and the strict backend's if
    it is in use (for exact resume)."""
    state = {"seed": _seed["value"], "numpy": get_rng(numpy).bit_generator.state}
    if "strict" in _rngs:
        state["strict"] = _rngs["strict"].bit_generator.state
    return state


def set_rng_state(state: dict) -> None:
    """Restore a snapshot taken by get_rng_state."""
    _seed["value"] = state.get("seed")
    _rngs.clear()
    for name in _HOST_GENERATORS:
        if name in state:
            get_rng(array_module(name)).bit_generator.state = state[name]
