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
# # 06 · The Transformer, assembled
#
# Tutorials 03–05 built the parts: embeddings and positions, attention,
# layer norm, residuals and the feed-forward block.  Here they become the
# model of "Attention Is All You Need":
#
# 1. encoder layer, decoder layer, and their stacks: PyTorch's classes;
# 2. `nn.TransformerTranslator`: shapes from ids to logits, the masks it
#    builds, where its parameters are;
# 3. two properties we can test: causality and incremental decoding;
# 4. the model of PyTorch's classic tutorial ("Language modeling with
#    nn.TransformerEncoder") rebuilt with this engine as
#    `nn.TransformerEncoderModel`, compared number for number with PyTorch
#    (when `torch` is installed), then trained for a few steps.

# %%
import math
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
import minitransformer.functional as F
from minitransformer import nn, optim
from minitransformer.viz.notebook import pyplot, setup_tutorial

tutorial = setup_tutorial("06_transformer", here=HERE)  # the FAST switch, the output folder, seed 0
FAST, OUT, save = tutorial.fast, tutorial.out, tutorial.save
plt = pyplot()  # matplotlib; outside Jupyter it draws into files, no window
rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. The layers
#
# An **encoder layer** is self-attention then a feed-forward block, each
# wrapped in a residual connection and a layer norm (post-LN, as in the paper):
#
# $$h = \operatorname{LN}\big(x + \operatorname{SelfAttn}(x)\big), \qquad
#   \text{out} = \operatorname{LN}\big(h + \operatorname{FFN}(h)\big).$$
#
# A **decoder layer** has a third sub-layer in the middle: *cross-attention*,
# whose queries come from the decoder and whose keys and values come from the
# encoder's output (the **memory**).  Its self-attention is causal.
#
# $$h_1 = \operatorname{LN}\big(y + \operatorname{SelfAttn}_\text{causal}(y)\big), \quad
#   h_2 = \operatorname{LN}\big(h_1 + \operatorname{CrossAttn}(h_1, \text{memory})\big), \quad
#   \text{out} = \operatorname{LN}\big(h_2 + \operatorname{FFN}(h_2)\big).$$
#
# The engine's layers are PyTorch's classes, with PyTorch's arguments,
# parameter names and masks: `nn.TransformerEncoderLayer(d_model, nhead,
# dim_feedforward, dropout)`, `nn.TransformerDecoderLayer(...)`, stacked by
# `nn.TransformerEncoder(layer, num_layers)` and `nn.TransformerDecoder`
# (deep copies of the layer), and `nn.Transformer`, the two stacks together.
# As in PyTorch, inputs are (L, B, d) unless `batch_first=True`.  The target
# mask is PyTorch's float mask, 0 where attention is allowed and $-\infty$
# above the diagonal, added to the scores.

# %%
enc_layer = nn.TransformerEncoderLayer(d_model=16, nhead=4, dim_feedforward=32, dropout=0.0, batch_first=True)
dec_layer = nn.TransformerDecoderLayer(d_model=16, nhead=4, dim_feedforward=32, dropout=0.0, batch_first=True)
print(enc_layer)
print(dec_layer)
x = mt.tensor(rng.normal(size=(2, 7, 16)))       # source side: batch 2, length 7
y = mt.tensor(rng.normal(size=(2, 5, 16)))       # target side: length 5
memory = enc_layer(x)
causal = nn.Transformer.generate_square_subsequent_mask(5)
print("causal mask:\n", causal.numpy())
out = dec_layer(y, memory, tgt_mask=causal)
print("encoder layer", x.shape, "->", memory.shape, "| decoder layer", y.shape, "+ memory ->", out.shape)
assert memory.shape == x.shape and out.shape == y.shape
stack = nn.TransformerEncoder(enc_layer, num_layers=3)
print("a stack of", len(stack.layers), "copies; parameter names:", [n for n, _ in stack.named_parameters()][:4])

# %% [markdown]
# ## 2. `nn.TransformerTranslator`
#
# $$\text{src ids} \xrightarrow{\text{embed}\cdot\sqrt d\ +\ PE} \text{Encoder}^{N} \to \text{memory}, \qquad
#   \text{tgt ids} \xrightarrow{\text{embed}\cdot\sqrt d\ +\ PE} \text{Decoder}^{N}(\cdot, \text{memory})
#   \xrightarrow{\text{linear}} \text{logits}.$$
#
# PyTorch's `nn.Transformer` maps *embedded* sequences to decoder states; the
# translator puts the embeddings, the positions and the output projection
# around the same encoder and decoder stacks (batch first).
# `model(src_ids, tgt_ids)` builds the masks from the ids, as PyTorch takes
# them: the source key padding mask (B, S), True at padding, for every
# attention over the source; the target key padding mask (B, T); and
# `tgt_is_causal=True` for the decoder's self-attention.  The decoder's input
# is the target shifted right behind a `BOS` token (teacher forcing), so
# logits at position $t$ predict token $t+1$.

# %%
V = 20
model = nn.TransformerTranslator(V, V, d_model=32, nhead=4, num_encoder_layers=2, num_decoder_layers=2,
                                 dim_feedforward=64, dropout=0.0, pad_id=0)
src = np.array([[5, 6, 7, 8, 9], [4, 11, 12, 0, 0]])   # second sentence padded
tgt_in = np.array([[2, 13, 14, 15], [2, 16, 17, 0]])   # BOS = 2, then the target, padded
logits = model(src, tgt_in)
print("src", src.shape, "tgt_in", tgt_in.shape, "-> logits", logits.shape, "(B, T, vocab)")
print("source key padding mask (B, S), True at padding:\n", model.make_src_key_padding_mask(src).numpy().astype(int))
print("target key padding mask (B, T):\n", model.make_tgt_key_padding_mask(tgt_in).numpy().astype(int))

counts = {}
for name, p in model.named_parameters():
    part = name.split(".")[0]
    counts[part] = counts.get(part, 0) + p.numel()
print({k: f"{v:,}" for k, v in counts.items()}, "total", f"{model.num_parameters():,}")

fig, ax = plt.subplots(figsize=(6, 2.5))
ax.barh(list(counts), list(counts.values()))
ax.set_xlabel("parameters")
ax.set_title(f"where the {model.num_parameters():,} parameters are (d_model=32, 2+2 layers)")
save(fig, "parameters")

# %% [markdown]
# ## 3. Two properties, tested
#
# **Causality.**  Changing target token $t$ must not change the logits at
# positions before $t$ -- otherwise training would let the model peek at the
# answer.

# %%
with mt.no_grad():
    changed = tgt_in.copy()
    changed[:, 2] = 19
    a, b = model(src, tgt_in).numpy(), model(src, changed).numpy()
print("max change at positions 0-1:", np.abs(a[:, :2] - b[:, :2]).max(),
      "| at positions 2-3:", np.abs(a[:, 2:] - b[:, 2:]).max().round(4))
assert np.array_equal(a[:, :2], b[:, :2]) and not np.allclose(a[:, 2:], b[:, 2:])

# %% [markdown]
# **Incremental decoding.**  At generation time we produce one token at a
# time.  Rerunning the decoder over the whole prefix at each step costs
# $O(T^2)$ projections; `decode_step` keeps each layer's keys and values in a
# cache and computes only the new position.  The two must agree:

# %%
with mt.no_grad():
    memory = model.encode(src)
    cache = model.init_cache()
    steps = [model.decode_step(tgt_in[:, t:t + 1], memory, cache, src).numpy() for t in range(tgt_in.shape[1])]
    full = model.decode(tgt_in, memory, src).numpy()
incremental = np.concatenate(steps, axis=1)
print("max |incremental - full| over real positions:",
      np.abs(incremental - full)[tgt_in != 0].max())
np.testing.assert_allclose(incremental[tgt_in != 0], full[tgt_in != 0], atol=1e-4)

# %% [markdown]
# (Padded *target* positions may differ: `decode_step` treats every new token
# as real.  Their logits are ignored by the loss anyway.)
#
# ## 4. The classic PyTorch tutorial's model
#
# PyTorch's tutorial "Language Modeling with `nn.TransformerEncoder`" builds a
# `TransformerModel`: embedding $\times\sqrt{d}$, sinusoidal positions, a stack
# of post-LN `nn.TransformerEncoderLayer`s with a causal mask, and a linear
# layer to the vocabulary.  This engine has it as
# `nn.TransformerEncoderModel(ntoken, d_model, nhead, d_hid, nlayers, dropout)`,
# with the tutorial's names (`embedding`, `pos_encoder`,
# `transformer_encoder`, `linear`), initialisation and float causal mask
# (`generate_square_subsequent_mask`).  Its layers are PyTorch's classes, so
# the tutorial's `state_dict` and ours have the same names.  One difference:
# inputs are batch-first (B, L), where the tutorial is sequence-first.

# %%
ntoken, d_model, nhead, d_hid, nlayers = 50, 32, 4, 64, 2
with mt.set_default_dtype("float64"):
    ours = nn.TransformerEncoderModel(ntoken, d_model, nhead, d_hid, nlayers, dropout=0.0)
print(ours)
tokens = rng.integers(0, ntoken, size=(3, 10))  # (B, L)
causal = nn.TransformerEncoderModel.generate_square_subsequent_mask(10)
our_logits = ours(tokens, causal)
print("ours:", tokens.shape, "->", our_logits.shape)

# %% [markdown]
# Now the tutorial's code itself, in PyTorch (sequence-first, as it is
# written there), with our weights copied in: the names are the same, so our
# `state_dict` loads as it is.  This cell needs `torch`; without it, it says
# so and moves on.

# %%
try:
    import torch
except ImportError:
    torch = None
    print("PyTorch is not installed: skipping the comparison (pip install torch to run it)")

if torch is not None:
    from torch import nn as tnn

    class PositionalEncoding(tnn.Module):  # from the PyTorch tutorial
        def __init__(self, d_model, dropout=0.1, max_len=5000):
            super().__init__()
            self.dropout = tnn.Dropout(p=dropout)
            position = torch.arange(max_len).unsqueeze(1)
            div_term = torch.exp(torch.arange(0, d_model, 2) * (-math.log(10000.0) / d_model))
            pe = torch.zeros(max_len, 1, d_model)
            pe[:, 0, 0::2] = torch.sin(position * div_term)
            pe[:, 0, 1::2] = torch.cos(position * div_term)
            self.register_buffer("pe", pe)

        def forward(self, x):  # x: (seq_len, batch, d_model)
            return self.dropout(x + self.pe[: x.size(0)])

    class TransformerModel(tnn.Module):  # from the PyTorch tutorial
        def __init__(self, ntoken, d_model, nhead, d_hid, nlayers, dropout=0.5):
            super().__init__()
            self.pos_encoder = PositionalEncoding(d_model, dropout)
            layer = tnn.TransformerEncoderLayer(d_model, nhead, d_hid, dropout)
            self.transformer_encoder = tnn.TransformerEncoder(layer, nlayers, enable_nested_tensor=False)
            self.embedding = tnn.Embedding(ntoken, d_model)
            self.d_model = d_model
            self.linear = tnn.Linear(d_model, ntoken)

        def forward(self, src, src_mask=None):  # src: (seq_len, batch)
            src = self.embedding(src) * math.sqrt(self.d_model)
            src = self.pos_encoder(src)
            output = self.transformer_encoder(src, src_mask)
            return self.linear(output)

    theirs = TransformerModel(ntoken, d_model, nhead, d_hid, nlayers, dropout=0.0).double().eval()

    # every weight must find its place; only the tutorial's (persistent) PE table is theirs alone
    result = theirs.load_state_dict({name: torch.tensor(t.numpy()) for name, t in ours.state_dict().items()},
                                    strict=False)
    assert result.missing_keys == ["pos_encoder.pe"] and not result.unexpected_keys, result
    float_mask = tnn.Transformer.generate_square_subsequent_mask(10, dtype=torch.float64)
    with torch.no_grad():
        their_logits = theirs(torch.tensor(tokens.T), float_mask).numpy().transpose(1, 0, 2)
    diff = np.abs(their_logits - our_logits.numpy()).max()
    print(f"max |PyTorch - ours| = {diff:.2e}")
    np.testing.assert_allclose(our_logits.numpy(), their_logits, atol=1e-6)

    # Why 1e-7 and not 1e-15 in float64?  The tutorial computes its PE table in
    # float32 (torch's default) and .double() only casts it afterwards; ours is
    # computed in float64.  Give PyTorch our table and the rest agrees to rounding:
    theirs.pos_encoder.pe.copy_(torch.tensor(nn.sinusoidal_table(5000, d_model, dtype=np.float64))[:, None])
    with torch.no_grad():
        their_logits = theirs(torch.tensor(tokens.T), float_mask).numpy().transpose(1, 0, 2)
    print(f"with the float64 PE table: max |PyTorch - ours| = {np.abs(their_logits - our_logits.numpy()).max():.2e}")
    np.testing.assert_allclose(our_logits.numpy(), their_logits, rtol=1e-10, atol=1e-12)
    n_theirs = sum(p.numel() for p in theirs.parameters())
    print(f"parameters: ours {ours.num_parameters():,}, PyTorch {n_theirs:,}")
    assert n_theirs == ours.num_parameters()

# %% [markdown]
# ### Training it for a few steps
#
# As in the PyTorch tutorial: one long stream of token ids, cut into `batch`
# parallel columns, and trained to predict each next token from the ones
# before it (the causal mask), with cross-entropy.  Our text: the English
# side of the built-in `numbers` task, tokenized by words.

# %%
from minitransformer.data import make_task

sentences = [t for _, t in make_task("numbers", 400 if FAST else 2000, 0, 0, seed=1)["train"]]
words = sorted({w for s in sentences for w in s.split()} | {"<eos>"})
word_id = {w: i for i, w in enumerate(words)}
stream = np.array([word_id[w] for s in sentences for w in s.split() + ["<eos>"]])
batch, bptt = 16, 24
stream = stream[: len(stream) // batch * batch].reshape(batch, -1)  # (B, N): B parallel streams
print(f"{len(words)} words; stream of shape {stream.shape}")

mt.manual_seed(0)
lm = nn.TransformerEncoderModel(len(words), 32, 4, 64, 2, dropout=0.1)
opt = optim.Adam(lm.parameters(), lr=3e-3)
mask = nn.TransformerEncoderModel.generate_square_subsequent_mask(bptt)
losses = []
n_steps = 20 if FAST else 150
for step in range(n_steps):
    i = (step * bptt) % (stream.shape[1] - bptt - 1)
    inp, target = stream[:, i:i + bptt], stream[:, i + 1:i + 1 + bptt]
    opt.zero_grad()
    logits = lm(inp, mask)                                    # (B, T, V): classes last
    loss = F.cross_entropy(logits.reshape(-1, len(words)), target.reshape(-1))   # PyTorch's (N, C) rows
    loss.backward()
    optim.clip_grad_norm_(lm.parameters(), 0.5)
    opt.step()
    losses.append(loss.item())
print(f"loss {losses[0]:.2f} -> {losses[-1]:.2f} (uniform guessing: ln {len(words)} = {math.log(len(words)):.2f}); "
      f"perplexity {math.exp(losses[-1]):.1f}")

fig, ax = plt.subplots(figsize=(6, 3))
ax.plot(losses)
ax.axhline(math.log(len(words)), color="gray", ls=":", label="uniform guess")
ax.set_xlabel("step")
ax.set_ylabel("cross-entropy")
ax.legend()
ax.set_title("TransformerEncoderModel on the numbers text")
save(fig, "lm_loss")
assert np.mean(losses[-5:]) < losses[0] - 0.5

# %% [markdown]
# ## Summary
#
# * Encoder layer: self-attention + FFN; decoder layer: causal
#   self-attention + cross-attention over the memory + FFN; each sub-layer
#   with a residual and a layer norm.
# * The layers and stacks are PyTorch's classes, with PyTorch's names and
#   masks; `nn.TransformerTranslator` builds its masks from the ids;
#   `encode`/`decode` and the cached `decode_step` serve generation.
# * `nn.TransformerEncoderModel` is the PyTorch tutorial's model, batch-first
#   -- and with the same weights, the same numbers.
