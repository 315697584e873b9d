"""Checking a folder of exercises (or the reference itself): one result per exercise."""
from __future__ import annotations

import dataclasses
import inspect
import itertools
import json
import os
import types
from dataclasses import dataclass, field
from pathlib import Path

from .catalog import Exercise, select
from .grader import FAIL, PASS, TODO, Outcome, explain, run_check, run_extra
from .messages import paragraphs, wrap

_module_ids = itertools.count()


@dataclass
class CheckResult:
    """One check of an exercise: its name, status, cases run and the deciding outcome."""

    name: str
    status: str
    cases: int
    outcome: Outcome


@dataclass
class ExerciseResult:
    """The grade of one exercise: ``status`` is "pass", "fail" or "not attempted"."""

    number: int
    title: str
    status: str
    message: str = ""
    checks: list = field(default_factory=list)
    file: str | None = None
    hint: str = ""                  # the exercise's hint, after a failure (unless hints are off)

    @property
    def passed(self) -> bool:
        return self.status == PASS

    @property
    def cases(self) -> int:
        return sum(c.cases for c in self.checks)

    def line(self) -> str:
        """'Exercise 3 (MatMul backward): FAIL. With A of shape ...', as the command prints it."""
        head = f"Exercise {self.number} ({self.title})"
        if self.status == PASS:
            return f"{head}: PASS ({self.cases} cases)."
        if self.status == TODO:
            return f"{head}: not attempted yet" + (f" ({self.message})." if self.message else ".")
        return f"{head}: FAIL. {self.message}" + (f" Hint: {self.hint}" if self.hint else "")

    def paragraphs(self) -> list:
        """The printed result in paragraphs: what failed, the case to redo by hand, the hint."""
        if self.status != FAIL:
            return [self.line()]
        parts = paragraphs(f"Exercise {self.number} ({self.title}): FAIL. {self.message}")
        return parts + ([f"Hint: {self.hint}"] if self.hint else [])

    def text(self, width: int) -> str:
        """The result as printed at ``width`` columns: its paragraphs wrapped, no line longer than width."""
        return wrap(self.paragraphs(), width)

    def to_dict(self) -> dict:
        """The result as plain JSON data (the instructors' export)."""
        return {
            "number": self.number, "title": self.title, "status": self.status, "passed": self.passed,
            "message": self.message, "hint": self.hint, "cases": self.cases, "file": self.file,
            "checks": [{"name": c.name, "status": c.status, "cases": c.cases,
                        "outcome": _jsonable(dataclasses.asdict(c.outcome))} for c in self.checks],
        }


def _jsonable(value):
    """NumPy arrays, tuples and numbers of an outcome as JSON values."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, slice) or value is Ellipsis:
        return repr(value)
    return value


class _LoadError(Exception):
    pass


def load_module(path: Path):
    """Import the Python file ``path`` as a fresh module (no bytecode cache: edits count at once)."""
    source = path.read_text(encoding="utf-8")
    module = types.ModuleType(f"_mt_exercise_{path.stem}_{next(_module_ids)}")
    module.__file__ = str(path)
    exec(compile(source, str(path), "exec"), module.__dict__)  # noqa: S102  (the student's own file)
    return module


def _classes(exercise: Exercise, out_dir) -> tuple:
    """(namespace of the classes to grade, their source files, the file) for one exercise."""
    if out_dir is None:
        classes = {f.name: f.load() for f in exercise.functions}
        files = {os.path.abspath(inspect.getsourcefile(c)) for c in classes.values()}
        return types.SimpleNamespace(**classes), frozenset(files), None
    path = Path(out_dir) / exercise.filename
    if not path.is_file():
        raise _LoadError(f"There is no {exercise.filename} in {out_dir} (make one with "
                         "'minitransformer exercises make').")
    files = frozenset({os.path.abspath(path)})
    try:
        module = load_module(path)
    except Exception as exc:  # noqa: BLE001  (a file that does not import is a finding)
        raise _LoadError(f"{exercise.filename} does not import: {explain(exc, files)}.") from None
    missing = [n for n in exercise.class_names if not isinstance(getattr(module, n, None), type)]
    if missing:
        raise _LoadError(f"{exercise.filename} defines no class {' or '.join(missing)}; keep the class "
                         "names of the file you were given.")
    return types.SimpleNamespace(**{n: getattr(module, n) for n in exercise.class_names}), files, str(path)


def check_exercise(exercise: Exercise, out_dir=None, examples: int = 10, seed: int = 0,
                   cases: str = "auto", hints: bool = True) -> ExerciseResult:
    """Grade one exercise: the student's file in ``out_dir``, or the reference when None.

    ``hints``: on a failure, set ``hint`` to the exercise's hint (False: no
    hint, for grading).  The hint states the formula; the message does not
    repeat it (each check's rule per input stays in ``outcome.formula``).
    """
    result = ExerciseResult(exercise.number, exercise.title, PASS)
    try:
        classes, files, result.file = _classes(exercise, out_dir)
    except _LoadError as exc:
        result.status, result.message = FAIL, str(exc)
        return result
    for check in exercise.checks:
        outcome, n = run_check(check, classes, examples, seed, cases, files)
        result.checks.append(CheckResult(check.name, outcome.status, n, outcome))
    if all(c.status == PASS for c in result.checks):
        for name, fn in exercise.extra_checks:
            outcome = run_extra(name, fn, classes, files)
            result.checks.append(CheckResult(name, outcome.status, 1, outcome))
    failed = [c for c in result.checks if c.status == FAIL]
    todo = [c for c in result.checks if c.status == TODO]
    several = len(exercise.checks) > 1
    if failed:
        c = failed[0]
        result.status = FAIL
        result.message = (f"{c.name}: " if several else "") + c.outcome.message
        result.hint = exercise.hint if hints else ""
    elif todo:
        result.status = TODO
        names = sorted({c.outcome.todo or c.name for c in todo})
        done = [c.name for c in result.checks if c.status == PASS]
        if done:
            result.message = (f"{', '.join(names)} still raise{'s' if len(names) == 1 else ''} "
                              f"NotImplementedError; {', '.join(done)} pass{'es' if len(done) == 1 else ''}")
    return result


def check_exercises(out_dir=None, exercises=None, examples: int = 10, seed: int = 0,
                    cases: str = "auto", hints: bool = True) -> list:
    """Grade the exercises numbered ``exercises`` (default: all) and return an ExerciseResult each.

    ``out_dir``: a folder written by ``make_exercises`` and edited by a student;
    None checks the reference implementation (every exercise must pass).
    ``examples``: random cases per check (Hypothesis examples, or seeded NumPy
    draws when ``cases="numpy"`` or Hypothesis is not installed), after the
    fixed edge cases every check runs first.  ``hints``: see check_exercise.
    """
    if out_dir is not None and not Path(out_dir).is_dir():
        raise FileNotFoundError(f"there is no folder {out_dir} to check")
    if not isinstance(examples, int) or examples < 1:
        raise ValueError(f"check_exercises: examples must be a positive integer, got {examples!r}")
    return [check_exercise(ex, out_dir, examples, seed, cases, hints) for ex in select(exercises)]


def summary(results) -> str:
    """'2 of 12 exercises pass, 1 fails, 9 not attempted yet.'"""
    counts = {s: sum(r.status == s for r in results) for s in (PASS, FAIL, TODO)}
    parts = [f"{counts[PASS]} of {len(results)} exercise{'s' if len(results) != 1 else ''} pass"
             + ("es" if len(results) == 1 else "")]
    if counts[FAIL]:
        parts.append(f"{counts[FAIL]} fail{'s' if counts[FAIL] == 1 else ''}")
    if counts[TODO]:
        parts.append(f"{counts[TODO]} not attempted yet")
    return ", ".join(parts) + "."


def score(results) -> str:
    """'score: 9/12', the last line of the report, for autograders that parse one."""
    return f"score: {sum(r.passed for r in results)}/{len(results)}"


def format_results(results, width: int | None = None) -> str:
    """The report the command prints: each exercise, the summary, the score.

    ``width`` None: a line per exercise.  A width: each failure in paragraphs
    (what failed, the case to redo by hand, the hint) wrapped to that many
    columns, set off by blank lines.  The last line is the score either way.
    """
    if width is None:
        return "\n".join([r.line() for r in results] + ["", summary(results), score(results)])
    out, after_block = [], False
    for r in results:
        text = r.text(width)
        block = "\n" in text
        if out and (block or after_block):
            out.append("")  # a blank line around a failure's paragraphs
        out.append(text)
        after_block = block
    return "\n".join(out + ["", wrap([summary(results)], width), score(results)])


def results_json(results, **settings) -> dict:
    """The results as JSON data: the score, the grading settings, one entry per exercise."""
    return {"score": sum(r.passed for r in results), "max_score": len(results),
            "all_passed": all(r.passed for r in results), "summary": summary(results),
            "settings": settings, "exercises": [r.to_dict() for r in results]}


def write_json(results, path, **settings) -> None:
    """Write ``results_json(results, **settings)`` to ``path``."""
    Path(path).write_text(json.dumps(results_json(results, **settings), indent=2) + "\n", encoding="utf-8")
