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
# # 08 · Large-batch training
#
# Transformers train best on large batches (the paper used ~25,000 source
# and 25,000 target tokens per update), far more than fits in one forward
# pass on a laptop -- or on one GPU.  This tutorial covers the tools:
#
# 1. **gradient accumulation**: $K$ small forward/backward passes, one update,
#    exactly equal to one big batch (checked in float64);
# 2. the **linear scaling rule** and **warm-up**: which learning rate for a
#    bigger batch;
# 3. **LAMB**: a per-layer trust ratio for very large batches;
# 4. an experiment: loss against updates and against tokens for several
#    effective batch sizes.

# %%
import sys
from pathlib import Path

import numpy as np

try:
    HERE = Path(__file__).resolve().parent  # run as a script
except NameError:
    HERE = Path.cwd()  # in Jupyter: the notebook's folder
if (HERE.parent / "minitransformer").is_dir():  # inside a checkout: use its package
    sys.path.insert(0, str(HERE.parent))
import minitransformer as mt
from minitransformer import nn, optim
from minitransformer.data import Tokenizer, make_batches, make_task
from minitransformer.optim import lr_scheduler
from minitransformer.training.steps import accumulate_gradients, train_step
from minitransformer.viz.notebook import pyplot, setup_tutorial

tutorial = setup_tutorial("08_large_batch", here=HERE)  # the FAST switch, the output folder, seed 0
FAST, OUT, save = tutorial.fast, tutorial.out, tutorial.save
plt = pyplot()  # matplotlib; outside Jupyter it draws into files, no window
rng = np.random.default_rng(0)

# %% [markdown]
# Data for the whole tutorial: the built-in `numbers` task ("4 0 7" → "four
# hundred seven") with one small joint tokenizer.

# %%
pairs = make_task("numbers", 1000 if FAST else 3000, 0, 0, seed=0)["train"]
tok = Tokenizer.train([s for s, _ in pairs] + [t for _, t in pairs], vocab_size=64, hard_vocab_limit=False)
src_ids = tok.encode_batch([s for s, _ in pairs], add_eos=True)
tgt_ids = tok.encode_batch([t for _, t in pairs])
print(f"{len(pairs)} pairs, vocabulary {tok.vocab_size}; e.g. {pairs[0]}")


def tiny_transformer():
    return nn.TransformerTranslator(tok.vocab_size, tok.vocab_size, d_model=32, nhead=4, num_encoder_layers=1,
                                    num_decoder_layers=1, dim_feedforward=64, dropout=0.0, share_embeddings=True,
                                    tie_output=True)


# %% [markdown]
# ## 1. Gradient accumulation is a big batch
#
# The training loss is the mean over the $N$ target tokens of the batch,
# $L = \frac1N \sum_{n=1}^{N} \ell_n$.  Split the batch into micro-batches
# $B_1, \dots, B_K$ with $N_k$ tokens each.  Since gradients add up over
# backward calls (tutorial 01),
#
# $$\nabla L = \sum_{k=1}^{K} \nabla\Big(\frac{1}{N}\sum_{n \in B_k} \ell_n\Big),
#   \qquad N = \sum_k N_k,$$
#
# so we run forward and backward on each micro-batch with its **summed** loss
# divided by the token count $N$ of the *whole* batch, and only then call
# `optimizer.step()`.  Memory is that of one micro-batch.
# `minitransformer.training.steps.accumulate_gradients` does exactly this.
#
# A common mistake is to average the micro-batches' *mean* losses,
# $\frac1K\sum_k \frac{1}{N_k}\sum_{n\in B_k} \ell_n$: that weights the
# tokens of short micro-batches more, and equals the big batch only if all
# $N_k$ are equal.
#
# The check, in float64, with 24 sentence pairs: four micro-batches of 6
# (`make_batches` pads each to its own longest sentence) against one padded
# batch of 24.

# %%
def gradients(model):
    return {name: p.grad.numpy().copy() for name, p in model.named_parameters() if p.grad is not None}


with mt.set_default_dtype("float64"):
    mt.manual_seed(0)
    model64 = tiny_transformer()
    sub_src, sub_tgt = src_ids[:24], tgt_ids[:24]
    micro = make_batches(sub_src, sub_tgt, max_sentences=6, shuffle=False)
    union = make_batches(sub_src, sub_tgt, max_sentences=24)
    print("micro-batches:", [b.src.shape for b in micro], "tokens", [b.num_tgt_tokens for b in micro])
    print("one batch:    ", [b.src.shape for b in union], "tokens", [b.num_tgt_tokens for b in union])

    loss_micro = accumulate_gradients(model64, micro)
    g_micro = gradients(model64)
    model64.zero_grad()
    loss_union = accumulate_gradients(model64, union)
    g_union = gradients(model64)
    model64.zero_grad()
    # the mistake: each micro-batch normalised by its own token count, then averaged
    for b in micro:
        accumulate_gradients(model64, [b], num_tokens=b.num_tgt_tokens * len(micro))
    g_wrong = gradients(model64)
    model64.zero_grad()

worst = max(np.abs(g_micro[k] - g_union[k]).max() for k in g_union)
wrong = max(np.abs(g_wrong[k] - g_union[k]).max() for k in g_union)
print(f"summed token loss: accumulated {loss_micro:.10f}, one batch {loss_union:.10f}")
print(f"max |accumulated - big batch| over all gradients: {worst:.1e}")
print(f"max |mean of micro-batch means - big batch|:      {wrong:.1e}")
assert np.isclose(loss_micro, loss_union, rtol=1e-12)
for k in g_union:
    np.testing.assert_allclose(g_micro[k], g_union[k], rtol=1e-9, atol=1e-12, err_msg=k)
assert wrong > 1e3 * max(worst, 1e-15)

# %% [markdown]
# Equal to rounding error -- and the padding did not matter: the micro-batches
# are padded differently from the big batch, but the masks and the loss's
# `ignore_index` make padded positions contribute exactly nothing.
#
# ## 2. The linear scaling rule and warm-up
#
# A batch $k$ times larger averages $k$ times more examples, so its gradient
# is less noisy, but an epoch has $k$ times fewer updates.  Goyal et al.
# (2017) keep the distance travelled per epoch by scaling the learning rate
# with the batch:
#
# $$\eta_{kB} = k\, \eta_B .$$
#
# The argument assumes that $k$ small steps $\approx$ one step $k$ times as
# long, which fails early in training when the gradient changes quickly --
# hence a **warm-up**: ramp the lr up linearly over the first updates.  The
# rule breaks down for very large $k$ (where LAMB comes in), and for Adam a
# gentler $\sqrt k$ scaling is often used; measure.

# %%
base_lr, base_batch = 1e-3, 8
for batch in (8, 32, 128, 512):
    print(f"batch {batch:4d} sentences -> lr {optim.linear_scaling_rule(base_lr, base_batch, batch):.4g}")
assert optim.linear_scaling_rule(base_lr, base_batch, 32) == 4e-3

# %% [markdown]
# ## 3. LAMB: a trust ratio per layer
#
# With a very large learning rate, some layers' Adam updates are large
# compared to their weights (they get wrecked), others small (they do not
# learn).  LAMB (You et al. 2019) rescales the Adam direction $r$ of each
# weight tensor so that its step is $\eta$ times the tensor's own norm:
#
# $$p \leftarrow p - \eta\, \frac{\|p\|}{\|r\|}\, r, \qquad r = \frac{\hat m}{\sqrt{\hat v} + \epsilon} + \lambda p .$$
#
# One update from the same gradients, Adam vs LAMB: the relative change
# $\|\Delta p\| / \|p\|$ of every weight tensor.

# %%
def relative_updates(make_optimizer):
    mt.manual_seed(0)
    model = tiny_transformer()
    before = {n: p.numpy().copy() for n, p in model.named_parameters()}
    opt = make_optimizer(model.parameters())
    accumulate_gradients(model, make_batches(src_ids[:64], tgt_ids[:64], max_sentences=64))
    opt.step()
    return {n: np.linalg.norm(p.numpy() - before[n]) / np.linalg.norm(before[n])
            for n, p in model.named_parameters() if np.linalg.norm(before[n]) > 0}


lr = 0.01
adam_rel = relative_updates(lambda ps: optim.Adam(ps, lr=lr))
lamb_rel = relative_updates(lambda ps: optim.LAMB(ps, lr=lr))
names = list(lamb_rel)
fig, ax = plt.subplots(figsize=(10, 3.8))
xs = np.arange(len(names))
ax.bar(xs - 0.2, [adam_rel[n] for n in names], width=0.4, label="Adam")
ax.bar(xs + 0.2, [lamb_rel[n] for n in names], width=0.4, label="LAMB")
ax.set_yscale("log")
ax.set_xticks(xs)
ax.set_xticklabels(names, rotation=90, fontsize=6)
ax.set_ylabel(r"$\|\Delta p\| / \|p\|$")
ax.set_title(f"relative size of one update per weight tensor, lr = {lr}")
ax.legend()
save(fig, "lamb_trust_ratio")
print(f"Adam: relative updates from {min(adam_rel.values()):.1e} to {max(adam_rel.values()):.1e}")
print(f"LAMB: relative updates from {min(lamb_rel.values()):.1e} to {max(lamb_rel.values()):.1e}")
np.testing.assert_allclose(list(lamb_rel.values()), lr, rtol=1e-4)

# %% [markdown]
# Tensors initialised at zero (the attention projections' biases) have no
# norm to be relative to; LAMB then uses a trust ratio of 1 (plain Adam), and
# they are left out above.
#
# ## 4. Loss vs updates, loss vs tokens
#
# Micro-batches of 8 sentences; effective batches of 8, 32 and 128 sentences
# by accumulating $K = 1, 4, 16$ of them per update (`train_step` runs
# `accumulate_gradients`, clips, steps the optimizer and the schedule).
# Adam's lr follows the linear scaling rule, with a warm-up over the first
# 10% of the updates; the largest batch also runs with LAMB.

# %%
micro_batches = make_batches(src_ids, tgt_ids, max_sentences=8, seed=0)
n_updates = 12 if FAST else 120
warmup = max(1, n_updates // 10)


def experiment(K, make_optimizer):
    mt.manual_seed(0)
    model = tiny_transformer()
    opt = make_optimizer(model.parameters())
    sched = lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / warmup))
    losses, tokens, seen = [], [], 0
    for step in range(n_updates):
        group = [micro_batches[(step * K + j) % len(micro_batches)] for j in range(K)]
        result = train_step(model, opt, sched, group, clip_norm=1.0)
        seen += result["tokens"]
        losses.append(result["loss"])
        tokens.append(seen)
    return np.array(losses), np.array(tokens)


runs = {}
for K in (1, 4, 16):
    lr_k = optim.linear_scaling_rule(1e-3, 8, 8 * K)
    runs[f"batch {8 * K} (Adam, lr {lr_k:g})"] = experiment(
        K, lambda ps, lr_k=lr_k: optim.Adam(ps, lr=lr_k, betas=(0.9, 0.98)))
runs["batch 128 (LAMB, lr 0.02)"] = experiment(16, lambda ps: optim.LAMB(ps, lr=0.02, betas=(0.9, 0.98)))

fig, axes = plt.subplots(1, 2, figsize=(12, 4))
for name, (losses, tokens) in runs.items():
    axes[0].plot(np.arange(1, n_updates + 1), losses, label=name)
    axes[1].plot(tokens, losses, label=name)
axes[0].set_xlabel("update")
axes[1].set_xlabel("target tokens seen")
axes[1].set_xscale("log")
for ax in axes:
    ax.set_ylabel("training loss per token")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
axes[0].set_title("per update: bigger batches learn more")
axes[1].set_title("per token: smaller batches are more frugal")
save(fig, "batch_size_experiment")
for name, (losses, tokens) in runs.items():
    print(f"{name:28s} final loss {losses[-3:].mean():.2f} after {tokens[-1]:,} tokens")
small, big = runs["batch 8 (Adam, lr 0.001)"][0], runs["batch 128 (Adam, lr 0.016)"][0]
assert big[-3:].mean() < small[-3:].mean()

# %% [markdown]
# Bigger effective batches reach a lower loss in fewer *updates* -- the
# quantity that matters when updates run in parallel across devices -- but
# each token teaches less: per token seen, the small batch wins.  In
# data-parallel training every device computes one micro-batch and the
# gradients are summed across devices (with the same normalisation by the
# total token count) before the one update: accumulation in space instead of
# in time.
#
# ## Summary
#
# * Accumulation: divide each micro-batch's *summed* loss by the total token
#   count, backward each, step once -- equal to the big batch to rounding.
# * Linear scaling rule $\eta \propto$ batch, with a warm-up; measure for Adam.
# * LAMB makes every weight tensor move by the same *relative* amount $\eta$.
# * Large batches save updates; small ones save tokens.
