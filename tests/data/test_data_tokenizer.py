"""Tests for minitransformer.data.tokenizer (SentencePiece wrapper)."""

import os
import random
from pathlib import Path

import numpy as np
import pytest

from minitransformer.data import (
    BOS_ID, EOS_ID, PAD_ID, UNK_ID, Tokenizer, load_parallel, train_tokenizers,
)

WORDS = ("the a cat dog sat ran on under mat house red blue big small "
         "quickly slowly jumps walks über straße café naïve").split()


def corpus(n=300, seed=0):
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 9))) for _ in range(n)]


@pytest.fixture(scope="module")
def tok():
    return Tokenizer.train(corpus(), vocab_size=80)


def test_special_ids_are_fixed(tok):
    assert (PAD_ID, UNK_ID, BOS_ID, EOS_ID) == (0, 1, 2, 3)
    assert [tok.id_to_piece(i) for i in range(4)] == ["<pad>", "<unk>", "<s>", "</s>"]
    assert tok.vocab_size == len(tok) == 80


@pytest.mark.parametrize("model_type,vocab_size", [("bpe", 60), ("unigram", 50)])
def test_round_trip(model_type, vocab_size):
    sents = corpus()
    t = Tokenizer.train(sents, vocab_size=vocab_size, model_type=model_type)
    assert t.vocab_size == vocab_size
    for s in sents:
        ids = t.encode(s)
        assert all(4 <= i < t.vocab_size for i in ids)  # no specials, no unk
        assert t.decode(ids) == s
    assert t.decode_batch(t.encode_batch(sents[:20])) == sents[:20]


@pytest.mark.parametrize("model_type", ["bpe", "unigram"])
def test_training_is_deterministic(model_type, tmp_path):
    a = Tokenizer.train(corpus(), vocab_size=50, model_type=model_type)
    b = Tokenizer.train(corpus(), vocab_size=50, model_type=model_type)
    a.save(tmp_path / "a.model")
    b.save(tmp_path / "b.model")
    assert (tmp_path / "a.model").read_bytes() == (tmp_path / "b.model").read_bytes()


def test_bos_eos_and_decode_strips_specials(tok):
    s = "the cat sat on the mat"
    ids = tok.encode(s)
    framed = tok.encode_batch([s], add_bos=True, add_eos=True)[0]
    assert framed == [BOS_ID] + ids + [EOS_ID]
    # decode cuts at the first eos and drops pad/bos, for lists and arrays
    padded = np.array(framed + [PAD_ID] * 3 + tok.encode("dog") + [EOS_ID])
    assert tok.decode(padded) == s
    assert tok.decode([BOS_ID, PAD_ID] + ids) == s
    assert tok.decode_batch(np.array([framed, framed])) == [s, s]


def test_unknown_character_maps_to_unk(tok):
    assert UNK_ID in tok.encode("the 猫")


def test_vocab_too_large_is_a_clear_value_error():
    with pytest.raises(ValueError, match="[Vv]ocabulary size"):
        Tokenizer.train(["ab ba", "ab"], vocab_size=500)
    small = Tokenizer.train(["ab ba", "ab"], vocab_size=500, hard_vocab_limit=False)
    assert 4 < small.vocab_size < 500
    assert small.decode(small.encode("ab ba")) == "ab ba"


def test_bad_arguments():
    with pytest.raises(ValueError, match="model_type"):
        Tokenizer.train(corpus(), vocab_size=50, model_type="wordpiece")
    with pytest.raises(ValueError, match="empty corpus"):
        Tokenizer.train(["", "  "], vocab_size=50)


def test_save_load_round_trip(tok, tmp_path):
    path = tmp_path / "sub" / "tok.model"
    tok.save(path)
    assert [p.name for p in path.parent.iterdir()] == ["tok.model"]  # no temp file left
    loaded = Tokenizer.load(path)
    s = corpus(30, seed=2)
    assert loaded.vocab_size == tok.vocab_size
    assert loaded.encode_batch(s) == tok.encode_batch(s)
    tok.save(path)  # overwriting an existing file works
    assert Tokenizer.load(str(path)).encode(s[0]) == tok.encode(s[0])


def test_pickle_and_bytes_round_trip(tok):
    import pickle
    s = "the big red dog"
    assert pickle.loads(pickle.dumps(tok)).encode(s) == tok.encode(s)
    assert Tokenizer(tok.model_bytes).encode(s) == tok.encode(s)


def test_train_with_model_prefix_and_from_files(tmp_path):
    import gzip
    f = tmp_path / "c.txt.gz"
    f.write_bytes(gzip.compress(("\n".join(corpus()) + "\n").encode()))
    t = Tokenizer.train(f, tmp_path / "m", vocab_size=60)
    assert (tmp_path / "m.model").is_file()
    assert Tokenizer.train(corpus(), vocab_size=60).encode("the cat") == t.encode("the cat")
    t2 = Tokenizer.train([f, f], vocab_size=60)  # list of paths
    assert t2.decode(t2.encode("big red house")) == "big red house"


def test_load_missing_file(tmp_path):
    missing = tmp_path / "nope.model"
    with pytest.raises(FileNotFoundError, match="nope.model"):
        Tokenizer.load(missing)


@pytest.mark.parametrize("seed", range(30))
def test_load_garbage_raises_value_error(tmp_path, seed):
    rng = random.Random(seed)
    path = tmp_path / "garbage.model"
    path.write_bytes(bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 300))))
    with pytest.raises(ValueError, match="garbage.model"):
        Tokenizer.load(path)


def test_load_empty_and_text_files(tmp_path):
    for content in (b"", b"hello world\n"):
        path = tmp_path / "x.model"
        path.write_bytes(content)
        with pytest.raises(ValueError, match="x.model"):
            Tokenizer.load(path)


def test_train_tokenizers_joint_and_separate(tmp_path):
    src = corpus(200, seed=3)
    tgt = [s.upper() for s in corpus(200, seed=4)]
    a, b = train_tokenizers(src, tgt, 80, joint=True, out_dir=tmp_path / "j")
    assert a is b
    assert a.decode(a.encode(src[0])) == src[0] and a.decode(a.encode(tgt[0])) == tgt[0]
    assert (tmp_path / "j" / "joint.model").is_file()
    s, t = train_tokenizers(src, tgt, 60, joint=False, out_dir=tmp_path / "s")
    assert s is not t
    assert {p.name for p in (tmp_path / "s").iterdir()} == {"src.model", "tgt.model"}
    # the source vocabulary never saw upper case letters, the target one did
    assert UNK_ID in s.encode("CAT") and UNK_ID not in t.encode("CAT")
    assert Tokenizer.load(tmp_path / "s" / "tgt.model").encode(tgt[1]) == t.encode(tgt[1])


def multi30k_dir() -> Path:
    env = os.environ.get("MINITRANSFORMER_MULTI30K")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2].parent / "shared/data/multi30k"


def test_multi30k_round_trip():
    d = multi30k_dir()
    if not (d / "val.de.gz").is_file() or not (d / "val.en.gz").is_file():
        pytest.skip(f"Multi30k not found at {d}")
    pairs = load_parallel(d / "val.de.gz", d / "val.en.gz")
    assert len(pairs) == 1014
    tok, _ = train_tokenizers([s for s, _ in pairs], [t for _, t in pairs], 1000)
    assert tok.vocab_size == 1000
    sample = [s for pair in pairs[::10] for s in pair]
    assert all(tok.decode(tok.encode(s)) == s for s in sample)
    # subwords compress: far fewer ids than characters
    assert sum(len(tok.encode(s)) for s in sample) < 0.4 * sum(len(s) for s in sample)
