"""Tensor: an array that remembers how it was computed.

A Tensor holds a backend array in ``.data`` (NumPy or CuPy), its gradient in
``.grad`` once ``backward`` has run, and, when it was produced by an op that
needs a gradient, the op's context in ``._ctx`` -- the edge of the graph that
``backward`` walks.  Arithmetic operators, ``sum``, ``reshape`` and the other
methods are attached by ``minitransformer.ops``, so that this file depends on
no op (and the ops can depend on it).
"""
from __future__ import annotations

import numpy

from .. import backend as _backend
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

    __slots__ = ("data", "grad", "_requires_grad", "_ctx", "_hooks", "_retains_grad", "__weakref__")
    # Make NumPy hand `ndarray + tensor` to Tensor.__radd__ instead of looping.
    __array_ufunc__ = None

    def __init__(self, data, requires_grad: bool = False):
        if not _is_array(data) or isinstance(data, numpy.generic):
            data = _to_array(data, None, None)
        self.data = data
        self.grad = None
        self._ctx = None
        self._hooks = []
        self._retains_grad = False
        self._requires_grad = False
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

    def to(self, backend: str) -> "Tensor":
        """A copy of this tensor on another backend ('numpy', 'cupy' or 'strict'), as a leaf."""
        xp = _backend.array_module(backend)
        if backend == self.backend:
            return self
        out = Tensor(xp.asarray(_backend.to_host(self.data)))
        out._requires_grad = self._requires_grad
        return out

    def astype(self, dtype) -> "Tensor":
        """A copy with another dtype, cut from the graph (use it for ids and masks)."""
        return Tensor(self.data.astype(dtype))

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


def _to_array(data, dtype, backend):
    """Convert data to a backend array: floats get the default float dtype."""
    if isinstance(data, Tensor):
        data = data.data
    name = backend or _backend.get_backend()
    xp = _backend.array_module(name)
    if _is_array(data) and _backend.backend_of(data) != name:
        data = _backend.to_host(data)   # from one backend to another goes through the host
    if dtype is not None:
        return xp.array(data, dtype=dtype)
    arr = xp.array(data)
    if arr.dtype.kind == "f" or arr.dtype == object:
        arr = arr.astype(_backend.get_default_dtype(), copy=False)
    elif arr.dtype.kind not in "biuc":
        raise TypeError(f"cannot make a tensor from data of dtype {arr.dtype}")
    return arr
