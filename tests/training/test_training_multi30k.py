"""A few dozen updates on real German-English data (Multi30k) lower the validation loss.

The corpus is not part of the repository: it is read from
``../shared/data/multi30k`` next to the checkout, or from the directory named
by ``MINITRANSFORMER_MULTI30K``; without it the test is skipped.
"""
import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORPUS = Path(os.environ.get("MINITRANSFORMER_MULTI30K", ROOT.parent / "shared" / "data" / "multi30k"))
FILES = ["train.de.gz", "train.en.gz", "val.de.gz", "val.en.gz"]

pytestmark = pytest.mark.skipif(
    not all((CORPUS / f).is_file() for f in FILES),
    reason=f"Multi30k not found in {CORPUS} (needs {', '.join(FILES)}; set MINITRANSFORMER_MULTI30K)",
)


def head(src: Path, dst: Path, n: int) -> None:
    """The first n lines of a gzipped corpus file, as a plain text file."""
    with gzip.open(src, "rt", encoding="utf-8") as f:
        lines = [next(f) for _ in range(n)]
    dst.write_text("".join(lines), encoding="utf-8")


def test_a_short_multi30k_run_lowers_the_validation_loss(tmp_path):
    for name, n in [("train.de", 2000), ("train.en", 2000), ("val.de", 100), ("val.en", 100)]:
        head(CORPUS / f"{name}.gz", tmp_path / f"{name}.txt", n)
    out = tmp_path / "run"
    env = dict(os.environ, PYTHONPATH=str(ROOT), MINITRANSFORMER_BACKEND="numpy", OPENBLAS_NUM_THREADS="1")
    result = subprocess.run(
        [sys.executable, "-m", "minitransformer", "train",
         "--src-train", tmp_path / "train.de.txt", "--tgt-train", tmp_path / "train.en.txt",
         "--src-valid", tmp_path / "val.de.txt", "--tgt-valid", tmp_path / "val.en.txt",
         "--vocab-size", "400", "--d-model", "32", "--heads", "2", "--layers", "1", "--d-ff", "64",
         "--max-tokens", "1500", "--max-steps", "40", "--warmup", "10", "--eval-every", "10",
         "--eval-sentences", "5", "--time-budget", "300", "--no-progress", "--out", out],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "data: 2000 training pairs, 100 validation pairs" in result.stdout
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in records if "valid_loss" in r]
    assert [r["step"] for r in evals] == [10, 20, 30, 40]
    first, last = evals[0]["valid_loss"], evals[-1]["valid_loss"]
    assert last < first - 0.3, [r["valid_loss"] for r in evals]
    assert (out / "best.ckpt").is_file() and (out / "tokenizer.model").is_file()
