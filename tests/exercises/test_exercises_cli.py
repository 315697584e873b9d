"""`minitransformer exercises list|make|check`: output and exit status, as a grading script sees them."""
import json

import pytest

from minitransformer.cli import COMMANDS, main
from minitransformer.exercises import EXERCISES, get_exercise, replace_stub, solution_source


def test_exercises_is_a_command():
    assert "exercises" in COMMANDS


def test_list_prints_every_exercise(capsys):
    assert main(["exercises", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(EXERCISES)
    assert lines[2] == " 3. MatMul backward (MatMul)"


def test_make_then_check_a_fresh_folder(tmp_path, capsys):
    out = tmp_path / "hw"
    assert main(["exercises", "make", str(out)]) == 0
    assert f"wrote {len(EXERCISES)} exercises and README.md to {out}" in capsys.readouterr().out
    assert main(["exercises", "check", str(out), "--exercise", "3", "-e", "7"]) == 1
    out_text = capsys.readouterr().out
    assert out_text.splitlines() == [
        "Exercise 3 (MatMul backward): not attempted yet.",
        "Exercise 7 (Softmax backward): not attempted yet.",
        "",
        "0 of 2 exercises pass, 2 not attempted yet.",
        "score: 0/2",
    ]


def test_make_refuses_a_non_empty_folder_with_exit_2_unless_forced(tmp_path, capsys):
    (tmp_path / "x.txt").write_text("")
    assert main(["exercises", "make", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("minitransformer exercises: error: cannot write the exercises to ")
    assert "--force" in err and len(err.strip().splitlines()) == 1
    assert main(["exercises", "make", str(tmp_path), "--force"]) == 0


def test_check_exits_0_only_when_every_checked_exercise_passes(tmp_path, capsys):
    assert main(["exercises", "make", str(tmp_path)]) == 0
    ex = get_exercise(5)
    replace_stub(tmp_path / ex.filename, "Mean", solution_source(ex.functions[0].load()))
    capsys.readouterr()
    assert main(["exercises", "check", str(tmp_path), "-e", "5", "--examples", "4"]) == 0
    assert "Exercise 5 (Mean backward): PASS" in capsys.readouterr().out
    assert main(["exercises", "check", str(tmp_path), "-e", "5", "-e", "4", "--examples", "4"]) == 1
    printed = capsys.readouterr().out
    assert "Exercise 4 (Sum backward): not attempted yet." in printed
    assert printed.rstrip().endswith("1 of 2 exercises pass, 1 not attempted yet.\nscore: 1/2")


def test_check_without_a_folder_grades_the_reference(capsys):
    assert main(["exercises", "check", "--examples", "2", "--cases", "numpy"]) == 0
    printed = capsys.readouterr().out
    assert printed.count(": PASS (") == len(EXERCISES)
    assert printed.rstrip().endswith(f"{len(EXERCISES)} of {len(EXERCISES)} exercises pass.\n"
                                     f"score: {len(EXERCISES)}/{len(EXERCISES)}")


def test_a_failing_exercise_prints_the_reason_and_exits_1(tmp_path, capsys):
    main(["exercises", "make", str(tmp_path)])
    replace_stub(tmp_path / get_exercise(12).filename, "Dropout", "return grad")
    capsys.readouterr()
    assert main(["exercises", "check", str(tmp_path), "-e", "12"]) == 1
    printed = capsys.readouterr().out  # paragraphs wrapped to the terminal's width (100 columns here)
    assert max(len(line) for line in printed.splitlines()) <= 100
    line = " ".join(printed.split())
    assert line.startswith("Exercise 12 (Dropout backward): FAIL. With the fixed case x of shape (2, 3) (p=0.5, seed=1)")
    assert "but finite differences give" in line and "1/(1-p) where kept" not in line  # no formula twice
    assert line.endswith(f" Hint: {get_exercise(12).hint} 0 of 1 exercise passes, 1 fails. score: 0/1")


def _graded_folder(tmp_path):
    """A folder with exercise 5 right, exercise 12 wrong and the rest not attempted."""
    main(["exercises", "make", str(tmp_path)])
    mean = get_exercise(5)
    replace_stub(tmp_path / mean.filename, "Mean", solution_source(mean.functions[0].load()))
    replace_stub(tmp_path / get_exercise(12).filename, "Dropout", "return grad")
    return tmp_path


def test_no_hints_leaves_out_the_hint_and_the_formula(tmp_path, capsys):
    folder = _graded_folder(tmp_path)
    capsys.readouterr()
    assert main(["exercises", "check", str(folder), "-e", "12", "--no-hints"]) == 1
    line = " ".join(capsys.readouterr().out.split())
    assert line.startswith("Exercise 12 (Dropout backward): FAIL. With the fixed case x of shape (2, 3)")
    assert "Hint:" not in line and "Check:" not in line and get_exercise(12).hint not in line
    assert "yours is [[1.0, -2.0, 0.5], [1.5, -1.0, 2.5]]." in line  # the case itself is still shown


def test_json_export_score_and_exit_code_for_autograders(tmp_path, capsys):
    folder = _graded_folder(tmp_path / "alice")
    capsys.readouterr()
    out = tmp_path / "alice.json"
    assert main(["exercises", "check", str(folder), "-e", "5", "-e", "12", "-e", "3", "--examples", "3",
                 "--seed", "2024", "--json", str(out)]) == 1
    printed = capsys.readouterr().out.splitlines()
    assert printed[-2:] == ["1 of 3 exercises pass, 1 fails, 1 not attempted yet.", "score: 1/3"]
    data = json.loads(out.read_text())
    assert (data["score"], data["max_score"], data["all_passed"]) == (1, 3, False)
    assert data["settings"] == {"folder": str(folder), "seed": 2024, "examples": 3, "cases": "auto", "hints": True}
    assert [(e["number"], e["status"]) for e in data["exercises"]] == [(3, "not attempted"), (5, "pass"),
                                                                       (12, "fail")]
    mean, dropout = data["exercises"][1], data["exercises"][2]
    assert mean["passed"] and mean["cases"] == 7 + 3 and mean["hint"] == ""
    assert dropout["hint"] == get_exercise(12).hint and dropout["message"].startswith("With the fixed case x")
    outcome = dropout["checks"][0]["outcome"]
    assert outcome["fixed"] and outcome["input"] == "x" and outcome["shapes"] == {"x": [2, 3]}
    assert outcome["analytic"] == pytest.approx(2.5) and outcome["numeric"] == 0
    # every exercise right: exit 0, full score
    assert main(["exercises", "check", str(folder), "-e", "5", "--json", str(out)]) == 0
    assert capsys.readouterr().out.rstrip().endswith("score: 1/1")
    assert json.loads(out.read_text())["all_passed"] is True


@pytest.mark.parametrize("argv, message", [
    (["exercises", "check", "-e", "99"], "there is no exercise 99"),
    (["exercises", "check", "--examples", "0"], "must be at least 1"),
    (["exercises", "check", "/no/such/folder"], "there is no folder /no/such/folder to check"),
    (["exercises", "make"], "the following arguments are required: OUT_DIR"),
])
def test_errors_are_one_line_with_exit_2(capsys, argv, message):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_no_action_prints_the_actions_and_exits_2(capsys):
    assert main(["exercises"]) == 2
    err = capsys.readouterr().err
    assert "make" in err and "check" in err and "list" in err
