"""The documentation site builds without a warning, and its examples run.

Two guards against docs that rot while the code moves on:

* ``mkdocs build --strict`` must succeed: a broken link or anchor, a page
  missing from the nav, or an API page naming a module or object that no
  longer exists fails the build;
* every Python block of the prose pages that teach the API
  (``docs/getting-started.md`` and ``docs/concepts/*.md``) is executed.

The convention for those pages: a block fenced with ```` ```python ```` runs
(in order, one fresh namespace per page, so a later block may use the names
an earlier one defined); a block fenced with ```` ```py ```` is shown but not
run (GPU-only code, fragments such as a Function's excerpt).
"""
from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"

# ```python ... ``` at the start of a line; the closing fence matches the
# opening one's indentation and length (``` or more).
_FENCE = re.compile(
    r"^(?P<indent>[ \t]*)(?P<fence>`{3,})python[ \t]*\n(?P<body>.*?)^(?P=indent)(?P=fence)[ \t]*$",
    re.MULTILINE | re.DOTALL,
)


def python_blocks(text: str) -> list[tuple[int, str]]:
    """(line number, code) of every ```python block, dedented by its fence's indent."""
    blocks = []
    for m in _FENCE.finditer(text):
        indent = len(m.group("indent"))
        lines = [line[indent:] if not line[:indent].strip() else line
                 for line in m.group("body").splitlines()]
        blocks.append((text.count("\n", 0, m.start()) + 2, "\n".join(lines) + "\n"))
    return blocks


RUNNABLE_PAGES = sorted([DOCS / "getting-started.md", *(DOCS / "concepts").glob("*.md")])


def test_fence_pattern_finds_blocks_and_skips_py():
    text = "intro\n```python\nx = 1\n```\n\n```py\nnot_run()\n```\n    ```python\n    y = 2\n    ```\n"
    assert [code for _, code in python_blocks(text)] == ["x = 1\n", "y = 2\n"]


def test_every_runnable_page_has_blocks():
    """The pages exist and teach with code (a renamed fence would silently skip them)."""
    assert (DOCS / "getting-started.md").exists()
    assert len(RUNNABLE_PAGES) >= 5
    for page in RUNNABLE_PAGES:
        assert python_blocks(page.read_text(encoding="utf-8")), f"{page.name} has no ```python block"


@pytest.mark.parametrize("page", RUNNABLE_PAGES, ids=lambda p: str(p.relative_to(DOCS)))
def test_page_code_blocks_run(page, tmp_path, monkeypatch):
    import minitransformer as mt

    monkeypatch.chdir(tmp_path)  # a block that writes a file writes it here
    namespace = {"__name__": f"docs_{page.stem.replace('-', '_')}"}
    backend = mt.get_backend()
    try:
        for line, code in python_blocks(page.read_text(encoding="utf-8")):
            compiled = compile(code, f"{page.relative_to(ROOT)}:{line}", "exec")
            # the pages show NaN and inf on purpose (overflow, log(0)): NumPy's
            # RuntimeWarnings about them are expected, not findings
            with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                try:
                    exec(compiled, namespace)  # noqa: S102  (our own documentation)
                except Exception as exc:  # noqa: BLE001  (report which block, whatever it raised)
                    pytest.fail(f"{page.relative_to(ROOT)}: the block at line {line} raised "
                                f"{type(exc).__name__}: {exc}\n---\n{code}")
    finally:
        mt.use_backend(backend)
        mt.set_default_dtype("float32")
    assert mt.is_grad_enabled(), f"{page.name} left no_grad switched on"


def _missing_docs_tools() -> list[str]:
    """The documentation packages (the project's ``docs`` extra) that are not installed."""
    missing = []
    for module, package in (("mkdocs", "mkdocs"), ("material", "mkdocs-material"),
                            ("mkdocstrings", "mkdocstrings"),
                            ("mkdocstrings_handlers.python", "mkdocstrings-python")):
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:  # the parent package is missing
            found = False
        if not found:
            missing.append(package)
    return missing


def test_mkdocs_build_strict(tmp_path):
    missing = _missing_docs_tools()
    if missing:
        pytest.skip(f"documentation tools not installed ({', '.join(missing)}): pip install -e '.[docs]'")
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1", PYTHONPATH=os.pathsep.join(
        [str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    site = tmp_path / "site"
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(ROOT / "mkdocs.yml"),
         "--site-dir", str(site)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    log = result.stdout + result.stderr
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{log[-6000:]}"
    warned = [line for line in log.splitlines() if line.lstrip().startswith("WARNING")]
    assert not warned, "mkdocs build logged warnings:\n" + "\n".join(warned)
    assert (site / "index.html").exists()
    assert (site / "api" / "nn" / "index.html").exists()
