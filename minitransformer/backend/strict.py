"""The strict backend: NumPy arrays that refuse to be treated as host arrays.

On a GPU, a CuPy array lives in device memory.  Code that forgets this --
``np.asarray(x)``, ``float(x)`` on a loss in the training loop, ``x + mask``
with ``mask`` a NumPy array, ``np.exp(x)`` instead of ``xp.exp(x)`` -- either
fails there or copies the array to the host and back without a word.  None
of it shows on a CPU, where every array is NumPy's.

``MINITRANSFORMER_BACKEND=strict`` (or ``mt.use_backend("strict")``) puts
every tensor's data in a :class:`StrictArray`: a NumPy array, wrapped, that
computes through its own namespace (``xp = get_array_module(x)`` returns it,
as it would return ``cupy``) and raises :class:`StrictArrayError`, naming the
file, line and function, on anything that would need the data on the host:

- ``np.asarray(x)``, ``np.array(x)`` or any NumPy function given ``x``
  (``np.exp(x)``, ``np.concatenate([x, y])``): the code bypasses ``xp``;
- ``x + host_array``, ``x[host_index]``, ``xp.maximum(x, host_array)``:
  mixing a device array with a host NumPy array;
- ``float(x)``, ``int(x)``, ``bool(x)``, ``x.item()``, ``x.tolist()``,
  f-strings of ``x``: a device-to-host copy (on a GPU, a wait for the device)
  that is not marked.

A copy to the host that is meant (logging a loss, writing a checkpoint,
``Tensor.numpy()``) is made explicit with :func:`to_host`; a host array is
sent to the device with ``xp.asarray(host_array)``, as with CuPy.  The strict
backend is for tests: every wrapped call costs a few microseconds more, and
it computes exactly what NumPy computes (same values, same seeded draws).
"""
from __future__ import annotations

import copy
import numbers
import os
import sys
import types

import numpy

# NumPy functions that take host data on purpose: they upload it (``cupy.asarray``)
UPLOADS = frozenset({"asarray", "array", "asanyarray", "ascontiguousarray"})
# NumPy's scalar types pass their operators (``numpy.float32(2) * x``) to these
# ufuncs with ``x`` as an operand: they are not a bypass of ``xp``
_OPERATOR_UFUNCS = frozenset({
    "add", "subtract", "multiply", "true_divide", "divide", "floor_divide", "remainder", "power",
    "matmul", "equal", "not_equal", "less", "less_equal", "greater", "greater_equal",
    "bitwise_and", "bitwise_or", "bitwise_xor", "left_shift", "right_shift",
})
# the methods of ndarray that hand back host data
_HOST_METHODS = frozenset({"item", "tolist", "tobytes", "tofile", "dump", "dumps", "itemset", "ctypes", "data"})

_HERE = os.path.dirname(os.path.abspath(__file__))
_NUMPY_DIR = os.path.dirname(numpy.__file__)


class StrictArrayError(TypeError):
    """A device array was used as a host array (see the module's docstring)."""


def _caller() -> str:
    """'function (file:line)' of the first frame outside this file and NumPy itself."""
    frame = sys._getframe(1)
    while frame is not None:
        filename = os.path.abspath(frame.f_code.co_filename)
        if not (filename.startswith(_HERE) or filename.startswith(_NUMPY_DIR)):
            break
        frame = frame.f_back
    if frame is None:
        return "<unknown>"
    path = frame.f_code.co_filename
    for root in sys.path:
        if root and path.startswith(root.rstrip(os.sep) + os.sep):
            path = os.path.relpath(path, root)
            break
    return f"{frame.f_code.co_qualname} ({path}:{frame.f_lineno})"


def _describe(a) -> str:
    return f"array of shape {tuple(a.shape)} and dtype {a.dtype}"


def _host_copy_error(what: str, array) -> StrictArrayError:
    return StrictArrayError(
        f"strict backend: {what} of a device {_describe(array)} in {_caller()} would copy it to "
        "the host (CuPy refuses, or waits for the GPU); keep the work in "
        "xp = get_array_module(x), or mark a copy that is meant with minitransformer.backend.to_host(x)"
    )


def _bypass_error(name: str, array) -> StrictArrayError:
    return StrictArrayError(
        f"strict backend: numpy.{name}() was given a device {_describe(array)} in {_caller()}; "
        f"call xp.{name}() with xp = get_array_module(x) so that one code path serves NumPy and CuPy"
    )


def _mixing_error(where: str, host) -> StrictArrayError:
    return StrictArrayError(
        f"strict backend: {where} mixes a device array with a host NumPy {_describe(host)} in "
        f"{_caller()}; send the host array to the device first with xp.asarray(...)"
    )


# ---------------------------------------------------------------------------
# Between strict arrays and the NumPy arrays they hold
# ---------------------------------------------------------------------------
def _unwrap(value, where: str, uploads: bool = False):
    """The NumPy arrays inside ``value`` (which may be a list, tuple or dict of
    arguments); host NumPy arrays are refused unless ``uploads``."""
    if type(value) is StrictArray:
        return value._array
    if isinstance(value, numpy.ndarray):
        if uploads:
            return value
        raise _mixing_error(where, value)
    if isinstance(value, (list, tuple)):
        items = [_unwrap(v, where, uploads) for v in value]
        return items if isinstance(value, list) else tuple(items)
    if isinstance(value, dict):
        return {k: _unwrap(v, where, uploads) for k, v in value.items()}
    return value


def _wrap(value):
    """Results back as strict arrays; NumPy scalars become 0-d arrays, as CuPy's reductions give."""
    if isinstance(value, numpy.ndarray):
        return StrictArray(value)
    if isinstance(value, numpy.generic):
        return StrictArray(numpy.asarray(value))
    if isinstance(value, tuple):
        return tuple(_wrap(v) for v in value)
    if isinstance(value, list):
        return [_wrap(v) for v in value]
    return value


def _wrapped(fn, where: str, uploads: bool = False):
    """``fn`` taking and giving strict arrays in place of NumPy's."""
    def call(*args, **kwargs):
        return _wrap(fn(*_unwrap(args, where, uploads), **_unwrap(kwargs, where, uploads)))

    call.__name__ = call.__qualname__ = getattr(fn, "__name__", where)
    call.__doc__ = getattr(fn, "__doc__", None)
    return call


# ---------------------------------------------------------------------------
# The array
# ---------------------------------------------------------------------------
class StrictArray:
    """A NumPy array on a pretend device: computes like one, never turns into one implicitly."""

    __slots__ = ("_array",)
    __hash__ = None

    def __init__(self, array: numpy.ndarray):
        self._array = array

    # metadata is on the host on every backend
    shape = property(lambda self: self._array.shape)
    dtype = property(lambda self: self._array.dtype)
    ndim = property(lambda self: self._array.ndim)
    size = property(lambda self: self._array.size)
    nbytes = property(lambda self: self._array.nbytes)
    itemsize = property(lambda self: self._array.itemsize)
    strides = property(lambda self: self._array.strides)
    flags = property(lambda self: self._array.flags)
    T = property(lambda self: StrictArray(self._array.T))
    mT = property(lambda self: StrictArray(self._array.mT))

    def __len__(self) -> int:
        return len(self._array)

    def __iter__(self):
        return (_wrap(row) for row in self._array)

    def get(self) -> numpy.ndarray:
        """A host copy, as ``cupy.ndarray.get()``: the explicit way off the device."""
        return self._array.copy()

    def __getattr__(self, name):
        # dunders (numpy's __array_interface__, copy's __reduce_ex__...) are not forwarded:
        # they would hand the host buffer out behind the strict checks
        if name.startswith("__"):
            raise AttributeError(name)
        if name in _HOST_METHODS:
            raise _host_copy_error(f".{name}()", self._array)
        value = getattr(self._array, name)
        if callable(value):
            return _wrapped(value, f"ndarray.{name}()")
        return _wrap(value)

    # ----- what would need the data on the host
    def __array__(self, dtype=None, copy=None):
        raise _host_copy_error("numpy.asarray() / __array__", self._array)

    def __float__(self):
        raise _host_copy_error("float()", self._array)

    def __int__(self):
        raise _host_copy_error("int()", self._array)

    def __index__(self):
        raise _host_copy_error("use as an index (operator.index)", self._array)

    def __complex__(self):
        raise _host_copy_error("complex()", self._array)

    def __bool__(self):
        raise _host_copy_error("bool() (an `if` or `and` on an array)", self._array)

    def __format__(self, spec):
        if not spec:
            return repr(self)
        raise _host_copy_error(f"formatting with {spec!r}", self._array)

    def __reduce_ex__(self, protocol):
        raise _host_copy_error("pickling", self._array)

    def __repr__(self) -> str:
        return "strict_" + repr(self._array)

    __str__ = __repr__

    def __copy__(self):
        return StrictArray(self._array.copy())

    def __deepcopy__(self, memo):
        return StrictArray(copy.deepcopy(self._array, memo))

    # ----- NumPy functions called on the array
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        operands = [x for x in inputs if type(x) is not StrictArray]
        if method == "__call__" and ufunc.__name__ in _OPERATOR_UFUNCS and not kwargs and all(
                isinstance(x, (numpy.generic, numbers.Number)) for x in operands):
            # ``numpy.float32(2) * x``: a NumPy scalar's operator, as CuPy takes it
            return _wrap(ufunc(*_unwrap(inputs, ufunc.__name__)))
        raise _bypass_error(ufunc.__name__ if method == "__call__" else f"{ufunc.__name__}.{method}",
                            self._array)

    def __array_function__(self, func, types_, args, kwargs):
        raise _bypass_error(func.__name__, self._array)

    # ----- indexing
    def __getitem__(self, key):
        return _wrap(self._array[_unwrap(key, "indexing")])

    def __setitem__(self, key, value):
        self._array[_unwrap(key, "indexing")] = _unwrap(value, "assignment")


def _binary(name):
    op = getattr(numpy.ndarray, name)

    def method(self, other):
        return _wrap(op(self._array, _unwrap(other, f"the operator {name}")))

    method.__name__ = name
    return method


def _in_place(name):
    op = getattr(numpy.ndarray, name)

    def method(self, other):
        op(self._array, _unwrap(other, f"the operator {name}"))
        return self

    method.__name__ = name
    return method


def _unary(name):
    op = getattr(numpy.ndarray, name)

    def method(self):
        return _wrap(op(self._array))

    method.__name__ = name
    return method


for _op in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul",
            "and", "or", "xor", "lshift", "rshift"):
    setattr(StrictArray, f"__{_op}__", _binary(f"__{_op}__"))
    setattr(StrictArray, f"__r{_op}__", _binary(f"__r{_op}__"))
    setattr(StrictArray, f"__i{_op}__", _in_place(f"__i{_op}__"))
for _op in ("lt", "le", "gt", "ge", "eq", "ne"):
    setattr(StrictArray, f"__{_op}__", _binary(f"__{_op}__"))
for _op in ("neg", "pos", "abs", "invert"):
    setattr(StrictArray, f"__{_op}__", _unary(f"__{_op}__"))


# ---------------------------------------------------------------------------
# The namespace: what ``get_array_module`` returns for strict arrays
# ---------------------------------------------------------------------------
class _StrictUfunc:
    """A NumPy ufunc on strict arrays, with its methods (``xp.add.at``, ``xp.maximum.reduce``)."""

    def __init__(self, ufunc):
        self._ufunc = ufunc
        self.__name__ = ufunc.__name__

    def __call__(self, *args, **kwargs):
        return _wrap(self._ufunc(*_unwrap(args, self.__name__), **_unwrap(kwargs, self.__name__)))

    def __getattr__(self, name):
        value = getattr(self._ufunc, name)
        return _wrapped(value, f"{self.__name__}.{name}") if callable(value) else value


class _StrictGenerator:
    """NumPy's seeded Generator, drawing strict arrays (the same numbers as NumPy's)."""

    def __init__(self, generator):
        self._generator = generator
        self.bit_generator = generator.bit_generator

    def __getattr__(self, name):
        value = getattr(self._generator, name)
        return _wrapped(value, f"random.Generator.{name}") if callable(value) else value


class StrictNamespace(types.ModuleType):
    """``numpy`` as seen through strict arrays: the 'cupy' of the strict backend."""

    def __init__(self, name: str, numpy_module):
        super().__init__(name)
        self._numpy = numpy_module

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        value = getattr(self._numpy, name)
        if isinstance(value, numpy.ufunc):
            wrapped = _StrictUfunc(value)
        elif isinstance(value, types.ModuleType):
            wrapped = StrictNamespace(f"{self.__name__}.{name}", value)
        elif isinstance(value, type) or not callable(value):
            wrapped = value   # dtypes (xp.float32), classes (xp.errstate), constants (xp.pi)
        else:
            wrapped = _wrapped(value, f"{self.__name__}.{name}", uploads=name in UPLOADS)
        setattr(self, name, wrapped)   # looked up once
        return wrapped


xp = StrictNamespace("strict", numpy)
xp.ndarray = StrictArray
xp.random.default_rng = lambda seed=None: _StrictGenerator(numpy.random.default_rng(seed))


def asnumpy(array) -> numpy.ndarray:
    """A host copy of a strict array (``cupy.asnumpy``)."""
    return array.get()


xp.asnumpy = asnumpy
