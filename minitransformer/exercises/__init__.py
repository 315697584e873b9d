"""Exercises: write the backward passes of minitransformer yourself, graded automatically.

The reference backward passes of a dozen ops (Mul, Div, MatMul, Sum, Mean,
Exp, Log, Softmax, LogSoftmax, cross-entropy, layer norm, embedding,
attention, dropout) carry *solution markers*: the comment lines
``# BEGIN SOLUTION`` and ``# END SOLUTION`` around the body of ``backward``.
They change nothing in the engine; they tell ``make_exercises`` which lines
to blank out when it writes the student version::

    from minitransformer.exercises import make_exercises, check_exercises, format_results

    make_exercises("hw1")                    # hw1/exercise_01_mul.py ... and README.md
    results = check_exercises("hw1")         # the student's work, graded
    print(format_results(results))           # "Exercise 3 (MatMul backward): FAIL. With A of ..."
    check_exercises()                        # the reference itself: every exercise passes

or, from a shell, ``minitransformer exercises make hw1`` and
``minitransformer exercises check hw1 [--exercise N]``.  The grader compares
each forward with a NumPy reference and each backward with finite
differences, on random float64 cases drawn by the op specs of
``minitransformer.testing.registry`` (through Hypothesis when installed, which shrinks
a failure to a minimal case).  docs/instructors.md says how to hand out,
grade and add exercises; ``catalog`` lists them.
"""
from __future__ import annotations

from .catalog import EXERCISES, Check, Exercise, FunctionRef, get_exercise
from .check import (
    CheckResult, ExerciseResult, check_exercise, check_exercises, format_results, results_json, score, summary,
    write_json,
)
from .stubs import make_exercises, replace_stub, solution_source, stub_source

__all__ = [
    "EXERCISES", "Check", "CheckResult", "Exercise", "ExerciseResult", "FunctionRef", "check_exercise",
    "check_exercises", "format_results", "get_exercise", "make_exercises", "replace_stub", "results_json",
    "score", "solution_source", "stub_source", "summary", "write_json",
]
