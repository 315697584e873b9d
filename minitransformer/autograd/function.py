"""Function: one differentiable op, its forward and its backward side by side.

An op is a small class::

    class Mul(Function):
        @staticmethod
        def forward(ctx, a, b):
            ctx.save_for_backward(a, b)
            return a * b

        @staticmethod
        def backward(ctx, grad):
            '''d(a*b)/da = b and d(a*b)/db = a; sum out broadcast axes.'''
            a, b = ctx.saved_tensors
            return unbroadcast(grad * b, a.shape), unbroadcast(grad * a, b.shape)

applied as ``Mul.apply(x, y)``.  As in PyTorch, ``forward(ctx, *inputs)`` and
``backward(ctx, grad)`` are static methods and ``ctx`` carries what backward
needs.  Unlike PyTorch, both see *raw backend arrays* (NumPy or CuPy), never
Tensors: the math is plain array code, and ``xp = get_array_module(x)`` makes
it serve both backends.  ``backward`` returns one gradient per positional
input of ``forward`` (``None`` for inputs that take none, like an axis).
Keyword arguments of ``apply`` reach ``forward`` unchanged and get no gradient.

Higher-order gradients.  ``backward(create_graph=True)`` and ``mt.grad(...,
create_graph=True)`` need gradients that are themselves Tensors with a graph,
so that they can be differentiated again.  For that pass each op has a second
static method right under its backward, ``backward_graph(ctx, grad)``: the same
derivative written with Tensor operations, so that every product and sum it
makes is recorded.  It receives ``grad`` as a Tensor and reads the op's inputs
as Tensors from ``ctx.inputs`` (not the raw arrays of ``saved_tensors``, which
carry no graph), recomputing from them what the array backward had saved.
Where the array backward is already written with operators and methods that
Tensors share (``-grad``, ``grad.reshape``, ``unbroadcast``), the op simply
says ``backward_graph = backward``.  The default (array) pass never calls
``backward_graph``, so training pays nothing for it; the registry tests check,
op by op, that both give the same gradient and that ``backward_graph`` is
differentiated correctly (``mt.gradgradcheck``).
"""
from __future__ import annotations

import os
import time
import traceback

import numpy

from ..backend import get_array_module, to_host
from .grad_mode import AnomalyError, flags
from .tensor import Tensor

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def shape_advice(shape: tuple, expected: tuple) -> str:
    """Why a gradient of ``shape`` may have come out for an input of shape ``expected``."""
    if len(shape) >= 2 and shape[:-2] + shape[-2:][::-1] == expected:
        return "it is the input's shape with the last two axes swapped: is an operand untransposed or swapped?"
    try:
        stretched = numpy.broadcast_shapes(shape, expected)
    except ValueError:
        stretched = None
    if stretched == shape:
        return "did you forget to sum over broadcast axes (unbroadcast)?"
    if stretched == expected:
        return ("it has fewer elements than its input: put back the axes a reduction dropped, with "
                "length 1 (as keepdims=True would), and broadcast to the input's shape")
    return "return one gradient per input, of that input's shape"


class GradientShapeError(ValueError):
    """A backward returned a gradient whose shape or dtype is not its input's."""

    def __init__(self, function: str, input_index: int, shape: tuple, dtype, expected_shape: tuple,
                 expected_dtype):
        self.function, self.input_index = function, input_index
        self.shape, self.dtype = tuple(shape), numpy.dtype(dtype)
        self.expected_shape, self.expected_dtype = tuple(expected_shape), numpy.dtype(expected_dtype)
        if self.shape == self.expected_shape:
            advice = f"cast it to {self.expected_dtype}, e.g. g.astype(x.dtype)"
        else:
            advice = shape_advice(self.shape, self.expected_shape)
        super().__init__(
            f"{function}.backward returned a gradient of shape {self.shape} and dtype {self.dtype} for "
            f"input {input_index}, which has shape {self.expected_shape} and dtype {self.expected_dtype}: "
            f"a gradient must match its input ({advice})"
        )


class Context:
    """What one application of a Function remembers for its backward."""

    __slots__ = ("fn", "inputs", "needs_input_grad", "saved_tensors", "freed", "origin", "__dict__")

    def __init__(self, fn, inputs, needs_input_grad):
        self.fn = fn
        self.inputs = inputs                    # the input Tensors (None for non-tensors)
        self.needs_input_grad = needs_input_grad  # one bool per positional input
        self.saved_tensors = ()
        self.freed = False
        self.origin = None                      # "file:line" of user code (anomaly mode)

    def save_for_backward(self, *arrays) -> None:
        """Keep arrays for backward; they are freed once backward has run."""
        self.saved_tensors = arrays

    @property
    def name(self) -> str:
        return self.fn.__name__

    def release(self) -> None:
        """Free what forward saved (the graph's memory) after backward.

        The references to the input tensors go too, so that each activation
        is freed as soon as the backward pass no longer needs it.
        """
        self.saved_tensors = ()
        self.__dict__.clear()
        self.inputs = ()
        self.freed = True

    def run_backward(self, grad):
        """Call the op's backward and check what it returns (count, shapes, dtypes)."""
        if flags.profiler is not None:
            start = time.perf_counter()
            grads = self.fn.backward(self, grad)
            flags.profiler.record(self.name, "backward", time.perf_counter() - start)
        else:
            grads = self.fn.backward(self, grad)
        if not isinstance(grads, tuple):
            grads = (grads,)
        # arithmetic on 0-d arrays gives NumPy scalars: keep gradients arrays
        grads = tuple(numpy.asarray(g) if isinstance(g, numpy.generic) else g for g in grads)
        if len(grads) != len(self.inputs):
            raise TypeError(
                f"{self.name}.backward returned {len(grads)} gradient(s) but forward "
                f"took {len(self.inputs)} positional input(s); return one per input (None for non-tensors)"
            )
        for i, (parent, g) in enumerate(zip(self.inputs, grads)):
            if g is None or parent is None or not self.needs_input_grad[i]:
                continue
            if g.dtype != parent.data.dtype and g.dtype == grad.dtype and g.shape == parent.data.shape:
                # forward promoted this input (float32 * float64 -> float64): its
                # gradient goes back in the input's own dtype, as in PyTorch
                g = g.astype(parent.data.dtype)
                grads = grads[:i] + (g,) + grads[i + 1:]
            if g.shape != parent.data.shape or g.dtype != parent.data.dtype:
                raise GradientShapeError(self.name, i, tuple(g.shape), g.dtype, tuple(parent.shape), parent.dtype)
            if flags.anomaly:
                _check_finite(g, f"the gradient {self.name}.backward returned for input {i}", self)
        return grads

    def run_backward_graph(self, grad):
        """Call the op's ``backward_graph`` on a Tensor gradient (``create_graph=True``).

        The gradients it returns are Tensors recorded in the graph; they are
        checked as ``run_backward`` checks arrays.
        """
        if flags.profiler is not None:
            start = time.perf_counter()
            grads = self.fn.backward_graph(self, grad)
            flags.profiler.record(self.name, "backward_graph", time.perf_counter() - start)
        else:
            grads = self.fn.backward_graph(self, grad)
        if not isinstance(grads, tuple):
            grads = (grads,)
        if len(grads) != len(self.inputs):
            raise TypeError(
                f"{self.name}.backward_graph returned {len(grads)} gradient(s) but forward "
                f"took {len(self.inputs)} positional input(s); return one per input (None for non-tensors)"
            )
        for i, (parent, g) in enumerate(zip(self.inputs, grads)):
            if g is None or parent is None or not self.needs_input_grad[i]:
                continue
            if not isinstance(g, Tensor):
                raise TypeError(
                    f"{self.name}.backward_graph returned a {type(g).__name__} for input {i}; "
                    "with create_graph=True each gradient must be a Tensor built from differentiable ops"
                )
            if g.shape != parent.shape or g.dtype != parent.dtype:
                raise ValueError(
                    f"{self.name}.backward_graph returned a gradient of shape {g.shape} and dtype "
                    f"{g.dtype} for input {i}, which has shape {parent.shape} and dtype {parent.dtype} "
                    "(with create_graph=True the inputs of an op must share one float dtype)"
                )
            if flags.anomaly:
                _check_finite(g.data, f"the gradient {self.name}.backward_graph returned for input {i}", self)
        return grads


_ENGINE_DIRS = tuple(os.path.join(_PACKAGE_DIR, d) for d in ("autograd", "ops", "functional"))


def _user_origin() -> str:
    """'file:line' of the code that created the op.

    The innermost frame outside this package (the user's script); when the
    whole stack is inside it (the trainer), the innermost frame outside the
    engine itself, which names the layer.
    """
    stack = [f for f in reversed(traceback.extract_stack()) if not f.filename.startswith("<")]
    for frame in stack:
        if not os.path.abspath(frame.filename).startswith(_PACKAGE_DIR):
            return f"{frame.filename}:{frame.lineno}"
    for frame in stack:
        if not os.path.abspath(frame.filename).startswith(_ENGINE_DIRS):
            return f"{frame.filename}:{frame.lineno}"
    return "<unknown>"


def _check_finite(array, what, ctx) -> None:
    # anomaly mode checks every result on the host: slow on purpose, a debugging aid
    if array.dtype.kind == "f" and not bool(to_host(get_array_module(array).isfinite(array).all())):
        shapes = ", ".join(str(tuple(t.shape)) for t in ctx.inputs if t is not None)
        raise AnomalyError(
            f"{what} contains NaN or inf (op {ctx.name}, input shapes [{shapes}], "
            f"created at {ctx.origin})"
        )


def _mixed_backend_error(fn, args):
    described = ", ".join(
        f"{a.backend} {tuple(a.shape)}" for a in args if isinstance(a, Tensor)
    )
    return TypeError(
        f"{fn.__name__}: inputs live on different backends ({described}); move them "
        "to one backend first with tensor.to('numpy') or tensor.to('cupy') "
        "(no silent host/device copy is made)"
    )


class Function:
    """Base class of every differentiable op; subclass it to write your own."""

    @staticmethod
    def forward(ctx, *inputs, **kwargs):
        raise NotImplementedError

    @staticmethod
    def backward(ctx, grad):
        raise NotImplementedError

    @classmethod
    def backward_graph(cls, ctx, grad):
        """backward on Tensors, recorded in the graph (see the module docstring)."""
        raise NotImplementedError(
            f"{cls.__name__} has no backward_graph, so its gradient cannot be differentiated "
            "again (create_graph=True); write one with Tensor operations next to its backward"
        )

    @classmethod
    def apply(cls, *args, **kwargs) -> Tensor:
        """Run forward on the inputs' arrays and, if needed, record the op."""
        arrays, needs = [], []
        array_type = None
        requires_grad = False
        record = flags.grad_enabled
        for a in args:
            if isinstance(a, Tensor):
                data = a.data
                if array_type is None:
                    array_type = type(data)
                elif type(data) is not array_type:
                    raise _mixed_backend_error(cls, args)
                arrays.append(data)
                need = record and a._requires_grad
                requires_grad = requires_grad or need
                needs.append(need)
            else:
                arrays.append(a)
                needs.append(False)
        inputs = tuple(a if isinstance(a, Tensor) else None for a in args)
        ctx = Context(cls, inputs, tuple(needs))
        if flags.anomaly or flags.profiler is not None:
            return cls._apply_checked(ctx, arrays, kwargs, requires_grad)
        out = cls.forward(ctx, *arrays, **kwargs)
        if isinstance(out, numpy.generic):  # NumPy reductions return scalars
            out = numpy.asarray(out)
        return Tensor._from_op(out, ctx if requires_grad else None)

    @classmethod
    def _apply_checked(cls, ctx, arrays, kwargs, requires_grad):
        """apply() under detect_anomaly or the profiler: slower, more checks."""
        if flags.anomaly:  # walking the stack is slow: only when it will be reported
            ctx.origin = _user_origin()
        start = time.perf_counter()
        out = cls.forward(ctx, *arrays, **kwargs)
        if flags.profiler is not None:
            flags.profiler.record(cls.__name__, "forward", time.perf_counter() - start)
        if isinstance(out, numpy.generic):
            out = numpy.asarray(out)
        if flags.anomaly:
            _check_finite(out, f"the forward output of {cls.__name__}", ctx)
        return Tensor._from_op(out, ctx if requires_grad else None)
