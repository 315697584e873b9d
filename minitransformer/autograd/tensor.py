"""Tensor: an array that remembers how it was computed.

A Tensor holds a backend array in ``.data`` (NumPy or CuPy), its gradient in
``.grad`` once ``backward`` has run, and, when it was produced by an op that
needs a gradient, the op's context in ``._ctx`` -- the edge of the graph that
``backward`` walks.  Arithmetic operators, ``sum``, ``reshape`` and the other
methods are attached by ``minitransformer.ops``, so that this file depends on
no op (and the ops can depend on it).

Tensors speak PyTorch: ``x.dtype`` is one of ``mt.float32``, ``mt.long``...
(NumPy's dtypes, by PyTorch's names: ``dtypes.py``), ``x.device`` is ``cpu``
or ``cuda`` (``devices.py``), and ``x.to(...)``, ``x.float()``, ``x.cuda()``
convert as in PyTorch.  ``x.data`` is the raw array (in PyTorch, a Tensor).
In-place ops (``x[i] = v``, ``x.zero_()``, ``x += 1``; ``ops/in_place.py``)
bump ``x._version``: ``versions.py`` explains how a graph that needs an old
value refuses its backward.
"""
from __future__ import annotations

import numpy

from .. import backend as _backend
from . import devices as _devices
from .engine import GraphError, run_backward

_is_array = _backend.is_array


class RemovableHandle:
    """Returned by register_hook; ``handle.remove()`` takes the hook off."""

    def __init__(self, hooks: list, fn):
        self._hooks, self._fn = hooks, fn

    def remove(self) -> None:
        if self._fn in self._hooks:
            self._hooks.remove(self._fn)


class Tensor:
    """An n-dimensional array with reverse-mode automatic differentiation."""

    __slots__ = ("data", "grad", "_requires_grad", "_ctx", "_hooks", "_retains_grad", "_edits", "__weakref__")
    # Make NumPy hand `ndarray + tensor` to Tensor.__radd__ instead of looping.
    __array_ufunc__ = None

    def __init__(self, *data, requires_grad: bool = False):
        """Wrap an array (NumPy, CuPy, strict: kept as it is, dtype and memory).

        As PyTorch's legacy constructor, ``Tensor([1, 2])`` (a list or number
        sequence) gives the default float dtype and ``Tensor(2, 3)`` a zero
        tensor of shape (2, 3); ``mt.tensor(data)`` infers the dtype.
        """
        if len(data) == 1 and (_is_array(data[0]) or isinstance(data[0], (numpy.generic, Tensor))):
            data = data[0]
            data = data.data if isinstance(data, Tensor) else data
            if isinstance(data, numpy.generic):
                data = _to_array(data, None, None)
        else:
            data = _legacy_constructor_array(data, _backend.get_default_dtype(), "Tensor")
        self.data = data
        self.grad = None
        self._ctx = None
        self._hooks = []
        self._retains_grad = False
        self._requires_grad = False
        self._edits = None
        if requires_grad:
            self.requires_grad = True

    @classmethod
    def _from_op(cls, data, ctx) -> "Tensor":
        """Wrap an op's output array without any checks (the hot path)."""
        t = Tensor.__new__(Tensor)
        t.data = data
        t.grad = None
        t._ctx = ctx
        t._hooks = []
        t._retains_grad = False
        t._requires_grad = ctx is not None
        t._edits = None
        return t

    # ----------------------------------------------------------- properties
    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        if value and self.data.dtype.kind != "f":
            raise TypeError(
                f"only float tensors can require grad; this tensor has dtype {self.data.dtype} "
                f"and shape {tuple(self.data.shape)} (integers and booleans have no derivative)"
            )
        if not value and self._ctx is not None:
            raise ValueError("requires_grad can be switched off only on a leaf; use .detach()")
        self._requires_grad = bool(value)

    def requires_grad_(self, value: bool = True) -> "Tensor":
        self.requires_grad = value
        return self

    @property
    def shape(self) -> tuple:
        return tuple(self.data.shape)

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    def size(self, dim: int | None = None):
        """The shape, as PyTorch's ``x.size()``; ``x.size(d)`` is the length of dim ``d`` (negative counts from the end).

        (NumPy's ``a.size``, the number of elements, is ``x.numel()``.)
        """
        if dim is None:
            return tuple(self.data.shape)
        if not -self.data.ndim <= dim < self.data.ndim:
            raise IndexError(f"size: dim {dim} is out of range for a tensor of shape {self.shape} "
                             f"(valid dims: {-self.data.ndim}..{self.data.ndim - 1})")
        return int(self.data.shape[dim])

    def numel(self) -> int:
        """The number of elements (NumPy's ``a.size``)."""
        return int(self.data.size)

    def dim(self) -> int:
        """The number of dimensions (``ndim``)."""
        return self.data.ndim

    @property
    def backend(self) -> str:
        return _backend.backend_of(self.data)

    @property
    def is_leaf(self) -> bool:
        return self._ctx is None

    @property
    def _version(self) -> int:
        """How many in-place ops changed this tensor (PyTorch's version counter; see versions.py)."""
        return 0 if self._edits is None else self._edits.version

    @property
    def device(self) -> "_devices.device":
        """Where the data live: ``device(type='cpu')`` (NumPy), ``'cuda'`` (CuPy) or ``'strict'``."""
        return _devices.device_of_array(self.data)

    @property
    def is_cuda(self) -> bool:
        return self.backend == "cupy"

    def is_floating_point(self) -> bool:
        return self.data.dtype.kind == "f"

    def __len__(self) -> int:
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.data.shape[0]

    def __repr__(self) -> str:
        body = numpy.array2string(self.numpy(), separator=", ", prefix="tensor(")
        extra = f", dtype={self.dtype}"
        if self.backend != "numpy":
            extra += f", backend='{self.backend}'"
        if self._ctx is not None:
            extra += f", grad_fn={self._ctx.name}"
        elif self._requires_grad:
            extra += ", requires_grad=True"
        return f"tensor({body}{extra})"

    # ------------------------------------------------------------ conversion
    def numpy(self) -> numpy.ndarray:
        """A host NumPy copy of the data (a CuPy array is copied off the GPU)."""
        host = _backend.to_host(self.data)
        return host.copy() if host is self.data else host

    def item(self):
        """The value of a one-element tensor as a Python number."""
        if self.data.size != 1:
            raise ValueError(f"item(): tensor has {self.data.size} elements (shape {self.shape}), not 1")
        return _backend.to_host(self.data.reshape(())).item()

    def tolist(self):
        return self.numpy().tolist()

    def detach(self) -> "Tensor":
        """The same data, cut from the graph (shares memory)."""
        return Tensor._from_op(self.data, None)

    # Python numbers: float(t), int(t), bool(t), range(t) of a one-element tensor, as in
    # PyTorch.  The backend's array converts itself: CuPy copies it off the GPU, the
    # strict backend refuses (an unmarked copy to the host; .item() marks one).
    def __float__(self) -> float:
        return float(self._one_element("float()"))

    def __int__(self) -> int:
        return int(self._one_element("int()"))

    def __bool__(self) -> bool:
        return bool(self._one_element("bool() (an `if` or `and` on a tensor)"))

    def __index__(self) -> int:
        if self.data.dtype.kind not in "iub":
            raise TypeError(f"only an integer tensor can be used as an index, not one of dtype {self.dtype}")
        return int(self._one_element("use as an index"))

    def _one_element(self, use: str):
        if self.data.size != 1:
            raise RuntimeError(
                f"{use}: the value of a tensor with {self.data.size} elements (shape {self.shape}) is "
                "ambiguous; only a one-element tensor converts to a Python number (use .any(), .all() "
                "or .item() on one element)"
            )
        return self.data.reshape(())

    def __array__(self, dtype=None, copy=None):
        """``numpy.asarray(t)`` of a CPU tensor: its array (shared, as in PyTorch); a device
        tensor is refused (copy it with ``.cpu()`` or ``.numpy()``)."""
        if self.backend != "numpy":
            raise TypeError(
                f"cannot convert a tensor on device '{self.device}' to a NumPy array implicitly: "
                "copy it to the host first with .cpu() or .numpy()"
            )
        data = self.data if dtype is None else self.data.astype(dtype, copy=False)
        return data.copy() if copy else data

    # -------------------------------------------------- dtypes and devices
    def to(self, *args, device=None, dtype=None, non_blocking: bool = False, copy: bool = False) -> "Tensor":
        """This tensor on another device and/or with another dtype, as PyTorch's ``to``.

        ``x.to("cuda")``, ``x.to(mt.float64)``, ``x.to("cpu", mt.long)``,
        ``x.to(other)`` (other's device and dtype), ``x.to(device=..., dtype=...)``;
        a backend name (``"numpy"``, ``"cupy"``, ``"strict"``) is a device too.
        Unchanged, it returns ``x`` itself (``copy=True``: a copy).  A cast
        between float dtypes is differentiable; to an integer or bool dtype it
        leaves the graph.  A move to another device gives a leaf copy that
        requires grad if ``x`` does (in PyTorch, a differentiable copy).
        ``non_blocking`` is accepted and ignored.
        """
        for arg in args:
            if isinstance(arg, Tensor):
                device = arg.device if device is None else device
                dtype = arg.dtype if dtype is None else dtype
            elif _is_dtype(arg):
                dtype = arg
            elif isinstance(arg, (str, _devices.device)):
                device = arg
            else:
                raise TypeError(f"to(): expected a device, a dtype or a tensor, got {arg!r}")
        out = self
        if device is not None:
            backend = _devices.backend_of_device(device)
            if backend != self.backend:
                out = Tensor(_backend.array_module(backend).asarray(_backend.to_host(self.data)))
                out._requires_grad = self._requires_grad
        if dtype is not None and numpy.dtype(dtype) != out.dtype:
            out = out.astype(dtype)
        if copy and out is self:
            out = self.clone()
        return out

    def cpu(self) -> "Tensor":
        """This tensor in host memory (the NumPy backend); itself if it is there."""
        return self.to("cpu")

    def cuda(self, device=None) -> "Tensor":
        """This tensor on the GPU (the CuPy backend); a clear BackendError without one."""
        if isinstance(device, int):
            device = f"cuda:{device}"
        return self.to("cuda" if device is None else device)

    def float(self) -> "Tensor":
        return self.to(dtype=numpy.dtype("float32"))

    def double(self) -> "Tensor":
        return self.to(dtype=numpy.dtype("float64"))

    def half(self) -> "Tensor":
        return self.to(dtype=numpy.dtype("float16"))

    def long(self) -> "Tensor":
        return self.to(dtype=numpy.dtype("int64"))

    def int(self) -> "Tensor":
        return self.to(dtype=numpy.dtype("int32"))

    def bool(self) -> "Tensor":
        return self.to(dtype=numpy.dtype("bool"))

    def byte(self) -> "Tensor":
        return self.to(dtype=numpy.dtype("uint8"))

    def type(self, dtype=None):
        """Without argument, the type's name ('minitransformer.FloatTensor'); with a
        dtype or a type name ('torch.LongTensor'), this tensor cast to it."""
        if dtype is None:
            name = _TYPE_NAMES.get(self.dtype.name, f"Tensor[{self.dtype.name}]")
            return f"minitransformer.{'cuda.' if self.is_cuda else ''}{name}"
        if isinstance(dtype, str):
            name = dtype.rsplit(".", 1)[-1]
            by_name = {v: k for k, v in _TYPE_NAMES.items()}
            if name not in by_name:
                raise ValueError(f"type(): unknown type name {dtype!r}; expected one of {sorted(by_name)}")
            return self.to("cuda" if ".cuda." in dtype else self.device, numpy.dtype(by_name[name]))
        return self.to(dtype=dtype)

    def type_as(self, other) -> "Tensor":
        """This tensor with ``other``'s dtype, on ``other``'s device (``other``: a tensor or an array)."""
        data = other.data if isinstance(other, Tensor) else other
        if not _is_array(data):
            raise TypeError(f"type_as(): expected a tensor or an array, got {type(other).__name__}")
        return self.to(_devices.device_of_array(data), data.dtype)

    # ------------------------------------------- new tensors like this one
    def new_tensor(self, data, dtype=None, device=None, requires_grad: bool = False) -> "Tensor":
        """A new leaf from ``data``, with this tensor's dtype and device unless told otherwise."""
        backend = _devices.resolve_backend(device) or self.backend
        return Tensor(_to_array(data, dtype or self.dtype, backend), requires_grad=requires_grad)

    def new_full(self, size, fill_value, dtype=None, device=None, requires_grad: bool = False) -> "Tensor":
        backend = _devices.resolve_backend(device) or self.backend
        xp = _backend.array_module(backend)
        shape = (size,) if isinstance(size, (int, numpy.integer)) else tuple(size)
        return Tensor(xp.full(shape, fill_value, dtype=dtype or self.dtype), requires_grad=requires_grad)

    def new_zeros(self, *size, dtype=None, device=None, requires_grad: bool = False) -> "Tensor":
        return self.new_full(_sizes(size), 0, dtype, device, requires_grad)

    def new_ones(self, *size, dtype=None, device=None, requires_grad: bool = False) -> "Tensor":
        return self.new_full(_sizes(size), 1, dtype, device, requires_grad)

    def new_empty(self, *size, dtype=None, device=None, requires_grad: bool = False) -> "Tensor":
        return self.new_full(_sizes(size), 0, dtype, device, requires_grad)

    # ------------------------------------------------------------- autograd
    def backward(self, grad=None, retain_graph: bool | None = None, create_graph: bool = False) -> None:
        """Add d(self)/d(leaf) (times ``grad``) to ``.grad`` of every leaf that requires it.

        With ``create_graph=True`` the backward pass is itself recorded: each
        ``.grad`` is then a Tensor with a graph, which can be differentiated
        again (see ``mt.grad``).  ``retain_graph`` defaults to ``create_graph``.
        """
        if not self._requires_grad:
            raise GraphError(
                f"backward() on a tensor that does not require grad (shape {self.shape}): "
                "no input of the computation had requires_grad=True, or it ran under no_grad()"
            )
        grad = self._initial_grad(grad, create_graph, "backward()")
        if retain_graph is None:
            retain_graph = create_graph
        run_backward(self, grad, retain_graph=retain_graph, create_graph=create_graph)

    def _initial_grad(self, grad, create_graph: bool, caller: str):
        """The gradient a backward pass starts from: ones for a scalar, else ``grad`` checked.

        An array for the array pass; a Tensor (which may itself carry a
        graph) when ``create_graph``.
        """
        if grad is None:
            if self.data.size != 1:
                raise GraphError(
                    f"{caller} on a tensor of shape {self.shape} needs a gradient argument "
                    "of the same shape; only a one-element (scalar) output has an implicit "
                    "gradient of 1 (did you forget .sum() or .mean() on the loss?)"
                )
            xp = _backend.get_array_module(self.data)
            data = xp.ones(self.data.shape, dtype=self.data.dtype)
            return Tensor._from_op(data, None) if create_graph else data
        if isinstance(grad, Tensor) and create_graph:
            if grad.shape != self.shape or grad.dtype != self.dtype:
                raise ValueError(
                    f"{caller}: gradient of shape {grad.shape} and dtype {grad.dtype} given for a "
                    f"tensor of shape {self.shape} and dtype {self.dtype}"
                )
            return grad
        data = grad.data if isinstance(grad, Tensor) else _to_array(grad, self.dtype, self.backend)
        if data.shape != self.data.shape:
            raise ValueError(
                f"{caller}: gradient of shape {tuple(data.shape)} given for a tensor of shape {self.shape}"
            )
        data = data.astype(self.data.dtype, copy=False)
        return Tensor._from_op(data, None) if create_graph else data

    def register_hook(self, fn) -> RemovableHandle:
        """Call ``fn(grad)`` when this tensor's gradient is computed.

        ``fn`` receives the gradient as a Tensor and may return a replacement
        (e.g. ``lambda g: g * 0.5``) or None to leave it unchanged.
        """
        if not self._requires_grad:
            raise RuntimeError("register_hook on a tensor that does not require grad")
        self._hooks.append(fn)
        return RemovableHandle(self._hooks, fn)

    def retain_grad(self) -> None:
        """Keep ``.grad`` on a non-leaf tensor too (leaves always keep it)."""
        self._retains_grad = True

    def _run_hooks(self, grad):
        if isinstance(grad, Tensor):  # create_graph: the hook's result stays in the graph
            for fn in self._hooks:
                result = fn(grad)
                if result is not None:
                    grad = result if isinstance(result, Tensor) else Tensor(result)
            return grad
        for fn in self._hooks:
            result = fn(Tensor._from_op(grad, None))
            if result is not None:
                grad = result.data if isinstance(result, Tensor) else result
        return grad

    def _accumulate_grad(self, grad) -> None:
        if isinstance(grad, Tensor):
            # create_graph: .grad is a Tensor with a graph; add out of place to keep it
            self.grad = grad if self.grad is None else self.grad + grad
            return
        if isinstance(grad, numpy.generic):  # 0-d arithmetic gives NumPy scalars
            grad = numpy.asarray(grad)
        if self.grad is None:
            # copy: an op may hand one array to several inputs, and optimizers
            # change .grad in place
            self.grad = Tensor._from_op(grad.copy(), None)
        else:
            self.grad.data += grad

    def zero_grad(self) -> None:
        self.grad = None


_TYPE_NAMES = {
    "float16": "HalfTensor", "float32": "FloatTensor", "float64": "DoubleTensor", "int8": "CharTensor",
    "int16": "ShortTensor", "int32": "IntTensor", "int64": "LongTensor", "uint8": "ByteTensor",
    "bool": "BoolTensor",
}


def _is_dtype(value) -> bool:
    """A dtype (``mt.float32``, ``numpy.int64``, ``float``), as opposed to a device name."""
    return isinstance(value, numpy.dtype) or (
        isinstance(value, type) and issubclass(value, (numpy.generic, float, int, bool)))


def _sizes(size) -> tuple:
    """Accept f(2, 3) and f((2, 3)) alike."""
    return tuple(size[0]) if len(size) == 1 and isinstance(size[0], (tuple, list)) else tuple(size)


def _legacy_constructor_array(args, dtype, name: str):
    """PyTorch's ``FloatTensor(2, 3)`` (zeros of that shape) or ``FloatTensor([1, 2])`` (data)."""
    if not args:
        return _backend.current_xp().zeros((0,), dtype=dtype)
    if all(isinstance(a, (int, numpy.integer)) and not isinstance(a, bool) for a in args):
        return _backend.current_xp().zeros(tuple(int(a) for a in args), dtype=dtype)
    if len(args) == 1 and not isinstance(args[0], (int, float, bool, complex, numpy.generic)):
        return _to_array(args[0], dtype, None)
    raise TypeError(
        f"{name}(): expected sizes (ints) or one sequence of data, got {args!r}; "
        f"mt.tensor({args[0]!r}) makes a tensor from a number"
    )


def _to_array(data, dtype, backend):
    """Convert data to a backend array: floats get the default float dtype."""
    if isinstance(data, Tensor):
        data = data.data
    if data is None:
        raise TypeError("tensor(): cannot make a tensor from None")
    name = backend or _backend.get_backend()
    xp = _backend.array_module(name)
    if _is_array(data) and _backend.backend_of(data) != name:
        data = _backend.to_host(data)   # from one backend to another goes through the host
    arr = xp.array(data)
    if arr.dtype == object:
        raise TypeError(
            f"tensor(): cannot make a tensor from {_describe_data(data)}: the data must be numbers, "
            "nested lists of numbers of one length per level, an array or a tensor (no None)"
        )
    if dtype is not None:
        return arr.astype(dtype, copy=False)
    if arr.dtype.kind == "f":
        arr = arr.astype(_backend.get_default_dtype(), copy=False)
    elif arr.dtype.kind not in "biuc":
        raise TypeError(f"cannot make a tensor from data of dtype {arr.dtype}")
    return arr


def _describe_data(data) -> str:
    text = repr(data)
    return f"{type(data).__name__} {text if len(text) < 60 else text[:57] + '...'}"
