"""``mt.cuda``: PyTorch's questions about the GPU, answered for the CuPy backend.

``device = "cuda" if mt.cuda.is_available() else "cpu"``, as in PyTorch.
This engine computes on one GPU: CuPy's current device.
"""
from __future__ import annotations

from . import backend as _backend
from .backend import array_module, cupy_available


def is_available() -> bool:
    """True when CuPy is installed and a CUDA device is present (``x.cuda()`` would work)."""
    return cupy_available()


def device_count() -> int:
    """The number of CUDA devices CuPy sees (0 without CuPy or a GPU)."""
    return array_module("cupy").cuda.runtime.getDeviceCount() if cupy_available() else 0


def current_device() -> int:
    """The number of CuPy's current device (a BackendError without a GPU)."""
    return array_module("cupy").cuda.runtime.getDevice()


def synchronize() -> None:
    """Wait until the GPU has finished the work queued so far (for timing); nothing without a GPU."""
    if cupy_available():
        array_module("cupy").cuda.Device().synchronize()


def manual_seed(seed: int) -> None:
    """Seed the engine's random draws, on the GPU as on the CPU (as ``mt.manual_seed``)."""
    _backend.manual_seed(seed)


manual_seed_all = manual_seed
