"""Tests for minitransformer.data.corpus (reading parallel text)."""

import gzip

import pytest

from minitransformer.data import filter_by_length, load_parallel, load_tsv, read_lines


def write(path, text: str | bytes):
    data = text.encode("utf-8") if isinstance(text, str) else text
    if path.suffix == ".gz":
        data = gzip.compress(data)
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("name", ["a.txt", "a.txt.gz"])
def test_read_lines_plain_and_gz(tmp_path, name):
    p = write(tmp_path / name, "Ein Mann.\nZwei Frauen\u2028lachen.\r\n\nEnde")
    # U+2028 stays inside its line, \r\n loses \r, blank lines are kept
    assert read_lines(p) == ["Ein Mann.", "Zwei Frauen\u2028lachen.", "", "Ende"]


def test_trailing_newline_and_bom(tmp_path):
    p = write(tmp_path / "b.txt", b"\xef\xbb\xbfone\ntwo\n")
    assert read_lines(p) == ["one", "two"]


@pytest.mark.parametrize("name", ["empty.txt", "empty.gz"])
def test_empty_file(tmp_path, name):
    p = write(tmp_path / name, "")
    with pytest.raises(ValueError, match=f"{name}: file is empty"):
        read_lines(p)


@pytest.mark.parametrize("name", ["bad.txt", "bad.txt.gz"])
def test_undecodable_bytes_name_file_and_line(tmp_path, name):
    p = write(tmp_path / name, b"fine\nalso fine\nbroken \xff here\nfine\n")
    with pytest.raises(ValueError, match=rf"{name}:3: line 3 is not valid UTF-8"):
        read_lines(p)


def test_missing_file_and_bad_gzip(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothere.txt"):
        read_lines(tmp_path / "nothere.txt")
    p = tmp_path / "fake.gz"
    p.write_bytes(b"not gzip at all")
    with pytest.raises(ValueError, match="fake.gz: not a valid gzip"):
        read_lines(p)


def test_load_parallel(tmp_path):
    s = write(tmp_path / "train.de.gz", "Ein Hund.\nEine Katze.\n")
    t = write(tmp_path / "train.en", "A dog.\nA cat.\n")
    assert load_parallel(s, t) == [("Ein Hund.", "A dog."), ("Eine Katze.", "A cat.")]


def test_load_parallel_mismatched_counts(tmp_path):
    s = write(tmp_path / "x.de", "a\nb\nc\n")
    t = write(tmp_path / "x.en", "a\nb\n")
    with pytest.raises(ValueError) as e:
        load_parallel(s, t)
    msg = str(e.value)
    assert str(s) in msg and str(t) in msg
    assert "3 lines" in msg and "2 lines" in msg


def test_load_tsv(tmp_path):
    p = write(tmp_path / "p.tsv", "hallo\thello\n\tempty source\n")
    assert load_tsv(p) == [("hallo", "hello"), ("", "empty source")]


@pytest.mark.parametrize("bad,found", [("no tab here", 0), ("a\tb\tc", 2)])
def test_load_tsv_bad_line(tmp_path, bad, found):
    p = write(tmp_path / "p.tsv", f"x\ty\nz\tw\n{bad}\n")
    with pytest.raises(ValueError, match=rf"p\.tsv:3: .*line 3, found {found}"):
        load_tsv(p)


def test_filter_by_length_counts_and_order():
    pairs = [
        ("a b", "x y"),          # kept
        ("", "x"),               # empty source
        ("a", "   "),            # whitespace-only target
        ("a b c d", "x"),        # source too long for max_len=3
        ("a", "x y z w"),        # target too long
        ("a b c", "x y z"),      # exactly max_len: kept
    ]
    kept, report = filter_by_length(pairs, max_len=3)
    assert kept == [("a b", "x y"), ("a b c", "x y z")]
    assert (report.total, report.kept, report.dropped_empty, report.dropped_too_long) == (6, 2, 2, 2)
    assert report.dropped == 4
    assert str(report) == (
        "kept 2 of 6 pairs; dropped 4 (2 with an empty side, 2 longer than max_len=3)"
    )


def test_filter_by_length_custom_tokenizer_and_no_limit():
    pairs = [("abcd", "ab"), ("ab", "ab"), ("", "a")]
    kept, report = filter_by_length(pairs, max_len=3, tokenize=list)  # count characters
    assert kept == [("ab", "ab")] and report.dropped_too_long == 1 and report.dropped_empty == 1
    kept, report = filter_by_length(iter(pairs), max_len=None)
    assert kept == pairs[:2] and report.dropped == 1
    with pytest.raises(ValueError, match="max_len"):
        filter_by_length(pairs, max_len=0)
