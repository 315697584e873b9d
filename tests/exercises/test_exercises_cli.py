"""`minitransformer exercises list|make|check`: output and exit status, as a grading script sees them."""
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
    assert printed.rstrip().endswith("1 of 2 exercises pass, 1 not attempted yet.")


def test_check_without_a_folder_grades_the_reference(capsys):
    assert main(["exercises", "check", "--examples", "2", "--cases", "numpy"]) == 0
    printed = capsys.readouterr().out
    assert printed.count(": PASS (") == len(EXERCISES)
    assert printed.rstrip().endswith(f"{len(EXERCISES)} of {len(EXERCISES)} exercises pass.")


def test_a_failing_exercise_prints_the_reason_and_exits_1(tmp_path, capsys):
    main(["exercises", "make", str(tmp_path)])
    replace_stub(tmp_path / get_exercise(12).filename, "DropoutFunction", "return grad")
    capsys.readouterr()
    assert main(["exercises", "check", str(tmp_path), "-e", "12"]) == 1
    line = capsys.readouterr().out.splitlines()[0]
    assert line.startswith("Exercise 12 (Dropout backward): FAIL. With x of shape (")
    assert "but finite differences give" in line and "1/(1-p) where kept." in line


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
