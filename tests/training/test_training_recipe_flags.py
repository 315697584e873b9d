"""The Multi30k recipe typed as flags is the recipe of its config file, and runs that
would train poorly say so in the log."""
from pathlib import Path

import pytest

from minitransformer.cli import build_parser
from minitransformer.cli.train import build_config
from minitransformer.training import TrainConfig, Trainer
from minitransformer.training.advice import SMALL_UPDATE_TOKENS, setup_warnings, stop_warning

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "benchmarks" / "multi30k" / "config.toml"

# the recipe as a user types it (the README of benchmarks/multi30k, docs/benchmarks.md)
FLAGS = ("--src-train train.de.gz --tgt-train train.en.gz --src-valid val.de.gz --tgt-valid val.en.gz "
         "--vocab-size 8000 --d-model 256 --heads 4 --layers 3 --d-ff 1024 --dropout 0.1 --max-tokens 4096 "
         "--label-smoothing 0.1 --schedule noam --lr 0.002 --warmup 1000 --clip-norm 1.0 --max-steps 1500 "
         "--seed 1 --out RUN").split()
# what only says where the files are, where the run goes and how often it is evaluated
NOT_THE_RECIPE = {"src_train", "tgt_train", "src_valid", "tgt_valid", "out", "eval_every", "eval_sentences",
                  "decode_max_len", "save_every", "task"}


def test_the_recipe_typed_as_flags_is_the_config_files_recipe():
    from_flags = build_config(build_parser().parse_args(["train", *FLAGS])).to_dict()
    from_file = build_config(build_parser().parse_args(["train", "--config", str(RECIPE)])).to_dict()
    differ = {k: (from_flags[k], from_file[k]) for k in from_flags
              if k not in NOT_THE_RECIPE and from_flags[k] != from_file[k]}
    assert differ == {}
    # the flags run to --max-steps: no time budget cuts a run the user did not ask to cut
    assert from_flags["time_budget"] is None and from_flags["max_steps"] == 1500
    assert from_flags["task"] is None and from_flags["decode_max_len"] >= from_file["decode_max_len"]


def test_the_default_run_has_no_time_budget_and_decodes_as_long_as_translate():
    config = build_config(build_parser().parse_args(["train"]))
    assert config.time_budget is None and config.max_steps == 1200
    translate = build_parser().parse_args(["translate", "--run", "x", "hello"])
    assert config.decode_max_len == translate.max_len


def recipe(**overrides):
    options = TrainConfig.from_file(str(RECIPE))
    options.update(overrides)
    return TrainConfig.from_dict(options)


def warnings_of(config, tokens=2000.0, vocab=(8000, 8000), longest=40):
    return setup_warnings(config, target_tokens_per_update=tokens, vocab_sizes=vocab, longest_valid_target=longest)


def test_the_recipe_itself_draws_no_warning():
    assert warnings_of(recipe()) == []


@pytest.mark.parametrize("overrides, tokens, vocab, longest, expected", [
    ({"max_tokens": 500}, 240.0, (8000, 8000), 40, "an update averages only 240 target tokens"),
    ({"joint_vocab": False, "share_embeddings": False, "tie_output": False}, 2000.0, (8000, 8000), 40,
     "separate source and target vocabularies with an untied output layer"),
    ({"share_embeddings": False, "tie_output": False}, 2000.0, (8000, 8000), 40,
     "a joint vocabulary without --share-embeddings or --tie-output"),
    ({"warmup": 2000}, 2000.0, (8000, 8000), 40, "--warmup 2000 is not shorter than --max-steps 1500"),
    ({"time_budget": 60.0}, 2000.0, (8000, 8000), 40, "--time-budget 60 s leaves under 0.1 s per update"),
    ({}, 2000.0, (5000, 5000), 40, "the tokenizer has 5,000 pieces, fewer than --vocab-size 8,000"),
    ({"decode_max_len": 30}, 2000.0, (8000, 8000), 45, "decode_max_len 30 is shorter than the longest"),
])
def test_each_poor_combination_is_named(overrides, tokens, vocab, longest, expected):
    lines = warnings_of(recipe(**overrides), tokens, vocab, longest)
    assert len(lines) == 1 and lines[0].startswith(expected), lines


def test_the_small_batch_threshold_is_where_the_warning_starts():
    assert warnings_of(recipe(), tokens=SMALL_UPDATE_TOKENS) == []
    assert len(warnings_of(recipe(), tokens=SMALL_UPDATE_TOKENS - 1)) == 1


def test_a_run_ended_by_the_time_budget_says_it_is_undertrained():
    config = recipe(time_budget=100.0)
    line = stop_warning(config, reason="reached --time-budget 100 s", steps_done=120)
    assert "ended training after 120 updates of --max-steps 1500" in line and "--resume" in line
    assert stop_warning(config, reason="reached --max-steps 1500", steps_done=1500) is None


def test_the_trainer_logs_the_warnings(tmp_path):
    lines = []
    config = TrainConfig(task="numbers", task_size=300, vocab_size=64, d_model=16, heads=2, layers=1, d_ff=32,
                         max_tokens=150, max_steps=3, warmup=10, eval_every=3, eval_sentences=2,
                         time_budget=1e-6, out=str(tmp_path / "run"), progress=False)
    Trainer(config, log=lines.append).run()
    warnings = [line for line in lines if line.startswith("warning: ")]
    assert any("an update averages only" in w for w in warnings)
    assert any("--warmup 10 is not shorter than --max-steps 3" in w for w in warnings)
    assert any("the time budget (1e-06 s) ended training after" in w for w in warnings)
