"""Ways to make a tensor: from data, filled with constants, or at random.

Each factory puts the array on the current backend (``mt.get_backend()``)
unless ``device=`` (PyTorch's ``"cpu"``, ``"cuda"``: see ``devices.py``) or
``backend=`` says otherwise.  The dtype follows PyTorch's rules unless
``dtype=`` names one: float data get the default float dtype
(``mt.get_default_dtype()``, float32 at start), integers int64, booleans
bool.  Random draws come from the engine's seeded generator
(``mt.manual_seed``).
"""
from __future__ import annotations

import numbers

import numpy

from .. import backend as _backend
from .devices import resolve_backend
from .tensor import Tensor, _legacy_constructor_array, _sizes, _to_array


def _xp_dtype(dtype, device, backend):
    xp = _backend.array_module(resolve_backend(device, backend) or _backend.get_backend())
    return xp, (_backend.get_default_dtype() if dtype is None else dtype)


def tensor(data, requires_grad: bool = False, dtype=None, backend=None, device=None) -> Tensor:
    """A new leaf tensor holding a copy of ``data`` (list, number, array or Tensor).

    Float data gets the default float dtype unless ``dtype`` is given; integer
    and boolean data keep their kind (ids stay int64, masks stay bool).
    """
    return Tensor(_to_array(data, dtype, resolve_backend(device, backend)), requires_grad=requires_grad)


def from_numpy(array: numpy.ndarray) -> Tensor:
    """A CPU tensor on ``array`` itself: it shares the memory and keeps the dtype (float64 stays float64)."""
    if type(array) is not numpy.ndarray:
        raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(array).__name__}")
    return Tensor(array)


def _legacy(dtype, name):
    def constructor(*data):
        return Tensor(_legacy_constructor_array(data, numpy.dtype(dtype), name))

    constructor.__name__ = constructor.__qualname__ = name
    constructor.__doc__ = (f"PyTorch's legacy constructor: ``{name}([1, 2])`` (data) or ``{name}(2, 3)`` "
                           f"(zeros of that shape), dtype {dtype}.")
    return constructor


FloatTensor = _legacy("float32", "FloatTensor")
DoubleTensor = _legacy("float64", "DoubleTensor")
LongTensor = _legacy("int64", "LongTensor")
IntTensor = _legacy("int32", "IntTensor")
BoolTensor = _legacy("bool", "BoolTensor")
ByteTensor = _legacy("uint8", "ByteTensor")


def zeros(*shape, dtype=None, device=None, requires_grad=False, backend=None) -> Tensor:
    xp, dtype = _xp_dtype(dtype, device, backend)
    return Tensor(xp.zeros(_shape(shape), dtype=dtype), requires_grad=requires_grad)


def ones(*shape, dtype=None, device=None, requires_grad=False, backend=None) -> Tensor:
    xp, dtype = _xp_dtype(dtype, device, backend)
    return Tensor(xp.ones(_shape(shape), dtype=dtype), requires_grad=requires_grad)


def empty(*shape, dtype=None, device=None, requires_grad=False, backend=None) -> Tensor:
    """A tensor whose values are whatever the memory held (as PyTorch's): write them before reading."""
    xp, dtype = _xp_dtype(dtype, device, backend)
    return Tensor(xp.empty(_shape(shape), dtype=dtype), requires_grad=requires_grad)


def _dtype_of_value(value):
    """PyTorch's dtype for a fill value or an arange bound: bool, int64, or the default float."""
    if isinstance(value, (bool, numpy.bool_)):
        return numpy.dtype("bool")
    if isinstance(value, (numbers.Integral, numpy.integer)):
        return numpy.dtype("int64")
    return _backend.get_default_dtype()


def full(shape, fill_value, dtype=None, requires_grad=False, backend=None, device=None) -> Tensor:
    """A tensor of ``shape`` filled with ``fill_value``; its dtype follows the value's
    (``full((2,), 7)`` is int64, ``full((2,), 7.0)`` the default float)."""
    fill_value = fill_value.item() if isinstance(fill_value, Tensor) else fill_value
    xp, dtype = _xp_dtype(dtype or _dtype_of_value(fill_value), device, backend)
    return Tensor(xp.full(_shape((shape,)), fill_value, dtype=dtype), requires_grad=requires_grad)


def _like(t: Tensor, fill, dtype, device, requires_grad) -> Tensor:
    if not isinstance(t, Tensor):
        raise TypeError(f"expected a tensor, got {type(t).__name__}")
    xp = _backend.array_module(resolve_backend(device) or t.backend)
    return Tensor(fill(xp, t.data.shape, numpy.dtype(dtype or t.dtype)), requires_grad=requires_grad)


def zeros_like(t: Tensor, dtype=None, requires_grad=False, device=None) -> Tensor:
    return _like(t, lambda xp, shape, dt: xp.zeros(shape, dtype=dt), dtype, device, requires_grad)


def ones_like(t: Tensor, dtype=None, requires_grad=False, device=None) -> Tensor:
    return _like(t, lambda xp, shape, dt: xp.ones(shape, dtype=dt), dtype, device, requires_grad)


def empty_like(t: Tensor, dtype=None, requires_grad=False, device=None) -> Tensor:
    return _like(t, lambda xp, shape, dt: xp.empty(shape, dtype=dt), dtype, device, requires_grad)


def full_like(t: Tensor, fill_value, dtype=None, requires_grad=False, device=None) -> Tensor:
    return _like(t, lambda xp, shape, dt: xp.full(shape, fill_value, dtype=dt), dtype, device, requires_grad)


def randn(*shape, dtype=None, device=None, requires_grad=False, backend=None) -> Tensor:
    """Samples of the standard normal distribution N(0, 1)."""
    xp, dtype = _xp_dtype(dtype, device, backend)
    data = _backend.get_rng(xp).standard_normal(_shape(shape)).astype(dtype, copy=False)
    return Tensor(data, requires_grad=requires_grad)


def rand(*shape, dtype=None, device=None, requires_grad=False, backend=None) -> Tensor:
    """Samples of the uniform distribution on [0, 1)."""
    xp, dtype = _xp_dtype(dtype, device, backend)
    data = _backend.get_rng(xp).random(_shape(shape)).astype(dtype, copy=False)
    return Tensor(data, requires_grad=requires_grad)


def randn_like(t: Tensor, dtype=None, requires_grad=False, device=None) -> Tensor:
    return randn(t.shape, dtype=dtype or t.dtype, device=device or t.device, requires_grad=requires_grad)


def rand_like(t: Tensor, dtype=None, requires_grad=False, device=None) -> Tensor:
    return rand(t.shape, dtype=dtype or t.dtype, device=device or t.device, requires_grad=requires_grad)


def arange(start, end=None, step=1, dtype=None, backend=None, device=None, requires_grad=False,
           stop=None) -> Tensor:
    """``start, start + step, ...`` up to ``end`` (excluded); ``arange(n)`` is 0..n-1.

    As in PyTorch: integer bounds give int64, any float among them the
    default float dtype (``arange(0, 10, dtype=mt.float)`` names one).
    ``stop=`` is NumPy's name for ``end``.
    """
    end = stop if end is None else end
    if end is None:
        start, end = 0, start
    bounds = [b.item() if isinstance(b, Tensor) else b for b in (start, end, step)]
    if dtype is None:
        floats = [b for b in bounds if _dtype_of_value(b).kind == "f"]
        dtype = _backend.get_default_dtype() if floats else numpy.dtype("int64")
    xp = _backend.array_module(resolve_backend(device, backend) or _backend.get_backend())
    # computed in float64 (or int64) and then cast, so that float32 steps do not drift
    exact = numpy.dtype("float64") if numpy.dtype(dtype).kind == "f" else numpy.dtype("int64")
    data = xp.arange(*bounds, dtype=exact)
    return Tensor(data.astype(dtype, copy=False), requires_grad=requires_grad)


def _shape(shape) -> tuple:
    """Accept zeros(2, 3) and zeros((2, 3)) alike."""
    shape = _sizes(shape)
    for s in shape:
        if int(s) != s or s < 0:
            raise ValueError(f"shape {shape} must hold non-negative integers")
    return tuple(int(s) for s in shape)
