"""The ``minitransformer`` command: one subcommand per module of this package.

    minitransformer --version
    minitransformer gradcheck Mul MatMul --trials 5
    minitransformer train --task copy ...

A subcommand is a module ``minitransformer/cli/<name>.py`` with two functions:

* ``add_parser(subparsers)``: ``subparsers.add_parser("<name>", ...)`` plus
  its arguments; returns the parser;
* ``run(args) -> int``: does the work and returns the exit status.

Add yours to COMMANDS.  Keep the module's top-level imports light (the
``--help`` of every command loads every module): import heavy things inside
``run``.  Errors are one line, never a traceback: a usage error exits 2 with
``minitransformer <cmd>: error: <reason>``, and so does an expected error
raised by ``run`` (ValueError, a missing file, the engine's errors).  Set
MINITRANSFORMER_DEBUG=1 to see the traceback instead.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys

from .. import __version__
from ..autograd import AnomalyError, GraphError
from ..backend import BackendError
from ..gradcheck import GradcheckError
from ..memory import reuse_freed_memory
from ..nn.module import StateDictError

# subcommand modules of minitransformer.cli, in the order --help lists them
COMMANDS = ("train", "translate", "evaluate", "plot", "gradcheck", "exercises")

# errors a user can cause (bad values, missing files, no GPU): one line, exit 2
USER_ERRORS = (ValueError, OSError, BackendError, GraphError, AnomalyError, GradcheckError,
               StateDictError, FloatingPointError)


class ArgumentParser(argparse.ArgumentParser):
    """argparse, with usage errors as one line: ``<prog>: error: <reason>``."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def positive_int(text: str) -> int:
    """An argparse ``type=`` for counts: an integer of at least 1, else a usage error."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _unavailable(name: str, exc: ImportError):
    """A stand-in run() for a command whose module cannot be imported here."""
    def run(args) -> int:
        raise ValueError(f"this command is unavailable here: {exc}")
    return run


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog="minitransformer",
        description="A from-scratch deep-learning engine to learn Transformers with.",
    )
    parser.add_argument("--version", action="version", version=f"minitransformer {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"{__name__}.{name}")
        except ImportError as exc:  # a missing optional dependency must not break the others
            subparsers.add_parser(name, help=f"(unavailable: {exc})").set_defaults(
                _run=_unavailable(name, exc))
            continue
        module.add_parser(subparsers).set_defaults(_run=module.run)
    return parser


def main(argv=None) -> int:
    """Run the command line ``argv`` (default: sys.argv[1:]); return the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version and usage errors end here
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    # the command owns its process: keep freed memory for the next step's arrays
    reuse_freed_memory()
    try:
        return int(args._run(args) or 0)
    except USER_ERRORS as exc:
        if os.environ.get("MINITRANSFORMER_DEBUG"):
            raise
        reason = " ".join(str(exc).split()) or type(exc).__name__
        print(f"{parser.prog} {args.command}: error: {reason}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{parser.prog} {args.command}: interrupted", file=sys.stderr)
        return 130
