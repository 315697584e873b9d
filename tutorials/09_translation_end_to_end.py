# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 09 · Translation, end to end
#
# Everything so far, put to work: we train an encoder-decoder Transformer to
# translate, decode its output greedily and with beam search, score it with
# BLEU and look at what its attention learned.
#
# 1. train with `Trainer(TrainConfig(...))` on the built-in `numbers` task
#    ("4 0 7" → "four hundred seven"), the same loop as the
#    `minitransformer train` command;
# 2. read the run: metrics, plots, checkpoints;
# 3. greedy decoding vs beam search;
# 4. BLEU, and what it measures;
# 5. attention heatmaps;
# 6. the same code on real data (Multi30k German → English), when the
#    repository has it.
#
# With `MINITRANSFORMER_TUTORIAL_FAST=1` training runs only ~30 updates: the
# code paths all run, but the model is barely trained.

# %%
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

try:
    HERE = Path(__file__).resolve().parent  # run as a script
except NameError:
    HERE = Path.cwd()  # in Jupyter: the notebook's folder
if (HERE.parent / "minitransformer").is_dir():  # inside a checkout: use its package
    sys.path.insert(0, str(HERE.parent))
from minitransformer.inference import beam_search, greedy_decode, pad_batch, translate_pairs
from minitransformer.training.config import TrainConfig
from minitransformer.training.evaluation import translation_scores
from minitransformer.training.trainer import Trainer
from minitransformer.viz.notebook import pyplot, setup_tutorial

tutorial = setup_tutorial("09_translation", here=HERE)  # the FAST switch, the output folder, seed 0
FAST, OUT, save = tutorial.fast, tutorial.out, tutorial.save
plt = pyplot()  # matplotlib; outside Jupyter it draws into files, no window

# %% [markdown]
# ## 1. Train
#
# A `TrainConfig` holds every option of `minitransformer train` (data,
# tokenizer, model size, optimizer, schedule, evaluation, run directory).
# `Trainer(config).run()` generates the task's data, trains a joint BPE
# tokenizer, builds an `nn.TransformerTranslator`, and trains it with Adam, the Noam
# warm-up schedule, label smoothing and gradient clipping, evaluating every
# `eval_every` updates (validation loss, BLEU, exact match) and writing
# checkpoints, a `metrics.jsonl` log and plots into the run directory.
#
# Label smoothing ($\varepsilon = 0.1$): the target distribution puts
# $1 - \varepsilon$ on the right token and spreads $\varepsilon$ over the whole
# vocabulary, $q = (1-\varepsilon)\,\text{onehot} + \varepsilon/V$, which keeps
# the model from becoming over-confident.

# %%
run_dir = OUT / "run_numbers"
config = TrainConfig(
    task="numbers", task_size=1000 if FAST else 6000, vocab_size=64,
    d_model=32 if FAST else 64, heads=4, layers=1 if FAST else 2, d_ff=64 if FAST else 128, dropout=0.1,
    lr=3e-3, warmup=10 if FAST else 100, max_tokens=1024 if FAST else 2048,
    max_steps=30 if FAST else 400, time_budget=None, eval_every=30 if FAST else 100,
    eval_sentences=16 if FAST else 100, decode_max_len=24 if FAST else 40,
    out=str(run_dir), progress=False, seed=0,
)
start = time.perf_counter()
trainer = Trainer(config)
report = trainer.run()
print(f"training took {time.perf_counter() - start:.0f} s")

# %% [markdown]
# ## 2. What a run leaves behind
#
# The run directory holds the configuration, the tokenizer, the last and best
# checkpoints, the metrics log and plots.  `minitransformer.viz.read_metrics`
# reads the log back: one record per update, one per evaluation.

# %%
from minitransformer.viz import read_metrics

print(sorted(os.listdir(run_dir)))
updates, evaluations = read_metrics(str(run_dir))
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.plot([r["step"] for r in updates], [r["loss"] for r in updates], lw=0.8, label="training (label-smoothed)")
ax.plot([r["step"] for r in evaluations], [r["valid_loss"] for r in evaluations], "o-", label="validation")
ax.set_xlabel("update")
ax.set_ylabel("loss per target token")
ax.set_title("numbers task")
ax.legend()
ax.grid(alpha=0.3)
save(fig, "loss")
first, last = np.mean([r["loss"] for r in updates[:3]]), np.mean([r["loss"] for r in updates[-3:]])
print(f"training loss {first:.2f} -> {last:.2f}; validation loss {evaluations[-1]['valid_loss']:.2f} "
      f"(perplexity {math.exp(evaluations[-1]['valid_loss']):.1f})")
assert last < first - 0.5
assert {"best.ckpt", "last.ckpt", "metrics.jsonl", "config.json"} <= set(os.listdir(run_dir))

# %% [markdown]
# A checkpoint is all it takes to use the model later:
# `minitransformer.inference.load_run` rebuilds the model from the config
# stored in it and loads the tokenizer of the run (this is what the
# `minitransformer translate` command does).

# %%
from minitransformer.inference import load_run

run = load_run(str(run_dir), checkpoint="last.ckpt")
model, src_tok, tgt_tok = run.model, run.src_tok, run.tgt_tok
print(type(model).__name__, f"{model.num_parameters():,} parameters;", src_tok)
test_pairs = trainer.data.test[: 40 if FAST else 200]
sources = [s for s, _ in test_pairs]
references = [t for _, t in test_pairs]
assert translate_pairs(model, src_tok, tgt_tok, sources[:5], max_len=config.decode_max_len) == \
    translate_pairs(trainer.model, src_tok, tgt_tok, sources[:5], max_len=config.decode_max_len)

# %% [markdown]
# ## 3. Greedy decoding vs beam search
#
# The decoder defines $p(y_t \mid y_{<t}, x)$; we want the most likely
# sentence, $\arg\max_y \sum_t \log p(y_t \mid y_{<t}, x)$, which no search can
# afford exactly.
#
# * **Greedy**: take the most likely token at every step.  Fast, but an early
#   choice can never be revised.
# * **Beam search** with beam $k$: keep the $k$ best prefixes, extend each by
#   every token, keep the $k$ best of those.  A finished hypothesis is scored
#   by its log-probability divided by a length penalty,
#   $\text{lp}(y) = \big((5 + |y|)/6\big)^{\alpha}$ (GNMT, $\alpha = 0.6$), since raw
#   log-probabilities favour short outputs.
#
# Both encode the source once and reuse a key/value cache while decoding
# (tutorial 06).  On one sentence, at the level of ids:

# %%
src_ids = pad_batch([src_tok.encode(sources[0], add_eos=True)])
model.eval()
g_ids = greedy_decode(model, src_ids, max_len=config.decode_max_len)[0]
b_ids = beam_search(model, src_ids, beam=4, max_len=config.decode_max_len)[0]
print("source:   ", sources[0], " ->", src_ids.tolist()[0])
print("greedy:   ", g_ids, "->", tgt_tok.decode(g_ids))
print("beam 4:   ", b_ids, "->", tgt_tok.decode(b_ids))
print("reference:", references[0])

# %% [markdown]
# On the test set, with `translate_pairs` (batches of sentences, detokenized):

# %%
results = {}
for beam in (1, 4):
    t0 = time.perf_counter()
    hyps = translate_pairs(model, src_tok, tgt_tok, sources, beam=beam, max_len=config.decode_max_len)
    seconds = time.perf_counter() - t0
    results[beam] = (hyps, translation_scores(hyps, references), seconds)
for beam, (hyps, scores, seconds) in results.items():
    name = "greedy" if beam == 1 else f"beam {beam}"
    print(f"{name:7s} BLEU {scores['bleu']:5.1f}  chrF {scores['chrf']:5.1f}  exact {scores['exact_match']:6.1%}  "
          f"({seconds:.1f} s for {len(sources)} sentences)")
for src, ref, g, b in list(zip(sources, references, results[1][0], results[4][0]))[:5]:
    print(f"\n  source    {src}\n  reference {ref}\n  greedy    {g}\n  beam 4    {b}")
if not FAST:
    assert results[1][1]["bleu"] > 30, "400 updates should reach a BLEU above 30 on the numbers task"

# %% [markdown]
# ## 4. BLEU
#
# BLEU (Papineni et al. 2002) compares n-grams of the output with those of
# the reference, over the whole test corpus:
#
# $$\text{BLEU} = \text{BP} \cdot \exp\Big(\frac14 \sum_{n=1}^{4} \log p_n\Big), \qquad
#   \text{BP} = \min\big(1,\ e^{1 - r/c}\big),$$
#
# where $p_n$ is the fraction of the output's n-grams that occur in the
# reference (each counted at most as often as there), $c$ the output length
# and $r$ the reference length: the *brevity penalty* BP punishes outputs
# that are too short to be wrong.  It is reported ×100.  `translation_scores`
# uses sacrebleu (on detokenized text, the standard), and adds chrF (the same
# idea on character n-grams, kinder to morphology) and exact-match accuracy.

# %%
ref = ["seven hundred twenty three"]
for hyp in ("seven hundred twenty three", "seven hundred twenty two", "seven hundred", "hundred seven twenty three"):
    s = translation_scores([hyp], ref)
    print(f"{hyp!r:32s} BLEU {s['bleu']:5.1f}  chrF {s['chrf']:5.1f}  exact {s['exact_match']:.0%}")
assert np.isclose(translation_scores(ref, ref)["bleu"], 100.0)

# %% [markdown]
# "seven hundred" has no 3-gram or 4-gram at all, so $p_3 = p_4 = 0$ and its
# BLEU is 0 although both its words are right -- one reason BLEU is computed
# over a whole test corpus, where every $p_n$ is positive, and why chrF is
# reported next to it.  The swapped word order keeps every unigram but loses
# higher n-grams.

# %% [markdown]
# ## 5. Attention heatmaps
#
# Every `nn.MultiheadAttention` can keep the weights of its last call
# (`keep_weights`).  `minitransformer.viz.attention.attention_maps`
# translates a sentence greedily, runs the model once more on (source,
# translation) with the weights kept, and draws the last layer's encoder
# self-attention and decoder cross-attention, one panel per head.  For the
# numbers task a trained cross-attention lines up words with digits: the
# pieces of "hundred" look at the hundreds digit, those of "forty" at the
# tens digit.  (After the short FAST run there is little to see yet.)

# %%
from minitransformer.viz.attention import attention_maps

sentence = "8 3 4 5"
print(sentence, "->", translate_pairs(model, src_tok, tgt_tok, [sentence], max_len=config.decode_max_len)[0])
paths = attention_maps(model, (src_tok, tgt_tok), sentence, str(OUT))
for path in paths:  # the PNG files attention_maps wrote
    print("wrote", path)
    tutorial.show(path)  # inline in Jupyter
assert len(paths) == 2 and all(Path(p).exists() for p in paths)

# %% [markdown]
# ## 6. Real data: Multi30k
#
# The same trainer reads parallel text files (plain or gzipped, one sentence
# per line).  Multi30k -- 29,000 German–English image captions -- is small by
# translation standards, yet a model worth reading needs tens of thousands of
# updates: hours on a CPU, minutes on a GPU (`--backend cupy`).  Here we only
# run a couple of minutes, to see the pipeline on real data and the first
# steps of learning: expect output like "A man a a a ...", the most frequent
# words first.  The full run is one command:
#
# ```bash
# minitransformer train --src-train train.de.gz --tgt-train train.en.gz \
#     --src-valid val.de.gz --tgt-valid val.en.gz --vocab-size 8000 ...
# ```

# %%
m30k = HERE.parent.parent / "shared" / "data" / "multi30k"
if FAST:
    print("FAST mode: skipping the Multi30k run")
elif not (m30k / "train.de.gz").exists():
    print(f"Multi30k not found in {m30k}: skipping this part")
else:
    m_config = TrainConfig(
        task=None, src_train=str(m30k / "train.de.gz"), tgt_train=str(m30k / "train.en.gz"),
        src_valid=str(m30k / "val.de.gz"), tgt_valid=str(m30k / "val.en.gz"),
        vocab_size=2000, d_model=64, heads=4, layers=2, d_ff=256, lr=2e-3, warmup=100,
        max_tokens=2048, max_steps=1000, time_budget=150.0, eval_every=1000, eval_sentences=50,
        decode_max_len=40, out=str(OUT / "run_multi30k"), progress=False, seed=0,
    )
    m_report = Trainer(m_config).run()
    print("validation:", {k: round(v, 2) for k, v in m_report["valid"].items()})

# %% [markdown]
# ## Summary
#
# * `Trainer(TrainConfig(...)).run()`: data, tokenizer, model, Adam + Noam,
#   label smoothing, evaluation, checkpoints, plots -- one call.
# * Greedy takes the best token per step; beam search keeps $k$ prefixes and
#   normalises by length.
# * BLEU: n-gram precision with a brevity penalty, over the corpus.
# * Attention heatmaps show which source tokens each output token used.
