"""The ``minitransformer`` command: --version, and ``gradcheck`` over the op registry."""
import argparse
import os
import re
import subprocess
import sys

import pytest

import minitransformer as mt
from minitransformer.cli import ArgumentParser, main
from minitransformer.cli import gradcheck as gradcheck_cmd
from minitransformer.testing import registry

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


ROW = re.compile(r"^(\S+)\s+(.*?)\s+(\S+)\s+(\S+)\s+(PASS|FAIL|ERROR)$")


def _table_rows(out):
    """{op: (max abs err, max rel err, result, shapes tried)} from the printed table."""
    rows = {}
    for line in out.splitlines()[2:]:
        if not line.strip():
            break
        name, shapes, max_abs, max_rel, result = ROW.match(line).groups()
        rows[name] = (float(max_abs), float(max_rel), result, shapes)
    return rows


def test_version_prints_the_package_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"minitransformer {mt.__version__}"


def test_python_dash_m_runs_the_command():
    env = dict(os.environ, PYTHONPATH=ROOT)
    result = subprocess.run([sys.executable, "-m", "minitransformer.cli", "--version"], capture_output=True,
                            text=True, env=env, cwd=ROOT, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"minitransformer {mt.__version__}"


def test_gradcheck_help_exits_zero(capsys):
    assert main(["gradcheck", "--help"]) == 0
    out = capsys.readouterr().out
    assert "usage: minitransformer gradcheck" in out and "--trials" in out and "--seed" in out


def test_gradcheck_of_every_op_prints_a_passing_table(capsys):
    assert main(["gradcheck", "--trials", "2"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split()[:3] == ["op", "shapes", "tried"]
    rows = _table_rows(out)
    assert set(rows) == set(registry.OP_SPECS)
    for name, (max_abs, max_rel, result, _) in rows.items():
        assert result == "PASS", name
        assert 0 <= max_abs < 1e-5 and 0 <= max_rel < 1e-3, name
    assert f"{len(rows)} of {len(rows)} ops passed" in out


def test_gradcheck_of_named_ops_checks_only_those(capsys):
    assert main(["gradcheck", "Mul", "matmul", "--seed", "3", "--trials", "4"]) == 0
    out = capsys.readouterr().out
    rows = _table_rows(out)
    assert list(rows) == ["Mul", "MatMul"]                  # names also match ignoring case
    assert rows["Mul"][3].count(";") == 3                   # four cases tried


def test_the_cases_of_an_op_depend_only_on_seed_and_name(capsys):
    main(["gradcheck", "Div", "Exp"])
    first = capsys.readouterr().out.splitlines()[2]
    main(["gradcheck", "Div"])
    assert capsys.readouterr().out.splitlines()[2] == first
    main(["gradcheck", "Div", "--seed", "1"])
    assert capsys.readouterr().out.splitlines()[2] != first


def test_an_unknown_op_is_a_one_line_error_with_exit_2(capsys):
    assert main(["gradcheck", "Mul", "Mull"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "minitransformer gradcheck: error: unknown op 'Mull'; did you mean Mul, MatMul?\n"


@pytest.mark.parametrize("argv, message", [
    (["gradcheck", "--trials", "0"], "minitransformer gradcheck: error: argument --trials: must be at least 1"),
    (["gradcheck", "--seed", "x"], "minitransformer gradcheck: error: argument --seed: invalid int value: 'x'"),
    (["no-such-command"], "minitransformer: error: argument COMMAND: invalid choice: 'no-such-command'"),
])
def test_usage_errors_are_one_line_with_exit_2(capsys, argv, message):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1


def test_no_command_prints_the_commands_and_exits_2(capsys):
    assert main([]) == 2
    assert "gradcheck" in capsys.readouterr().err


def test_a_failing_op_is_reported_and_exits_1(capsys, monkeypatch):
    monkeypatch.setattr(registry, "OP_SPECS", dict(registry.OP_SPECS))
    # the classic bug: d(x^2)/dx written as x
    registry.register(registry.OpSpec("BadSquare", lambda x: x * x.detach(), lambda x: x * x,
                                      functions=("Mul",)))
    assert main(["gradcheck", "BadSquare", "Exp"]) == 1
    out = capsys.readouterr().out
    rows = _table_rows(out)
    assert rows["BadSquare"][2] == "FAIL" and rows["Exp"][2] == "PASS"
    assert rows["BadSquare"][1] == pytest.approx(0.5, rel=1e-3)   # half the true gradient
    assert "gradcheck of BadSquare failed for input 0" in out
    assert "1 of 2 ops passed" in out


def test_a_crashing_op_is_an_error_row_not_a_traceback(capsys, monkeypatch):
    monkeypatch.setattr(registry, "OP_SPECS", dict(registry.OP_SPECS))

    def crash(x):
        raise RuntimeError("boom")

    registry.register(registry.OpSpec("Crash", crash, lambda x: x, functions=("Mul",)))
    assert main(["gradcheck", "Crash"]) == 1
    out = capsys.readouterr().out
    assert _table_rows(out)["Crash"][2] == "ERROR" and "RuntimeError: boom" in out


def test_expected_errors_of_a_command_are_one_line_with_exit_2(capsys, monkeypatch):
    def run(args):
        raise FileNotFoundError(2, "No such file or directory", "corpus.txt")

    monkeypatch.setattr(gradcheck_cmd, "run", run)
    assert main(["gradcheck"]) == 2
    assert capsys.readouterr().err == (
        "minitransformer gradcheck: error: [Errno 2] No such file or directory: 'corpus.txt'\n")


def test_the_argument_parser_of_subcommands_reports_one_line(capsys):
    parser = ArgumentParser(prog="minitransformer train")
    assert isinstance(parser, argparse.ArgumentParser)
    with pytest.raises(SystemExit) as info:
        parser.error("--lr must be positive")
    assert info.value.code == 2
    assert capsys.readouterr().err == "minitransformer train: error: --lr must be positive\n"
