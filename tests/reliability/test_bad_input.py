"""The catalogue of wrong inputs above the engine: layers, corpora, run directories, the command.

Each wrong input fails at once, with the documented exception type and a
message that names what is wrong: the layer, the file and line, the shapes or
the values.  The command turns every such error into exit status 2 and one
line on stderr, never a traceback.  (The engine's own ops are covered by
tests/engine/test_bad_input.py.)
"""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import minitransformer as mt
from minitransformer import nn
from minitransformer.cli import COMMANDS, main
from minitransformer.data import Tokenizer, load_parallel, load_tsv, read_lines
from minitransformer.inference import translate_batch
from minitransformer.nn.module import StateDictError

ROOT = Path(__file__).resolve().parents[2]


def tiny_transformer(vocab=30, d_model=8, layers=1, max_len=16):
    return nn.TransformerTranslator(vocab, vocab, d_model=d_model, nhead=2, num_encoder_layers=layers,
                                    num_decoder_layers=layers, dim_feedforward=16, dropout=0.0, max_len=max_len,
                                    share_embeddings=True, tie_output=True)


def attention_call(attn_mask=None, key_padding_mask=None):
    x = mt.zeros(2, 4, 8)
    return nn.MultiheadAttention(8, 2, batch_first=True)(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask)


LAYER_CASES = {
    "embedding id too large": (lambda: nn.Embedding(10, 4)(mt.tensor([[1, 10]])), IndexError,
                               ["embedding", "token id 10", "10 rows", "0..9", "(1, 2)"]),
    "embedding negative id": (lambda: nn.Embedding(10, 4)(mt.tensor([[-1, 2]])), IndexError,
                              ["embedding", "token id -1", "0..9"]),
    "embedding float ids": (lambda: nn.Embedding(10, 4)(mt.tensor([[1.0, 2.0]])), TypeError,
                            ["embedding", "integers", "float32", "(1, 2)"]),
    "transformer float ids": (lambda: tiny_transformer()(np.ones((1, 3)), np.ones((1, 2), int)), TypeError,
                              ["TransformerTranslator", "src_ids", "float64"]),
    "longer than max_len": (lambda: nn.PositionalEncoding(8, max_len=5)(mt.zeros(1, 6, 8)), ValueError,
                            ["PositionalEncoding", "L=6", "max_len=5"]),
    "target longer than max_len": (lambda: tiny_transformer(max_len=5)(np.ones((1, 3), int), np.ones((1, 7), int)),
                                   ValueError, ["PositionalEncoding", "L=7", "max_len=5"]),
    "heads do not divide d_model": (lambda: nn.MultiheadAttention(10, 3), ValueError,
                                    ["MultiheadAttention", "embed_dim=10", "num_heads=3"]),
    "heads do not divide the transformer": (
        lambda: nn.TransformerTranslator(11, 11, d_model=10, nhead=4), ValueError, ["d_model=10", "nhead=4"]),
    "mask of the wrong shape": (lambda: attention_call(mt.tensor(np.ones((3, 5), bool))), ValueError,
                                ["MultiheadAttention", "attn_mask of shape (3, 5)", "(4, 4)", "(4, 4, 4)"]),
    "padding mask of the wrong batch": (lambda: attention_call(key_padding_mask=np.ones((3, 4), bool)), ValueError,
                                        ["MultiheadAttention", "key_padding_mask", "(2, 4)", "(3, 4)"]),
    "mask of the wrong dtype": (lambda: attention_call(mt.tensor(np.ones((4, 4), np.int32))), TypeError,
                                ["MultiheadAttention", "boolean", "float", "int32", "(4, 4)"]),
    "empty batch": (lambda: tiny_transformer()(np.ones((0, 3), int), np.ones((0, 2), int)), ValueError,
                    ["TransformerTranslator", "src_ids", "(0, 3)"]),
    "empty sentences": (lambda: tiny_transformer()(np.ones((2, 0), int), np.ones((2, 2), int)), ValueError,
                        ["TransformerTranslator", "src_ids", "(2, 0)"]),
    "batch sizes differ": (lambda: tiny_transformer()(np.ones((2, 3), int), np.ones((3, 2), int)), ValueError,
                           ["TransformerTranslator", "(2, 3)", "(3, 2)", "batch size"]),
    "nothing to decode": (lambda: translate_batch(tiny_transformer(), []), ValueError,
                          ["decoding", "no sentences"]),
    "only empty sources to decode": (lambda: translate_batch(tiny_transformer(), [[], []], beam=2), ValueError,
                                     ["decoding", "every source sentence is empty"]),
}


def check(action, error, fragments):
    with pytest.raises(error) as info:
        action()
    message = str(info.value)
    missing = [f for f in fragments if f not in message]
    assert not missing, f"message {message!r} lacks {missing}"
    return message


@pytest.mark.parametrize("name", list(LAYER_CASES))
def test_layers_refuse_bad_input_naming_the_layer_and_shapes(name):
    check(*LAYER_CASES[name])


def test_a_checkpoint_of_another_architecture_lists_mismatched_keys_and_shapes():
    small, big = tiny_transformer(d_model=8), tiny_transformer(d_model=16, layers=2)
    message = check(lambda: small.load_state_dict(big.state_dict()), StateDictError,
                    ["load_state_dict into TransformerTranslator", "another architecture",
                     "unexpected keys: encoder.layers.1.", "src_embed.weight: checkpoint (30, 16) vs model (30, 8)"])
    assert "encoder.layers.0.self_attn.in_proj_weight: checkpoint (48, 16) vs model (24, 8)" in message
    before = small.src_embed.weight.numpy().copy()
    with pytest.raises(StateDictError):
        small.load_state_dict(big.state_dict(), strict=False)      # shapes never load, even non-strict
    np.testing.assert_array_equal(small.src_embed.weight.numpy(), before)   # nothing was copied


# ------------------------------------------------------------------ corpora
@pytest.fixture
def files(tmp_path):
    paths = {"src": "a b\nc d\ne f\n", "tgt": "x\ny\n", "empty": "", "three": "u\nv\nw\n",
             "tsv": "a\tb\nno tab here\n"}
    out = {}
    for name, text in paths.items():
        out[name] = tmp_path / f"{name}.txt"
        out[name].write_text(text)
    out["bad"] = tmp_path / "bad.txt"
    out["bad"].write_bytes(b"fine\nstill fine\nbroken \xff\xfe here\n")
    return out


def test_corpus_files_of_different_lengths_name_both_files_and_counts(files):
    check(lambda: load_parallel(files["src"], files["tgt"]), ValueError,
          [str(files["src"]), "3 lines", str(files["tgt"]), "2 lines"])


def test_an_empty_corpus_file_is_named(files):
    check(lambda: read_lines(files["empty"]), ValueError, [str(files["empty"]), "empty"])
    check(lambda: load_parallel(files["src"], files["empty"]), ValueError, [str(files["empty"]), "empty"])


def test_undecodable_bytes_name_the_file_and_line(files):
    check(lambda: load_parallel(files["bad"], files["three"]), ValueError,
          [f"{files['bad']}:3", "line 3", "not valid UTF-8", "0xff", "column 8"])


def test_a_tsv_line_without_exactly_one_tab_is_named(files):
    check(lambda: load_tsv(files["tsv"]), ValueError, [f"{files['tsv']}:2", "exactly one tab", "found 0"])


def test_a_missing_or_broken_tokenizer_model_is_named(tmp_path):
    check(lambda: Tokenizer.load(tmp_path / "none.model"), FileNotFoundError, ["none.model", "no such"])
    (tmp_path / "junk.model").write_bytes(b"\x00\x01 not a model")
    check(lambda: Tokenizer.load(tmp_path / "junk.model"), ValueError, ["junk.model", "not a SentencePiece model"])


# ---------------------------------------------------------------- the command
def cli(*args, stdin=""):
    env = dict(os.environ, PYTHONPATH=str(ROOT), MINITRANSFORMER_BACKEND="numpy")
    return subprocess.run([sys.executable, "-m", "minitransformer", *map(str, args)], input=stdin,
                          capture_output=True, text=True, env=env, timeout=120)


def assert_one_line_error(result, *fragments):
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and result.stderr.endswith("\n"), result.stderr
    assert "error" in lines[0]
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A run directory as train leaves it (tokenizer + checkpoint), made without training."""
    run = tmp_path_factory.mktemp("run")
    sentences = [" ".join("abcdefgh"[i % 8] * (1 + i % 3) for i in range(j, j + 5)) for j in range(200)]
    tok = Tokenizer.train(sentences, vocab_size=30, hard_vocab_limit=False)
    tok.save(run / "tokenizer.model")
    model = tiny_transformer(vocab=tok.vocab_size)
    mt.save({"model_config": model.get_config(), "model": model.state_dict()}, run / "best.ckpt")
    return run


SUBCOMMAND_CASES = {
    "train": [["--max-steps", "many"], ["--accum-steps", "0"], ["--src-train", "/no/such/file", "--tgt-train", "/no/t"]],
    "translate": [[], ["--run", "/no/such/run", "a b"], ["--run", "{run}", "--beam", "0", "a b"],
                  ["--run", "{run}", "--input", "/no/such/file"], ["--run", "{run}", "--max-len", "17", "a b"]],
    "evaluate": [["--run", "{run}"], ["--run", "{run}", "--src", "/no/such/src", "--ref", "/no/such/ref"],
                 ["--run", "{run}", "--src", "{run}/x", "--ref", "{run}/y", "--batch-size", "0"]],
    "plot": [[], ["--run", "/no/such/run"]],
    "gradcheck": [["--trials", "0"], ["NoSuchOp"]],
    "exercises": [["check", "--examples", "0"]],
}


@pytest.mark.parametrize("command", COMMANDS)
def test_every_subcommand_reports_a_bad_argument_in_one_line_with_exit_2(command, run_dir):
    assert_one_line_error(cli(command, "--no-such-option"))      # unknown, or required ones missing
    cases = SUBCOMMAND_CASES.get(command)
    assert cases, f"add bad-argument cases for the new command {command!r}"
    for args in cases:
        assert_one_line_error(cli(command, *[a.format(run=run_dir) for a in args]))


@pytest.mark.skipif("exercises" not in COMMANDS, reason="no exercises command")
def test_a_subcommand_without_its_action_is_one_line():
    assert_one_line_error(cli("exercises"))


def test_translate_runs_on_the_handmade_run_dir(run_dir):
    result = cli("translate", "--run", run_dir, "--max-len", "5", "a bb ccc")
    assert result.returncode == 0 and len(result.stdout.splitlines()) == 1, result.stderr


def test_translate_without_a_tokenizer_names_the_run_dir(run_dir, tmp_path):
    (tmp_path / "best.ckpt").write_bytes((run_dir / "best.ckpt").read_bytes())
    assert_one_line_error(cli("translate", "--run", tmp_path, "a b"), str(tmp_path), "no tokenizer model")


def test_translate_with_a_checkpoint_swapped_in_from_another_run(run_dir, tmp_path):
    (tmp_path / "tokenizer.model").write_bytes((run_dir / "tokenizer.model").read_bytes())
    other = tiny_transformer(vocab=40, d_model=16)                    # another run's vocabulary and width
    mt.save({"model_config": other.get_config(), "model": other.state_dict()}, tmp_path / "best.ckpt")
    assert_one_line_error(cli("translate", "--run", tmp_path, "a b"), "best.ckpt", "vocabulary of 40 ids", "has 30")
    # the same vocabulary but other weights under this run's config: the mismatches are listed
    config = tiny_transformer(vocab=30).get_config()
    mt.save({"model_config": config, "model": tiny_transformer(vocab=30, d_model=16).state_dict()},
            tmp_path / "best.ckpt")
    assert_one_line_error(cli("translate", "--run", tmp_path, "a b"), "another architecture",
                          "src_embed.weight: checkpoint (30, 16) vs model (30, 8)")
    (tmp_path / "best.ckpt").write_bytes((run_dir / "best.ckpt").read_bytes()[:500])   # cut by a crash
    assert_one_line_error(cli("translate", "--run", tmp_path, "a b"), "best.ckpt", "truncated")
    mt.save({"step": 3}, tmp_path / "best.ckpt")
    assert_one_line_error(cli("translate", "--run", tmp_path, "a b"), "not a checkpoint written by")


def test_train_names_the_corpus_problem(files):
    assert_one_line_error(cli("train", "--src-train", files["src"], "--tgt-train", files["tgt"], "--out",
                              files["src"].parent / "run"), str(files["src"]), "3 lines", "2 lines")
    assert_one_line_error(cli("train", "--src-train", files["bad"], "--tgt-train", files["three"], "--out",
                              files["src"].parent / "run"), f"{files['bad']}:3", "line 3")


IMPOSSIBLE_OPTIONS = {
    "accum-steps 0": (["--accum-steps", "0"], "--accum-steps must be >= 1, got 0"),
    "heads do not divide d_model": (["--d-model", "30", "--heads", "4"], "--d-model 30 is not divisible by --heads 4"),
    "source without target": (["--src-train", "a.txt"], "--src-train and --tgt-train go together"),
    "tsv and parallel files": (["--train-tsv", "t.tsv", "--src-train", "a", "--tgt-train", "b"], "not both"),
    "validation files without training files": (["--src-valid", "a", "--tgt-valid", "b"], "--src-valid/--tgt-valid need"),
    "validation tsv without training tsv": (["--valid-tsv", "v.tsv"], "--valid-tsv needs --train-tsv"),
    "unknown task": (["--task", "poetry"], "--task must be one of"),
    "dropout 1": (["--dropout", "1"], "--dropout must be in [0, 1)"),
    "lr 0": (["--lr", "0"], "--lr must be positive"),
    "lr inf": (["--lr", "inf"], "--lr must be positive and finite"),
    "negative weight decay": (["--weight-decay", "-0.1"], "--weight-decay must be >= 0"),
    "unknown optimizer": (["--optimizer", "adamm"], "--optimizer must be one of"),
    "unknown schedule": (["--schedule", "warp"], "--schedule must be one of"),
    "noam without warmup": (["--warmup", "0"], "--schedule noam needs --warmup >= 1"),
    "max-steps 0": (["--max-steps", "0"], "--max-steps must be >= 1"),
    "eval-every 0": (["--eval-every", "0"], "--eval-every must be >= 1"),
    "save-every 0": (["--save-every", "0"], "--save-every must be >= 1, got 0"),
    "negative eval-sentences": (["--eval-sentences", "-1"], "--eval-sentences must be >= 0"),
    "beam 0": (["--beam", "0"], "--beam must be >= 1"),
    "label smoothing 1": (["--label-smoothing", "1"], "--label-smoothing must be in [0, 1)"),
    "tiny vocabulary": (["--vocab-size", "4"], "--vocab-size must be >= 8"),
    "unknown tokenizer": (["--tokenizer-type", "wordpiece"], "--tokenizer-type must be bpe or unigram"),
    "unknown backend": (["--backend", "tpu"], "--backend must be numpy, cupy or strict"),
    "on-nonfinite": (["--on-nonfinite", "ignore"], "--on-nonfinite must be stop or skip"),
    "negative seed": (["--seed", "-1"], "--seed must be >= 0"),
    "negative time budget": (["--time-budget", "-5"], "--time-budget must be positive"),
    "shared embeddings, separate vocabularies": (["--separate-vocab"], "--share-embeddings needs a joint vocabulary"),
    "not a boolean": (["--norm-first", "maybe"], "argument --norm-first: invalid _bool value: 'maybe'"),
    "max-tokens 0": (["--max-tokens", "0"], "--max-tokens must be >= 1"),
}


@pytest.mark.parametrize("name", list(IMPOSSIBLE_OPTIONS))
def test_impossible_train_options_fail_in_one_line_before_any_work(name, tmp_path, capsys):
    args, message = IMPOSSIBLE_OPTIONS[name]
    out = tmp_path / "run"
    # a tiny run first (the case's flags override it), should a case ever be accepted
    tiny = ["--task-size", "100", "--d-model", "16", "--heads", "2", "--layers", "1", "--d-ff", "16",
            "--max-steps", "2", "--eval-every", "2", "--eval-sentences", "2", "--time-budget", "30"]
    assert main(["train", *tiny, *args, "--out", str(out), "--no-progress"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1, captured.err
    assert captured.err.startswith("minitransformer train: error: ") and message in captured.err, captured.err
    assert not out.exists()                    # refused before creating the run, training a tokenizer...


def test_cross_entropy_target_out_of_range_names_the_id():
    import minitransformer.functional as F

    logits = mt.randn(3, 5, requires_grad=True)
    for bad in (7, -2):
        with pytest.raises(IndexError, match=rf"target id {bad} is out of range for logits with 5 classes"):
            F.cross_entropy(logits, mt.tensor([1, bad, 0]))
    # an ignored position may hold anything
    assert F.cross_entropy(logits, mt.tensor([1, -100, 0]), ignore_index=-100).item() > 0
