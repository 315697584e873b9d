"""The grader's words for what went wrong: shape mistakes, NumPy's errors, a case to redo by hand.

A student reads ``operands could not be broadcast together with remapped
shapes`` or ``mismatch in its core dimension`` as noise.  These functions say
the same thing in the exercise's terms: which gradient has which shape, what
that shape suggests (a dropped reduced axis, a transposed operand, a table of
the wrong size, a forgotten sum over broadcast axes), and, for a small case,
every input and the upstream gradient, so that the student can work the case
out on paper.  Where the wrong gradient breaks a property with a name (the
rows of a softmax gradient sum to zero), the message names the property and
gives the student's own values.  A message is kept as one string (the JSON
export stores it so); ``paragraphs`` splits it for printing and ``wrap``
wraps the paragraphs to a terminal's width.
"""
from __future__ import annotations

import re
import textwrap

import numpy as np

from ..autograd.function import shape_advice

# the largest array a message writes out in full
SHOWN_ELEMENTS = 24
# where a message's case to redo by hand begins (its second paragraph when printed)
BY_HAND = "To redo it by hand: "


def shape_text(shape) -> str:
    return "(" + ", ".join(str(n) for n in shape) + (",)" if len(shape) == 1 else ")")


def array_text(a, digits: int = 4) -> str:
    a = np.asarray(a)
    if a.ndim == 0:
        return f"{float(a):.{digits}g}" if a.dtype.kind == "f" else repr(a.item())
    if a.dtype.kind == "f":
        a = np.round(a, digits)
        a = np.where(a == 0, 0.0, a)  # no "-0.0" in a message
    return repr(a.tolist())


def small(*arrays) -> bool:
    return all(np.asarray(a).size <= SHOWN_ELEMENTS for a in arrays)


def _reduced_shape(shape, params) -> tuple | None:
    """The output shape of a keepdims=False reduction of ``shape`` over params' axis, else None."""
    if "axis" not in params or params.get("keepdims", False):
        return None
    axis = params["axis"]
    axes = range(len(shape)) if axis is None else ((axis,) if isinstance(axis, int) else axis)
    axes = {a % len(shape) for a in axes} if shape else set()
    return tuple(n for i, n in enumerate(shape) if i not in axes)


def gradient_shape_advice(exc, check, params) -> str:
    """What a backward's gradient of the wrong shape (a GradientShapeError) suggests, in words."""
    names = check.inputs
    name = names[exc.input_index] if exc.input_index < len(names) else f"input {exc.input_index}"
    got, want = exc.shape, exc.expected_shape
    head = (f"{exc.function}.backward returned a gradient of shape {shape_text(got)} for {name}, "
            f"which has shape {shape_text(want)}")
    if got == want:
        return (f"{exc.function}.backward returned a gradient of dtype {exc.dtype} for {name}, which is "
                f"{exc.expected_dtype}: compute it from the arrays forward saved (they are "
                f"{exc.expected_dtype}), or cast it with .astype({name}.dtype)")
    if got == _reduced_shape(want, params):
        return (f"{head}: that is the shape of the reduction's output, so the reduced axes are missing. "
                "keepdims=False dropped them: put them back with length 1 (np.expand_dims(grad, "
                f"ctx.axes), as keepdims=True would keep them), then broadcast to {name}'s shape")
    if check.spec == "Embedding" and len(got) == 2 and got[1:] == want[1:]:
        return (f"{head}: the table W has {want[0]} rows, so dL/dW needs {want[0]} rows too, one per "
                f"row of W (ctx.num_rows), however many distinct ids occur, not {got[0]}")
    if len(got) >= 2 and got[:-2] + got[-2:][::-1] == want:
        # no formula here: the hint printed after the message states it (once)
        return (f"{head}: its last two axes are swapped, so an operand is not transposed or the "
                "factors are in the wrong order")
    return f"{head}: {shape_advice(got, want)}"


_CORE = re.compile(r"mismatch in its core dimension.*\(size (\d+) is different from (\d+)\)")
_BROADCAST_TO = re.compile(r"remapped shapes \[original->remapped\]: (\([\d, ]*\))\s+and requested shape "
                           r"(\([\d, ]*\))")
_BROADCAST = re.compile(r"could not be broadcast together with shapes ((?:\([\d, ]*\)\s*)+)")
_RESHAPE = re.compile(r"cannot reshape array of size (\d+) into shape (\([\d, ]*\))")


def _ints(shape: str) -> tuple:
    return tuple(int(n) for n in re.findall(r"\d+", shape))


def translate_numpy_error(exc) -> str | None:
    """NumPy's ValueError of a matrix product or a broadcast, in the exercise's words (None: another error)."""
    if not isinstance(exc, ValueError):
        return None
    text = " ".join(str(exc).split())
    core = _CORE.search(text)
    if core:
        got, want = core.groups()
        return (f"a matrix product there multiplies factors that do not chain: X @ Y needs X's last axis "
                f"to have the length of Y's second-to-last, and here one has {got} and the other {want}. "
                "Transpose a factor (x.swapaxes(-1, -2)) or swap the order of the two: write the shapes "
                "of the factors side by side and make them chain")
    reshape = _RESHAPE.search(text)
    if reshape:
        size, shape = reshape.groups()
        return (f"an array of {size} elements cannot be reshaped to {shape_text(_ints(shape))}, which holds "
                f"{int(np.prod(_ints(shape), dtype=int))}: if it is a gradient, sum it over the axes that "
                "broadcasting added (unbroadcast) before giving it its input's shape")
    to = _BROADCAST_TO.search(text)
    shapes = [to.group(1), to.group(2)] if to else None
    if shapes is None:
        both = _BROADCAST.search(text)
        if both:
            shapes = re.findall(r"\([\d, ]*\)", both.group(1))
    if shapes is None:
        return None
    pretty = [shape_text(_ints(s)) for s in shapes]
    return (f"arrays of shapes {' and '.join(pretty)} do not broadcast together: NumPy lines shapes up "
            "from their last axes, so an axis meets the wrong one. A gradient that lost reduced axes "
            "(a sum or a mean with keepdims=False, yours or forward's) needs them back with length 1 "
            "first: np.expand_dims(g, axes), or .sum(axis, keepdims=True)")


def by_hand(names, arrays, params, upstream, out_name: str, report=None) -> str:
    """'To redo it by hand: a = ..., b = ..., upstream gradient dL/dout = ...; dL/da should be ...'."""
    if upstream is None or not small(upstream, *arrays):
        return ""
    parts = [f"{n} = {array_text(a)}" for n, a in zip(names, arrays)]
    parts.append(f"upstream gradient dL/d{out_name} = {array_text(upstream)}")
    text = " " + BY_HAND + ", ".join(parts)
    if report is not None and report.numeric_grad is not None and small(report.numeric_grad):
        name = names[report.index]
        text += (f"; dL/d{name} should be {array_text(report.numeric_grad)} (finite differences), "
                 f"yours is {array_text(report.analytic_grad)}")
    return text + "."


# --------------------------------------------------------------- named properties
def _rows_sum_to_zero(what: str, why: str):
    def rule(grad, params) -> str | None:
        axis = params.get("axis", -1)
        grad = np.asarray(grad, dtype=np.float64)
        if grad.ndim == 0:
            return None
        sums = grad.sum(axis=axis)
        if np.allclose(sums, 0.0, atol=1e-6 * max(1.0, float(np.abs(grad).max()))):
            return None
        if small(sums):
            yours = array_text(sums)
        else:
            worst = np.unravel_index(int(np.argmax(np.abs(sums))), sums.shape)
            yours = f"as much as {float(sums[worst]):.4g} (at {tuple(int(i) for i in worst)})"
        return (f"The rows of {what} sum to zero along the softmax axis (axis={axis}; {why}): "
                f"yours sum to {yours}.")
    return rule


# spec name -> (input name -> rule(student's gradient, params) -> sentence or None)
GRADIENT_PROPERTIES = {
    "Softmax": {"x": _rows_sum_to_zero(
        "a softmax gradient", "the softmax's outputs always sum to 1, so no change of x moves their sum")},
    "LogSoftmax": {"x": _rows_sum_to_zero(
        "a log-softmax gradient", "adding a constant to a row of x leaves log_softmax(x) unchanged")},
}


def gradient_property(check, name, grad, params) -> str:
    """The named property the student's gradient for ``name`` breaks, in a sentence (" ..."), or ""."""
    rule = GRADIENT_PROPERTIES.get(check.spec, {}).get(name)
    if rule is None or grad is None:
        return ""
    sentence = rule(grad, params)
    return f" {sentence}" if sentence else ""


# --------------------------------------------------------------- printing
def paragraphs(message: str) -> list:
    """A one-string message as its paragraphs: what failed, then the case to redo by hand (if any)."""
    head, sep, rest = message.partition(" " + BY_HAND)
    return [head, BY_HAND + rest] if sep else [message]


def wrap(parts, width: int, indent: str = "  ") -> str:
    """Paragraphs (the first one unindented) wrapped to ``width`` columns, a blank line between them.

    No line is longer than ``width`` (a word longer than a line is broken).
    """
    width = max(int(width), len(indent) + 20)
    out = []
    for i, text in enumerate(p for p in parts if p):
        first = "" if i == 0 else indent
        out.append(textwrap.fill(" ".join(text.split()), width=width, initial_indent=first,
                                 subsequent_indent=indent, break_on_hyphens=False))
    return "\n\n".join(out)
