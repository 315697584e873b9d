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
# # 05 · Layer norm, residual connections, the feed-forward block
#
# Attention mixes information *between* positions.  The rest of a Transformer
# layer works on each position alone and keeps a deep stack trainable:
#
# 1. **layer normalization**: forward, its backward derived and checked;
# 2. **residual connections**: why $x + f(x)$ lets gradients through;
# 3. the position-wise **feed-forward** network;
# 4. **post-LN vs pre-LN**: where the norm goes changes the gradients of a
#    deep stack at initialisation (plotted per layer).

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
import minitransformer.functional as F
from minitransformer import nn
from minitransformer.viz.notebook import pyplot, setup_tutorial

tutorial = setup_tutorial("05_layernorm_residual_ffn", here=HERE)  # the FAST switch, the output folder, seed 0
FAST, OUT, save = tutorial.fast, tutorial.out, tutorial.save
plt = pyplot()  # matplotlib; outside Jupyter it draws into files, no window
rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. Layer normalization
#
# Layer norm (Ba et al. 2016) rescales the $d$ features of **each position**
# to mean 0 and variance 1, then applies a learned scale $\gamma$ and shift
# $\beta$ (`weight` and `bias`, starting at 1 and 0):
#
# $$\mu = \frac1d\sum_m x_m, \qquad \sigma^2 = \frac1d \sum_m (x_m - \mu)^2, \qquad
#   \hat x_m = \frac{x_m - \mu}{\sqrt{\sigma^2 + \epsilon}}, \qquad y_m = \gamma_m \hat x_m + \beta_m .$$
#
# Unlike batch norm it needs no batch statistics: every token is normalised
# on its own, identically in training and inference.

# %%
d = 6
x = mt.tensor(rng.normal(loc=3.0, scale=5.0, size=(2, 4, d)))  # (batch, length, features)
ln = nn.LayerNorm(d)
y = ln(x)
print("per-position mean of y:", np.round(y.numpy().mean(axis=-1), 6).ravel())
print("per-position var of y: ", np.round(y.numpy().var(axis=-1), 4).ravel())

xn = x.numpy()
by_hand = (xn - xn.mean(-1, keepdims=True)) / np.sqrt(xn.var(-1, keepdims=True) + 1e-5)
np.testing.assert_allclose(y.numpy(), by_hand, rtol=1e-5, atol=1e-5)
np.testing.assert_allclose(F.layer_norm_composed(x, d).numpy(), by_hand, rtol=1e-5, atol=1e-5)
print("nn.LayerNorm == F.layer_norm_composed == the formula in NumPy")

# %% [markdown]
# ### Its backward
#
# Write $r = (\sigma^2 + \epsilon)^{-1/2}$ and $\hat g = \partial L / \partial \hat x = g \odot \gamma$
# for an upstream gradient $g = \partial L/\partial y$.  Each $\hat x_m$ depends
# on $x_k$ directly, through $\mu$ and through $\sigma^2$:
#
# $$\frac{\partial \hat x_m}{\partial x_k} = r\Big(\delta_{mk} - \frac1d - \frac{\hat x_m \hat x_k}{d}\Big)$$
#
# (using $\partial\mu/\partial x_k = 1/d$ and $\partial\sigma^2/\partial x_k = 2(x_k-\mu)/d$).
# Summing $\hat g_m \, \partial \hat x_m/\partial x_k$ over $m$:
#
# $$\boxed{\frac{\partial L}{\partial x} = r\Big(\hat g - \operatorname{mean}(\hat g) - \hat x \operatorname{mean}(\hat g \odot \hat x)\Big)},
#   \qquad \frac{\partial L}{\partial \gamma} = \sum_\text{positions} g \odot \hat x, \qquad
#   \frac{\partial L}{\partial \beta} = \sum_\text{positions} g .$$
#
# The two mean terms remove the components of $\hat g$ along $(1, \dots, 1)$
# and along $\hat x$: the directions in which layer norm's output cannot move
# (its mean is fixed at 0 and its norm at $\sqrt d$).
#
# The fused `F.layer_norm` implements exactly this backward; the composed
# `F.layer_norm_composed` lets autograd chain `mean`, `var`, `sqrt`, `/`.
# Three ways, one answer:

# %%
with mt.set_default_dtype("float64"):
    x_np, gamma_np, beta_np = rng.normal(size=(3, 5)), rng.normal(size=5), rng.normal(size=5)
    # two copies of each input: one for the fused op, one for the composed one
    xs = [mt.tensor(x_np, requires_grad=True) for _ in range(2)]
    gamma = [mt.tensor(gamma_np, requires_grad=True) for _ in range(2)]
    beta = [mt.tensor(beta_np, requires_grad=True) for _ in range(2)]
    g = rng.normal(size=(3, 5))
    F.layer_norm(xs[0], 5, gamma[0], beta[0]).backward(g)
    F.layer_norm_composed(xs[1], 5, gamma[1], beta[1]).backward(g)

xv, gv = xs[0].numpy(), gamma[0].numpy()
r = 1 / np.sqrt(xv.var(-1, keepdims=True) + 1e-5)
x_hat = (xv - xv.mean(-1, keepdims=True)) * r
g_hat = g * gv
dx = r * (g_hat - g_hat.mean(-1, keepdims=True) - x_hat * (g_hat * x_hat).mean(-1, keepdims=True))
for name, fused, composed, mine in (("dx", xs[0], xs[1], dx), ("dgamma", gamma[0], gamma[1], (g * x_hat).sum(0)),
                                    ("dbeta", beta[0], beta[1], g.sum(0))):
    np.testing.assert_allclose(fused.grad.numpy(), mine, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(composed.grad.numpy(), mine, rtol=1e-10, atol=1e-12)
    print(f"{name}: fused == composed == the boxed formula")

with mt.set_default_dtype("float64"):
    x1 = mt.tensor(rng.normal(size=(2, 3, 4)), requires_grad=True)
    w1 = mt.tensor(rng.normal(size=4), requires_grad=True)
    b1 = mt.tensor(rng.normal(size=4), requires_grad=True)
    assert mt.gradcheck(lambda a, w, b: F.layer_norm(a, 4, w, b), [x1, w1, b1])
    assert mt.gradcheck(lambda a, w, b: F.layer_norm_composed(a, 4, w, b), [x1, w1, b1])
print("both pass gradcheck")

# %% [markdown]
# A check of the geometric remark: the gradient with respect to $x$ is
# orthogonal to $(1,\dots,1)$ and, for $\gamma = 1$, to $\hat x$ (exactly so as
# $\epsilon \to 0$; we pass a tiny `eps`).

# %%
with mt.set_default_dtype("float64"):
    x2 = mt.tensor(rng.normal(size=(1, 8)), requires_grad=True)
    F.layer_norm(x2, 8, eps=1e-12).backward(rng.normal(size=(1, 8)))
gx = x2.grad.numpy()[0]
xh = (x2.numpy() - x2.numpy().mean()) / x2.numpy().std()
print(f"sum of dL/dx = {gx.sum():.1e},   dL/dx . x_hat = {gx @ xh[0]:.1e}")
assert abs(gx.sum()) < 1e-10 and abs(gx @ xh[0]) < 1e-8

# %% [markdown]
# ## 2. Residual connections
#
# A residual block computes $x_{l+1} = x_l + f_l(x_l)$.  Its Jacobian is
# $I + \partial f_l / \partial x_l$, so the gradient of a stack of $N$ blocks
#
# $$\frac{\partial L}{\partial x_0} = \frac{\partial L}{\partial x_N}\prod_{l=N-1}^{0}\Big(I + \frac{\partial f_l}{\partial x_l}\Big)$$
#
# always contains the plain term $\partial L/\partial x_N$: an identity path
# from the loss to every layer.  Without the "$I +$", the product of $N$
# Jacobians shrinks or explodes geometrically with $N$.  A stack of
# `tanh(Linear)` layers shows it:

# %%
depth = 20 if FAST else 50
width = 32
layers = [nn.Linear(width, width) for _ in range(depth)]
x0 = mt.tensor(rng.normal(size=(16, width)), requires_grad=True)
grad_at_input = {}
for residual in (False, True):
    h = x0
    for lin in layers:
        h = h + lin(h).tanh() if residual else lin(h).tanh()
    x0.grad = None
    (h * h).mean().backward()
    grad_at_input["with residual" if residual else "plain"] = np.linalg.norm(x0.grad.numpy())
print({k: f"{v:.2e}" for k, v in grad_at_input.items()})
assert grad_at_input["with residual"] > 1e3 * grad_at_input["plain"]

# %% [markdown]
# ## 3. The feed-forward block
#
# After attention, every position goes through the same two-layer network
# (Vaswani et al. 2017, eq. 2), usually with $d_\text{ff} = 4 d_\text{model}$:
#
# $$\operatorname{FFN}(x) = \max(0,\ x W_1^\top + b_1)\, W_2^\top + b_2 .$$
#
# "Position-wise": it treats positions independently, like a $1\times1$
# convolution.  Changing one position's input changes only that position's
# output.  `nn.FeedForward(d_model, d_ff, dropout, activation)` also offers
# GELU, the smooth variant used by BERT and GPT.  (PyTorch's encoder and
# decoder layers hold the same pieces themselves, as `linear1`, `dropout`,
# `linear2` and `activation`, and compute the same formula.)

# %%
ffn = nn.FeedForward(8, 32)
ffn.eval()
seq = rng.normal(size=(1, 5, 8))
out_a = ffn(mt.tensor(seq)).numpy()
seq2 = seq.copy()
seq2[0, 2] += 1.0  # perturb position 2 only
out_b = ffn(mt.tensor(seq2)).numpy()
changed = np.abs(out_b - out_a).max(axis=-1)[0]
print("max change per position:", np.round(changed, 4))
assert changed[2] > 0 and np.all(np.delete(changed, 2) == 0)

grid = mt.tensor(np.linspace(-4, 4, 200))
fig, ax = plt.subplots(figsize=(5, 3))
ax.plot(grid.numpy(), F.relu(grid).numpy(), label="ReLU")
ax.plot(grid.numpy(), F.gelu(grid, approximate="none").numpy(), label=r"GELU: $x\,\Phi(x)$")
ax.legend()
ax.grid(alpha=0.3)
ax.set_title("the FFN's activation")
save(fig, "activations")

# %% [markdown]
# ## 4. Post-LN vs pre-LN
#
# The paper puts the norm *after* the residual sum (**post-LN**); most modern
# models put it *before* the sub-layer, inside the residual branch (**pre-LN**):
#
# $$\text{post-LN:}\quad x_{l+1} = \operatorname{LN}\big(x_l + f(x_l)\big), \qquad
#   \text{pre-LN:}\quad x_{l+1} = x_l + f\big(\operatorname{LN}(x_l)\big).$$
#
# * In **post-LN** every layer's output is normalised, so the residual stream
#   keeps the same size at every depth, but the identity path of section 2 is
#   interrupted by a norm $2N$ times.  Xiong et al. (2020) show that at
#   initialisation the parameter gradients then grow towards the *output*
#   layers; with Adam those layers take large steps early on, which is why
#   post-LN needs a learning-rate warm-up.
# * In **pre-LN** the residual path is a pure identity from input to output
#   (the stack ends with one more norm).  Each layer *adds* to the stream, so
#   its norm grows with depth, and the norm at the entrance of each sub-layer
#   divides by that growing size: upper layers get no larger gradients than
#   lower ones (Shleifer et al. 2021, "NormFormer").  Nothing explodes, and pre-LN
#   trains without warm-up.
#
# PyTorch's `nn.TransformerEncoderLayer(..., norm_first=True)` is the pre-LN
# layer, and `nn.TransformerEncoder(layer, num_layers, norm)` stacks copies of
# it (with a final `norm` for pre-LN).  We initialise
# both stacks as `nn.Transformer` does (Xavier uniform for every matrix), put
# a linear read-out and a cross-entropy loss on top, and measure at
# initialisation the size of the residual stream after each layer and the
# gradient norm of each layer's attention output projection.

# %%
n_layers = 6 if FAST else 12
d_model, n_heads, vocab = 64, 4, 100
x_in = mt.tensor(rng.normal(size=(8, 16, d_model)))
labels = rng.integers(0, vocab, size=(8, 16))
stream, grad_norms = {}, {}
for norm_first in (False, True):
    name = "pre-LN" if norm_first else "post-LN"
    mt.manual_seed(0)
    layer = nn.TransformerEncoderLayer(d_model, n_heads, 4 * d_model, dropout=0.0, batch_first=True,
                                       norm_first=norm_first)
    enc = nn.TransformerEncoder(layer, n_layers, norm=nn.LayerNorm(d_model) if norm_first else None)
    readout = nn.Linear(d_model, vocab)
    for param in enc.parameters():
        if param.ndim > 1:
            nn.init.xavier_uniform_(param)
    h, sizes = x_in, []
    for layer in enc.layers:  # the stack's forward, one layer at a time, to look inside
        h = layer(h)
        sizes.append(float(np.linalg.norm(h.numpy(), axis=-1).mean()))
    if enc.norm is not None:  # pre-LN: the final norm
        h = enc.norm(h)
    F.cross_entropy(readout(h).reshape(-1, vocab), labels.reshape(-1)).backward()  # one row per token
    stream[name] = sizes
    grad_norms[name] = [np.linalg.norm(layer.self_attn.out_proj.weight.grad.numpy()) for layer in enc.layers]

fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
layer_ids = range(1, n_layers + 1)
for name in ("post-LN", "pre-LN"):
    axes[0].plot(layer_ids, stream[name], "o-", label=name)
    axes[1].plot(layer_ids, grad_norms[name], "o-", label=name)
axes[0].set_ylabel("mean ||x_l|| per position")
axes[0].set_title("size of the residual stream")
axes[1].set_ylabel("||dL/dW|| of attention's out_proj")
axes[1].set_title("gradient norms at initialisation")
for ax in axes:
    ax.set_xlabel("layer l (1 = next to the input)")
    ax.legend()
    ax.grid(alpha=0.3, which="both")
save(fig, "pre_vs_post_ln")

post, pre = np.array(grad_norms["post-LN"]), np.array(grad_norms["pre-LN"])
print(f"gradient, last layer / first layer: post-LN {post[-1] / post[0]:.2f}, pre-LN {pre[-1] / pre[0]:.2f}")
print(f"stream size, last / first: post-LN {stream['post-LN'][-1] / stream['post-LN'][0]:.2f}, "
      f"pre-LN {stream['pre-LN'][-1] / stream['pre-LN'][0]:.2f}")
assert post[-1] / post[0] > 2 and pre[-1] / pre[0] < 1.25   # post-LN's grow to the top, pre-LN's stay level
assert stream["pre-LN"][-1] > 1.5 * stream["pre-LN"][0]
np.testing.assert_allclose(stream["post-LN"], np.sqrt(d_model), rtol=0.01)  # LN output: norm sqrt(d)

# ## Summary
#
# * Layer norm standardises each position's features; its backward removes the
#   mean of $\hat g$ and its component along $\hat x$, times $1/\sigma$.
# * Residuals add an identity to every layer's Jacobian: gradients reach the
#   bottom of a deep stack.
# * The FFN is a per-position two-layer MLP ($d \to 4d \to d$).
# * Post-LN (the paper) interrupts the identity path with norms; its gradients
#   grow towards the output and it needs warm-up.  Pre-LN keeps the identity
#   path; its residual stream grows with depth and its upper layers get no
#   larger gradients than its lower ones.
