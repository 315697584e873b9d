"""``minitransformer exercises``: hand out backward-pass exercises and grade them.

    minitransformer exercises list
    minitransformer exercises make OUT_DIR [--force]
    minitransformer exercises check [OUT_DIR] [--exercise N] [--examples K] [--no-hints] [--json PATH]

``make`` writes the student version (one file per exercise, the body of each
backward replaced by ``raise NotImplementedError``, and a README).  ``check``
grades a folder -- or, without OUT_DIR, the reference implementation -- with
finite-difference gradient checks on fixed edge cases, then random ones,
prints PASS, FAIL (with the failing case, in words, and a hint) or "not
attempted yet" per exercise, a summary and a "score: P/N" line, and exits 0
only if every exercise checked passes (1 otherwise).  A failure is printed
in paragraphs wrapped to the terminal's width; the score line and the JSON
messages are one line each.
"""
from __future__ import annotations

import shutil

from . import positive_int


def add_parser(subparsers):
    p = subparsers.add_parser("exercises", help="hand out backward-pass exercises and grade them",
                              description=__doc__.split("\n\n")[2].replace("``", "'"))
    actions = p.add_subparsers(dest="action", metavar="ACTION", title="actions")
    actions.add_parser("list", help="list the exercises")
    make = actions.add_parser("make", help="write the student version to a folder")
    make.add_argument("out_dir", metavar="OUT_DIR", help="folder to write (must be empty or new)")
    make.add_argument("--force", action="store_true", help="overwrite the exercise files of a non-empty folder")
    check = actions.add_parser("check", help="grade a folder of exercises (default: the reference)")
    check.add_argument("out_dir", metavar="OUT_DIR", nargs="?", default=None,
                       help="folder written by 'make' and edited; omit it to check the reference")
    check.add_argument("--exercise", "-e", type=int, action="append", metavar="N",
                       help="check only exercise N (repeatable; default: all)")
    check.add_argument("--examples", type=positive_int, default=10, metavar="K",
                       help="random cases per check (default 10)")
    check.add_argument("--seed", type=int, default=0, help="seed of the random cases (default 0)")
    check.add_argument("--cases", choices=("auto", "hypothesis", "numpy"), default="auto",
                       help="who draws the random cases: Hypothesis (shrinks failures; the default when "
                            "installed) or a seeded NumPy generator")
    check.add_argument("--no-hints", action="store_true",
                       help="print no hint and no formula with a failure (for grading)")
    check.add_argument("--json", metavar="PATH", default=None,
                       help="also write the results to PATH as JSON: score, settings, one entry per exercise")
    p.set_defaults(_parser=p)
    return p


def run(args) -> int:
    from ..exercises import (  # noqa: PLC0415
        EXERCISES, check_exercises, format_results, make_exercises, write_json,
    )

    if args.action is None:
        raise ValueError("choose an action: list, make OUT_DIR or check [OUT_DIR] (see --help)")
    if args.action == "list":
        for ex in EXERCISES:
            print(f"{ex.number:>2}. {ex.title} ({', '.join(ex.class_names)})")
        return 0
    if args.action == "make":
        written = make_exercises(args.out_dir, force=args.force)
        print(f"wrote {len(written) - 1} exercises and README.md to {args.out_dir}; students edit them "
              f"and check with: minitransformer exercises check {args.out_dir}")
        return 0
    # an unknown exercise number or a missing folder: ValueError/OSError, one line, exit 2
    results = check_exercises(args.out_dir, args.exercise, examples=args.examples, seed=args.seed,
                              cases=args.cases, hints=not args.no_hints)
    # wrapped to the terminal (100 columns when there is none, e.g. output to a file)
    width = shutil.get_terminal_size(fallback=(100, 24)).columns
    print(format_results(results, width=width))
    if args.json:
        write_json(results, args.json, folder=args.out_dir, seed=args.seed, examples=args.examples,
                   cases=args.cases, hints=not args.no_hints)
    return 0 if all(r.passed for r in results) else 1
