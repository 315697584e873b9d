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
# 4. a language model written for PyTorch, run with only its imports
#    changed: a forward pass with PyTorch's masks, compared number for number
#    with PyTorch (when `torch` is installed), then a few training steps.

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
# ## 4. A PyTorch model, run as it is
#
# Below is a language model written for PyTorch, in the form of PyTorch's
# classic tutorial "Language Modeling with `nn.TransformerEncoder`": an
# embedding, sinusoidal positions, a stack of post-LN
# `nn.TransformerEncoderLayer`s and a linear layer to the vocabulary.  This
# engine's tensors and modules speak PyTorch, so the code runs here as it is
# written: the cell is the PyTorch code verbatim, except for its first two
# lines, the imports.  (From this cell on, `torch` names this engine; the
# rest of the tutorial keeps writing `mt`.)

# %%
import minitransformer as torch
import minitransformer.nn as nn

class Transformer(nn.Module):
    def __init__(self, d_model, nhead, num_layers, num_tokens):
        super(Transformer, self).__init__()
        self.embedding = nn.Embedding(num_tokens, d_model)
        self.pos_encoder = PositionalEncoding(d_model)
        encoder_layer = nn.TransformerEncoderLayer(d_model, nhead)
        self.transformer_encoder = nn.TransformerEncoder(encoder_layer, num_layers)
        self.fc_out = nn.Linear(d_model, num_tokens)

    def forward(self, src, src_mask=None, src_key_padding_mask=None):
        src = self.embedding(src)
        src = self.pos_encoder(src)
        output = self.transformer_encoder(src, mask=src_mask, src_key_padding_mask=src_key_padding_mask)
        output = self.fc_out(output)
        return output

class PositionalEncoding(nn.Module):
    def __init__(self, d_model, dropout=0.1, max_len=5000):
        super(PositionalEncoding, self).__init__()
        self.dropout = nn.Dropout(p=dropout)
        pe = torch.zeros(max_len, d_model)
        position = torch.arange(0, max_len, dtype=torch.float).unsqueeze(1)
        div_term = torch.exp(torch.arange(0, d_model, 2).float() * (-torch.log(torch.tensor(10000.0)) / d_model))
        pe[:, 0::2] = torch.sin(position * div_term)
        pe[:, 1::2] = torch.cos(position * div_term)
        pe = pe.unsqueeze(0).transpose(0, 1)
        self.register_buffer('pe', pe)

    def forward(self, x):
        x = x + self.pe[:x.size(0), :]
        return self.dropout(x)

# %% [markdown]
# Three things to read in it:
#
# * it is **sequence-first**, as PyTorch's layers are by default: `src` is
#   (L, B) ids, the output (L, B, vocabulary), and the table `pe` has shape
#   (max_len, 1, d_model) so that it broadcasts over the batch;
# * the layers take PyTorch's defaults: `dim_feedforward=2048`, dropout 0.1;
# * the embeddings are not multiplied by $\sqrt{d}$ as in the paper (the
#   engine's built-in `nn.TransformerEncoderModel` does, batch-first).
#
# Our text: the English side of the built-in `numbers` task, tokenized by
# words, with `<eos>` after each sentence.

# %%
from minitransformer.data import make_task

sentences = [t for _, t in make_task("numbers", 400 if FAST else 2000, 0, 0, seed=1)["train"]]
words = sorted({w for s in sentences for w in s.split()} | {"<eos>"})
word_id = {w: i for i, w in enumerate(words)}
print(f"{len(words)} words, e.g. {sentences[0]!r}")

# %% [markdown]
# Built small, on this vocabulary, and run on a batch of two sentences: the
# second is shorter, so it is padded.  The masks are PyTorch's:
# `src_mask` is the float causal mask (L, L), added to the scores, and
# `src_key_padding_mask` is (B, L), True at a pad, which no query may attend
# to.  `eval()` switches dropout off, so that the outputs can be compared.

# %%
mt.manual_seed(0)
model = Transformer(d_model=32, nhead=4, num_layers=2, num_tokens=len(words)).eval()
pair = ["six hundred seventy three thousand", "seventy five"]
L = max(len(s.split()) for s in pair)
src = np.full((L, len(pair)), word_id["<eos>"])     # (L, B); the id at a pad does not matter
padding = np.ones((len(pair), L), dtype=bool)       # (B, L): True = pad
for b, s in enumerate(pair):
    src[:len(s.split()), b] = [word_id[w] for w in s.split()]
    padding[b, :len(s.split())] = False
src_mask = nn.Transformer.generate_square_subsequent_mask(L)
logits = model(mt.tensor(src), src_mask, mt.tensor(padding))
print("src", src.shape, "-> logits", logits.shape, "(L, B, vocabulary)")
print("key padding mask (B, L), True = pad:\n", padding.astype(int))
print(f"{sum(p.numel() for p in model.parameters()):,} parameters")

alone = model(mt.tensor(src[:2, 1:]), nn.Transformer.generate_square_subsequent_mask(2))
np.testing.assert_allclose(logits.numpy()[:2, 1], alone.numpy()[:, 0], atol=1e-5)  # the pads change nothing

# %% [markdown]
# The repository keeps these same lines in `tests/transfer/founding_model.py`.
# Put PyTorch's two import lines back in place of ours and the text builds
# PyTorch's model; its parameters and buffer have our names, so our
# `state_dict` loads into it, and the two give the same logits.  This cell
# needs `torch` and a checkout of the repository; without them it says so
# and moves on.

# %%
import warnings

try:
    import torch as pytorch  # PyTorch itself: in this tutorial `torch` now names this engine
except ImportError:
    pytorch = None
source = HERE.parent / "tests" / "transfer" / "founding_model.py"
if pytorch is None or not source.exists():
    print("PyTorch or the repository's tests are missing: skipping the comparison")
else:
    ours_imports = "import minitransformer as torch\nimport minitransformer.nn as nn\n"
    code = source.read_text()
    assert code.startswith(ours_imports)
    namespace = {}
    exec("import torch\nimport torch.nn as nn\n" + code[len(ours_imports):], namespace)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PyTorch's notes about its fast paths
        theirs = namespace["Transformer"](32, 4, 2, len(words)).eval()
        theirs.load_state_dict({name: pytorch.tensor(t.numpy()) for name, t in model.state_dict().items()})
        with pytorch.no_grad():
            their_logits = theirs(pytorch.tensor(src), pytorch.nn.Transformer.generate_square_subsequent_mask(L),
                                  pytorch.tensor(padding)).numpy()
    print(f"max |PyTorch - ours| = {np.abs(their_logits - logits.numpy()).max():.1e} (float32)")
    np.testing.assert_allclose(logits.numpy(), their_logits, atol=1e-5)

# %% [markdown]
# ### Training it for a few steps
#
# As in the PyTorch tutorial: one long stream of token ids, cut into `batch`
# parallel columns, and trained to predict each next token from the ones
# before it (the causal mask), with cross-entropy.  The model is
# sequence-first, so a batch is a slice of the stream transposed to (L, B).
# `F.cross_entropy` takes PyTorch's (N, C) rows of logits: the (L, B, V)
# output is reshaped to (L·B, V), the targets to (L·B,).

# %%
stream = np.array([word_id[w] for s in sentences for w in s.split() + ["<eos>"]])
batch, bptt = 16, 24
stream = stream[: len(stream) // batch * batch].reshape(batch, -1)  # (B, N): B parallel streams
print(f"stream of shape {stream.shape}")

model.train()                                                # dropout back on
opt = optim.Adam(model.parameters(), lr=3e-3)
mask = nn.Transformer.generate_square_subsequent_mask(bptt)
losses = []
n_steps = 20 if FAST else 100
for step in range(n_steps):
    i = (step * bptt) % (stream.shape[1] - bptt - 1)
    inp = mt.tensor(stream[:, i:i + bptt].T)                  # (L, B)
    target = mt.tensor(stream[:, i + 1:i + 1 + bptt].T)       # (L, B): the next tokens
    opt.zero_grad()
    output = model(inp, mask)                                 # (L, B, V)
    loss = F.cross_entropy(output.reshape(-1, len(words)), target.reshape(-1))
    loss.backward()
    optim.clip_grad_norm_(model.parameters(), 0.5)
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
ax.set_title("the PyTorch model, trained on the numbers text")
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
# * PyTorch code runs on this engine with only its imports changed
#   (`import minitransformer as torch`, `import minitransformer.nn as nn`):
#   sequence-first (L, B) inputs, PyTorch's masks (float causal mask, True at
#   a pad), and with the same weights, the same numbers.
