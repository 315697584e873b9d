"""Loaders that cannot be abused: random and damaged bytes only raise the documented errors.

The tokenizer loader (``Tokenizer(bytes)``, ``Tokenizer.load``) and the
corpus readers (``read_lines``, ``load_parallel``, ``load_tsv``, plain or
gzipped) get random bytes and damaged copies of valid files.  Each either
returns well-formed data or raises ValueError (UnicodeDecodeError is one) or
FileNotFoundError: never another exception, a crash or a half-loaded result.
(Checkpoints, ``mt.load``, are fuzzed in tests/test_serialization_fuzz.py.)
"""
import gzip
import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from minitransformer.data import Tokenizer, load_parallel, load_tsv, read_lines

DOCUMENTED = (ValueError, FileNotFoundError)
FUZZ = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
_names = itertools.count()


@pytest.fixture(scope="module")
def good_model():
    sentences = [" ".join("abcdefgh"[i % 8] * (1 + i % 3) for i in range(j, j + 5)) for j in range(200)]
    return Tokenizer.train(sentences, vocab_size=30, hard_vocab_limit=False).model_bytes


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


def write(folder, data: bytes, suffix=".txt"):
    path = folder / f"f{next(_names)}{suffix}"
    path.write_bytes(data)
    return path


@st.composite
def damaged(draw, original: bytes):
    """A copy of ``original`` with bytes overwritten, inserted, or the end cut off."""
    data = bytearray(original)
    for _ in range(draw(st.integers(0, 4))):
        pos = draw(st.integers(0, len(data) - 1))
        if draw(st.booleans()):
            data[pos] = draw(st.integers(0, 255))
        else:
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
    cut = draw(st.integers(0, len(data)))
    return bytes(data[:cut] if draw(st.booleans()) else data)


def check_tokenizer(make):
    try:
        tok = make()
    except DOCUMENTED:
        return None
    ids = tok.encode("a bb ccc dd e")           # whatever was loaded works, within its vocabulary
    assert all(0 <= i < tok.vocab_size for i in ids)
    assert isinstance(tok.decode(ids), str)
    return tok


@FUZZ
@given(data=st.binary(max_size=600))
def test_random_bytes_as_a_tokenizer_model(data):
    check_tokenizer(lambda: Tokenizer(data))


@FUZZ
@given(data=st.data())
def test_damaged_tokenizer_models(good_model, folder, data):
    bad = data.draw(damaged(good_model))
    check_tokenizer(lambda: Tokenizer(bad))
    check_tokenizer(lambda: Tokenizer.load(write(folder, bad, ".model")))


def test_the_undamaged_model_loads(good_model, folder):
    assert check_tokenizer(lambda: Tokenizer.load(write(folder, good_model, ".model"))).vocab_size == 30


TEXT = "ein Hund läuft\nzwei Katzen\r\n\ttab\tzwei\nüber\u2028alles\n".encode()
TEXT_BYTES = st.one_of(st.binary(max_size=300), st.text(max_size=100).map(str.encode),
                       st.builds(lambda d: d, st.just(TEXT)))


def read_or_refuse(reader, *paths):
    try:
        return reader(*paths)
    except DOCUMENTED:
        return None


@FUZZ
@given(data=TEXT_BYTES, gz=st.booleans(), recompress=st.booleans())
def test_read_lines_on_random_bytes(folder, data, gz, recompress):
    raw = gzip.compress(data) if gz and recompress else data
    lines = read_or_refuse(read_lines, write(folder, raw, ".gz" if gz else ".txt"))
    if lines is None:
        return
    assert lines and all(isinstance(line, str) and "\n" not in line for line in lines)
    if not gz or recompress:                   # what was read is what was written
        text = data.decode("utf-8").removeprefix("\ufeff")
        assert "\n".join(lines) == "\n".join(line.removesuffix("\r") for line in text.removesuffix("\n").split("\n"))


@FUZZ
@given(src=TEXT_BYTES, tgt=TEXT_BYTES)
def test_load_parallel_on_random_bytes(folder, src, tgt):
    pairs = read_or_refuse(load_parallel, write(folder, src), write(folder, tgt))
    if pairs is not None:
        assert pairs and all(isinstance(s, str) and isinstance(t, str) for s, t in pairs)
        assert len(pairs) == len(read_lines(write(folder, src))) == len(read_lines(write(folder, tgt)))


@FUZZ
@given(data=st.one_of(TEXT_BYTES, st.lists(st.tuples(st.text(max_size=10), st.text(max_size=10)), min_size=1)
                      .map(lambda pairs: "".join(f"{s}\t{t}\n" for s, t in pairs).encode())))
def test_load_tsv_on_random_bytes(folder, data):
    pairs = read_or_refuse(load_tsv, write(folder, data))
    if pairs is not None:
        assert pairs and all("\t" not in s and "\t" not in t and "\n" not in s + t for s, t in pairs)


def test_missing_files_are_file_not_found(folder):
    for call in (lambda: read_lines(folder / "nope.txt"), lambda: load_tsv(folder / "nope.tsv"),
                 lambda: load_parallel(folder / "nope.de", folder / "nope.en"),
                 lambda: Tokenizer.load(folder / "nope.model")):
        with pytest.raises(FileNotFoundError, match="nope"):
            call()
