"""``minitransformer gradcheck``: check every op's backward against finite differences.

For each registered op (``minitransformer.testing.registry``), draw a few random cases
(shapes, broadcasting, axes...) in float64 and compare the analytic gradient
of ``backward`` with central differences (``mt.gradcheck``).  Prints one row
per op -- the shapes tried, the largest absolute and relative errors, PASS or
FAIL -- and exits 1 if any op fails.  The cases of an op depend only on
``--seed`` and its name, so ``gradcheck Mul`` repeats what the full run did.
"""
from __future__ import annotations

import difflib
import zlib
from dataclasses import dataclass, field

from . import positive_int


def add_parser(subparsers):
    p = subparsers.add_parser("gradcheck", help="check every op's backward against finite differences",
                              description=__doc__.split("\n\n")[1])
    p.add_argument("ops", nargs="*", metavar="OP",
                   help="ops to check, by name (e.g. Mul MatMul); default: every registered op")
    p.add_argument("--seed", type=int, default=0, help="seed of the random cases (default 0)")
    p.add_argument("--trials", type=positive_int, default=3, help="random cases per op (default 3)")
    return p


@dataclass
class Row:
    """The outcome of one op's trials."""

    name: str
    shapes: list = field(default_factory=list)
    max_abs: float = 0.0
    max_rel: float = 0.0
    status: str = "PASS"
    details: list = field(default_factory=list)


def select_specs(names) -> list:
    """The specs named (exactly, or ignoring case), or all; ValueError for an unknown name."""
    from ..testing.registry import OP_SPECS, all_specs  # noqa: PLC0415

    specs = all_specs()
    if not names:
        return specs
    by_lower = {name.lower(): spec for name, spec in OP_SPECS.items()}
    chosen = []
    for name in names:
        spec = OP_SPECS.get(name) or by_lower.get(name.lower())
        if spec is None:
            close = difflib.get_close_matches(name, list(OP_SPECS), n=3)
            hint = f"did you mean {', '.join(close)}?" if close else f"known ops: {', '.join(sorted(OP_SPECS))}"
            raise ValueError(f"unknown op {name!r}; {hint}")
        if spec not in chosen:
            chosen.append(spec)
    return chosen


def check_op(spec, seed: int, trials: int) -> Row:
    """Run ``trials`` random float64 cases of one op through gradcheck_report."""
    import numpy as np  # noqa: PLC0415

    from ..gradcheck import gradcheck_report  # noqa: PLC0415

    rng = np.random.default_rng([seed, zlib.crc32(spec.name.encode())])
    row = Row(spec.name)
    for _ in range(trials):
        sample = spec.sample_inputs(rng, "float64")
        row.shapes.append(" ".join(_shape(s) for s in sample.shapes))
        try:
            report = gradcheck_report(sample.call, sample.tensors())
        except Exception as exc:  # noqa: BLE001  (a crashing op is a finding, not the end)
            row.status = "ERROR"
            row.details.append(f"{spec.name} on shapes {sample.shapes}: {type(exc).__name__}: {exc}")
            continue
        row.max_abs = max(row.max_abs, report.max_abs_error)
        row.max_rel = max(row.max_rel, report.max_rel_error)
        if not report.passed:
            row.status = "FAIL" if row.status == "PASS" else row.status
            row.details.append(f"{report.describe(spec.name)} (shapes {sample.shapes}, params {sample.params})")
    return row


def _shape(shape) -> str:
    return "(" + ",".join(str(n) for n in shape) + ")"


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def format_table(rows) -> str:
    """One line per op; relative errors count only where the absolute one exceeds atol."""
    w = max([len("op")] + [len(r.name) for r in rows])
    lines = [f"{'op':<{w}}  {'shapes tried':<44} {'max abs err':>11} {'max rel err':>11}  result"]
    lines.append("-" * len(lines[0]))
    for r in rows:
        lines.append(f"{r.name:<{w}}  {_clip('; '.join(r.shapes), 44):<44} "
                     f"{r.max_abs:>11.1e} {r.max_rel:>11.1e}  {r.status}")
    return "\n".join(lines)


def run(args) -> int:
    specs = select_specs(args.ops)
    rows = [check_op(spec, args.seed, args.trials) for spec in specs]
    print(format_table(rows))
    bad = [r for r in rows if r.status != "PASS"]
    for r in bad:
        print("\n" + "\n".join(r.details))
    print(f"\n{len(rows) - len(bad)} of {len(rows)} ops passed "
          f"({args.trials} random case(s) each, float64, seed {args.seed})")
    return 1 if bad else 0
