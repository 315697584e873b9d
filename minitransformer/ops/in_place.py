"""In-place ops: ``x[index] = v``, ``x.zero_()``, ``x.normal_()``, ``x += y``..., each returning x.

PyTorch's methods with a trailing underscore change their tensor instead of
making a new one.  Each change is counted (``x._version``) so that a graph
that saved the old value refuses its backward instead of computing a wrong
gradient (``autograd/versions.py`` tells how).  What happens depends on
whether the graph must record the change:

* **Not recorded**: under ``no_grad()`` (an optimizer step, an initialization),
  or when neither x nor the value requires grad (a positional-encoding table,
  a mask, a buffer).  The new values are written into x's array: every view
  of that memory sees them, as in PyTorch.
* **Recorded**: when x is computed by the graph, or the value written
  requires grad (``out[:, t] = h``, RNN style).  The change is an op
  (``SetItem``, ``Add``, ``Mul``...) on x's old value, and x takes its
  result and its place in the graph, so that gradients flow through the
  change: to the value written, and to x's old value where it was kept.
  The result is a new array: x's old array stays as it was for the ops that
  used it (a view of x taken before does not see the change; in PyTorch it
  would).
* **Refused**: on a leaf that requires grad (a parameter) outside
  ``no_grad()``, with PyTorch's reason.

Random fills (``normal_``, ``uniform_``) draw from the engine's seeded
generator, so ``mt.manual_seed`` makes them reproducible.
"""
from __future__ import annotations

import numbers

import numpy

from ..autograd import Tensor
from ..autograd.grad_mode import flags
from ..autograd.versions import check_can_change, edits, note_edit
from ..backend import backend_of, get_array_module, get_rng, is_array
from .broadcasting import python_scalar
from .indexing import SetItem, _index_on_backend_of, _unwrap_index


def _operand(x, value, op: str):
    """``value`` as forward code takes it beside ``x``'s array: a Tensor (kept, for the graph), a
    Python number, or an array on x's backend (lists and host arrays are sent there)."""
    if isinstance(value, Tensor):
        if value.backend != x.backend:
            raise TypeError(
                f"{op}: the value lives on backend '{value.backend}' and the tensor on '{x.backend}'; "
                f"move it first with value.to('{x.device}')"
            )
        return value
    if isinstance(value, (numbers.Number, numpy.generic)):
        return python_scalar(value)
    xp = get_array_module(x.data)
    if not is_array(value) or backend_of(value) == "numpy":
        return xp.asarray(value)        # a list, or a host array: sent to x's device, as CuPy does
    if backend_of(value) != x.backend:
        raise TypeError(f"{op}: the value is a {backend_of(value)} array and the tensor lives on "
                        f"backend '{x.backend}'; move it there first")
    return value


def _array_of(value):
    return value.data if isinstance(value, Tensor) else value


def _write_all(data, value) -> None:
    """Every element of ``data`` set to ``value`` (broadcast, cast to data's dtype)."""
    data[...] = _array_of(value)


def _float_only(x, op: str) -> None:
    if x.data.dtype.kind != "f":
        raise TypeError(f"{op}: draws floats, but the tensor has dtype {x.dtype}")


def _change(x, op: str, values, recorded, write) -> Tensor:
    """Change ``x`` in place by ``op``; return x.

    ``recorded(old)`` gives the new value as ops on ``old`` (a Tensor standing
    for x's old value) and on ``values``: used when the graph must record the
    change.  ``write(array)`` writes the new value into x's array otherwise.
    """
    check_can_change(x, op)
    needs_graph = flags.grad_enabled and x.data.dtype.kind == "f" and (
        x._requires_grad or any(isinstance(v, Tensor) and v._requires_grad for v in values))
    if not needs_graph:
        try:
            write(x.data)
        except (IndexError, TypeError, ValueError) as exc:
            raise _named(exc, f"{op} on a tensor of shape {x.shape} and dtype {x.dtype}") from None
        note_edit(x, op)
        return x
    old = Tensor._from_op(x.data, x._ctx)       # x's old value keeps x's old place in the graph
    old._requires_grad, old._edits = x._requires_grad, x._edits
    new = recorded(old)
    if new.shape != x.shape:
        raise ValueError(
            f"{op}: the result has shape {new.shape}, which is not the tensor's shape {x.shape}; "
            "an in-place op cannot change the shape (broadcast the other operand to it)"
        )
    if new.dtype != x.dtype:                   # x += float64 keeps x float32, as in PyTorch
        new = new.astype(x.dtype)
    note_edit(x, op, wrote_memory=False)
    if new._ctx is not None:
        new._ctx.stamp = edits.count            # x's new op comes after the change (see versions.py)
    x.data, x._ctx, x._requires_grad = new.data, new._ctx, new._requires_grad
    return x


def _named(exc, where: str) -> Exception:
    """NumPy's error about a write, as the same kind of error that names the op and the tensor."""
    kind = IndexError if isinstance(exc, IndexError) else TypeError if isinstance(exc, TypeError) else ValueError
    return kind(f"{where}: {exc}")


# ----------------------------------------------------------------- writing
def setitem(x, index, value) -> None:
    """``x[index] = value``: NumPy's indexing (ints, slices, lists, masks, Tensors), value broadcast."""
    value = _operand(x, value, "setitem")
    index = _unwrap_index(index)

    def write(data):
        data[_index_on_backend_of(data, index)] = _array_of(value)

    _change(x, "setitem", (value,), lambda old: SetItem.apply(old, value, index=index), write)


def fill_(x, value) -> Tensor:
    """Every element set to ``value`` (a number or a one-element tensor)."""
    value = _operand(x, value, "fill_")
    return _change(x, "fill_", (value,), lambda old: SetItem.apply(old, value, index=Ellipsis),
                   lambda data: _write_all(data, value))


def zero_(x) -> Tensor:
    """Every element set to 0."""
    return _change(x, "zero_", (), lambda old: SetItem.apply(old, 0, index=Ellipsis),
                   lambda data: _write_all(data, 0))


def copy_(x, src) -> Tensor:
    """x's elements set to ``src``'s (broadcast to x's shape, cast to x's dtype; from another
    device, copied across)."""
    if isinstance(src, Tensor) and src.backend != x.backend:
        src = src.to(x.device)
    src = _operand(x, src, "copy_")
    return _change(x, "copy_", (src,), lambda old: SetItem.apply(old, src, index=Ellipsis),
                   lambda data: _write_all(data, src))


def masked_fill_(x, mask, value) -> Tensor:
    """``value`` (a number: a constant) where ``mask`` (broadcast to x's shape) is True."""
    mask = _operand(x, mask, "masked_fill_")
    value = float(value)

    def write(data):
        xp = get_array_module(data)
        data[...] = xp.where(_array_of(mask), xp.asarray(value, dtype=data.dtype), data)

    return _change(x, "masked_fill_", (), lambda old: old.masked_fill(mask, value), write)


# ------------------------------------------------------- random values
def _draw(x, op: str, draw):
    """Fill x with ``draw(generator, shape)``, from the engine's seeded generator of x's backend."""
    _float_only(x, op)
    xp = get_array_module(x.data)
    values = draw(get_rng(xp), x.shape).astype(x.dtype, copy=False)
    return _change(x, op, (), lambda old: SetItem.apply(old, values, index=Ellipsis),
                   lambda data: _write_all(data, values))


def normal_(x, mean=0.0, std=1.0) -> Tensor:
    """Samples of the normal distribution N(mean, std^2)."""
    return _draw(x, "normal_", lambda rng, shape: rng.standard_normal(shape) * std + mean)


def uniform_(x, a=0.0, b=1.0) -> Tensor:
    """Samples of the uniform distribution on [a, b)."""
    return _draw(x, "uniform_", lambda rng, shape: rng.random(shape) * (b - a) + a)


# -------------------------------------------------------------- arithmetic
def add_(x, other, alpha=1) -> Tensor:
    """x + alpha * other (``p.add_(p.grad, alpha=-lr)``)."""
    other = _operand(x, other, "add_")

    def write(data):
        data += _array_of(other) if alpha == 1 else alpha * _array_of(other)

    return _change(x, "add_", (other,), lambda old: old + (other if alpha == 1 else alpha * other), write)


def sub_(x, other, alpha=1) -> Tensor:
    """x - alpha * other."""
    other = _operand(x, other, "sub_")

    def write(data):
        data -= _array_of(other) if alpha == 1 else alpha * _array_of(other)

    return _change(x, "sub_", (other,), lambda old: old - (other if alpha == 1 else alpha * other), write)


def mul_(x, other) -> Tensor:
    """x * other."""
    other = _operand(x, other, "mul_")

    def write(data):
        data *= _array_of(other)

    return _change(x, "mul_", (other,), lambda old: old * other, write)


def div_(x, other) -> Tensor:
    """x / other."""
    other = _operand(x, other, "div_")

    def write(data):
        data /= _array_of(other)

    return _change(x, "div_", (other,), lambda old: old / other, write)


IN_PLACE_METHODS = {
    "__setitem__": setitem, "fill_": fill_, "zero_": zero_, "copy_": copy_, "masked_fill_": masked_fill_,
    "normal_": normal_, "uniform_": uniform_, "add_": add_, "sub_": sub_, "mul_": mul_, "div_": div_,
    "__iadd__": add_, "__isub__": sub_, "__imul__": mul_, "__itruediv__": div_,
}
