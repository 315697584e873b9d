"""Version counters: the in-place changes that a recorded graph must know about.

An op's backward often needs values from its forward: ``Mul`` saves its two
inputs, ``Exp`` its output.  If one of them is changed in place in between
(``x[0] = 5``, ``x.zero_()``, ``x += 1``), the backward would compute with
the new values and return a wrong gradient without a word.  PyTorch refuses
such a backward, and so does this engine, with the same bookkeeping:

* every in-place op counts as one *edit*, numbered in the order they happen
  (``edits.count``); it bumps the changed tensor's ``_version`` and notes the
  edit's number on the memory it wrote (the *storage*: the array that owns it,
  so that a change made through a view or a ``detach()``\\ ed alias counts too);
* every op remembers the number of edits made before it ran (``ctx.stamp``,
  one integer: recording costs nothing more);
* before an op's backward runs, if any edit came after it
  (``edits.count != ctx.stamp``), :func:`check_unchanged` looks at each value
  the op saved: one whose memory was written by a later edit stops the
  backward with an error that names the op, the input and the versions.

Changing a tensor in place is allowed

* under ``no_grad()`` (an optimizer's step, an initialization), and on
  tensors that do not require grad: the change is not recorded; a graph that
  saved the old value refuses its backward, as above;
* on a tensor computed by the graph (or a plain tensor given a value that
  requires grad, ``out[:, t] = h``): the change is recorded as an op
  (``SetItem``, ``Add``...), and the tensor takes the new value *and* the new
  place in the graph.  Its old value stays with the ops that used it: the
  recorded change writes a new array (see ``ops/in_place.py``).

and refused, with PyTorch's reason, on a leaf that requires grad (a
parameter) while the graph is being recorded: its ``.grad`` would be that
of a value no longer there.

One case PyTorch handles and this engine refuses (see :func:`check_unchanged`):
an op that used a tensor *before* a recorded in-place change, and must send
it a gradient.  The graph's edges point at tensors, and the tensor now stands
for its new value.
"""
from __future__ import annotations

import weakref
from typing import NamedTuple

from ..backend import is_array
from ..backend.strict import StrictArray
from .engine import GraphError
from .grad_mode import flags


class InPlaceError(RuntimeError):
    """An in-place op that autograd cannot allow (a leaf that requires grad, outside no_grad)."""


class _Edits:
    count = 0      # the in-place changes made so far, in the whole program


edits = _Edits()


class EditLog(NamedTuple):
    """A tensor's in-place changes: how many (its ``_version``), and the numbers of the latest few
    (enough to tell which version an op used; a parameter changed at every step keeps no more)."""

    version: int
    latest: tuple

    KEPT = 16

    def after(self, number: int) -> "EditLog":
        return EditLog(self.version + 1, (self.latest + (number,))[-self.KEPT:])


NO_EDITS = EditLog(0, ())

# id(storage) -> (weak reference to the storage, number of its latest edit, that edit's op)
_written: dict = {}


def storage_of(array):
    """The array that owns ``array``'s memory: its base, through every view."""
    if type(array) is StrictArray:
        array = array._array      # a strict array wraps a NumPy array: its memory is that one's
    while is_array(array.base):
        array = array.base
    return array


def check_can_change(tensor, op: str) -> None:
    """Refuse to change a leaf that requires grad while the graph is recorded (PyTorch's rule)."""
    if flags.grad_enabled and tensor._requires_grad and tensor._ctx is None:
        raise InPlaceError(
            f"{op}: a leaf tensor that requires grad (shape {tuple(tensor.shape)}) is being used in an "
            "in-place operation; autograd could not give it a gradient (its .grad would be that of a "
            "value no longer there). Change it under `with mt.no_grad():`, as an optimizer step does, "
            "or compute a new tensor with out-of-place ops (y = x + 1, x.masked_fill(...))"
        )


def note_edit(tensor, op: str, wrote_memory: bool = True) -> None:
    """Count one in-place change of ``tensor`` by ``op``: bump its version and, if the
    change wrote into its array's memory, mark that memory as changed now."""
    edits.count += 1
    tensor._edits = (tensor._edits or NO_EDITS).after(edits.count)
    if not wrote_memory:
        return
    storage = storage_of(tensor.data)
    key = id(storage)

    def forget(ref, key=key):
        if _written.get(key, (None,))[0] is ref:
            del _written[key]

    try:
        ref = weakref.ref(storage, forget)
    except TypeError:             # an array type without weak references: the tensor's version still counts
        return
    _written[key] = (ref, edits.count, op)


def _latest_write(array):
    """(edit number, op) of the latest in-place write into ``array``'s memory, or None."""
    storage = storage_of(array)
    entry = _written.get(id(storage))
    if entry is None or entry[0]() is not storage:
        return None
    return entry[1], entry[2]


def version_at(tensor, stamp: int) -> str:
    """The version ``tensor`` had when ``stamp`` edits had been made ('3', or '3 or less' when
    more changes came since than its log keeps)."""
    log = tensor._edits or NO_EDITS
    since = sum(1 for n in log.latest if n > stamp)
    exact = since < len(log.latest) or log.version == len(log.latest)
    return f"{log.version - since}" + ("" if exact else " or less")


def check_unchanged(ctx, output, create_graph: bool) -> None:
    """Refuse the backward of ``ctx`` if a value it needs was changed in place after its forward.

    Called only when some in-place change came after the op (``ctx.stamp``).
    The values checked are those forward saved, and, for the graph pass
    after a fast version ran, the forward's inputs (their formula runs again).
    Also refused: sending a gradient to an input whose place in the graph a
    recorded in-place change has taken since.
    """
    values = [v for v in ctx.saved_tensors if is_array(v)]
    if create_graph and ctx.args is not None:
        values += [a for a in ctx.args if is_array(a)]
    for value in values:
        op = _written_after(value, ctx, output)
        if op is not None:
            raise GraphError(_modified_message(ctx, value, output, op))
    for i, t in enumerate(ctx.inputs):
        if t is not None and ctx.needs_input_grad[i] and t._ctx is not None and t._ctx.stamp > ctx.stamp:
            raise GraphError(
                f"{ctx.name} used input {i} (shape {tuple(t.shape)}) before an in-place op changed it "
                f"(recorded as {t._ctx.name}; version {t._version}, {ctx.name} used version "
                f"{version_at(t, ctx.stamp)}); the tensor now stands for its new value, so its old "
                f"value's gradient cannot reach {ctx.name}'s inputs: change it before using it, or "
                "use out-of-place ops / .clone() (y = x.clone(); y[...] = v)"
            )


def _written_after(value, ctx, output):
    """The op that wrote into ``value``'s memory after ``ctx``'s op ran, or None."""
    write = _latest_write(value)
    if write is not None:
        return write[1] if write[0] > ctx.stamp else None
    # an array type without weak references: what its tensor's version says
    for t in (*ctx.inputs, output):
        if t is not None and t.data is value and t._edits and t._edits.latest[-1] > ctx.stamp:
            return "an in-place op"
    return None


def _modified_message(ctx, value, output, op: str) -> str:
    storage = storage_of(value)
    what, tensor = "a value it saved", None
    for i, t in enumerate(ctx.inputs):
        if t is not None and storage_of(t.data) is storage:
            what, tensor = f"input {i}", t
            break
    else:
        if output is not None and storage_of(output.data) is storage:
            what, tensor = "its output", output
    shape = tuple(value.shape) if tensor is None else tuple(tensor.shape)
    if tensor is not None and str(tensor._version) != version_at(tensor, ctx.stamp):
        versions = f"version {tensor._version}, expected {version_at(tensor, ctx.stamp)}"
    else:
        versions = "through a tensor that shares its memory"
    return (
        f"{ctx.name} needs {what} (shape {shape}) for its backward, but it was modified in place "
        f"by {op} after {ctx.name} used it ({versions}): change it before, or use out-of-place "
        "ops / .clone()"
    )
