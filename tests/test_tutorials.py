"""The tutorials run top to bottom, and their notebooks match their sources.

Each ``tutorials/NN_*.py`` (Jupytext percent format, the source of truth) is
run as a script in a subprocess with ``MINITRANSFORMER_TUTORIAL_FAST=1``
(smaller sizes, same code) and must exit with 0; the tutorials assert their
own results (gradchecks, equalities), so a library regression fails here.
Each has a paired ``.ipynb`` whose cells must equal the ``.py``'s cells and
which must carry no outputs (regenerate with ``jupytext --sync tutorials/*.py``).
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TUTORIALS = ROOT / "tutorials"
SOURCES = sorted(TUTORIALS.glob("[0-9][0-9]_*.py"))
DEFAULT_TIMEOUT = 240            # seconds; FAST runs take a few seconds to ~30 s
TIMEOUTS = {"09_translation_end_to_end": 420, "08_large_batch_training": 300}


def test_tutorials_are_present():
    assert len(SOURCES) >= 10, f"expected the 10 tutorials in {TUTORIALS}, found {[p.name for p in SOURCES]}"


# ------------------------------------------------------------------ running them
@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.stem)
def test_tutorial_runs(path, tmp_path):
    out = tmp_path / "output"
    env = dict(os.environ)
    env.update(
        MINITRANSFORMER_TUTORIAL_FAST="1",
        MINITRANSFORMER_TUTORIAL_OUT=str(out),
        MINITRANSFORMER_BACKEND="numpy",   # the tutorials pick the GPU themselves (10)
        MPLBACKEND="Agg",
        PYTHONPATH=os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
    )
    timeout = TIMEOUTS.get(path.stem, DEFAULT_TIMEOUT)
    try:
        proc = subprocess.run([sys.executable, str(path)], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{path.name} did not finish within {timeout} s (FAST mode); last output:\n"
                    f"{(exc.stdout or '')[-2000:] if isinstance(exc.stdout, str) else ''}")
    assert proc.returncode == 0, (
        f"{path.name} exited with {proc.returncode}\n--- stdout (end) ---\n{proc.stdout[-3000:]}"
        f"\n--- stderr (end) ---\n{proc.stderr[-6000:]}"
    )
    figures = list(out.rglob("*.png"))
    assert figures, f"{path.name} wrote no figure into {out}"
    assert not list(tmp_path.glob("*.png")), "figures must go to the output folder, not the working directory"


# ------------------------------------------------------------ .py <-> .ipynb pairing
def percent_cells(text: str) -> list:
    """(cell_type, source) of a Jupytext percent-format script, header excluded.

    A cell starts at a line ``# %%`` (code) or ``# %% [markdown]``; markdown
    lines lose their leading ``# ``; blank lines around a cell are dropped.
    """
    cells, kind, lines = [], None, []

    def flush():
        if kind is not None:
            body = "\n".join(lines).strip("\n")
            cells.append((kind, body))

    for line in text.splitlines():
        if line.startswith("# %%"):
            flush()
            kind = "markdown" if "[markdown]" in line else "code"
            lines = []
        elif kind is not None:
            if kind == "markdown":
                line = line[2:] if line.startswith("# ") else line.lstrip("#")
            lines.append(line)
    flush()
    return cells


def notebook_cells(nb: dict) -> list:
    return [(c["cell_type"], "".join(c["source"]).strip("\n")) for c in nb["cells"]]


def test_percent_parser_on_a_tiny_script():
    script = "# ---\n# jupyter:\n# ---\n\n# %% [markdown]\n# # Title\n#\n# text\n\n# %%\nx = 1\n\n\n# %%\ny = 2\n"
    assert percent_cells(script) == [("markdown", "# Title\n\ntext"), ("code", "x = 1"), ("code", "y = 2")]


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.stem)
def test_notebook_is_paired_and_clean(path):
    nb_path = path.with_suffix(".ipynb")
    assert nb_path.exists(), f"{nb_path.name} is missing: run  jupytext --sync tutorials/{path.name}"
    nb = json.loads(nb_path.read_text(encoding="utf-8"))
    ours, theirs = percent_cells(path.read_text(encoding="utf-8")), notebook_cells(nb)
    stale = f"{nb_path.name} is out of date with {path.name}: run  jupytext --sync tutorials/{path.name}"
    assert [k for k, _ in ours] == [k for k, _ in theirs], stale
    for i, ((kind, a), (_, b)) in enumerate(zip(ours, theirs)):
        assert a == b, f"{stale} (cell {i}, {kind}, differs)"
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "code":
            assert cell.get("outputs") == [] and cell.get("execution_count") is None, (
                f"{nb_path.name}: code cell {i} has outputs; commit notebooks with outputs stripped"
            )
