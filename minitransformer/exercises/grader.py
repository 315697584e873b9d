"""Grading: run each exercise's checks on the student's classes and say what is wrong.

For every check of an exercise, the grader first runs its *fixed* edge
cases (``Check.fixed``: the same for every seed, chosen so that each classic
mistake fails on one of them), then draws float64 random cases -- through
Hypothesis when it is installed (it then shrinks a failing case to a minimal
one, so a message speaks of shapes like (1, 2) rather than (3, 3, 2)), else
through a seeded NumPy generator with sizes that grow case by case -- and on
each case

1. runs the student's forward and compares it with the NumPy reference;
2. compares the gradients of backward with central finite differences
   (``minitransformer.gradcheck.gradcheck_report``).

A case's outcome is ``pass``, ``fail`` (with a message in words: the input
shapes, the element whose gradient is wrong, the two values, for a small
case its inputs and upstream gradient to redo it by hand, and the named
property the wrong gradient breaks, where it has one: the rows of a softmax
gradient sum to zero) or ``not attempted`` (backward still raises NotImplementedError).
A fixed case uses a readable upstream gradient (small, distinct numbers);
a random one a standard normal one.
"""
from __future__ import annotations

import linecache
import os
import traceback
import zlib
from dataclasses import dataclass, field

import numpy as np

from ..autograd.function import GradientShapeError
from ..backend import get_rng_state, set_default_dtype, set_rng_state
from ..gradcheck import gradcheck_report
from ..testing.cases import NumpyChooser
from ..testing.registry import Sample, get_spec
from .messages import by_hand, gradient_property, gradient_shape_advice, translate_numpy_error

PASS, FAIL, TODO = "pass", "fail", "not attempted"

# the grader's own tolerance on the forward (the reference is plain NumPy, float64)
FORWARD_RTOL, FORWARD_ATOL = 1e-6, 1e-9


@dataclass
class Outcome:
    """What one case (or one whole check) came to."""

    status: str = PASS
    message: str = ""
    shapes: dict = field(default_factory=dict)   # input name -> shape
    params: dict = field(default_factory=dict)
    input: str | None = None                     # the input whose gradient is wrong
    index: tuple | None = None                   # ... at this element
    analytic: float | None = None
    numeric: float | None = None
    exception: str | None = None                 # "TypeError: ..." when student code raised
    location: str | None = None                  # "file.py, line 12: <code>"
    todo: str | None = None                      # "LogSoftmax.backward" when not attempted
    formula: str | None = None                   # the rule the wrong gradient must follow
    fixed: bool = False                          # decided by a fixed case (the same for every seed)


# --------------------------------------------------------------- describing
def _shape(shape) -> str:
    return "(" + ", ".join(str(n) for n in shape) + (",)" if len(shape) == 1 else ")")


def _value(v) -> str:
    if isinstance(v, np.ndarray):
        return repr(v.tolist()) if v.size <= 12 else f"an array of shape {_shape(v.shape)}"
    return repr(v)


def describe_case(names, arrays, params) -> str:
    """'With A of shape (2, 3) and B of shape (3, 4) (axis=1)': the case, in words."""
    parts = [f"{n} of shape {_shape(a.shape)}" for n, a in zip(names, arrays)]
    text = "With " + (parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1])
    shown = {k: v for k, v in params.items() if not (k == "mask" and v is None)}
    if shown:
        text += " (" + ", ".join(f"{k}={_value(v)}" for k, v in shown.items()) + ")"
    return text


def _where(exc, files) -> tuple:
    """(where it was raised, in words; True if in the student's files)."""
    if isinstance(exc, SyntaxError) and os.path.abspath(exc.filename or "") in files:
        return f"{os.path.basename(exc.filename)}, line {exc.lineno}", True
    frames = traceback.extract_tb(exc.__traceback__)
    for frame in reversed(frames):
        if os.path.abspath(frame.filename) in files:
            code = (frame.line or linecache.getline(frame.filename, frame.lineno)).strip()
            return f"{os.path.basename(frame.filename)}, line {frame.lineno}: {code}", True
    if not frames:
        return "", False
    path, line = frames[-1].filename, frames[-1].lineno
    package = f"{os.sep}minitransformer{os.sep}"
    if package in path:  # the engine's own checks, e.g. of the gradients backward returned
        return f"minitransformer's {path.rsplit(package, 1)[1]}, line {line}", False
    return f"{os.path.basename(path)}, line {line}", False


def _todo_name(exc) -> str:
    """'Mul.backward' for a NotImplementedError raised in a backward, from its frame's ctx."""
    tb, name = exc.__traceback__, None
    while tb is not None:
        ctx = tb.tb_frame.f_locals.get("ctx")
        if tb.tb_frame.f_code.co_name in ("backward", "forward") and hasattr(ctx, "fn"):
            name = f"{ctx.fn.__name__}.{tb.tb_frame.f_code.co_name}"
        tb = tb.tb_next
    return name or "backward"


def explain(exc, files) -> str:
    """'TypeError: ... (their_file.py, line 12: <code>)': an exception, and where it came from."""
    where, theirs = _where(exc, files)
    message = exc.msg if isinstance(exc, SyntaxError) else str(exc)  # str() repeats the place
    text = f"{type(exc).__name__}: {' '.join(message.split())}"
    if theirs:
        return f"{text} ({where})"
    return f"{text} (raised in {where}, after your code returned)" if where else text


def error_outcome(exc, case: str, stage: str, files, check=None, params=None) -> Outcome:
    """The outcome of an exception raised while running the student's classes."""
    if isinstance(exc, NotImplementedError):
        name = _todo_name(exc)
        return Outcome(TODO, f"{name} still raises NotImplementedError", todo=name)
    raw = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, GradientShapeError) and check is not None:
        advice = gradient_shape_advice(exc, check, params or {})
        return Outcome(FAIL, f"{case}, {advice}" + ("" if advice.endswith("?") else "."), exception=raw)
    where, theirs = _where(exc, files)
    words = translate_numpy_error(exc)
    if words:
        place = f" ({where})" if theirs else (f" (raised in {where})" if where else "")
        return Outcome(FAIL, f"{case}, {stage} failed{place}: {words}.", exception=raw, location=where)
    return Outcome(FAIL, f"{case}, {stage} raised {explain(exc, files)}.", exception=raw, location=where)


# --------------------------------------------------------------- one case
# a fixed case's upstream gradient: small distinct numbers, a cycle of 13 so it does not
# line up with short axes
_UPSTREAM = (1.0, -2.0, 0.5, 1.5, -1.0, 2.5, -0.5, 3.0, -1.5, 2.0, 0.25, -3.0, 0.75)


def readable_upstream(shape) -> np.ndarray:
    return np.resize(np.array(_UPSTREAM), tuple(shape)).astype(np.float64)


def run_case(check, classes, sample, files=frozenset(), fixed: bool = False) -> Outcome:
    """Forward check and gradient check of ``check`` on one Sample (a fixed case: readable upstream)."""
    names = check.inputs
    case = describe_case(names, sample.arrays, sample.params)
    if fixed:
        case = case.replace("With ", "With the fixed case ", 1)
    base = dict(shapes={n: tuple(a.shape) for n, a in zip(names, sample.arrays)}, params=dict(sample.params),
                fixed=fixed)

    def fn(*tensors):
        return check.call(classes, *tensors, **sample.params)

    try:
        out = fn(*sample.tensors())
    except Exception as exc:  # noqa: BLE001  (any error of the student's code is a finding)
        return _with(error_outcome(exc, case, "the forward pass", files, check, sample.params), base)
    got, want = out.numpy(), np.asarray(sample.expected())
    if got.shape != want.shape or not np.allclose(got, want, FORWARD_RTOL, FORWARD_ATOL, equal_nan=True):
        if got.shape != want.shape:
            detail = f"has shape {_shape(got.shape)} instead of {_shape(want.shape)}"
        else:
            i = np.unravel_index(int(np.argmax(np.abs(got - want))), got.shape)
            detail = (f"at index {tuple(int(k) for k in i)} is {got[i]:.6g} instead of {want[i]:.6g}")
        return _with(Outcome(FAIL, f"{case}, the output of the forward pass {detail}. The forward "
                                   "is given: did it change?"), base)
    upstream = readable_upstream(want.shape) if fixed else None
    try:
        report = gradcheck_report(fn, sample.tensors(), direction=upstream)
    except Exception as exc:  # noqa: BLE001
        outcome = error_outcome(exc, case, "the backward pass", files, check, sample.params)
        if outcome.status == FAIL:
            outcome.message += by_hand(names, sample.arrays, sample.params, upstream, "out")
        return _with(outcome, base)
    bad = [r for r in report.inputs if not r.passed]
    if not bad:
        return _with(Outcome(PASS), base)
    r = bad[0]
    name = names[r.index]
    where = f"at index {r.worst_index}" if r.worst_index else "(a scalar)"
    error = abs(r.analytic - r.numeric)
    text = (f"{case}, the gradient for {name} {where} is {r.analytic:.4g} but finite differences give "
            f"{r.numeric:.4g} (abs. error {error:.2g}).")
    text += gradient_property(check, name, r.analytic_grad, sample.params)
    others = [names[o.index] for o in bad[1:]]
    if others:
        text += f" The gradient for {' and '.join(others)} is wrong too."
    if fixed:
        text += by_hand(names, sample.arrays, sample.params, upstream, "out", r)
    return _with(Outcome(FAIL, text, input=name, index=r.worst_index, analytic=r.analytic,
                         numeric=r.numeric, formula=check.formulas.get(name)), base)


def _with(outcome: Outcome, base: dict) -> Outcome:
    outcome.shapes, outcome.params, outcome.fixed = base["shapes"], base["params"], base["fixed"]
    return outcome


# --------------------------------------------------------------- many cases
def _spec(check):
    return get_spec(check.spec)


_GRIDS = {  # the values of fixed cases: multiples of 0.1, distinct within an array (no ties, no flat rows)
    "real": np.round(np.arange(-30, 31) / 10, 1),
    "positive": np.round(np.arange(5, 31) / 10, 1),
    "nonzero": np.round(np.concatenate([np.arange(-30, -4), np.arange(5, 31)]) / 10, 1),
}


def fixed_cases(check) -> list:
    """The Samples of ``check.fixed``, with values that depend on the check alone (never the seed)."""
    spec = _spec(check)
    samples = []
    for i, (shapes, params) in enumerate(check.fixed):
        rng = np.random.default_rng([zlib.crc32(check.name.encode()), i])
        arrays = []
        for shape, domain in zip(shapes, spec.input_domains()):
            size = int(np.prod(shape, dtype=int))
            if domain in _GRIDS:
                grid = _GRIDS[domain]
                values = rng.choice(grid, size, replace=size > grid.size)
            else:
                values = NumpyChooser(rng).array((size,), domain)
            arrays.append(np.asarray(values, dtype=np.float64).reshape(shape))
        samples.append(Sample(spec, tuple(arrays), dict(params)))
    return samples


def _numpy_cases(check, examples: int, seed: int):
    """Seeded cases, small first: sides and dimensions grow with the case number."""
    spec = _spec(check)
    rng = np.random.default_rng([seed, zlib.crc32(check.name.encode())])
    for i in range(examples):
        dims = min(check.max_dims, 1 + i // 2)
        side = min(check.max_side, 2 + i // 3)
        yield spec.draw(NumpyChooser(rng), dims, side).astype("float64")


class _CaseFailed(Exception):
    def __init__(self, outcome):
        super().__init__(outcome.message)
        self.outcome = outcome


def _hypothesis_run(check, classes, examples: int, seed: int, files) -> tuple:
    """(outcome, cases run) by Hypothesis, a failure shrunk to a minimal case."""
    from hypothesis import HealthCheck, Verbosity, given, settings, strategies as st  # noqa: PLC0415
    from hypothesis import seed as hypothesis_seed  # noqa: PLC0415

    from ..testing.strategies import HypothesisChooser  # noqa: PLC0415

    spec = _spec(check)
    strategy = st.composite(
        lambda draw: spec.draw(HypothesisChooser(draw), check.max_dims, check.max_side).astype("float64"))()
    state = {"cases": 0, "last": None}

    @hypothesis_seed(zlib.crc32(f"{seed}:{check.name}".encode()))
    @settings(max_examples=examples, database=None, deadline=None, derandomize=False,
              suppress_health_check=list(HealthCheck), verbosity=Verbosity.quiet,
              report_multiple_bugs=False, print_blob=False)
    @given(strategy)
    def run(sample):
        state["cases"] += 1
        outcome = run_case(check, classes, sample, files)
        if outcome.status != PASS:
            state["last"] = outcome
            raise _CaseFailed(outcome)

    try:
        run()
    except _CaseFailed as exc:
        return exc.outcome, state["cases"]
    except Exception:  # noqa: BLE001  (Flaky: the student's code is not deterministic)
        if state["last"] is None:
            raise
        return state["last"], state["cases"]
    return Outcome(PASS), state["cases"]


def hypothesis_available() -> bool:
    try:
        import hypothesis  # noqa: F401, PLC0415
    except ImportError:
        return False
    return True


def run_check(check, classes, examples: int = 10, seed: int = 0, cases: str = "auto",
              files=frozenset()) -> tuple:
    """(outcome, number of cases run) of one check: the first failure, or PASS.

    The fixed cases run first, then ``examples`` random ones drawn with
    ``seed``.  ``cases``: "hypothesis", "numpy" or "auto" (Hypothesis if installed).
    """
    if cases not in ("auto", "hypothesis", "numpy"):
        raise ValueError(f"check: cases must be 'auto', 'hypothesis' or 'numpy', got {cases!r}")
    if cases == "hypothesis" and not hypothesis_available():
        raise ValueError("check: cases='hypothesis' needs Hypothesis: pip install 'minitransformer[test]' "
                         "(or use cases='numpy')")
    use_hypothesis = cases == "hypothesis" or (cases == "auto" and hypothesis_available())
    rng_state = get_rng_state()
    try:
        with set_default_dtype("float64"):
            # the fixed cases first: the same for every seed, they decide the classic mistakes
            # (and a stub is "not attempted" at the first, with no search)
            probes = fixed_cases(check) or [next(_numpy_cases(check, 1, 0))]
            n = 0
            for sample in probes:
                n += 1
                outcome = run_case(check, classes, sample, files, fixed=True)
                if outcome.status != PASS:
                    return outcome, n
            if use_hypothesis:
                outcome, m = _hypothesis_run(check, classes, examples, seed, files)
                return outcome, n + m
            for sample in _numpy_cases(check, examples, seed + 1):
                n += 1
                outcome = run_case(check, classes, sample, files)
                if outcome.status != PASS:
                    return outcome, n
            return Outcome(PASS), n
    finally:
        set_rng_state(rng_state)  # the dropout checks reseed the engine's generator


def run_extra(name, fn, classes, files=frozenset()) -> Outcome:
    """An exercise's extra check (a rule finite differences cannot see)."""
    try:
        with set_default_dtype("float64"):
            problem = fn(classes)
    except Exception as exc:  # noqa: BLE001
        return error_outcome(exc, f"In the check '{name}'", "your code", files)
    return Outcome(FAIL, problem) if problem else Outcome(PASS)


