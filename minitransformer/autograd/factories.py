"""Ways to make a tensor: from data, filled with constants, or at random.

Each factory puts the array on the current backend (``mt.get_backend()``)
unless ``backend=`` says otherwise, and gives float data the default float
dtype (``mt.get_default_dtype()``, float32 at start) unless ``dtype=`` does.
Random draws come from the engine's seeded generator (``mt.manual_seed``).
"""
from __future__ import annotations

from .. import backend as _backend
from .tensor import Tensor, _to_array


def _xp_dtype(dtype, backend):
    xp = _backend.array_module(backend or _backend.get_backend())
    return xp, (_backend.get_default_dtype() if dtype is None else dtype)


def tensor(data, requires_grad: bool = False, dtype=None, backend=None) -> Tensor:
    """A new leaf tensor holding a copy of ``data`` (list, number, array or Tensor).

    Float data gets the default float dtype unless ``dtype`` is given; integer
    and boolean data keep their kind (ids stay int64, masks stay bool).
    """
    return Tensor(_to_array(data, dtype, backend), requires_grad=requires_grad)


def zeros(*shape, dtype=None, requires_grad=False, backend=None) -> Tensor:
    xp, dtype = _xp_dtype(dtype, backend)
    return Tensor(xp.zeros(_shape(shape), dtype=dtype), requires_grad=requires_grad)


def ones(*shape, dtype=None, requires_grad=False, backend=None) -> Tensor:
    xp, dtype = _xp_dtype(dtype, backend)
    return Tensor(xp.ones(_shape(shape), dtype=dtype), requires_grad=requires_grad)


def full(shape, fill_value, dtype=None, requires_grad=False, backend=None) -> Tensor:
    xp, dtype = _xp_dtype(dtype, backend)
    return Tensor(xp.full(_shape((shape,)), fill_value, dtype=dtype), requires_grad=requires_grad)


def zeros_like(t: Tensor, dtype=None, requires_grad=False) -> Tensor:
    xp = _backend.get_array_module(t.data)
    return Tensor(xp.zeros(t.data.shape, dtype=dtype or t.dtype), requires_grad=requires_grad)


def ones_like(t: Tensor, dtype=None, requires_grad=False) -> Tensor:
    xp = _backend.get_array_module(t.data)
    return Tensor(xp.ones(t.data.shape, dtype=dtype or t.dtype), requires_grad=requires_grad)


def randn(*shape, dtype=None, requires_grad=False, backend=None) -> Tensor:
    """Samples of the standard normal distribution N(0, 1)."""
    xp, dtype = _xp_dtype(dtype, backend)
    data = _backend.get_rng(xp).standard_normal(_shape(shape)).astype(dtype, copy=False)
    return Tensor(data, requires_grad=requires_grad)


def rand(*shape, dtype=None, requires_grad=False, backend=None) -> Tensor:
    """Samples of the uniform distribution on [0, 1)."""
    xp, dtype = _xp_dtype(dtype, backend)
    data = _backend.get_rng(xp).random(_shape(shape)).astype(dtype, copy=False)
    return Tensor(data, requires_grad=requires_grad)


def arange(start, stop=None, step=1, dtype=None, backend=None) -> Tensor:
    """Evenly spaced values as NumPy's arange: integers stay int64."""
    xp = _backend.array_module(backend or _backend.get_backend())
    data = xp.arange(start, stop, step) if stop is not None else xp.arange(start)
    if dtype is not None:
        data = data.astype(dtype)
    elif data.dtype.kind == "f":
        data = data.astype(_backend.get_default_dtype())
    return Tensor(data)


def _shape(shape) -> tuple:
    """Accept zeros(2, 3) and zeros((2, 3)) alike."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    for s in shape:
        if int(s) != s or s < 0:
            raise ValueError(f"shape {shape} must hold non-negative integers")
    return tuple(int(s) for s in shape)
