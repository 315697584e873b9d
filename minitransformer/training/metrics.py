"""The metrics log: one JSON object per line, for every update and evaluation.

JSON lines can be appended cheaply, read by any tool (``pandas.read_json(...,
lines=True)``), and cut back on resume: a run restarted from the checkpoint of
update k drops the lines written after k, so the log reads as if the run had
never stopped.
"""
from __future__ import annotations

import json
import math
import os


class MetricsLog:
    def __init__(self, path: str):
        self.path = path

    def truncate_after(self, step: int) -> None:
        """Keep only the records of updates <= step (atomically rewritten)."""
        records = [r for r in self.read() if r.get("step", 0) <= step]
        tmp = self.path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            for r in records:
                f.write(json.dumps(r) + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)

    def write(self, record: dict) -> None:
        clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in record.items()}
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(clean) + "\n")

    def read(self) -> list:
        if not os.path.exists(self.path):
            return []
        out = []
        with open(self.path, encoding="utf-8") as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:
                    break  # a line cut by a crash: everything after it is suspect
        return out


def perplexity(mean_nll: float) -> float:
    """exp of the mean per-token negative log-likelihood (inf when it overflows)."""
    try:
        return math.exp(mean_nll)
    except OverflowError:
        return math.inf
