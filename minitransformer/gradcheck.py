"""Gradient checking: compare an op's backward with finite differences.

For a function f of some tensors, take a fixed random direction v over the
output and the scalar L = sum(f(x) * v).  The analytic gradient dL/dx comes
from ``backward``; the numeric one from central differences, one element at a
time::

    dL/dx_i ~= (L(x + eps e_i) - L(x - eps e_i)) / (2 eps)

whose error is O(eps^2).  In float32 the rounding error of L (about 1e-7 *
|L| / eps) swamps that, which is why the check insists on float64.  An
element passes when |analytic - numeric| <= atol + rtol * |numeric|.

``gradgradcheck`` checks second derivatives the same way: the gradient of L,
``G(x) = dL/dx`` (from ``mt.grad``), is itself a function of x and of the
direction v, and with another random direction u the scalar
``M = sum(G(x) * u)`` has an analytic gradient (the backward pass of the
``create_graph=True`` backward pass) and a numeric one (central differences
of M, with G from the ordinary backward).  Both x and v are perturbed: the
derivative with respect to v checks that the backward pass is itself
differentiated correctly in the gradient it receives.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy

from .autograd import Tensor, grad, no_grad
from .backend import get_array_module, to_host


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
    label: str = ""   # how the report names it; "input {index}" when empty


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

    check: str = "gradcheck"
    quantity: str = "gradient"

    def describe(self, name: str = "function") -> str:
        lines = []
        for r in self.inputs:
            if r.passed:
                continue
            # both errors at the element named (max_rel_error may come from another one)
            abs_err = abs(r.analytic - r.numeric)
            lines.append(
                f"{self.check} of {name} failed for {r.label or f'input {r.index}'} (shape {r.shape}): "
                f"at index {r.worst_index} the analytic {self.quantity} is {r.analytic:.6g} but the "
                f"numeric (finite-difference) {self.quantity} is {r.numeric:.6g}; absolute error "
                f"{abs_err:.3g}, relative error {abs_err / max(abs(r.numeric), 1e-12):.3g}"
            )
        return "\n".join(lines) if lines else f"{self.check} of {name} passed"


def _as_inputs(inputs):
    if isinstance(inputs, Tensor):
        return (inputs,)
    return tuple(inputs)


def _validate(inputs, check: str = "gradcheck"):
    for i, x in enumerate(inputs):
        if not isinstance(x, Tensor) or not x.requires_grad:
            continue
        if x.dtype != numpy.float64:
            raise ValueError(
                f"{check}: input {i} (shape {x.shape}) has dtype {x.dtype}; use float64 "
                "(mt.set_default_dtype('float64') or dtype='float64'): finite differences "
                "in float32 carry rounding errors of about 1e-7/eps, far above the tolerance"
            )
        xp = get_array_module(x.data)
        if not bool(to_host(xp.isfinite(x.data).all())):
            raise ValueError(f"{check}: input {i} (shape {x.shape}) holds NaN or inf values")
    if not any(isinstance(x, Tensor) and x.requires_grad for x in inputs):
        raise ValueError(f"{check}: no input requires grad; nothing to check")


def _scalar_loss(fn, inputs, direction):
    out = fn(*inputs)
    if not isinstance(out, Tensor):
        raise TypeError(f"gradcheck: the function must return a Tensor, got {type(out).__name__}")
    # the numeric gradient is worked out on the host, one loss value at a time
    return out, float(to_host((out.data * direction).sum()))


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
        analytic.append(_host(g))
    for (_, x), g in zip(checked, saved_grads):
        x.grad = g

    # numeric: central differences, perturbing each element in place
    report = GradcheckReport()
    with no_grad():
        for (i, x), a in zip(checked, analytic):
            numeric = numpy.zeros(x.data.shape, dtype=numpy.float64)
            flat = x.data.reshape(-1)  # a view: writing to it perturbs x
            for j in range(flat.size):
                original = to_host(flat[j]).item()
                flat[j] = original + eps
                _, plus = _scalar_loss(fn, inputs, direction)
                flat[j] = original - eps
                _, minus = _scalar_loss(fn, inputs, direction)
                flat[j] = original
                numeric.reshape(-1)[j] = (plus - minus) / (2 * eps)
            report.inputs.append(_compare(i, x.shape, a, numeric, atol, rtol))
    return report


def _compare(index, shape, analytic, numeric, atol, rtol, label="") -> InputReport:
    abs_err = numpy.abs(analytic - numeric)
    rel_err = abs_err / numpy.maximum(numpy.abs(numeric), 1e-12)
    excess = abs_err - (atol + rtol * numpy.abs(numeric))
    excess = numpy.where(numpy.isfinite(excess), excess, numpy.inf)
    if excess.size == 0:
        return InputReport(index, tuple(shape), 0.0, 0.0, (), 0.0, 0.0, True, analytic, numeric, label)
    worst = numpy.unravel_index(int(numpy.argmax(excess)), excess.shape)
    passed = bool((excess <= 0).all())
    return InputReport(
        index=index, shape=tuple(shape),
        max_abs_error=float(abs_err.max()),
        max_rel_error=float(numpy.where(abs_err > atol, rel_err, 0.0).max()),
        worst_index=tuple(int(k) for k in worst),
        analytic=float(analytic[worst]), numeric=float(numeric[worst]), passed=passed,
        analytic_grad=analytic, numeric_grad=numeric, label=label,
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


# ------------------------------------------------------------ second derivatives
def _host(a) -> numpy.ndarray:
    return numpy.asarray(to_host(a), dtype=numpy.float64)


def _first_gradients(fn, inputs, checked, direction, create_graph):
    """G = d sum(fn(inputs) * v)/dx for each checked x (zeros where x is not used)."""
    out = fn(*inputs)
    if not isinstance(out, Tensor):
        raise TypeError(f"gradgradcheck: the function must return a Tensor, got {type(out).__name__}")
    if not out.requires_grad:
        return [None] * len(checked)
    return list(grad(out, [x for _, x in checked], grad_outputs=direction,
                     create_graph=create_graph, allow_unused=True))


def _second_scalar(grads, us):
    """M = sum_i sum(G_i * u_i) as a Tensor (None if no G_i depends on anything)."""
    total = None
    for g, u in zip(grads, us):
        if g is not None:
            term = (g * u).sum()
            total = term if total is None else total + term
    return total


def gradgradcheck_report(fn, inputs, grad_outputs=None, eps: float = 1e-6, atol: float = 1e-5,
                         rtol: float = 1e-3, seed: int = 0) -> GradcheckReport:
    """Compare analytic and numeric second derivatives of ``fn`` and report per input.

    Besides one entry per input that requires grad, the report has one for
    ``grad_outputs`` (the direction v, drawn at random unless given).
    """
    inputs = _as_inputs(inputs)
    _validate(inputs, "gradgradcheck")
    checked = [(i, x) for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    saved_grads = [x.grad for _, x in checked]

    out = fn(*inputs)
    if not isinstance(out, Tensor):
        raise TypeError(f"gradgradcheck: the function must return a Tensor, got {type(out).__name__}")
    xp = get_array_module(out.data)
    rng = numpy.random.default_rng(seed)
    if grad_outputs is None:
        v = xp.asarray(rng.standard_normal(out.shape)).astype(out.dtype)
    else:
        v = (grad_outputs.data if isinstance(grad_outputs, Tensor) else xp.asarray(grad_outputs)).astype(out.dtype)
        if v.shape != out.data.shape:
            raise ValueError(f"gradgradcheck: grad_outputs of shape {tuple(v.shape)} given for an "
                             f"output of shape {out.shape}")
    v = v.copy()  # perturbed in place below
    us = [xp.asarray(rng.standard_normal(x.shape)).astype(x.dtype) for _, x in checked]
    v_tensor = Tensor(v, requires_grad=True)

    # analytic: backward of M through the recorded (create_graph) backward pass
    grads = _first_gradients(fn, inputs, checked, v_tensor, create_graph=True)
    m = _second_scalar(grads, us)
    targets = [x for _, x in checked] + [v_tensor]
    seconds = [None] * len(targets)
    if m is not None and m.requires_grad:
        seconds = grad(m, targets, allow_unused=True)
    analytic = [_host(s.data) if s is not None else numpy.zeros(t.shape) for s, t in zip(seconds, targets)]

    def m_value() -> float:
        gs = _first_gradients(fn, inputs, checked, Tensor(v), create_graph=False)
        return sum(float(to_host((g.data * u).sum())) for g, u in zip(gs, us) if g is not None)

    # numeric: central differences of M, perturbing each element in place
    report = GradcheckReport(check="gradgradcheck", quantity="second derivative")
    labels = [(i, f"input {i}") for i, _ in checked] + [(len(inputs), "grad_outputs")]
    for (index, label), target, a in zip(labels, [x.data for _, x in checked] + [v], analytic):
        numeric = numpy.zeros(target.shape, dtype=numpy.float64)
        flat = target.reshape(-1)  # a view: writing to it perturbs the input
        for j in range(flat.size):
            original = to_host(flat[j]).item()
            flat[j] = original + eps
            plus = m_value()
            flat[j] = original - eps
            minus = m_value()
            flat[j] = original
            numeric.reshape(-1)[j] = (plus - minus) / (2 * eps)
        report.inputs.append(_compare(index, target.shape, a, numeric, atol, rtol, label))
    for (_, x), g in zip(checked, saved_grads):
        x.grad = g
    return report


def gradgradcheck(fn, inputs, grad_outputs=None, eps: float = 1e-6, atol: float = 1e-5,
                  rtol: float = 1e-3, raise_exception: bool = True, name: str | None = None) -> bool:
    """Check ``fn``'s second derivatives against finite differences of its gradient (float64).

    As ``torch.autograd.gradgradcheck``: differentiates the gradient
    computed with ``create_graph=True`` and compares with central differences
    of the gradient, for every input that requires grad and for the output
    direction ``grad_outputs`` (random unless given).  Returns True, or raises
    GradcheckError naming the input, the worst element's index and the
    analytic and numeric values (returns False with ``raise_exception=False``).
    """
    report = gradgradcheck_report(fn, inputs, grad_outputs=grad_outputs, eps=eps, atol=atol, rtol=rtol)
    if not report.passed and raise_exception:
        raise GradcheckError(report.describe(name or getattr(fn, "__name__", "function")))
    return report.passed
