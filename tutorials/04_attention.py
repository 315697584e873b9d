# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.7
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 04 · Attention
#
# Attention lets every position of a sequence gather information from every
# other position, weighting them by relevance it computes on the fly.  It is
# the one new layer of the Transformer; everything else (linear maps, layer
# norm, residuals) is older.
#
# In this tutorial:
#
# 1. scaled dot-product attention, derived and computed step by step;
# 2. why the scores are divided by $\sqrt{d_k}$ (softmax saturation, plotted);
# 3. masks: padding and causal, and the project's convention;
# 4. multi-head attention, PyTorch's `nn.MultiheadAttention`, taken apart;
# 5. the backward pass derived by hand and checked with `mt.gradcheck`;
# 6. the fused op vs the composed one.

# %%
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
import minitransformer as mt
import minitransformer.functional as F
from minitransformer import nn
from minitransformer.viz.notebook import pyplot, setup_tutorial

tutorial = setup_tutorial("04_attention", here=HERE)  # the FAST switch, the output folder, seed 0
FAST, OUT, save = tutorial.fast, tutorial.out, tutorial.save
plt = pyplot()  # matplotlib; outside Jupyter it draws into files, no window
rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. Scaled dot-product attention
#
# Each position $i$ emits a **query** $q_i$ ("what am I looking for?"); each
# position $j$ a **key** $k_j$ ("what do I offer?") and a **value** $v_j$
# ("what do I pass on?"), all vectors of length $d_k$ (values: $d_v$).  The
# relevance of $j$ to $i$ is the dot product $q_i \cdot k_j$; a softmax over
# $j$ turns the relevances into weights that are positive and sum to one,
# and the output is the weighted mean of the values:
#
# $$s_{ij} = \frac{q_i \cdot k_j}{\sqrt{d_k}}, \qquad
#   a_{ij} = \frac{e^{s_{ij}}}{\sum_{j'} e^{s_{ij'}}}, \qquad
#   o_i = \sum_j a_{ij}\, v_j .$$
#
# Stacking the vectors as rows of $Q \in \mathbb{R}^{L_q \times d_k}$,
# $K \in \mathbb{R}^{L_k \times d_k}$, $V \in \mathbb{R}^{L_k \times d_v}$, this is
# three matrix operations (Vaswani et al. 2017, eq. 1):
#
# $$\operatorname{Attention}(Q, K, V) = \operatorname{softmax}\!\Big(\frac{Q K^\top}{\sqrt{d_k}}\Big) V .$$
#
# Step by step with the engine's ops, then with `F.scaled_dot_product_attention`:

# %%
L, d_k = 5, 8
Q = mt.tensor(rng.normal(size=(L, d_k)))
K = mt.tensor(rng.normal(size=(L, d_k)))
V = mt.tensor(rng.normal(size=(L, d_k)))

scores = Q @ K.T / np.sqrt(d_k)          # (L_q, L_k): s_ij
weights = F.softmax(scores, axis=-1)     # each row sums to 1
out = weights @ V                        # (L_q, d_v): o_i
print("weights (rows sum to 1):\n", np.round(weights.numpy(), 3))
np.testing.assert_allclose(weights.numpy().sum(axis=-1), 1.0, rtol=1e-6)

fused, fused_w = F.scaled_dot_product_attention(Q, K, V, return_weights=True)
np.testing.assert_allclose(fused.numpy(), out.numpy(), rtol=1e-5, atol=1e-6)
np.testing.assert_allclose(fused_w.numpy(), weights.numpy(), rtol=1e-5, atol=1e-6)
print("the step-by-step result equals F.scaled_dot_product_attention")

# %% [markdown]
# ## 2. Why divide by $\sqrt{d_k}$?
#
# If the components of $q$ and $k$ are independent with mean 0 and variance 1
# (roughly what a well-initialised network produces), then
# $q \cdot k = \sum_{m=1}^{d_k} q_m k_m$ is a sum of $d_k$ terms of variance 1:
#
# $$\operatorname{Var}(q \cdot k) = d_k, \qquad \operatorname{std}(q\cdot k) = \sqrt{d_k}.$$
#
# With $d_k = 512$ the unscaled scores spread over $\pm 50$ or so, and the
# softmax of such scores is nearly **one-hot**: one key takes all the weight.
# A saturated softmax is bad for learning, because its Jacobian
# $\partial a_i / \partial s_j = a_i(\delta_{ij} - a_j)$ vanishes when every
# $a$ is 0 or 1 -- the gradient reaching $Q$ and $K$ dies.  Dividing by
# $\sqrt{d_k}$ brings the scores back to unit variance whatever $d_k$.
#
# We measure, over random queries and keys, the entropy of the weights
# (log of the number of keys attended to, roughly; $\log L_k$ is uniform) and
# the size of the gradient that flows back through the softmax.

# %%
dims = [2, 8, 32, 128, 512] if FAST else [2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]
n_keys, n_queries = 32, (64 if FAST else 256)
stats = {"unscaled": ([], []), "scaled": ([], [])}
for d in dims:
    q = rng.normal(size=(n_queries, d))
    k = rng.normal(size=(n_keys, d))
    raw = q @ k.T
    for name, s in (("unscaled", raw), ("scaled", raw / np.sqrt(d))):
        s_t = mt.tensor(s, requires_grad=True, dtype="float64")
        a = F.softmax(s_t, axis=-1)
        a.backward(rng.normal(size=a.shape))             # a random upstream gradient
        a_np = a.numpy()
        entropy = -(a_np * np.log(np.clip(a_np, 1e-300, None))).sum(axis=-1).mean()
        grad_norm = np.linalg.norm(s_t.grad.numpy(), axis=-1).mean()
        stats[name][0].append(entropy)
        stats[name][1].append(grad_norm)

fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
for name, (ent, gn) in stats.items():
    axes[0].semilogx(dims, ent, "o-", label=name, base=2)
    axes[1].loglog(dims, gn, "o-", label=name, base=2)
axes[0].axhline(np.log(n_keys), color="gray", ls=":", label=r"uniform: $\log L_k$")
axes[0].set_xlabel("$d_k$")
axes[0].set_ylabel("entropy of the attention weights")
axes[0].legend()
axes[1].set_xlabel("$d_k$")
axes[1].set_ylabel("|gradient w.r.t. the scores|")
axes[1].legend()
for ax in axes:
    ax.grid(alpha=0.3, which="both")
fig.suptitle(f"softmax over {n_keys} keys of random q, k: without scaling it saturates")
save(fig, "scaling")
print("entropy at the largest d_k: unscaled %.3f, scaled %.3f (uniform %.3f)"
      % (stats["unscaled"][0][-1], stats["scaled"][0][-1], np.log(n_keys)))
assert stats["unscaled"][0][-1] < 0.5 < 2.0 < stats["scaled"][0][-1]
assert stats["unscaled"][1][-1] < 0.5 * stats["scaled"][1][-1]

# %% [markdown]
# With scaling, the entropy and the gradient stay the same for every $d_k$;
# without it, both collapse as $d_k$ grows.
#
# ## 3. Masks
#
# Two kinds of positions must be hidden from a query:
#
# * **padding**: sentences in a batch have different lengths and are padded
#   to the longest with a pad token (id 0).  No query may attend to a pad.
# * **the future**, in a decoder: position $t$ predicts token $t+1$, so it
#   must not see positions after $t$ (a **causal** mask).
#
# **Convention of the engine's attention function**: a mask is *boolean*,
# broadcastable to (..., $L_q$, $L_k$), and **True where attention is
# allowed**.  (The layers, `nn.MultiheadAttention` and the Transformer
# layers, take PyTorch's masks, True = *not* allowed, and turn them into this
# one: section 4.)  A masked score is set to $-\infty$ before the softmax, so its
# weight is exactly 0:
#
# $$a_{ij} = \frac{m_{ij}\, e^{s_{ij}}}{\sum_{j'} m_{ij'}\, e^{s_{ij'}}}, \qquad m_{ij} \in \{0, 1\}.$$
#
# `F.padding_mask(ids, pad_id)` gives shape (B, 1, 1, $L_k$) (one row for all
# heads and queries); `F.causal_mask(L)` gives ($L$, $L$); `&` combines them.

# %%
ids = np.array([[5, 7, 9, 4, 0, 0],     # sentence 0: 4 tokens + 2 pads
                [3, 8, 0, 0, 0, 0]])    # sentence 1: 2 tokens + 4 pads
B, T = ids.shape
pad = F.padding_mask(ids, pad_id=0)
causal = F.causal_mask(T)
both = mt.Tensor(pad.data & causal.data)   # (B, 1, T, T) by broadcasting
print("padding mask", pad.shape, "\n", pad.numpy()[:, 0, 0].astype(int))
print("causal mask", causal.shape, "\n", causal.numpy().astype(int))

q = mt.tensor(rng.normal(size=(B, 1, T, 4)))
k = mt.tensor(rng.normal(size=(B, 1, T, 4)))
v = mt.tensor(rng.normal(size=(B, 1, T, 4)))
panels = {}
for name, m in (("no mask", None), ("padding", pad), ("causal", causal), ("causal & padding", both)):
    _, w_ = F.scaled_dot_product_attention(q, k, v, mask=m, return_weights=True)
    panels[name] = w_.numpy()[0, 0]  # sentence 0, the one head

fig, axes = plt.subplots(1, 4, figsize=(13, 3.2))
for ax, (name, w_) in zip(axes, panels.items()):
    ax.imshow(w_, vmin=0, vmax=1, cmap="viridis")
    ax.set_title(name)
    ax.set_xlabel("key j")
axes[0].set_ylabel("query i")
fig.suptitle("attention weights of sentence 0 (4 tokens + 2 pads)")
save(fig, "masks")

w_both = panels["causal & padding"]
assert np.all(w_both[:, 4:] == 0) and np.all(np.triu(w_both, 1) == 0)
np.testing.assert_allclose(w_both.sum(axis=-1), 1.0, rtol=1e-6)

# %% [markdown]
# Rows of pad *queries* (4 and 5 above) still attend to the real tokens:
# their outputs are ignored later by the loss.  A query whose keys are *all*
# masked would divide 0 by 0; the engine returns zero weights there (and zero
# gradients) instead of NaN:

# %%
all_masked = np.zeros((1, T), dtype=bool)
o_, w_ = F.scaled_dot_product_attention(q[0, 0], k[0, 0], v[0, 0], mask=all_masked, return_weights=True)
print("fully masked: weights", w_.numpy()[0, :3], "... output", o_.numpy()[0, :3], "...")
assert np.all(w_.numpy() == 0) and np.all(np.isfinite(o_.numpy()))

# %% [markdown]
# ## 4. Multi-head attention
#
# One softmax gives one weighted mean, i.e. one "kind" of relation per
# position.  **Multi-head** attention runs $h$ attentions in parallel, each
# on its own learned projections to $d_k = d_\text{model}/h$ dimensions, and
# concatenates the results:
#
# $$\operatorname{MultiHead}(X_q, X_k, X_v) = \operatorname{Concat}(\text{head}_1, \dots, \text{head}_h)\, W^O,
#   \qquad \text{head}_i = \operatorname{Attention}(X_q W^Q_i,\ X_k W^K_i,\ X_v W^V_i).$$
#
# `nn.MultiheadAttention(embed_dim, num_heads)` is PyTorch's class, with
# PyTorch's arguments and parameter names.  The $h$ projections of the
# queries are one $d_\text{model} \times d_\text{model}$ matrix $W^Q$ (the
# heads side by side), and likewise $W^K$ and $W^V$; the three are stacked in
# one parameter, `in_proj_weight` $= [W^Q; W^K; W^V]$ of shape
# ($3 d_\text{model}$, $d_\text{model}$), with `in_proj_bias`.  The layer
# reshapes (B, L, $d_\text{model}$) to (B, h, L, $d_k$) so that all heads
# attend in one batched matrix product, and merges back before `out_proj`.
#
# Its masks are PyTorch's too: `key_padding_mask` (B, $L_k$) is **True at
# padding**, and a boolean `attn_mask` ($L_q$, $L_k$) is **True where
# attention is not allowed** (a float one is added to the scores) -- the
# opposite of the convention above, which is what the engine's softmax takes
# inside.  `batch_first=True` takes (B, L, $d_\text{model}$); PyTorch's
# default is (L, B, $d_\text{model}$).  We redo the layer by hand and compare.

# %%
d_model, heads = 16, 4
mha = nn.MultiheadAttention(d_model, heads, batch_first=True)
x = mt.tensor(rng.normal(size=(B, T, d_model)))
padding = ids == 0                                         # (B, T), True at padding
y, attn = mha(x, x, x, key_padding_mask=padding, average_attn_weights=False)   # self-attention
print("output", y.shape, " weights", attn.shape, "(B, heads, L_q, L_k)")
print("in_proj_weight", mha.in_proj_weight.shape, " out_proj.weight", mha.out_proj.weight.shape)


def split(t):  # (B, L, d_model) -> (B, h, L, d_k)
    return t.reshape(B, T, heads, d_model // heads).permute(0, 2, 1, 3)


W, b = mha.in_proj_weight, mha.in_proj_bias
q_, k_, v_ = (split(F.linear(x, W[i * d_model:(i + 1) * d_model], b[i * d_model:(i + 1) * d_model])) for i in range(3))
by_hand = F.scaled_dot_product_attention(q_, k_, v_, mask=pad)   # pad: True = may attend (section 3)
by_hand = mha.out_proj(by_hand.permute(0, 2, 1, 3).reshape(B, T, d_model))
np.testing.assert_allclose(by_hand.numpy(), y.numpy(), rtol=1e-5, atol=1e-6)
print("by hand == nn.MultiheadAttention")

fig, axes = plt.subplots(1, heads, figsize=(3 * heads, 3))
for h_, ax in enumerate(axes):
    ax.imshow(attn.numpy()[0, h_], vmin=0, vmax=1)
    ax.set_title(f"head {h_}")
fig.suptitle("each head's weights (untrained, sentence 0, padding masked)")
save(fig, "heads")

# %% [markdown]
# ## 5. The backward pass, derived
#
# With $S = QK^\top/\sqrt{d_k}$, $A = \operatorname{softmax}(S)$ row-wise, $O = AV$
# and an upstream gradient $G = \partial L/\partial O$:
#
# * $O = AV$ is a matrix product: $\;\partial L/\partial V = A^\top G$,
#   $\;\partial L/\partial A = G V^\top$.
# * Softmax, row by row: $\partial a_j/\partial s_l = a_j(\delta_{jl} - a_l)$, so
#   $$\frac{\partial L}{\partial S} = A \odot \Big(\frac{\partial L}{\partial A} - \operatorname{rowsum}\big(\tfrac{\partial L}{\partial A} \odot A\big)\Big).$$
# * $S = QK^\top / \sqrt{d_k}$: $\;\partial L/\partial Q = \frac{\partial L}{\partial S} K / \sqrt{d_k}$,
#   $\;\partial L/\partial K = \big(\frac{\partial L}{\partial S}\big)^\top Q / \sqrt{d_k}$.
#
# A masked entry has $a_{ij} = 0$, so the first factor zeroes its gradient
# too.  In NumPy, against the engine:

# %%
with mt.set_default_dtype("float64"):
    Qt, Kt, Vt = (mt.tensor(rng.normal(size=(4, 6)), requires_grad=True) for _ in range(3))
    mask = F.causal_mask(4)
    O = F.scaled_dot_product_attention(Qt, Kt, Vt, mask=mask)
    G = rng.normal(size=O.shape)
    O.backward(G)

Qn, Kn, Vn = Qt.numpy(), Kt.numpy(), Vt.numpy()
S = np.where(mask.numpy(), Qn @ Kn.T / np.sqrt(6), -np.inf)
A = np.exp(S - S.max(axis=-1, keepdims=True))
A /= A.sum(axis=-1, keepdims=True)
dV = A.T @ G
dA = G @ Vn.T
dS = A * (dA - (dA * A).sum(axis=-1, keepdims=True))
dQ = dS @ Kn / np.sqrt(6)
dK = dS.T @ Qn / np.sqrt(6)
for name, mine, engine in (("dQ", dQ, Qt.grad), ("dK", dK, Kt.grad), ("dV", dV, Vt.grad)):
    np.testing.assert_allclose(mine, engine.numpy(), rtol=1e-10, atol=1e-12)
    print(f"{name}: the derivation matches the engine")

# %% [markdown]
# And the check that needs no derivation at all, finite differences (tutorial
# 02), over batched, multi-head inputs with a padding mask:

# %%
with mt.set_default_dtype("float64"):
    qs = [mt.tensor(rng.normal(size=(2, 2, 3, 4)), requires_grad=True) for _ in range(3)]
    pm = F.padding_mask(np.array([[4, 5, 0], [6, 0, 0]]))
    assert mt.gradcheck(lambda a, b, c: F.scaled_dot_product_attention(a, b, c, mask=pm), qs)
print("scaled_dot_product_attention passes gradcheck (batched, 2 heads, padding mask)")

# %% [markdown]
# ## 6. Fused vs composed
#
# `F.scaled_dot_product_attention` runs the masked softmax as **one** op
# (`Softmax`, given the mask) whose backward is the formula above, saving
# only $A$.
# `F.scaled_dot_product_attention_composed` builds the same function from
# primitive ops (`masked_fill`, `exp`, `sum`, `/`, `where`), each recording
# its own node and saving its own arrays.  They agree in values and gradients;
# the fused one is faster and keeps less memory alive for backward.

# %%
def run(fn, size, reps):
    b, h_, length, d = size
    tensors = [mt.tensor(rng.normal(size=size), requires_grad=True) for _ in range(3)]
    m = F.causal_mask(length)
    start = time.perf_counter()
    for _ in range(reps):
        o = fn(*tensors, mask=m)
        o.sum().backward()
    return (time.perf_counter() - start) / reps, o.numpy(), [t.grad.numpy() / reps for t in tensors]


size = (4, 4, 32, 16) if FAST else (8, 8, 64, 32)
reps = 3 if FAST else 10
t_fused, o_fused, g_fused = run(F.scaled_dot_product_attention, size, reps)
t_comp, o_comp, g_comp = run(F.scaled_dot_product_attention_composed, size, reps)
print(f"shape {size}: fused {1e3 * t_fused:.2f} ms, composed {1e3 * t_comp:.2f} ms per forward+backward")

with mt.set_default_dtype("float64"):
    a3 = [mt.tensor(rng.normal(size=(2, 2, 5, 4)), requires_grad=True) for _ in range(3)]
    b3 = [mt.tensor(t.numpy(), requires_grad=True) for t in a3]
    m3 = F.causal_mask(5)
    F.scaled_dot_product_attention(*a3, mask=m3).sum().backward()
    F.scaled_dot_product_attention_composed(*b3, mask=m3).sum().backward()
for ta, tb in zip(a3, b3):
    np.testing.assert_allclose(ta.grad.numpy(), tb.grad.numpy(), rtol=1e-10, atol=1e-12)
print("fused and composed agree in gradients (float64)")

# %% [markdown]
# ## Summary
#
# * $\operatorname{softmax}(QK^\top/\sqrt{d_k})V$: relevance by dot product,
#   weights by softmax, output the weighted mean of values.
# * $\sqrt{d_k}$ keeps the scores at unit variance; without it the softmax
#   saturates and its gradient vanishes as $d_k$ grows.
# * Masks are boolean, **True = may attend**: `F.padding_mask` (B, 1, 1, L),
#   `F.causal_mask` (L, L), combined with `&`.
# * Multi-head = $h$ attentions on $d_\text{model}/h$-dimensional projections,
#   computed as one batched product; `nn.MultiheadAttention` is PyTorch's
#   class, with its packed `in_proj_weight` and its masks (True = not allowed).
# * The backward is three short formulas; `mt.gradcheck` confirms them.
