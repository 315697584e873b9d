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
# # 07 · Optimizers and learning-rate schedules
#
# Backward gives the gradient; the **optimizer** decides how far to move
# along it, and the **schedule** changes that distance over training.
# Transformers are famously picky about both (Adam with a warm-up).
#
# 1. SGD with momentum, Adam, AdamW and Adagrad: update rules side by side;
# 2. their trajectories on the Rosenbrock valley;
# 3. their loss curves on a badly scaled logistic regression;
# 4. Adam's L2 penalty vs AdamW's decoupled weight decay;
# 5. schedules: Noam (the paper's), cosine, step, reduce-on-plateau.
#
# All optimizers follow PyTorch's protocol: build one over the parameters,
# then per update `zero_grad()`, `loss.backward()`, `step()`.

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
from minitransformer import nn, optim
from minitransformer.optim import lr_scheduler
from minitransformer.viz.notebook import pyplot, setup_tutorial

tutorial = setup_tutorial("07_optimizers", here=HERE)  # the FAST switch, the output folder, seed 0
FAST, OUT, save = tutorial.fast, tutorial.out, tutorial.save
plt = pyplot()  # matplotlib; outside Jupyter it draws into files, no window
rng = np.random.default_rng(0)


# %% [markdown]
# ## 1. Four update rules
#
# For a parameter $p$ with gradient $g_t$ at step $t$ and learning rate $\eta$:
#
# | optimizer | update |
# |---|---|
# | SGD + momentum | $b_t = \mu b_{t-1} + g_t, \quad p \leftarrow p - \eta\, b_t$ |
# | Adagrad | $s_t = s_{t-1} + g_t^2, \quad p \leftarrow p - \eta\, g_t / (\sqrt{s_t} + \epsilon)$ |
# | Adam | $m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t,\ \ v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2,$ |
# |  | $p \leftarrow p - \eta\, \hat m_t / (\sqrt{\hat v_t} + \epsilon), \quad \hat m_t = \tfrac{m_t}{1-\beta_1^t},\ \hat v_t = \tfrac{v_t}{1-\beta_2^t}$ |
# | AdamW | Adam, plus $p \leftarrow p - \eta\lambda\, p$ (decay *outside* the adaptive step) |
#
# Momentum averages gradients over time (it keeps going through narrow,
# zig-zagging valleys).  Adagrad and Adam divide each coordinate by the size
# of its own past gradients, so every coordinate moves at a similar speed
# whatever the scale of its gradient; Adagrad's sum only grows (its steps
# shrink for ever), Adam's running mean forgets.
#
# ## 2. The Rosenbrock valley
#
# $f(x, y) = (1 - x)^2 + 100\,(y - x^2)^2$ has its minimum at $(1, 1)$ at the
# bottom of a long, curved, flat valley with steep walls: the gradient points
# mostly across the valley, not along it.

# %%
def rosenbrock(p):
    x, y = p[0], p[1]
    return (1 - x) ** 2 + 100 * (y - x * x) ** 2


optimizers = {
    "SGD (momentum 0.9)": lambda ps: optim.SGD(ps, lr=2e-4, momentum=0.9),
    "Adagrad": lambda ps: optim.Adagrad(ps, lr=0.5),
    "Adam": lambda ps: optim.Adam(ps, lr=0.05),
    "AdamW (wd 0.1)": lambda ps: optim.AdamW(ps, lr=0.05, weight_decay=0.1),
}
steps = 1000 if FAST else 3000
paths, curves = {}, {}
with mt.set_default_dtype("float64"):
    for name, make in optimizers.items():
        p = nn.Parameter([-1.5, 2.0])
        opt = make([p])
        path, losses = [p.numpy()], []
        for _ in range(steps):
            opt.zero_grad()
            loss = rosenbrock(p)
            loss.backward()
            opt.step()
            path.append(p.numpy())
            losses.append(loss.item())
        paths[name], curves[name] = np.array(path), losses
        print(f"{name:20s} after {steps} steps: p = {np.round(path[-1], 4)}, f = {losses[-1]:.2e}")

gx, gy = np.meshgrid(np.linspace(-2, 2, 300), np.linspace(-1, 3, 300))
fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
axes[0].contour(gx, gy, np.log10((1 - gx) ** 2 + 100 * (gy - gx**2) ** 2 + 1e-3), levels=25, cmap="gray", alpha=0.6)
for name, path in paths.items():
    axes[0].plot(path[:, 0], path[:, 1], lw=1.2, label=name)
    curve = np.maximum(curves[name], 1e-16)
    axes[1].semilogy(curve, label=name)
axes[0].plot([1], [1], "k*", ms=12)
axes[0].set_title("trajectories from (-1.5, 2); the star is the minimum")
axes[0].legend(fontsize=8)
axes[1].set_xlabel("step")
axes[1].set_ylabel("f")
axes[1].set_title("loss")
axes[1].grid(alpha=0.3, which="both")
save(fig, "rosenbrock")
assert curves["Adam"][-1] < 0.05 * curves["Adam"][0]

# %% [markdown]
# AdamW's weight decay pulls $p$ towards 0 at every step, so it settles where
# that pull balances the (normalised) gradient step: short of $(1, 1)$.  In a
# network that pull is the point (smaller weights, better generalisation);
# here it just moves the end point.
#
# ## 3. Badly scaled logistic regression
#
# Two classes in 10 dimensions, with features on wildly different scales
# (from 0.01 to 100) -- as raw features often are.  Plain SGD must pick one
# learning rate for all coordinates: small enough for the large-scale ones,
# hence far too small for the others.  The adaptive methods rescale each
# coordinate.

# %%
n, dim = (256 if FAST else 1024), 10
scales = np.logspace(-2, 2, dim)
w_true = rng.normal(size=dim)
X = rng.normal(size=(n, dim)) * scales
y = (X / scales @ w_true > 0).astype(np.int64)
X_t = mt.tensor(X)

lr_curves = {}
for name, make in {
    "SGD (momentum 0.9)": lambda ps: optim.SGD(ps, lr=1e-5, momentum=0.9),
    "Adagrad": lambda ps: optim.Adagrad(ps, lr=0.1),
    "Adam": lambda ps: optim.Adam(ps, lr=0.02),
    "AdamW (wd 0.01)": lambda ps: optim.AdamW(ps, lr=0.02, weight_decay=0.01),
}.items():
    mt.manual_seed(0)
    model = nn.Linear(dim, 2)
    opt = make(model.parameters())
    losses = []
    for _ in range(100 if FAST else 400):
        opt.zero_grad()
        loss = F.cross_entropy(model(X_t), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    lr_curves[name] = losses
    acc = (model(X_t).numpy().argmax(-1) == y).mean()
    print(f"{name:20s} final loss {losses[-1]:.3f}, training accuracy {acc:.1%}")

fig, ax = plt.subplots(figsize=(6, 3.5))
for name, losses in lr_curves.items():
    ax.plot(losses, label=name)
ax.set_xlabel("step")
ax.set_ylabel("cross-entropy")
ax.set_yscale("log")
ax.set_title("logistic regression, feature scales 0.01 ... 100")
ax.legend()
ax.grid(alpha=0.3, which="both")
save(fig, "logistic_regression")
assert lr_curves["Adam"][-1] < lr_curves["SGD (momentum 0.9)"][-1]

# %% [markdown]
# ## 4. Adam's L2 penalty vs AdamW's decoupled decay
#
# `optim.Adam(weight_decay=λ)` adds $\lambda p$ to the gradient, as an L2
# penalty $\tfrac\lambda2\|p\|^2$ would.  But Adam then divides by
# $\sqrt{\hat v}$, the size of the *whole* gradient: a weight whose loss
# gradients are large barely feels the decay, a weight in a flat direction
# feels it fully.  Loshchilov & Hutter (2019) decouple it: AdamW applies
# $p \leftarrow p - \eta\lambda p$ directly, next to the adaptive step, the
# same pull for every weight.
#
# A direct look: $f(p) = \tfrac12 \sum_i a_i (p_i - 1)^2$ with a steep
# direction ($a_1 = 100$) and a flat one ($a_2 = 0.01$), both weights starting
# at the minimum 1, with $\lambda = 0.1$.  Adam + L2 converges to the minimum
# of $f + \tfrac\lambda2\|p\|^2$, $p_i = a_i/(a_i + \lambda)$: the flat
# weight collapses, the steep one does not move.  AdamW treats both alike.

# %%
curvature = mt.tensor([100.0, 0.01], dtype="float64")


def decay_experiment(make):
    with mt.set_default_dtype("float64"):
        p = nn.Parameter([1.0, 1.0])
        opt = make([p])
        for _ in range(500 if FAST else 2000):
            opt.zero_grad()
            (0.5 * curvature * (p - 1.0) ** 2).sum().backward()
            opt.step()
        return p.numpy()


adam_l2 = decay_experiment(lambda ps: optim.Adam(ps, lr=1e-2, weight_decay=0.1))
adamw = decay_experiment(lambda ps: optim.AdamW(ps, lr=1e-2, weight_decay=0.1))
print("                   steep weight (a=100)   flat weight (a=0.01)")
for name, p in (("Adam + L2", adam_l2), ("AdamW", adamw)):
    print(f"{name:18s} {p[0]:14.4f} {p[1]:22.4f}")
np.testing.assert_allclose(adam_l2, [100 / 100.1, 0.01 / 0.11], rtol=1e-3)  # a / (a + lambda)
assert abs(adamw[0] - adamw[1]) < 0.01  # AdamW: the same for both

# %% [markdown]
# ## 5. Learning-rate schedules
#
# `minitransformer.optim.lr_scheduler` has PyTorch's schedulers and the
# Transformer's.  A scheduler wraps an optimizer; call `scheduler.step()`
# after each `optimizer.step()`.  `minitransformer.viz.lr_schedule_values`
# runs a schedule on a dummy optimizer and returns the lr of each update, and
# `plot_lr_schedule` draws it -- so you can look at a schedule before
# training with it.
#
# **Noam** (Vaswani et al. 2017, eq. 3), a linear warm-up then $1/\sqrt{s}$ decay:
#
# $$\eta(s) = d_\text{model}^{-1/2} \cdot \min\big(s^{-1/2},\ s\cdot \text{warmup}^{-3/2}\big).$$
#
# Warm-up: Adam's first steps rest on second-moment estimates built from a
# handful of gradients, and a freshly initialised post-LN Transformer has
# large gradients in its top layers (tutorial 05); a small lr at first keeps
# those early steps from wrecking the network.

# %%
from minitransformer.viz import lr_schedule_values, plot_lr_schedule

total = 20_000
fig, axes = plt.subplots(2, 2, figsize=(12, 7))
for d_model, warmup in ((512, 4000), (512, 8000), (256, 4000)):
    plot_lr_schedule(lambda opt, d=d_model, w=warmup: lr_scheduler.NoamLR(opt, d_model=d, warmup=w),
                     steps=total, ax=axes[0, 0], label=f"Noam d_model={d_model}, warmup={warmup}")
axes[0, 0].set_title("Noam (the paper: d_model=512, warmup=4000)")

base = 1e-3
plot_lr_schedule(lambda opt: lr_scheduler.CosineAnnealingLR(opt, T_max=total), steps=total, lr=base,
                 ax=axes[0, 1], label="CosineAnnealingLR")
plot_lr_schedule(lambda opt: lr_scheduler.WarmupCosine(opt, warmup=2000, total_steps=total), steps=total,
                 lr=base, ax=axes[0, 1], label="WarmupCosine (warmup 2000)")
plot_lr_schedule(lambda opt: lr_scheduler.WarmupLinear(opt, warmup=2000, total_steps=total), steps=total,
                 lr=base, ax=axes[0, 1], label="WarmupLinear (warmup 2000)")
axes[0, 1].set_title("cosine and linear decay")

plot_lr_schedule(lambda opt: lr_scheduler.StepLR(opt, step_size=5000, gamma=0.5), steps=total, lr=base,
                 ax=axes[1, 0], label="StepLR(5000, gamma=0.5)")
plot_lr_schedule(lambda opt: lr_scheduler.MultiStepLR(opt, milestones=[8000, 15000], gamma=0.1),
                 steps=total, lr=base, ax=axes[1, 0], label="MultiStepLR([8000, 15000], 0.1)")
axes[1, 0].set_title("step decay")

# ReduceLROnPlateau follows a metric, not the step count: simulate a validation
# loss that improves, then stalls; evaluate every 500 updates.
sched_opt = optim.SGD([nn.Parameter([0.0])], lr=base)
plateau = lr_scheduler.ReduceLROnPlateau(sched_opt, factor=0.5, patience=3)
evals = np.arange(0, total, 500)
metric = 2.0 / np.sqrt(1 + evals / 1000) + 0.05 * rng.normal(size=evals.size)
metric[evals > 8000] = metric[evals == 8000][0] + 0.02 * rng.normal(size=(evals > 8000).sum())  # it stalls
plateau_lrs = []
for m in metric:
    plateau_lrs.append(sched_opt.param_groups[0]["lr"])
    plateau.step(m)
axes[1, 1].step(evals, plateau_lrs, where="post", label="lr (ReduceLROnPlateau)")
ax2 = axes[1, 1].twinx()
ax2.plot(evals, metric, "o", ms=3, color="gray", label="validation loss")
ax2.set_ylabel("validation loss")
axes[1, 1].set_xlabel("update")
axes[1, 1].set_ylabel("learning rate")
axes[1, 1].set_title("ReduceLROnPlateau(factor=0.5, patience=3)")
axes[1, 1].legend(loc="upper right", fontsize=8)
for ax in axes.ravel():
    ax.grid(alpha=0.3)
fig.tight_layout()
save(fig, "schedules")

noam = lr_schedule_values(lambda opt: lr_scheduler.NoamLR(opt, d_model=512, warmup=4000), steps=total)
peak = int(np.argmax(noam)) + 1
print(f"Noam(512, 4000): peak lr {max(noam):.2e} at update {peak}; lr at update {total}: {noam[-1]:.2e}")
assert peak == 4000 and np.isclose(max(noam), 512**-0.5 * 4000**-0.5)
assert plateau_lrs[-1] < plateau_lrs[0]

# %% [markdown]
# ## Summary
#
# * Momentum averages gradients over time; Adagrad/Adam normalise each
#   coordinate by its gradient history, which fixes badly scaled problems.
# * AdamW decouples weight decay from the adaptive step; Adam's L2 penalty
#   mostly decays the weights with small gradients.
# * Transformers warm up: Noam's schedule rises linearly for `warmup` updates
#   and decays as $1/\sqrt{s}$; cosine, linear and step decays are the other
#   common shapes; ReduceLROnPlateau reacts to the validation loss.
# * `minitransformer.viz.lr_schedule_values` / `plot_lr_schedule` show a
#   schedule before you train with it.
