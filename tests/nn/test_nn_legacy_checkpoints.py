"""Runs and checkpoints written before the layers took PyTorch's names still load, and compute
what they computed then.

``tests/data/legacy_run`` is a tiny run written by the old layers (q_proj/k_proj/v_proj,
``ff.linear1``, config keys ``num_heads`` and ``d_ff``), with the logits and translations
that code computed from it (see its README).  ``load_run``, ``minitransformer translate``
and ``--resume`` must give the same numbers today.
"""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import minitransformer as mt
from minitransformer import nn
from minitransformer.inference import load_run, translate_pairs
from minitransformer.nn.legacy_checkpoints import is_legacy_state, legacy_names, upgrade_config

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "data" / "legacy_run"
EXPECTED = json.loads((FIXTURE / "expected.json").read_text())
# the flags the fixture was trained with (its README)
FLAGS = ["--task", "copy", "--task-size", "40", "--d-model", "8", "--heads", "2", "--layers", "1",
         "--d-ff", "16", "--vocab-size", "32", "--norm-first", "true", "--dtype", "float64",
         "--eval-every", "2", "--eval-sentences", "4", "--decode-max-len", "24", "--no-progress"]


def cli(*args):
    env = dict(os.environ, PYTHONPATH=str(ROOT), MINITRANSFORMER_BACKEND=mt.backend.get_backend())
    result = subprocess.run([sys.executable, "-m", "minitransformer", *args], capture_output=True, text=True,
                            env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    return result


def test_the_fixture_is_in_the_old_format():
    state = mt.load(str(FIXTURE / "run" / "last.ckpt"))
    assert is_legacy_state(state["model"])
    assert "encoder.layers.0.self_attn.q_proj.weight" in state["model"]
    assert "decoder.layers.0.ff.linear1.weight" in state["model"]
    assert {"num_heads", "d_ff"} <= set(state["model_config"])


def test_load_run_gives_the_same_logits_and_translations():
    run = load_run(str(FIXTURE / "run"))
    assert isinstance(run.model, nn.TransformerTranslator)
    assert run.model.get_config()["nhead"] == 2 and run.model.get_config()["dim_feedforward"] == 16
    with mt.no_grad():
        logits = run.model(np.array(EXPECTED["src_ids"]), np.array(EXPECTED["tgt_ids"])).numpy()
    # computed in the default float32, as then (on NumPy bit for bit; other backends round otherwise)
    np.testing.assert_allclose(logits, np.array(EXPECTED["run"]["logits"]), rtol=1e-5, atol=1e-6)
    sentences = EXPECTED["sentences"]
    assert translate_pairs(run.model, run.src_tok, run.tgt_tok, sentences, max_len=12,
                           backend=run.backend) == EXPECTED["run"]["greedy"]
    assert translate_pairs(run.model, run.src_tok, run.tgt_tok, sentences, beam=3, max_len=12,
                           backend=run.backend) == EXPECTED["run"]["beam3"]


def test_translate_command_on_an_old_run(tmp_path):
    run = tmp_path / "run"
    shutil.copytree(FIXTURE / "run", run)
    out = cli("translate", "--run", str(run), "--beam", "2", "--max-len", "12", *EXPECTED["sentences"])
    assert out.stdout.splitlines() == EXPECTED["cli_beam2"]


def test_resuming_an_old_run_continues_it_exactly(tmp_path):
    """--resume carries the old optimizer state over (q, k, v moments stacked as the weights):
    the next update and its evaluation are the ones the old code computed."""
    run = tmp_path / "run"
    shutil.copytree(FIXTURE / "run", run)
    # on the backend the run was written on: its saved random state (dropout) is NumPy's
    cli("train", *FLAGS, "--max-steps", "3", "--resume", "--backend", "numpy", "--out", str(run))
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    step3 = [{k: v for k, v in line.items() if k not in ("tokens_per_s", "elapsed")}
             for line in lines if line["step"] == 3]
    expected = EXPECTED["resumed"]["metrics_step3"]
    assert [sorted(d) for d in step3] == [sorted(d) for d in expected]
    for got, want in zip(step3, expected):
        for key, value in want.items():
            assert got[key] == pytest.approx(value, rel=1e-10, abs=1e-12), key
    resumed = load_run(str(run), checkpoint="last.ckpt")
    assert not is_legacy_state(mt.load(str(run / "last.ckpt"))["model"])      # written in today's names
    with mt.no_grad():
        logits = resumed.model(np.array(EXPECTED["src_ids"]), np.array(EXPECTED["tgt_ids"])).numpy()
    np.testing.assert_allclose(logits, np.array(EXPECTED["resumed"]["logits"]), rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- the renaming itself
def to_old_names(state):
    """Today's state in the old names (the frozen description of the old layers)."""
    old = {}
    for name, value in state.items():
        sources = legacy_names(name)
        value = value.numpy()
        parts = np.split(value, len(sources)) if len(sources) > 1 else [value]
        old.update(zip(sources, parts))
    return old


def test_legacy_names():
    assert legacy_names("encoder.layers.3.self_attn.in_proj_weight") == [
        "encoder.layers.3.self_attn.q_proj.weight", "encoder.layers.3.self_attn.k_proj.weight",
        "encoder.layers.3.self_attn.v_proj.weight"]
    assert legacy_names("decoder.layers.0.multihead_attn.in_proj_bias")[2] == \
        "decoder.layers.0.multihead_attn.v_proj.bias"
    assert legacy_names("transformer_encoder.layers.1.linear2.bias") == ["transformer_encoder.layers.1.ff.linear2.bias"]
    for unchanged in ("linear.weight", "encoder.norm.bias", "decoder.layers.0.norm3.weight", "output_proj.weight"):
        assert legacy_names(unchanged) == [unchanged]
    assert upgrade_config({"d_model": 8, "num_heads": 2, "d_ff": 16}) == {"d_model": 8, "nhead": 2, "dim_feedforward": 16}
    with pytest.raises(ValueError, match="both 'num_heads' and its new name 'nhead'"):
        upgrade_config({"num_heads": 2, "nhead": 2})


@pytest.mark.parametrize("make", [
    lambda: nn.TransformerTranslator(11, 11, d_model=8, nhead=2, num_encoder_layers=2, num_decoder_layers=1,
                                     dim_feedforward=16, dropout=0.0, share_embeddings=True),
    lambda: nn.TransformerLM(11, 8, 2, 2, 16, dropout=0.0, norm_first=True),
    lambda: nn.TransformerEncoderModel(11, 8, 2, 16, 2, dropout=0.0),
])
def test_old_state_dicts_load_into_every_model(make):
    with mt.set_default_dtype("float64"):
        model, fresh = make(), make()
    old = to_old_names(model.state_dict())
    assert is_legacy_state(old) and not any("in_proj" in k for k in old)
    result = fresh.load_state_dict(old)
    assert (result.missing_keys, result.unexpected_keys) == ([], [])
    for (name, a), (_, b) in zip(model.state_dict().items(), fresh.state_dict().items()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=name)
    old["stray.weight"] = np.zeros(2)                                   # still reported, not swallowed
    with pytest.raises(nn.StateDictError, match="unexpected keys: stray.weight"):
        fresh.load_state_dict(old)


def test_old_config_builds_the_model():
    old = dict(src_vocab_size=11, tgt_vocab_size=11, d_model=8, num_heads=2, num_encoder_layers=1,
               num_decoder_layers=1, d_ff=16, dropout=0.1, max_len=64, norm_first=False,
               share_embeddings=True, tie_output=True, pad_id=0, activation="relu")
    model = nn.TransformerTranslator.from_config(old)
    assert model.get_config()["nhead"] == 2 and model.encoder.layers[0].linear1.out_features == 16
    lm = nn.TransformerLM.from_config(dict(vocab_size=11, d_model=8, num_heads=2, num_layers=1, d_ff=16))
    assert lm.get_config()["dim_feedforward"] == 16
