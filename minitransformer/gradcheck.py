"""Gradient checking: compare an op's backward with finite differences.

For a function f of some tensors, take a fixed random direction v over the
output and the scalar L = sum(f(x) * v).  The analytic gradient dL/dx comes
from ``backward``; the numeric one from central differences, one element at a
time::

    dL/dx_i ~= (L(x + eps e_i) - L(x - eps e_i)) / (2 eps)

whose error is O(eps^2).  In float32 the rounding error of L (about 1e-7 *
|L| / eps) swamps that, which is why the check insists on float64.  An
element passes when |analytic - numeric| <= atol + rtol * |numeric|.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy

from .autograd import Tensor, no_grad
from .backend import get_array_module


class GradcheckError(AssertionError):
    """The analytic gradient disagrees with the finite-difference one."""


@dataclass
class InputReport:
    """How the gradient of one input compared."""

    index: int
    shape: tuple
    max_abs_error: float
    max_rel_error: float
    worst_index: tuple
    analytic: float
    numeric: float
    passed: bool
    analytic_grad: numpy.ndarray | None = field(default=None, repr=False)  # the whole gradients
    numeric_grad: numpy.ndarray | None = field(default=None, repr=False)


@dataclass
class GradcheckReport:
    inputs: list = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.inputs)

    @property
    def max_abs_error(self) -> float:
        return max((r.max_abs_error for r in self.inputs), default=0.0)

    @property
    def max_rel_error(self) -> float:
        return max((r.max_rel_error for r in self.inputs), default=0.0)

    def describe(self, name: str = "function") -> str:
        lines = []
        for r in self.inputs:
            if r.passed:
                continue
            # both errors at the element named (max_rel_error may come from another one)
            abs_err = abs(r.analytic - r.numeric)
            lines.append(
                f"gradcheck of {name} failed for input {r.index} (shape {r.shape}): at index "
                f"{r.worst_index} the analytic gradient is {r.analytic:.6g} but the numeric "
                f"(finite-difference) gradient is {r.numeric:.6g}; absolute error "
                f"{abs_err:.3g}, relative error {abs_err / max(abs(r.numeric), 1e-12):.3g}"
            )
        return "\n".join(lines) if lines else f"gradcheck of {name} passed"


def _as_inputs(inputs):
    if isinstance(inputs, Tensor):
        return (inputs,)
    return tuple(inputs)


def _validate(inputs):
    for i, x in enumerate(inputs):
        if not isinstance(x, Tensor) or not x.requires_grad:
            continue
        if x.dtype != numpy.float64:
            raise ValueError(
                f"gradcheck: input {i} (shape {x.shape}) has dtype {x.dtype}; use float64 "
                "(mt.set_default_dtype('float64') or dtype='float64'): finite differences "
                "in float32 carry rounding errors of about 1e-7/eps, far above the tolerance"
            )
        xp = get_array_module(x.data)
        if not bool(xp.isfinite(x.data).all()):
            raise ValueError(f"gradcheck: input {i} (shape {x.shape}) holds NaN or inf values")
    if not any(isinstance(x, Tensor) and x.requires_grad for x in inputs):
        raise ValueError("gradcheck: no input requires grad; nothing to check")


def _scalar_loss(fn, inputs, direction):
    out = fn(*inputs)
    if not isinstance(out, Tensor):
        raise TypeError(f"gradcheck: the function must return a Tensor, got {type(out).__name__}")
    return out, float((out.data * direction).sum())


def gradcheck_report(fn, inputs, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
                     seed: int = 0, direction=None) -> GradcheckReport:
    """Compare analytic and numeric gradients of ``fn`` and report per input.

    ``direction``: the upstream gradient v of L = sum(f(x) * v), an array of
    the output's shape (default: standard normal, drawn with ``seed``).
    """
    inputs = _as_inputs(inputs)
    _validate(inputs)
    checked = [(i, x) for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]

    # analytic: backward of sum(out * v), with the inputs' own .grad set aside
    saved_grads = [x.grad for _, x in checked]
    for _, x in checked:
        x.grad = None
    out = fn(*inputs)
    if not isinstance(out, Tensor):
        raise TypeError(f"gradcheck: the function must return a Tensor, got {type(out).__name__}")
    xp = get_array_module(out.data)
    if direction is None:
        direction = numpy.random.default_rng(seed).standard_normal(out.shape)
    elif numpy.shape(direction) != tuple(out.shape):
        raise ValueError(f"gradcheck: direction has shape {numpy.shape(direction)}, the output {tuple(out.shape)}")
    direction = xp.asarray(direction).astype(out.dtype)
    if out.requires_grad:
        out.backward(Tensor(direction))
    analytic = []
    for _, x in checked:
        g = x.grad.data if x.grad is not None else xp.zeros(x.data.shape, dtype=x.data.dtype)
        analytic.append(numpy.asarray(g.get() if hasattr(g, "get") else g, dtype=numpy.float64))
    for (_, x), g in zip(checked, saved_grads):
        x.grad = g

    # numeric: central differences, perturbing each element in place
    report = GradcheckReport()
    with no_grad():
        for (i, x), a in zip(checked, analytic):
            numeric = numpy.zeros(x.data.shape, dtype=numpy.float64)
            flat = x.data.reshape(-1)  # a view: writing to it perturbs x
            for j in range(flat.size):
                original = flat[j].item()
                flat[j] = original + eps
                _, plus = _scalar_loss(fn, inputs, direction)
                flat[j] = original - eps
                _, minus = _scalar_loss(fn, inputs, direction)
                flat[j] = original
                numeric.reshape(-1)[j] = (plus - minus) / (2 * eps)
            report.inputs.append(_compare(i, x.shape, a, numeric, atol, rtol))
    return report


def _compare(index, shape, analytic, numeric, atol, rtol) -> InputReport:
    abs_err = numpy.abs(analytic - numeric)
    rel_err = abs_err / numpy.maximum(numpy.abs(numeric), 1e-12)
    excess = abs_err - (atol + rtol * numpy.abs(numeric))
    excess = numpy.where(numpy.isfinite(excess), excess, numpy.inf)
    if excess.size == 0:
        return InputReport(index, tuple(shape), 0.0, 0.0, (), 0.0, 0.0, True, analytic, numeric)
    worst = numpy.unravel_index(int(numpy.argmax(excess)), excess.shape)
    passed = bool((excess <= 0).all())
    return InputReport(
        index=index, shape=tuple(shape),
        max_abs_error=float(abs_err.max()),
        max_rel_error=float(numpy.where(abs_err > atol, rel_err, 0.0).max()),
        worst_index=tuple(int(k) for k in worst),
        analytic=float(analytic[worst]), numeric=float(numeric[worst]), passed=passed,
        analytic_grad=analytic, numeric_grad=numeric,
    )


def gradcheck(fn, inputs, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
              raise_exception: bool = True, name: str | None = None) -> bool:
    """Check ``fn``'s backward against central finite differences (float64 inputs).

    Returns True when every element of every input that requires grad agrees;
    otherwise raises GradcheckError naming the input, the worst element's
    index, the analytic and numeric values and the errors (or returns False
    with ``raise_exception=False``).
    """
    report = gradcheck_report(fn, inputs, eps=eps, atol=atol, rtol=rtol)
    if not report.passed and raise_exception:
        raise GradcheckError(report.describe(name or getattr(fn, "__name__", "function")))
    return report.passed
