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
needs.  ``forward`` computes on the inputs' *arrays* (NumPy or CuPy:
``xp = get_array_module(x)`` serves both).  ``backward`` is the derivative,
written once, and it runs in two ways:

* in an ordinary ``backward()`` it gets arrays (``grad`` and the saved
  values), so the backward pass is plain array code and records nothing;
* with ``create_graph=True`` (higher-order gradients) the *same* method gets
  Tensors: ``grad`` is a Tensor, and ``ctx.saved_tensors`` gives back the
  op's input and output Tensors for the arrays that forward saved, so every
  product and sum the derivative makes is recorded and can be
  differentiated again.  ``get_array_module`` of a Tensor is the Tensor
  namespace (``exp``, ``where``, ``broadcast_to``... on Tensors), so the
  ``xp`` code runs unchanged.

For that, a backward uses what arrays and Tensors share (operators,
``.sum(axis=..., keepdims=...)``, ``.reshape``, ``.swapaxes``, indexing and
``xp`` functions), and forward saves only inputs, the output, and values
whose derivative is zero (masks, ids, comparisons): any other saved array
enters the graph pass as a constant.  An op whose adjoint is another op
(indexing, whose derivative scatters) defines ``backward_graph(ctx, grad)``
on Tensors instead; a test proves it equal to ``backward``.

In-place changes.  Each context notes how many in-place changes had been
made when its op ran (``ctx.stamp``, one integer); if any came after, the
backward first checks that none wrote into a value the op saved, and
refuses, naming the op and the input, if one did (``versions.py``).

Fast versions.  The backend may register a faster implementation of an op
(``minitransformer.backend.fast``: threads, buffers, fused kernels);
``apply`` runs it instead of the formula for arrays of that backend, and a
test proves the two equal.  The graph pass always runs the formula.
"""
from __future__ import annotations

import os
import time
import traceback

import numpy

from ..backend import backend_of_type, get_array_module, to_host
from ..backend.fast import find_fast_version
from ..backend.fast import state as fast_state
from .grad_mode import AnomalyError, flags
from .tensor import Tensor
from .versions import check_unchanged, edits

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

    __slots__ = ("fn", "impl", "inputs", "needs_input_grad", "saved_tensors", "freed", "origin",
                 "args", "kwargs", "stamp", "__dict__")

    def __init__(self, fn, inputs, needs_input_grad):
        self.fn = fn                            # the op (its formula)
        self.impl = fn                          # the class whose forward ran: fn or a fast version
        self.inputs = inputs                    # the input Tensors (None for non-tensors)
        self.needs_input_grad = needs_input_grad  # one bool per positional input
        self.saved_tensors = ()
        self.freed = False
        self.origin = None                      # "file:line" of user code (anomaly mode)
        self.args = self.kwargs = None          # forward's arguments, kept when a fast version ran
        self.stamp = edits.count                # in-place changes made before this op (see versions.py)

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
        self.args = self.kwargs = None
        self.freed = True

    def run_backward(self, grad, output=None, create_graph: bool = False):
        """Call the op's backward and check what it returns (count, shapes, dtypes).

        ``grad`` is an array, or with ``create_graph`` a Tensor; then
        ``output`` is the op's output Tensor and the gradients are Tensors
        recorded in the graph.  A value it saved that was changed in place
        since stops it here (see ``versions.py``).
        """
        if self.stamp != edits.count:
            check_unchanged(self, output, create_graph)
        if flags.profiler is not None:
            start = time.perf_counter()
            grads = self._call_backward(grad, output, create_graph)
            phase = "backward_graph" if create_graph else "backward"
            flags.profiler.record(self.name, phase, time.perf_counter() - start)
        else:
            grads = self._call_backward(grad, output, create_graph)
        if not isinstance(grads, tuple):
            grads = (grads,)
        if len(grads) != len(self.inputs):
            raise TypeError(
                f"{self.name}.backward returned {len(grads)} gradient(s) but forward "
                f"took {len(self.inputs)} positional input(s); return one per input (None for non-tensors)"
            )
        checked = []
        for i, (parent, g) in enumerate(zip(self.inputs, grads)):
            if g is not None and parent is not None and self.needs_input_grad[i]:
                g = self._checked_gradient(i, parent, g, grad, create_graph)
            checked.append(g)
        return tuple(checked)

    def _call_backward(self, grad, output, create_graph):
        if not create_graph:
            return self.impl.backward(self, grad)
        if hasattr(self.fn, "backward_graph"):
            return self.fn.backward_graph(self, grad)
        return self.fn.backward(_TensorContext(self, output), grad)

    def _checked_gradient(self, i, parent, g, grad, create_graph):
        if create_graph and not isinstance(g, Tensor):
            raise TypeError(
                f"{self.name}.backward returned a {type(g).__name__} for input {i} when given Tensors "
                "(create_graph=True); compute each gradient from grad and ctx.saved_tensors with "
                "operations that Tensors have too"
            )
        if isinstance(g, numpy.generic):   # arithmetic on 0-d arrays gives NumPy scalars
            g = numpy.asarray(g)
        if not create_graph and g.dtype != parent.dtype and g.dtype == grad.dtype and g.shape == parent.shape:
            # forward promoted this input (float32 * float64 -> float64): its
            # gradient goes back in the input's own dtype, as in PyTorch
            g = g.astype(parent.dtype)
        if create_graph and tuple(g.shape) == tuple(parent.shape) and g.dtype != parent.dtype:
            raise ValueError(
                f"{self.name}.backward returned a gradient of dtype {g.dtype} for input {i}, which has "
                f"dtype {parent.dtype} (with create_graph=True the inputs of an op must share one float dtype)"
            )
        if tuple(g.shape) != tuple(parent.shape) or g.dtype != parent.dtype:
            raise GradientShapeError(self.name, i, tuple(g.shape), g.dtype, tuple(parent.shape), parent.dtype)
        if flags.anomaly:
            _check_finite(g.data if create_graph else g,
                          f"the gradient {self.name}.backward returned for input {i}", self)
        return g


class _TensorContext:
    """The context as ``backward`` sees it in the graph pass (``create_graph=True``).

    The same attributes as the op's context, but ``saved_tensors`` gives the
    op's input Tensor for each saved input array, and the output Tensor for
    the saved output, so that the derivative computed from them is recorded;
    any other saved array (a mask, ids) stays an array: a constant.  When a
    fast version ran the forward, the formula's forward is run again on the
    same arguments first, so that backward finds what the formula saved.
    """

    def __init__(self, ctx, output):
        formula_output = output.data if output is not None else None
        source = ctx
        if ctx.impl is not ctx.fn:
            source = Context(ctx.fn, ctx.inputs, ctx.needs_input_grad)
            formula_output = ctx.fn.forward(source, *ctx.args, **ctx.kwargs)
        self._source = source
        self.fn, self.inputs, self.needs_input_grad = ctx.fn, ctx.inputs, ctx.needs_input_grad
        by_identity = {id(t.data): t for t in ctx.inputs if t is not None}
        if output is not None:
            by_identity[id(formula_output)] = output
        self.saved_tensors = tuple(_as_graph_value(v, by_identity) for v in source.saved_tensors)

    def __getattr__(self, name):
        return getattr(self._source, name)


def _as_graph_value(value, by_identity):
    """The input or output Tensor that ``value`` is the array of; else ``value`` itself, a constant."""
    return by_identity.get(id(value), value)


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

    # check(*arrays, **kwargs): refuse bad input with a clear error before any
    # forward runs, the formula's or a fast version's (None: forward checks itself)
    check = None

    @staticmethod
    def forward(ctx, *inputs, **kwargs):
        raise NotImplementedError

    @staticmethod
    def backward(ctx, grad):
        raise NotImplementedError

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
        impl = cls if array_type is None or not fast_state.enabled else _implementation(cls, array_type)
        if impl is not cls:
            ctx.impl, ctx.args, ctx.kwargs = impl, arrays, kwargs
        if cls.check is not None:
            cls.check(*arrays, **kwargs)
        if flags.anomaly or flags.profiler is not None:
            return cls._apply_checked(ctx, arrays, kwargs, requires_grad)
        out = impl.forward(ctx, *arrays, **kwargs)
        if isinstance(out, numpy.generic):  # NumPy reductions return scalars
            out = _as_array(out, ctx)
        return Tensor._from_op(out, ctx if requires_grad else None)

    @classmethod
    def _apply_checked(cls, ctx, arrays, kwargs, requires_grad):
        """apply() under detect_anomaly or the profiler: slower, more checks."""
        if flags.anomaly:  # walking the stack is slow: only when it will be reported
            ctx.origin = _user_origin()
        start = time.perf_counter()
        out = ctx.impl.forward(ctx, *arrays, **kwargs)
        if flags.profiler is not None:
            flags.profiler.record(cls.__name__, "forward", time.perf_counter() - start)
        if isinstance(out, numpy.generic):
            out = _as_array(out, ctx)
        if flags.anomaly:
            _check_finite(out, f"the forward output of {cls.__name__}", ctx)
        return Tensor._from_op(out, ctx if requires_grad else None)


def _as_array(scalar, ctx):
    """A NumPy scalar output as a 0-d array, also where forward saved it (the output is found by identity)."""
    out = numpy.asarray(scalar)
    if any(v is scalar for v in ctx.saved_tensors):
        ctx.saved_tensors = tuple(out if v is scalar else v for v in ctx.saved_tensors)
    return out


_implementations: dict = {}   # (op class, array type, switch generation) -> the class whose methods run


def _implementation(cls, array_type):
    """The op's fast version for arrays of ``array_type``, if the backend registered one, else ``cls``."""
    key = (cls, array_type, fast_state.generation)
    impl = _implementations.get(key)
    if impl is None:
        fast = find_fast_version(f"{cls.__module__}.{cls.__qualname__}", backend_of_type(array_type))
        impl = cls
        if fast is not None:
            # a fast version may replace only the backward: the formula's forward then runs
            methods = {"forward": staticmethod(getattr(fast, "forward", cls.forward)),
                       "backward": staticmethod(fast.backward)}
            impl = type(fast.__name__, (), {**methods, "__qualname__": fast.__qualname__})
        _implementations[key] = impl
    return impl
