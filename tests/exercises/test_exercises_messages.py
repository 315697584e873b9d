"""The printed messages: paragraphs wrapped to the terminal, the formula once, named properties."""
import json

import numpy as np

from minitransformer.cli import main
from minitransformer.exercises import check_exercises, format_results, get_exercise
from minitransformer.exercises.grader import fixed_cases, readable_upstream
from minitransformer.exercises.messages import BY_HAND, array_text, paragraphs, wrap

from exercises.test_exercises_grader import WRONG, student_folder  # tests/ is on sys.path (conftest)


def failed(tmp_path, mistake, **kw):
    number, cls, code = WRONG[mistake]
    (result,) = check_exercises(student_folder(tmp_path, number, cls, code()), [number], examples=2, **kw)
    assert result.status == "fail", result.line()
    return result


def test_a_failure_printed_at_width_60_is_wrapped_in_paragraphs_with_the_formula_once(tmp_path):
    result = failed(tmp_path, "div wrong sign")
    text = format_results([result], width=60)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 60 and len(lines) > 10
    # the formula, once: the hint states it, the message no longer repeats it
    flat = " ".join(text.split())
    assert flat.count("dc/db = -a/b^2") == 1 and flat.count("-dL/dc * a / b^2") == 0
    assert "Check:" not in flat
    # three paragraphs, a blank line between them: what failed, the case by hand, the hint
    blocks = text.split("\n\n")
    assert " ".join(blocks[0].split()).startswith("Exercise 2 (Div backward): FAIL. With the fixed case a of "
                                                  "shape (2, 3)")
    assert blocks[1].startswith("  " + BY_HAND + "a = [[")
    assert blocks[2].startswith("  Hint: For c = a / b:")
    assert lines[-2:] == ["0 of 1 exercise passes, 1 fails.", "score: 0/1"]  # the score line as before
    # the words are the same as the one-line report's
    assert " ".join(" ".join(blocks[:3]).split()) == result.line()


def test_the_one_line_report_and_the_json_message_are_unwrapped(tmp_path):
    result = failed(tmp_path, "div wrong sign")
    assert "\n" not in format_results([result]).splitlines()[0]
    assert format_results([result]).splitlines()[0] == result.line()
    assert "\n" not in result.message and paragraphs(result.message)[1].startswith(BY_HAND)


def test_softmax_without_the_subtraction_names_the_rows_sum_to_zero_property(tmp_path):
    result = failed(tmp_path, "softmax without the subtraction")
    x = fixed_cases(get_exercise(7).checks[0])[0].arrays[0]  # the first fixed case: (2, 3), axis=-1
    y = np.exp(x - x.max(-1, keepdims=True))
    y /= y.sum(-1, keepdims=True)
    sums = (y * readable_upstream(x.shape)).sum(-1)  # the student's y * g, summed along the axis
    assert np.all(np.abs(sums) > 0.1)
    assert (f"The rows of a softmax gradient sum to zero along the softmax axis (axis=-1; "
            f"the softmax's outputs always sum to 1, so no change of x moves their sum): "
            f"yours sum to {array_text(sums)}.") in result.message
    assert array_text(sums) == "[0.4579, 0.4453]"
    # in the first paragraph (what failed), before the case to redo by hand
    assert "yours sum to" in paragraphs(result.message)[0]


def test_a_log_softmax_gradient_that_does_not_sum_to_zero_is_named(tmp_path):
    result = failed(tmp_path, "log-softmax without the softmax term")
    # "return grad": the rows sum to those of the readable upstream gradient
    g = readable_upstream((2, 3))
    assert "The rows of a log-softmax gradient sum to zero along the softmax axis (axis=-1; " in result.message
    assert f"yours sum to {array_text(g.sum(-1))}." in result.message


def test_the_property_is_checked_along_the_softmax_axis_and_only_for_softmax(tmp_path):
    # the row sum taken over the last axis instead of the softmax axis: decided at axis=0,
    # where the student's gradient does not sum to zero along axis 0
    result = failed(tmp_path, "softmax sums over the last axis")
    assert ("sum to zero along the softmax axis (axis=0; the softmax's outputs always sum to 1, so no change "
            "of x moves their sum): yours sum to [-1.5718, -0.9042, 0.0744].") in result.message
    # a mistake without a named property says nothing of one
    assert "sum to zero" not in failed(tmp_path / "div", "div wrong sign").message


def test_wrap_keeps_every_line_within_the_width():
    text = wrap(["a" * 150 + " short words here", "second paragraph " * 10], 40)
    assert max(len(line) for line in text.splitlines()) <= 40
    assert text.split("\n\n")[1].startswith("  second paragraph")


def test_the_command_wraps_to_the_terminal_and_keeps_the_json(tmp_path, capsys, monkeypatch):
    number, cls, code = WRONG["softmax without the subtraction"]
    folder = student_folder(tmp_path / "hw", number, cls, code())
    monkeypatch.setenv("COLUMNS", "60")  # shutil.get_terminal_size reads it first
    capsys.readouterr()
    out = tmp_path / "grade.json"
    assert main(["exercises", "check", str(folder), "-e", "7", "--json", str(out)]) == 1
    printed = capsys.readouterr().out
    assert max(len(line) for line in printed.splitlines()) <= 60
    assert printed.rstrip().endswith("\nscore: 0/1")
    flat = " ".join(printed.split())
    assert flat.count("y * (g - sum(g * y))") == 1  # the formula once, in the hint
    assert "The rows of a softmax gradient sum to zero" in flat
    data = json.loads(out.read_text())
    message = data["exercises"][0]["message"]
    assert "\n" not in message and "yours sum to [0.4579, 0.4453]." in message
    assert data["exercises"][0]["hint"] == get_exercise(7).hint
    assert data["exercises"][0]["checks"][0]["outcome"]["formula"].startswith("for y = softmax(x)")
