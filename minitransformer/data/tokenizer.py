"""Subword tokenization: text <-> lists of integer ids, via SentencePiece.

A Transformer sees integers, not text. Word-level vocabularies are huge and
still meet unknown words; character-level ones make sequences long. Subword
units sit in between: frequent words stay whole, rare ones are split into
pieces ("Baumwolle" -> "▁Baum" "wolle"). SentencePiece learns such pieces
from raw sentences, either by BPE (repeatedly merge the most frequent adjacent
pair) or by a unigram language model (start big, prune the pieces that help
the corpus likelihood least).

The four special ids are fixed for every tokenizer made here, so that the
batching code and the model can rely on them without asking:

    PAD_ID = 0   padding, ignored by the loss and the attention masks
    UNK_ID = 1   a character never seen in training
    BOS_ID = 2   "begin of sentence", the decoder's first input
    EOS_ID = 3   "end of sentence", the decoder's last target
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

import sentencepiece as spm

from .corpus import read_lines

__all__ = ["Tokenizer", "train_tokenizers", "PAD_ID", "UNK_ID", "BOS_ID", "EOS_ID"]

PAD_ID, UNK_ID, BOS_ID, EOS_ID = 0, 1, 2, 3
PathLike = str | os.PathLike


class Tokenizer:
    """A trained SentencePiece model with the fixed special ids above.

    Build one with :meth:`train` or :meth:`load`; the constructor takes the
    serialized model (the bytes of a ``.model`` file).
    """

    def __init__(self, model_bytes: bytes, *, source: str = "<bytes>"):
        self._bytes = bytes(model_bytes)
        self._sp = _processor_from_bytes(self._bytes, source)

    # ---------------------------------------------------------------- training
    @classmethod
    def train(
        cls,
        texts_or_files: Iterable[str] | PathLike | Sequence[PathLike],
        model_prefix: PathLike | None = None,
        vocab_size: int = 8000,
        model_type: str = "bpe",
        *,
        character_coverage: float = 1.0,
        normalization: str = "identity",
        hard_vocab_limit: bool = True,
        byte_fallback: bool = False,
        num_threads: int = 1,
    ) -> Tokenizer:
        """Learn a ``vocab_size``-piece vocabulary from sentences.

        ``texts_or_files`` is either an iterable of sentences (``str``), or a
        path / list of paths (``pathlib.Path`` or a single ``str`` path) to
        text files read with :func:`read_lines` (plain or ``.gz``).
        With ``model_prefix`` the model is also saved to ``<prefix>.model``.

        Defaults are chosen so that ``decode(encode(s)) == s``:
        ``character_coverage=1.0`` keeps every character seen in training and
        ``normalization="identity"`` leaves text unchanged (the alternative,
        ``"nmt_nfkc"``, rewrites e.g. full-width characters). SentencePiece
        still collapses runs of whitespace and strips it at both ends.
        ``num_threads=1`` makes training bit-for-bit deterministic.

        If the corpus is too small for ``vocab_size`` pieces, this raises a
        ``ValueError`` giving the largest possible size; pass
        ``hard_vocab_limit=False`` to accept a smaller vocabulary instead.
        """
        if model_type not in ("bpe", "unigram"):
            raise ValueError(f"model_type must be 'bpe' or 'unigram', got {model_type!r}")
        sentences = [s for s in _sentences(texts_or_files) if s.strip()]
        if not sentences:
            raise ValueError("cannot train a tokenizer on an empty corpus")
        writer = io.BytesIO()
        try:
            spm.SentencePieceTrainer.train(
                sentence_iterator=iter(sentences),
                model_writer=writer,
                vocab_size=vocab_size,
                model_type=model_type,
                pad_id=PAD_ID, unk_id=UNK_ID, bos_id=BOS_ID, eos_id=EOS_ID,
                pad_piece="<pad>", unk_piece="<unk>", bos_piece="<s>", eos_piece="</s>",
                character_coverage=character_coverage,
                normalization_rule_name=normalization,
                hard_vocab_limit=hard_vocab_limit,
                byte_fallback=byte_fallback,
                num_threads=num_threads,
                # Use every sentence, in the given order: no sampling, no shuffle.
                input_sentence_size=0,
                shuffle_input_sentence=False,
                minloglevel=2,  # quiet: only errors
            )
        except RuntimeError as e:
            # SentencePiece reports user errors (e.g. "Vocabulary size too
            # high (500). Please set it to a value <= 76.") as RuntimeError.
            raise ValueError(f"SentencePiece training failed: {e}") from e
        tok = cls(writer.getvalue(), source="<trained>")
        if model_prefix is not None:
            tok.save(f"{os.fspath(model_prefix)}.model")
        return tok

    # ----------------------------------------------------------- persistence
    @property
    def model_bytes(self) -> bytes:
        """The serialized model: ``Tokenizer(tok.model_bytes)`` is a copy of ``tok``."""
        return self._bytes

    def __getstate__(self) -> dict:
        # The C++ processor cannot be pickled; its bytes can (checkpoints, workers).
        return {"model_bytes": self._bytes}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["model_bytes"], source="<pickle>")

    def save(self, path: PathLike) -> None:
        """Write the ``.model`` bytes to ``path`` atomically.

        We write a temporary file in the same directory, fsync it, then
        ``os.replace`` it over ``path``: a crash leaves either the old file or
        the new one, never a truncated model.
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(self._bytes)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    @classmethod
    def load(cls, path: PathLike) -> Tokenizer:
        """Read a ``.model`` file written by :meth:`save` (or by SentencePiece).

        Raises ``FileNotFoundError`` if ``path`` does not exist and
        ``ValueError`` (naming ``path``) if it is not a SentencePiece model
        with the fixed special ids.
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such tokenizer model file")
        return cls(path.read_bytes(), source=str(path))

    # ------------------------------------------------------------- encoding
    @property
    def vocab_size(self) -> int:
        """Number of ids, specials included; valid ids are ``0 .. vocab_size-1``."""
        return self._sp.get_piece_size()

    def __len__(self) -> int:
        return self.vocab_size

    def encode(self, text: str, add_bos: bool = False, add_eos: bool = False) -> list[int]:
        """Ids of one sentence: ``list[int]``, optionally framed by bos/eos."""
        return self._sp.encode(text, add_bos=add_bos, add_eos=add_eos)

    def encode_batch(
        self, texts: Sequence[str], add_bos: bool = False, add_eos: bool = False
    ) -> list[list[int]]:
        """Ids of many sentences (ragged: one list per sentence, no padding)."""
        return self._sp.encode(list(texts), add_bos=add_bos, add_eos=add_eos)

    def decode(self, ids: Iterable[int]) -> str:
        """Text of one id sequence (a list or a 1-D integer array).

        Model outputs are padded and framed, so we cut at the first eos
        (anything after it is padding or what the model said after it
        declared itself done) and drop pad and bos ids.
        """
        out = []
        for i in ids:
            i = int(i)
            if i == EOS_ID:
                break
            if i not in (PAD_ID, BOS_ID):
                out.append(i)
        return self._sp.decode(out)

    def decode_batch(self, batch: Iterable[Iterable[int]]) -> list[str]:
        """:meth:`decode` for each row (a list of lists or a 2-D array)."""
        return [self.decode(row) for row in batch]

    def id_to_piece(self, i: int) -> str:
        return self._sp.id_to_piece(int(i))

    def piece_to_id(self, piece: str) -> int:
        return self._sp.piece_to_id(piece)

    def __repr__(self) -> str:
        return f"Tokenizer(vocab_size={self.vocab_size})"


def _sentences(texts_or_files) -> Iterable[str]:
    """Sentences from an iterable of strings, or lines from file path(s)."""
    if isinstance(texts_or_files, (str, os.PathLike)):
        return read_lines(texts_or_files)  # a single str is a path, not a sentence
    items = list(texts_or_files)
    if items and all(isinstance(x, os.PathLike) for x in items):
        return [line for p in items for line in read_lines(p)]
    for x in items:
        if not isinstance(x, str):
            raise TypeError(f"expected sentences (str) or paths, got {type(x).__name__}")
    return items


def _processor_from_bytes(data: bytes, source: str) -> spm.SentencePieceProcessor:
    """Parse model bytes, turning every kind of garbage into a ``ValueError``."""
    sp = spm.SentencePieceProcessor()
    try:
        sp.LoadFromSerializedProto(data)
    except RuntimeError as e:
        raise ValueError(f"{source}: not a SentencePiece model ({e})") from None
    # Some byte strings (e.g. empty ones) parse as an empty protobuf message;
    # an uninitialized processor serializes back to b"".
    if not sp.serialized_model_proto() or sp.get_piece_size() < 4:
        raise ValueError(f"{source}: not a SentencePiece model (no vocabulary)")
    found = (sp.pad_id(), sp.unk_id(), sp.bos_id(), sp.eos_id())
    if found != (PAD_ID, UNK_ID, BOS_ID, EOS_ID):
        raise ValueError(
            f"{source}: special ids (pad, unk, bos, eos) are {found}, "
            f"expected {(PAD_ID, UNK_ID, BOS_ID, EOS_ID)}"
        )
    return sp


def train_tokenizers(
    src_sentences: Iterable[str],
    tgt_sentences: Iterable[str],
    vocab_size: int,
    joint: bool = True,
    model_type: str = "bpe",
    out_dir: PathLike | None = None,
    **train_kwargs,
) -> tuple[Tokenizer, Tokenizer]:
    """Tokenizers for both languages: ``(src_tok, tgt_tok)``.

    ``joint=True`` trains one vocabulary on both sides and returns the same
    object twice. Sharing lets the model tie its source and target embeddings
    and copy names and numbers through unchanged. ``joint=False`` trains one
    per language, each with ``vocab_size`` pieces.

    With ``out_dir`` the models are saved as ``joint.model`` or as
    ``src.model`` and ``tgt.model``.
    """
    src, tgt = list(src_sentences), list(tgt_sentences)
    out = None if out_dir is None else Path(out_dir)
    if joint:
        tok = Tokenizer.train(src + tgt, None, vocab_size, model_type, **train_kwargs)
        if out is not None:
            tok.save(out / "joint.model")
        return tok, tok
    src_tok = Tokenizer.train(src, None, vocab_size, model_type, **train_kwargs)
    tgt_tok = Tokenizer.train(tgt, None, vocab_size, model_type, **train_kwargs)
    if out is not None:
        src_tok.save(out / "src.model")
        tgt_tok.save(out / "tgt.model")
    return src_tok, tgt_tok
