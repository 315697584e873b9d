"""Tests for minitransformer.data.tasks (generated toy tasks)."""

import datetime

import pytest

from minitransformer.data import TASKS, Task, make_task, number_to_words
from minitransformer.data.tasks import MAX_LEN, MIN_LEN


def test_registry_lists_tasks_with_descriptions():
    assert set(TASKS) == {"copy", "reverse", "sort", "numbers", "dates"}
    for name, task in TASKS.items():
        assert task.name == name and task.description and "\n" not in task.description


def test_unknown_task_lists_valid_names():
    with pytest.raises(ValueError, match="unknown task 'translate'.*copy, reverse, sort, numbers, dates"):
        make_task("translate", 10, 1, 1, seed=0)


@pytest.mark.parametrize("name", sorted(TASKS))
def test_deterministic_sizes_and_disjoint(name):
    a = make_task(name, 300, 40, 50, seed=7)
    assert a == make_task(name, 300, 40, 50, seed=7)
    assert a != make_task(name, 300, 40, 50, seed=8)
    assert {k: len(v) for k, v in a.items()} == {"train": 300, "valid": 40, "test": 50}
    sources = [s for split in a.values() for s, _ in split]
    assert len(set(sources)) == len(sources)  # no source repeated, across or within splits
    for split in a.values():
        for src, tgt in split:
            assert src and tgt and src == src.strip() and "  " not in src + tgt


def test_splits_share_one_distribution():
    # one-digit numbers are rare (10 distinct) and drawn early: a split taken
    # in draw order would hand them all to the held-out sets
    splits = make_task("numbers", 3000, 600, 600, seed=1)

    def short_fraction(pairs):
        return sum(len(src.split()) <= 2 for src, _ in pairs) / len(pairs)

    train, test = short_fraction(splits["train"]), short_fraction(splits["test"])
    assert abs(train - test) < 0.05, (train, test)


@pytest.mark.parametrize("name", ["copy", "reverse", "sort"])
def test_symbol_tasks_targets(name):
    for src, tgt in make_task(name, 200, 0, 0, seed=0)["train"]:
        s, t = src.split(), tgt.split()
        assert MIN_LEN <= len(s) <= MAX_LEN
        assert all(len(c) == 1 and "a" <= c <= "z" for c in s)
        expected = {"copy": s, "reverse": s[::-1], "sort": sorted(s)}[name]
        assert t == expected


@pytest.mark.parametrize("n,words", [
    (0, "zero"),
    (7, "seven"),
    (15, "fifteen"),
    (40, "forty"),
    (105, "one hundred five"),
    (1000, "one thousand"),
    (1001, "one thousand one"),
    (20_019, "twenty thousand nineteen"),
    (123_456, "one hundred twenty three thousand four hundred fifty six"),
    (999_999, "nine hundred ninety nine thousand nine hundred ninety nine"),
])
def test_number_to_words(n, words):
    assert number_to_words(n) == words


def test_number_to_words_range():
    for bad in (-1, 1_000_000):
        with pytest.raises(ValueError):
            number_to_words(bad)


def test_numbers_task_pairs_agree():
    data = make_task("numbers", 500, 0, 0, seed=3)["train"]
    lengths = set()
    for src, tgt in data:
        digits = src.split()
        assert all(len(d) == 1 and d.isdigit() for d in digits)
        assert digits == ["0"] or digits[0] != "0"  # no leading zeros
        assert tgt == number_to_words(int("".join(digits)))
        lengths.add(len(digits))
    assert lengths == {1, 2, 3, 4, 5, 6}  # every magnitude is represented


def test_dates_task_pairs_agree():
    months = ["january", "february", "march", "april", "may", "june", "july",
              "august", "september", "october", "november", "december"]
    for src, tgt in make_task("dates", 300, 0, 0, seed=5)["train"]:
        d = datetime.date.fromisoformat(src.replace(" ", ""))
        assert 1900 <= d.year <= 2099
        month, day, comma, year = tgt.split()
        assert (months.index(month) + 1, int(day), comma, int(year)) == (d.month, d.day, ",", d.year)


def test_too_many_distinct_examples_is_an_error(monkeypatch):
    # A task with only 5 possible sources cannot give 6 distinct examples.
    tiny = Task("tiny", "five sources", lambda rng: (str(rng.randint(0, 4)), "x"))
    monkeypatch.setitem(TASKS, "tiny", tiny)
    assert len(make_task("tiny", 3, 1, 1, seed=0)["train"]) == 3
    with pytest.raises(ValueError, match="only 5 distinct sources"):
        make_task("tiny", 4, 1, 1, seed=0)


def test_negative_size_rejected():
    with pytest.raises(ValueError, match="n_valid"):
        make_task("copy", 10, -1, 0, seed=0)
