"""Reading a parallel corpus from disk, strictly.

A translation corpus is two files with one sentence per line, where line i of
the source file translates line i of the target file (Multi30k ships this way,
gzipped), or one tab-separated file with ``source<TAB>target`` on each line.

Everything here reads the whole file, validates it, and only then returns:
a corpus that is silently half-loaded, or shifted by one line, trains a model
on garbage without any error. So every problem raises a ``ValueError`` that
names the file (and the 1-based line when there is one).
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["read_lines", "load_parallel", "load_tsv", "filter_by_length", "FilterReport"]

PathLike = str | os.PathLike


def _read_bytes(path: Path) -> bytes:
    """The file's bytes, gunzipped when the name ends in ``.gz``."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    if path.suffix != ".gz":
        return path.read_bytes()
    try:
        with gzip.open(path, "rb") as f:
            return f.read()
    except (gzip.BadGzipFile, EOFError, OSError) as e:
        raise ValueError(f"{path}: not a valid gzip file ({e})") from e


def read_lines(path: PathLike) -> list[str]:
    """All lines of a UTF-8 text file (plain or ``.gz``), without line endings.

    Returns a list of ``str``, one per line; a final newline does not create an
    extra empty line, a ``\\r\\n`` ending loses its ``\\r``, and a UTF-8 byte
    order mark at the start is dropped.

    We split on ``b"\\n"`` only, never with ``str.splitlines``: that also splits
    on characters such as U+2028 or U+0085 that can occur *inside* a sentence,
    which would silently shift a parallel corpus out of alignment.

    Raises ``ValueError`` naming the file for an empty file, and naming the
    file and the 1-based line number for bytes that are not valid UTF-8.
    """
    path = Path(path)
    data = _read_bytes(path)
    if not data:
        raise ValueError(f"{path}: file is empty")
    if data.startswith(b"\xef\xbb\xbf"):  # UTF-8 byte order mark
        data = data[3:]
    raw = data.split(b"\n")
    if raw[-1] == b"":  # the usual trailing newline ends the last line
        raw.pop()
    lines = []
    for number, line in enumerate(raw, start=1):
        try:
            text = line.decode("utf-8")  # strict: no silent replacement chars
        except UnicodeDecodeError as e:
            raise ValueError(
                f"{path}:{number}: line {number} is not valid UTF-8 "
                f"(byte {line[e.start]:#04x} at column {e.start + 1})"
            ) from e
        lines.append(text[:-1] if text.endswith("\r") else text)
    if not lines:
        raise ValueError(f"{path}: file is empty")
    return lines


def load_parallel(src_path: PathLike, tgt_path: PathLike) -> list[tuple[str, str]]:
    """Pairs ``(source, target)`` from two line-aligned files.

    Both files are read completely first; if their line counts differ the
    alignment is unknown, so we refuse (``ValueError`` naming both files and
    both counts) rather than truncate to the shorter one.
    """
    src, tgt = read_lines(src_path), read_lines(tgt_path)
    if len(src) != len(tgt):
        raise ValueError(
            f"parallel files differ in length: {src_path} has {len(src)} lines "
            f"but {tgt_path} has {len(tgt)} lines"
        )
    return list(zip(src, tgt))


def load_tsv(path: PathLike) -> list[tuple[str, str]]:
    """Pairs ``(source, target)`` from a file whose lines are ``source\\ttarget``.

    A line with no tab, or more than one, is ambiguous (which tab separates the
    two sides?) and raises ``ValueError`` naming the file and the 1-based line.
    """
    pairs = []
    for number, line in enumerate(read_lines(path), start=1):
        tabs = line.count("\t")
        if tabs != 1:
            raise ValueError(
                f"{path}:{number}: expected exactly one tab separating source "
                f"and target on line {number}, found {tabs}"
            )
        src, tgt = line.split("\t")
        pairs.append((src, tgt))
    return pairs


@dataclass(frozen=True)
class FilterReport:
    """What :func:`filter_by_length` kept and why it dropped the rest."""

    total: int
    kept: int
    dropped_empty: int  # a side was empty (or only whitespace)
    dropped_too_long: int  # a side had more than max_len tokens
    max_len: int | None

    @property
    def dropped(self) -> int:
        return self.dropped_empty + self.dropped_too_long

    def __str__(self) -> str:
        limit = "no length limit" if self.max_len is None else f"max_len={self.max_len}"
        return (
            f"kept {self.kept} of {self.total} pairs; dropped {self.dropped} "
            f"({self.dropped_empty} with an empty side, "
            f"{self.dropped_too_long} longer than {limit})"
        )


def filter_by_length(
    pairs: Iterable[tuple[str, str]],
    max_len: int | None,
    tokenize: Callable[[str], list] = str.split,
) -> tuple[list[tuple[str, str]], FilterReport]:
    """Drop pairs with an empty side or a side longer than ``max_len`` tokens.

    ``tokenize`` turns a sentence into a list whose length is compared with
    ``max_len``: ``str.split`` counts words, ``tokenizer.encode`` counts
    subword ids. ``max_len=None`` only drops the empty pairs.

    Returns ``(kept_pairs, report)``; the kept pairs keep their order.
    Empty pairs are dropped first (they teach nothing and give zero-length
    sequences, which attention cannot handle), then over-long ones (they
    dominate memory: attention costs grow with the square of the length).
    """
    if max_len is not None and max_len < 1:
        raise ValueError(f"max_len must be a positive integer or None, got {max_len}")
    kept, total, empty, too_long = [], 0, 0, 0
    for src, tgt in pairs:
        total += 1
        if not src.strip() or not tgt.strip():
            empty += 1
        elif max_len is not None and (
            len(tokenize(src)) > max_len or len(tokenize(tgt)) > max_len
        ):
            too_long += 1
        else:
            kept.append((src, tgt))
    return kept, FilterReport(total, len(kept), empty, too_long, max_len)
