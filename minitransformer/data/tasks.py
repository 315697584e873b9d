"""Generated toy tasks: data for a fresh machine with no download.

Before trusting a model on real translation it pays to watch it learn
problems whose answer we know exactly:

* ``copy``    -- output the input. Tests that attention can look things up.
* ``reverse`` -- output the input backwards. Attention must learn positions.
* ``sort``    -- output the input's symbols in alphabetical order.
* ``numbers`` -- "4 0 7" -> "four hundred seven": a small real translation,
                 with reordering, one-to-many and many-to-one word alignments.
* ``dates``   -- "2 0 2 3 - 0 4 - 0 7" -> "april 7 , 2023".

Every example is a pair of strings with tokens separated by single spaces,
exactly the shape of a line pair from a parallel corpus, so the same
tokenizer / batching / training code runs on both.
"""

from __future__ import annotations

import datetime
import random
import string
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Task", "TASKS", "make_task", "number_to_words"]

Pair = tuple[str, str]

# Sequence tasks: symbols "a".."z", lengths drawn uniformly from this range.
SYMBOLS = tuple(string.ascii_lowercase)
MIN_LEN, MAX_LEN = 3, 10


@dataclass(frozen=True)
class Task:
    """A named generator of ``(source, target)`` string pairs."""

    name: str
    description: str
    sample: Callable[[random.Random], Pair]  # draws one pair from the rng


# ---------------------------------------------------------- symbol sequences
def _symbols(rng: random.Random) -> list[str]:
    return [rng.choice(SYMBOLS) for _ in range(rng.randint(MIN_LEN, MAX_LEN))]


def _copy(rng: random.Random) -> Pair:
    s = _symbols(rng)
    return " ".join(s), " ".join(s)


def _reverse(rng: random.Random) -> Pair:
    s = _symbols(rng)
    return " ".join(s), " ".join(reversed(s))


def _sort(rng: random.Random) -> Pair:
    s = _symbols(rng)
    return " ".join(s), " ".join(sorted(s))


# ------------------------------------------------------------ numbers to words
_ONES = ("zero one two three four five six seven eight nine ten eleven twelve "
         "thirteen fourteen fifteen sixteen seventeen eighteen nineteen").split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def _below_thousand(n: int) -> list[str]:
    """Words for 1 <= n <= 999 (zero is handled by the caller)."""
    words = []
    if n >= 100:
        words += [_ONES[n // 100], "hundred"]
        n %= 100
    if n >= 20:
        words.append(_TENS[n // 10])
        n %= 10
    if n > 0:
        words.append(_ONES[n])
    return words


def number_to_words(n: int) -> str:
    """English words for ``0 <= n <= 999_999``.

    Convention (American, one token per word): no "and", no hyphens, so
    ``105 -> "one hundred five"`` and ``123456 -> "one hundred twenty three
    thousand four hundred fifty six"``.
    """
    if not 0 <= n <= 999_999:
        raise ValueError(f"number_to_words handles 0..999999, got {n}")
    if n == 0:
        return "zero"
    thousands, rest = divmod(n, 1000)
    words = (_below_thousand(thousands) + ["thousand"]) if thousands else []
    if rest:
        words += _below_thousand(rest)
    return " ".join(words)


def _numbers(rng: random.Random) -> Pair:
    # Draw the digit count first, then the number: uniform over 0..999999
    # would make 90% of the examples six digits long and almost never show
    # the model "seven" on its own.
    digits = rng.randint(1, 6)
    n = rng.randint(0 if digits == 1 else 10 ** (digits - 1), 10**digits - 1)
    return " ".join(str(n)), number_to_words(n)


# ----------------------------------------------------------------------- dates
_MONTHS = ("january february march april may june july august september "
           "october november december").split()
_FIRST_DAY = datetime.date(1900, 1, 1).toordinal()
_LAST_DAY = datetime.date(2099, 12, 31).toordinal()


def _dates(rng: random.Random) -> Pair:
    d = datetime.date.fromordinal(rng.randint(_FIRST_DAY, _LAST_DAY))
    return " ".join(d.isoformat()), f"{_MONTHS[d.month - 1]} {d.day} , {d.year}"


TASKS: dict[str, Task] = {
    t.name: t
    for t in (
        Task("copy", f"copy {MIN_LEN}-{MAX_LEN} letters a-z unchanged: 'c a b' -> 'c a b'", _copy),
        Task("reverse", "reverse the letters: 'c a b' -> 'b a c'", _reverse),
        Task("sort", "sort the letters alphabetically: 'c a b' -> 'a b c'", _sort),
        Task("numbers", "digits to English words: '4 0 7' -> 'four hundred seven'", _numbers),
        Task("dates", "ISO date to words: '2 0 2 3 - 0 4 - 0 7' -> 'april 7 , 2023'", _dates),
    )
}


def make_task(
    name: str, n_train: int, n_valid: int, n_test: int, seed: int = 0
) -> dict[str, list[Pair]]:
    """Splits ``{"train": [...], "valid": [...], "test": [...]}`` of a task.

    The same ``(name, sizes, seed)`` always gives the same data. All sources
    are distinct, so valid and test never contain a source seen in training:
    they measure generalization, not memorization. If the task cannot produce
    that many distinct sources, this raises ``ValueError`` instead of
    quietly repeating examples.
    """
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; valid tasks: {', '.join(TASKS)}")
    sizes = {"test": n_test, "valid": n_valid, "train": n_train}
    for split, n in sizes.items():
        if n < 0:
            raise ValueError(f"n_{split} must be >= 0, got {n}")
    sample = TASKS[name].sample
    rng = random.Random(seed)
    total = n_train + n_valid + n_test
    seen: set[str] = set()
    pairs: list[Pair] = []
    attempts, max_attempts = 0, 10 * total + 1000
    while len(pairs) < total:
        attempts += 1
        if attempts > max_attempts:
            raise ValueError(
                f"task {name!r} produced only {len(pairs)} distinct sources in "
                f"{max_attempts} draws; ask for fewer than {total} examples"
            )
        src, tgt = sample(rng)
        if src not in seen:
            seen.add(src)
            pairs.append((src, tgt))
    # Shuffle before splitting: rare sources (the few one-digit numbers, say)
    # are drawn early, and the splits must share one distribution, not give
    # the held-out sets all the rare cases.
    rng.shuffle(pairs)
    return {
        "train": pairs[n_test + n_valid:],
        "valid": pairs[n_test:n_test + n_valid],
        "test": pairs[:n_test],
    }
