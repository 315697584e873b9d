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
# # 03 · Tokens, embeddings and positions
#
# A Transformer reads integers, not text, and it has no built-in sense of
# order.  Before the first attention layer three things happen:
#
# 1. **tokenization**: text is cut into subword pieces with ids
#    (SentencePiece, trained here on a small corpus);
# 2. **embedding**: each id looks up a learned vector (`nn.Embedding`);
# 3. **positions**: a vector that depends only on the position is added
#    (the sinusoidal `nn.PositionalEncoding`), so that "dog bites man" and
#    "man bites dog" differ.

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
from minitransformer import nn
from minitransformer.data import BOS_ID, EOS_ID, PAD_ID, UNK_ID, Tokenizer, make_task
from minitransformer.viz.notebook import pyplot, setup_tutorial

tutorial = setup_tutorial("03_tokenization", here=HERE)  # the FAST switch, the output folder, seed 0
FAST, OUT, save = tutorial.fast, tutorial.out, tutorial.save
plt = pyplot()  # matplotlib; outside Jupyter it draws into files, no window
rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. Why subwords?
#
# * **Words** as units: the vocabulary is huge (every inflection is a new
#   word) and a word never seen in training has no id at all.
# * **Characters**: a tiny vocabulary, nothing is unknown, but sequences get
#   long (attention costs $O(L^2)$) and each unit carries little meaning.
# * **Subwords** sit in between: frequent words stay whole, rare ones are
#   split into frequent pieces.  *Byte-pair encoding* (BPE) learns them by
#   starting from characters and repeatedly merging the most frequent adjacent
#   pair into a new piece, until the vocabulary has the size you asked for.
#
# Our corpus: the English side of the built-in `numbers` and `dates` tasks
# (`minitransformer.data.make_task`), e.g. "4 0 7" → "four hundred seven".

# %%
n_sent = 500 if FAST else 3000
corpus = [t for _, t in make_task("numbers", n_sent, 0, 0, seed=0)["train"]]
corpus += [t for _, t in make_task("dates", n_sent, 0, 0, seed=0)["train"]]
print(len(corpus), "sentences, e.g.:", corpus[:3])

tok = Tokenizer.train(corpus, vocab_size=100, model_type="bpe", hard_vocab_limit=False)
print(tok)
sentence = "seven hundred twenty three thousand , march 5"
ids = tok.encode(sentence)
print("ids:   ", ids)
print("pieces:", [tok.id_to_piece(i) for i in ids])
print("decode:", tok.decode(ids))
assert tok.decode(ids) == sentence

# %% [markdown]
# The "▁" marks the start of a word (SentencePiece keeps the spaces inside
# the pieces, so decoding is exact).  Every tokenizer made by this project
# reserves four ids:

# %%
for name, i in (("PAD_ID", PAD_ID), ("UNK_ID", UNK_ID), ("BOS_ID", BOS_ID), ("EOS_ID", EOS_ID)):
    print(f"{name} = {i}: {tok.id_to_piece(i)}")
framed = tok.encode("twenty one", add_bos=True, add_eos=True)
print("with bos/eos:", framed, "->", repr(tok.decode(framed)))
assert framed[0] == BOS_ID and framed[-1] == EOS_ID

# %% [markdown]
# The pad id is what batches are filled with; `BOS` starts the decoder's
# input, `EOS` ends the target.  A character never seen in training becomes
# `UNK`:

# %%
print(tok.encode("twenty Ω"), "->", [tok.id_to_piece(i) for i in tok.encode("twenty Ω")])
assert UNK_ID in tok.encode("twenty Ω")

# %% [markdown]
# ### The vocabulary-size trade-off
#
# A bigger vocabulary means shorter sequences (fewer, longer pieces) but a
# bigger embedding table, with rarer pieces that get fewer training updates.
# Real corpora show the trade-off best: we use the validation set of
# Multi30k (German–English image captions) when the repository has it in
# `../shared/data/multi30k`, and the task corpus otherwise.

# %%
m30k = HERE.parent.parent / "shared" / "data" / "multi30k"
if (m30k / "val.en.gz").exists():
    from minitransformer.data import load_parallel

    pairs = load_parallel(m30k / "val.de.gz", m30k / "val.en.gz")
    trade_corpus = [en for _, en in pairs]
    corpus_name = f"Multi30k val (English, {len(trade_corpus)} sentences)"
    print("German:", pairs[0][0], "\nEnglish:", pairs[0][1])
else:
    trade_corpus = corpus
    corpus_name = "numbers + dates tasks"
    print(f"Multi30k not found in {m30k}: using the task corpus instead")

sizes = [100, 300, 1000] if FAST else [100, 200, 400, 800, 1500, 3000]
lengths, actual = [], []
for v in sizes:
    t_v = Tokenizer.train(trade_corpus, vocab_size=v, hard_vocab_limit=False)
    actual.append(t_v.vocab_size)
    lengths.append(np.mean([len(x) for x in t_v.encode_batch(trade_corpus)]))
chars = np.mean([len(s) for s in trade_corpus])
words = np.mean([len(s.split()) for s in trade_corpus])
print(f"{corpus_name}: {chars:.1f} characters, {words:.1f} words per sentence on average")
for v, n in zip(actual, lengths):
    print(f"  vocab {v:5d}: {n:.1f} tokens per sentence")

fig, ax = plt.subplots(figsize=(6, 3.5))
ax.semilogx(actual, lengths, "o-", label="BPE pieces")
ax.axhline(chars, color="gray", ls=":", label="characters")
ax.axhline(words, color="k", ls="--", label="whitespace words")
ax.set_xlabel("vocabulary size")
ax.set_ylabel("tokens per sentence")
ax.set_title(corpus_name)
ax.legend()
ax.grid(alpha=0.3, which="both")
save(fig, "vocab_tradeoff")
assert lengths[0] > lengths[-1]  # bigger vocabulary, shorter sequences

# %% [markdown]
# ## 2. Embeddings
#
# An embedding is a table $E \in \mathbb{R}^{V \times d}$; token id $i$ is
# mapped to row $E_i$.  Mathematically that is a one-hot vector times the
# table, $e_i^\top E$, but a lookup is far cheaper than a product with a
# $V$-long vector of zeros.  Its gradient follows from the same view:
# $\partial L / \partial E = \sum_t e_{i_t} (\partial L / \partial x_t)^\top$ --
# row $i$ collects the gradients of every position where token $i$ occurs,
# and rows of tokens absent from the batch get zero.

# %%
V, d = tok.vocab_size, 8
emb = nn.Embedding(V, d, padding_idx=PAD_ID)
batch = mt.tensor(np.array([[5, 9, 5, 0]]))       # token 5 twice, then a pad
x = emb(batch)
print("ids", batch.shape, "-> vectors", x.shape)
one_hot = np.eye(V)[batch.numpy()]
np.testing.assert_allclose(x.numpy(), one_hot @ emb.weight.numpy(), rtol=1e-6)

g = rng.normal(size=x.shape)
x.backward(g)
rows_with_grad = np.flatnonzero(np.abs(emb.weight.grad.numpy()).sum(axis=1))
print("rows that received a gradient:", rows_with_grad)
np.testing.assert_allclose(emb.weight.grad.numpy()[5], g[0, 0] + g[0, 2], rtol=1e-6)  # two uses, summed
assert list(rows_with_grad) == [5, 9]  # not the pad row 0: padding_idx gets no gradient

# %% [markdown]
# `padding_idx` keeps the pad row at zero and gives it no gradient, so padding
# never learns to mean anything.  The Transformer also multiplies embeddings
# by $\sqrt{d_\text{model}}$ (`scale=True`): its tables are initialised with
# small values (Xavier, std $\approx 1/\sqrt{d}$ for a large vocabulary), and
# the positional encoding added next has entries of size 1.

# %% [markdown]
# ## 3. Sinusoidal positional encoding
#
# Attention is *permutation-equivariant*: shuffle the input positions and the
# outputs are shuffled the same way, nothing else changes.  To know where a
# token is, the model gets a position-dependent vector added to each
# embedding (Vaswani et al. 2017, section 3.5):
#
# $$\mathrm{PE}_{pos,\,2i} = \sin\!\Big(\frac{pos}{10000^{2i/d}}\Big), \qquad
#   \mathrm{PE}_{pos,\,2i+1} = \cos\!\Big(\frac{pos}{10000^{2i/d}}\Big).$$
#
# Each pair of features $(2i, 2i+1)$ is a point on a circle turning with
# position at its own frequency, from one turn per $2\pi$ positions
# ($i = 0$) down to one per $2\pi \cdot 10000$: the fast pairs tell
# neighbours apart, the slow ones distant positions.

# %%
d_model, max_len = 64, 100
pe = nn.PositionalEncoding(d_model, dropout=0.0, max_len=max_len)
table = pe.pe.numpy()  # the precomputed (max_len, d_model) table, a buffer of the module
print("table", table.shape)

fig, axes = plt.subplots(1, 2, figsize=(12, 3.8), gridspec_kw={"width_ratios": [3, 2]})
im = axes[0].imshow(table.T, aspect="auto", cmap="RdBu", vmin=-1, vmax=1)
axes[0].set_xlabel("position")
axes[0].set_ylabel("feature")
axes[0].set_title("PE: sin on even features, cos on odd ones")
fig.colorbar(im, ax=axes[0])
sim = table @ table.T
im2 = axes[1].imshow(sim, cmap="viridis")
axes[1].set_xlabel("position j")
axes[1].set_ylabel("position i")
axes[1].set_title(r"$PE_i \cdot PE_j$ depends on $|i - j|$")
fig.colorbar(im2, ax=axes[1])
save(fig, "positional_encoding")

x_zero = mt.zeros(1, 10, d_model)
np.testing.assert_allclose(pe(x_zero).numpy()[0], table[:10])  # forward adds the table
np.testing.assert_allclose(np.diag(sim, 3)[:-10], np.diag(sim, 3)[0], rtol=1e-4)  # same offset, same similarity

# %% [markdown]
# ### The same table, written as PyTorch code
#
# PyTorch programs build this table with tensor ops.  This engine's tensors
# speak PyTorch, so those lines run here as they are, with `mt` in place of
# `torch` (a PyTorch program runs with only its import changed, to
# `import minitransformer as torch`).  `div_term` holds the frequencies
# $1/10000^{2i/d} = \exp(-2i \ln 10000 / d)$; the sines fill the even
# columns and the cosines the odd ones, by item assignment.
#
# `pe[:, 0::2] = ...` writes into `pe` in place.  Here that is simple: no
# graph needs `pe` (neither it nor the values written require grad, as for
# a table, a mask or a buffer), so the values are just stored in its array.
# Had a graph needed it, the engine would record the write as an op, so that
# gradients flow through it; on a parameter, outside `no_grad()`, it refuses,
# as PyTorch does.
#
# The module's own table (the buffer `pe.pe`, made by `nn.sinusoidal_table`)
# is computed in float64 and then cast to float32; these lines compute in
# float32, so the two agree to about $10^{-6}$.

# %%
def sinusoids(max_len, d_model):
    pe = mt.zeros(max_len, d_model)
    position = mt.arange(0, max_len, dtype=mt.float).unsqueeze(1)
    div_term = mt.exp(mt.arange(0, d_model, 2).float() * (-mt.log(mt.tensor(10000.0)) / d_model))
    pe[:, 0::2] = mt.sin(position * div_term)
    pe[:, 1::2] = mt.cos(position * div_term)
    return pe


built = sinusoids(max_len, d_model)
print("built", built.shape, built.dtype, "| requires grad:", built.requires_grad)
print("max |built - module's table|:", np.abs(built.numpy() - table).max())
np.testing.assert_allclose(built.numpy(), table, atol=1e-5)

# %% [markdown]
# ### Relative positions are linear
#
# For each frequency $\omega_i$ the pair $(\sin \omega_i p, \cos \omega_i p)$
# moves to position $p + k$ by a rotation that depends on $k$ only:
#
# $$\begin{pmatrix}\sin\omega(p+k)\\ \cos\omega(p+k)\end{pmatrix} =
#   \begin{pmatrix}\cos\omega k & \sin\omega k\\ -\sin\omega k & \cos\omega k\end{pmatrix}
#   \begin{pmatrix}\sin\omega p\\ \cos\omega p\end{pmatrix}.$$
#
# So $\mathrm{PE}_{p+k} = R_k\,\mathrm{PE}_p$ for one block-diagonal matrix $R_k$
# and every $p$: "three positions back" is a fixed linear map, easy for a
# linear projection (a query or key) to express.

# %%
k = 3
omegas = np.exp(np.arange(0, d_model, 2) * (-np.log(10000.0) / d_model))
R = np.zeros((d_model, d_model))
for i, w in enumerate(omegas):
    c, s = np.cos(w * k), np.sin(w * k)
    R[2 * i:2 * i + 2, 2 * i:2 * i + 2] = [[c, s], [-s, c]]
shifted = table[:-k] @ R.T
print("max |PE[p+3] - R_3 PE[p]| over all p:", np.abs(shifted - table[k:]).max())
np.testing.assert_allclose(shifted, table[k:], atol=1e-4)

# %% [markdown]
# ## 4. Putting it together
#
# The Transformer's input: ids → embedding × $\sqrt{d}$ → + PE (→ dropout).
# The same token at two positions now gives two different vectors, and the
# same sentence shuffled gives a different input:

# %%
emb_scaled = nn.Embedding(tok.vocab_size, d_model, padding_idx=PAD_ID, scale=True)
sent = tok.encode("four hundred four")
inp = pe(emb_scaled(mt.tensor(np.array([sent]))))
print("ids:", sent)
four = [i for i, t in enumerate(sent) if t == sent[0]]
gap = np.linalg.norm(inp.numpy()[0, four[0]] - inp.numpy()[0, four[-1]])
print(f"token {sent[0]} ({tok.id_to_piece(sent[0])}) at positions {four}: "
      f"same embedding, distance between inputs {gap:.2f}")
assert len(four) == 2 and not np.allclose(inp.numpy()[0, four[0]], inp.numpy()[0, four[1]])

# %% [markdown]
# ## Summary
#
# * BPE subwords: a vocabulary of chosen size, exact decoding, short
#   sequences; ids 0–3 are pad, unk, bos, eos.
# * `nn.Embedding` is a row lookup; its gradient lands on the rows used
#   (summed over repeats), never on the padding row.
# * Sinusoidal positions: one rotating pair of features per frequency;
#   $PE_i \cdot PE_j$ depends on $i - j$, and shifting by $k$ is linear.
# * The table is a few lines of PyTorch-style tensor code (`zeros`, `arange`,
#   `exp`, item assignment into columns), which run on this engine as written.
