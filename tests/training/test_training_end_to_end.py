"""The whole path, as a user runs it: train, then translate, evaluate and plot the run.

One run of ``minitransformer train`` on the built-in numbers task (2000 pairs,
the default model, 300 updates: about 12 s of CPU time), configured by a TOML
file with flags on top, serves every test here.  It must actually learn the
task; then the decoders are checked on it: beam 1 is greedy, and a wider
beam finds translations the model scores at least as high as greedy's.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import minitransformer as mt
from minitransformer.cli import build_parser
from minitransformer.cli.train import build_config
from minitransformer.data import BOS_ID, EOS_ID, make_task
from minitransformer.inference import beam_search, greedy_decode, load_run, load_tokenizers, pad_batch, translate_pairs
from minitransformer.nn import TransformerTranslator
from minitransformer.training import TrainConfig
from minitransformer.training.data_setup import prepare
from minitransformer.training.evaluation import translation_scores

ROOT = Path(__file__).resolve().parents[2]
CONFIG = """\
# the run of these tests: the default model, trained briefly
task = "numbers"
task-size = 2000
max-steps = 300
warmup = 60
dropout = 0.0
eval-every = 100          # the flag below overrides this
time-budget = 600
"""
FLAGS = ["--eval-every", "150", "--eval-sentences", "100", "--no-progress"]
SENTENCES = ["4 0 7", "1 2", "9 9 9 9 9", "3 0 0 1 2", "5", "6 1 8 0"]


def env():
    # one BLAS thread: faster for matrices this small, and the same numbers on any core count
    return dict(os.environ, PYTHONPATH=str(ROOT), MINITRANSFORMER_BACKEND="numpy", OPENBLAS_NUM_THREADS="1",
                OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")


def cli(*args, stdin=None, check=True):
    result = subprocess.run([sys.executable, "-m", "minitransformer", *map(str, args)], input=stdin,
                            capture_output=True, text=True, env=env(), timeout=300)
    if check:
        assert result.returncode == 0, result.stderr
    return result


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    base = tmp_path_factory.mktemp("numbers")
    (base / "config.toml").write_text(CONFIG)
    cli("train", "--config", base / "config.toml", *FLAGS, "--out", base / "run")
    return base / "run"


@pytest.fixture(scope="module")
def trained(run_dir):
    return load_run(str(run_dir), checkpoint="last.ckpt", backend="numpy")


@pytest.fixture(scope="module")
def valid_pairs():
    return make_task("numbers", 2000, 200, 200, seed=0)["valid"]


# ------------------------------------------------------------------ learning
def test_train_learns_the_numbers_task(run_dir):
    final = json.loads((run_dir / "final_metrics.json").read_text())
    assert final["step"] == 300
    # an untrained model scores BLEU 0 and chrF 2; after 300 updates BLEU is 39-58, chrF 67-79 and
    # 23-46% of the translations exact (seeds 0-2, label smoothing 0 or 0.1): a margin below that
    assert final["valid"]["bleu"] >= 30 and final["valid"]["chrf"] >= 60, final
    assert final["valid"]["exact_match"] >= 0.15, final
    assert final["test"]["bleu"] >= 25 and final["test"]["exact_match"] >= 0.15, final
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in records if "valid_loss" in r]
    assert [r["step"] for r in evals] == [150, 300]
    assert evals[-1]["valid_loss"] < min(0.35, evals[0]["valid_loss"])   # nats per token; about 4 untrained
    assert [r["step"] for r in records if "loss" in r] == list(range(1, 301))


def test_the_config_file_is_read_and_flags_override_it(run_dir):
    used = json.loads((run_dir / "config.json").read_text())
    assert used["task_size"] == 2000 and used["warmup"] == 60 and used["dropout"] == 0.0   # from the file
    assert used["eval_every"] == 150 and used["eval_sentences"] == 100                     # flags win
    assert used["d_model"] == 64 and used["max_tokens"] == TrainConfig().max_tokens     # defaults stay
    assert used["token_budget"] == "per-side"


@pytest.mark.parametrize("suffix", [".toml", ".json"])
def test_build_config_layers_defaults_file_and_flags(tmp_path, suffix):
    path = tmp_path / f"c{suffix}"
    options = {"d-model": 32, "heads": 8, "lr": 0.01, "betas": [0.9, 0.99], "norm-first": True, "task": "copy"}
    if suffix == ".json":
        path.write_text(json.dumps(options))
    else:
        path.write_text('d-model = 32\nheads = 8\nlr = 0.01\nbetas = [0.9, 0.99]\nnorm-first = true\ntask = "copy"\n')
    args = build_parser().parse_args(["train", "--config", str(path), "--lr", "0.02", "--heads", "4",
                                      "--clip-norm", "0", "--no-progress"])
    config = build_config(args)
    assert (config.d_model, config.norm_first, config.betas, config.task) == (32, True, (0.9, 0.99), "copy")
    assert (config.lr, config.heads) == (0.02, 4)                  # flags over the file
    assert config.clip_norm is None and config.progress is False   # --clip-norm 0 turns clipping off
    assert config.layers == 2 and config.schedule == "noam"        # untouched defaults


def test_a_config_file_with_an_unknown_option_or_bad_syntax_is_refused(tmp_path):
    unknown = tmp_path / "unknown.toml"
    unknown.write_text("d-model = 32\nlearning-rate = 0.1\n")
    with pytest.raises(ValueError, match="unknown config option.*learning_rate"):
        build_config(build_parser().parse_args(["train", "--config", str(unknown)]))
    broken = tmp_path / "broken.toml"
    broken.write_text("d-model = = 32\n")
    with pytest.raises(ValueError, match=f"config file {broken} could not be parsed"):
        build_config(build_parser().parse_args(["train", "--config", str(broken)]))


# ---------------------------------------------------------------- tokenizers
def test_the_tokenizer_round_trips_through_the_run_dir(run_dir, trained, valid_pairs):
    src_tok, tgt_tok = load_tokenizers(str(run_dir))
    assert src_tok is tgt_tok                                      # joint vocabulary: one model file
    assert sorted(p.name for p in run_dir.glob("*.model")) == ["tokenizer.model"]
    config = trained.model.get_config()
    assert src_tok.vocab_size == config["src_vocab_size"] == config["tgt_vocab_size"]
    for src, tgt in valid_pairs[:50]:
        for text in (src, tgt):
            ids = src_tok.encode(text)
            assert ids and min(ids) > EOS_ID and src_tok.decode(ids) == text


@pytest.mark.parametrize("joint", [True, False])
def test_prepare_saves_tokenizers_that_load_tokenizers_reads_back(tmp_path, joint):
    config = build_config(build_parser().parse_args(
        ["train", "--task", "reverse", "--task-size", "200", "--vocab-size", "40"]
        + ([] if joint else ["--separate-vocab", "--share-embeddings", "false"])))
    data = prepare(config, str(tmp_path))
    names = ["tokenizer.model"] if joint else ["src.model", "tgt.model"]
    assert sorted(p.name for p in tmp_path.glob("*.model")) == names
    src_tok, tgt_tok = load_tokenizers(str(tmp_path))
    assert src_tok.model_bytes == data.src_tok.model_bytes and tgt_tok.model_bytes == data.tgt_tok.model_bytes
    assert (src_tok is tgt_tok) == joint
    for src, tgt in data.train[:30]:
        assert src_tok.decode(src_tok.encode(src)) == src and tgt_tok.decode(tgt_tok.encode(tgt)) == tgt
        assert src_tok.encode(src) == data.src_tok.encode(src)


# ------------------------------------------------------------------ decoding
def teacher_forced_logprob(model, src_ids, hyp):
    """log p(hyp + eos | src) under the model, by one forward pass over the whole target."""
    with mt.no_grad():
        logits = model(np.array([src_ids]), np.array([[BOS_ID] + hyp])).numpy()[0].astype(np.float64)
    logp = logits - logits.max(axis=-1, keepdims=True)
    logp -= np.log(np.exp(logp).sum(axis=-1, keepdims=True))
    return float(sum(logp[t, tok] for t, tok in enumerate(hyp + [EOS_ID])))


def untrained_copy(model):
    mt.manual_seed(1)
    fresh = TransformerTranslator.from_config(model.get_config())
    fresh.eval()
    return fresh


@pytest.mark.parametrize("which", ["trained", "untrained"])
def test_beam_1_is_greedy(trained, valid_pairs, which):
    model = trained.model if which == "trained" else untrained_copy(trained.model)
    ids = trained.src_tok.encode_batch([s for s, _ in valid_pairs[:40]], add_eos=True)
    src = pad_batch(ids)
    greedy = greedy_decode(model, src, max_len=30)
    # without a length penalty: with one, a longer hypothesis that the single beam goes on to
    # find may beat the finished greedy one after normalization, and then beam 1 rightly differs
    assert greedy == beam_search(model, src, beam=1, max_len=30, length_penalty=0.0)
    if which == "trained":
        assert len({tuple(g) for g in greedy}) >= 25             # real, varied translations


@pytest.mark.parametrize("length_penalty", [0.0, 0.6])
def test_a_wider_beam_finds_translations_scored_at_least_as_high_as_greedy(trained, valid_pairs, length_penalty):
    model, tok = trained.model, trained.src_tok
    ids = tok.encode_batch([s for s, _ in valid_pairs[:40]], add_eos=True)
    greedy = greedy_decode(model, pad_batch(ids), max_len=40)
    beam = beam_search(model, pad_batch(ids), beam=4, max_len=40, length_penalty=length_penalty)
    vocab = model.get_config()["tgt_vocab_size"]
    better = 0
    for i, (g, b) in enumerate(zip(greedy, beam)):
        assert b and all(isinstance(t, int) and EOS_ID < t < vocab for t in b), b   # no specials inside
        lp_g, lp_b = teacher_forced_logprob(model, ids[i], g), teacher_forced_logprob(model, ids[i], b)
        # length_penalty 0 ranks by log-probability itself; otherwise by the GNMT-normalised score
        norm_g, norm_b = (((5 + len(h) + 1) / 6) ** length_penalty for h in (g, b))
        assert lp_b / norm_b >= lp_g / norm_g - 1e-4, (i, g, b)
        better += lp_b / norm_b > lp_g / norm_g + 1e-4
    assert better >= 5                                               # beam search does search


# ------------------------------------------------------------------- commands
def reference_translations(trained, sentences, beam=1):
    """Each sentence translated on its own, in process."""
    return [translate_pairs(trained.model, trained.src_tok, trained.tgt_tok, [s], beam=beam, max_len=128)[0]
            for s in sentences]


def test_translate_takes_arguments_a_file_or_stdin_and_keeps_the_order(run_dir, trained, tmp_path):
    expected = reference_translations(trained, SENTENCES)
    assert len(set(expected)) >= 4                                # so that order is visible
    out = cli("translate", "--run", run_dir, "--beam", "1", *SENTENCES).stdout
    assert out.splitlines() == expected
    (tmp_path / "in.txt").write_text("\n".join(SENTENCES) + "\n")
    out = cli("translate", "--run", run_dir, "--beam", "1", "--batch-size", "2", "--input", tmp_path / "in.txt").stdout
    assert out.splitlines() == expected
    out = cli("translate", "--run", run_dir, "--beam", "1", "--batch-size", "4", stdin="\n".join(SENTENCES) + "\n").stdout
    assert out.splitlines() == expected


def test_translate_with_a_beam(run_dir, trained):
    expected = reference_translations(trained, SENTENCES[:3], beam=3)
    out = cli("translate", "--run", run_dir, "--beam", "3", "--checkpoint", "last.ckpt", *SENTENCES[:3]).stdout
    assert out.splitlines() == expected


def test_evaluate_prints_bleu_and_chrf_as_json(run_dir, trained, valid_pairs, tmp_path):
    pairs = valid_pairs[:30]
    (tmp_path / "src.txt").write_text("".join(s + "\n" for s, _ in pairs))
    (tmp_path / "ref.txt").write_text("".join(t + "\n" for _, t in pairs))
    result = cli("evaluate", "--run", run_dir, "--src", tmp_path / "src.txt", "--ref", tmp_path / "ref.txt",
                 "--beam", "1", "--checkpoint", "last.ckpt", "--output", tmp_path / "hyp.txt")
    report = json.loads(result.stdout)
    assert set(report) == {"sentences", "bleu", "chrf", "exact_match"} and report["sentences"] == 30
    hyps = (tmp_path / "hyp.txt").read_text().splitlines()
    assert len(hyps) == 30
    scores = translation_scores(hyps, [t for _, t in pairs])
    assert report["bleu"] == pytest.approx(scores["bleu"], abs=1e-4) and report["bleu"] > 10
    assert report["chrf"] == pytest.approx(scores["chrf"], abs=1e-4) and report["chrf"] > 40
    assert hyps == translate_pairs(trained.model, trained.src_tok, trained.tgt_tok, [s for s, _ in pairs],
                                   beam=1, max_len=128, batch_size=32)


def test_plot_writes_png_files(run_dir):
    for png in run_dir.glob("*.png"):
        png.unlink()
    printed = cli("plot", "--run", run_dir, "--sentence", "4 0 7").stdout.split()
    names = sorted(Path(p).name for p in printed)
    assert {"loss.png", "lr.png", "bleu.png"} <= set(names) and any(n.startswith("attention") for n in names)
    for p in printed:
        data = Path(p).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 2000, p
    assert sorted(p.name for p in run_dir.glob("*.png")) == names
