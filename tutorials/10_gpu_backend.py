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
# # 10 · The GPU backend
#
# Every op of this engine is written once, against an *array module* `xp`
# that is NumPy on the CPU or CuPy on an NVIDIA GPU.  CuPy copies NumPy's
# interface, so the same lines of array code run on either.  In this
# tutorial:
#
# 1. how one code path serves two backends (`get_array_module`);
# 2. switching: `mt.cupy_available()`, `mt.use_backend("cupy")`,
#    `tensor.to(...)`, `module.to(...)`;
# 3. checking that the GPU computes the same numbers as NumPy;
# 4. timing both.
#
# **Without a GPU** (or without CuPy) this notebook still runs: it shows the
# CPU half of every comparison and says what it skipped.  On Colab choose
# *Runtime → Change runtime type → GPU* and `pip install cupy-cuda12x`
# (or `pip install 'minitransformer[gpu]'`).

# %%
import copy
import inspect
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

tutorial = setup_tutorial("10_gpu_backend", here=HERE)  # the FAST switch, the output folder, seed 0
FAST, OUT, save = tutorial.fast, tutorial.out, tutorial.save
plt = pyplot()  # matplotlib; outside Jupyter it draws into files, no window
rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. One code path, two array libraries
#
# An op receives raw arrays and asks which library owns them:
# `xp = get_array_module(x)` returns `numpy` for NumPy arrays and `cupy` for
# CuPy arrays (recognised by their `__cuda_array_interface__`, so CuPy is not
# even imported on a machine without it).  Here is the forward of the
# (masked) softmax used by attention, `stable_softmax`, which `F.Softmax`
# calls -- nothing in it is specific to a device:

# %%
from minitransformer.functional.activation import stable_softmax

print(inspect.getsource(stable_softmax))
print("get_array_module(numpy array) ->", mt.get_array_module(np.zeros(3)).__name__)

# %% [markdown]
# That is the op's **formula**, and it runs on either device.  A few ops on
# the hot path of training also have a **fast version** for a backend, in
# `minitransformer/backend/fast/`: on the CPU, blocks of rows on its threads;
# on the GPU, the layer norm's scale-and-shift and the Adam update as one
# fused CuPy `ElementwiseKernel` each (one pass through device memory instead
# of several).  The engine picks the fast version by the arrays' backend; a
# test proves each equal to its formula, and `formulas_only()` (or
# `MINITRANSFORMER_FAST_KERNELS=0`) runs the formulas alone:

# %%
from minitransformer.backend.fast import formulas_only

scores = mt.randn(4, 8)
fast_weights = F.softmax(scores, dim=-1).numpy()
with formulas_only():
    formula_weights = F.softmax(scores, dim=-1).numpy()
np.testing.assert_allclose(fast_weights, formula_weights, rtol=1e-5, atol=1e-7)
print("fast version and formula agree: max difference",
      np.abs(fast_weights - formula_weights).max())

# %% [markdown]
# Where new arrays come from (factories like `mt.randn`, layer parameters) is
# decided by the **current backend**, `mt.get_backend()`; everything computed
# from them stays where they are.  Nothing moves between host and device
# silently: mixing a CPU and a GPU tensor in one op is an error that says
# what to do.
#
# ## 2. Is there a GPU?

# %%
GPU = mt.cupy_available()
print("current backend:", mt.get_backend(), "| CuPy with a CUDA device available:", GPU)
if not GPU:
    try:
        mt.use_backend("cupy")
    except mt.BackendError as err:
        print("mt.use_backend('cupy') ->", type(err).__name__ + ":", err)
    print("\nNo GPU here: the GPU halves of the cells below are skipped; the CPU halves run.")

# %% [markdown]
# Three ways to put things on the GPU:
#
# * `mt.use_backend("cupy")` switches the current backend for the rest of the
#   program; `with mt.use_backend("cupy"): ...` only inside the block.
#   Models built inside the block have their parameters on the GPU.
# * `t.to("cupy")` copies one tensor (as a new leaf), `t.to("numpy")` back;
#   `t.numpy()` always returns a host copy.
# * `model.to("cupy")` moves every parameter and buffer of a module, in place.
#
# For training, `TrainConfig(backend="cupy")` (or `minitransformer train
# --backend cupy`) does all of this for you.

# %%
if GPU:
    import cupy

    x_gpu = mt.randn(2, 3, backend="cupy")
    print("a tensor on", x_gpu.backend, "of type", type(x_gpu.data).__module__ + "." + type(x_gpu.data).__name__)
    try:
        x_gpu + mt.randn(2, 3)  # a CuPy tensor and a NumPy tensor in one op
    except TypeError as err:
        print("mixing backends ->", err)
    print("moved back:", x_gpu.to("numpy").backend)

# %% [markdown]
# ## 3. The same numbers on both
#
# A small Transformer in float64: one copy on the CPU, one moved to the GPU,
# the same batch through both, forward and backward.  The results must agree
# to rounding (the GPU's libraries sum in different orders, so not bit for
# bit).

# %%
with mt.set_default_dtype("float64"):
    mt.manual_seed(0)
    cpu_model = nn.TransformerTranslator(30, 30, d_model=32, nhead=4, num_encoder_layers=2, num_decoder_layers=2,
                                         dim_feedforward=64, dropout=0.0)
src = rng.integers(1, 30, size=(4, 9))
tgt = rng.integers(1, 30, size=(4, 7))
src[1, 6:] = 0  # some padding
targets = rng.integers(1, 30, size=(4, 7))


def forward_backward(model, backend):
    xp = mt.backend.array_module(backend)
    logits = model(xp.asarray(src), xp.asarray(tgt))
    loss = F.cross_entropy(logits.reshape(-1, 30), xp.asarray(targets).reshape(-1))
    loss.backward()
    grads = {n: p.grad.numpy() for n, p in model.named_parameters() if p.grad is not None}
    return logits.numpy(), loss.item(), grads


cpu_logits, cpu_loss, cpu_grads = forward_backward(cpu_model, "numpy")
print(f"CPU: loss {cpu_loss:.12f}, {len(cpu_grads)} parameter gradients")
if GPU:
    gpu_model = copy.deepcopy(cpu_model).to("cupy")
    gpu_model.zero_grad()
    gpu_logits, gpu_loss, gpu_grads = forward_backward(gpu_model, "cupy")
    print(f"GPU: loss {gpu_loss:.12f}")
    print("max |logits GPU - CPU|:", np.abs(gpu_logits - cpu_logits).max())
    print("max |grad GPU - CPU|:  ", max(np.abs(gpu_grads[n] - cpu_grads[n]).max() for n in cpu_grads))
    np.testing.assert_allclose(gpu_logits, cpu_logits, rtol=1e-9, atol=1e-10)
    for n in cpu_grads:
        np.testing.assert_allclose(gpu_grads[n], cpu_grads[n], rtol=1e-8, atol=1e-10, err_msg=n)
    print("GPU and CPU agree")
else:
    print("(no GPU: the GPU side of the comparison is skipped)")

# %% [markdown]
# ## 4. Timing
#
# GPUs win by doing thousands of multiply-adds at once, so they shine on big
# arrays and lose on small ones, where launching a kernel (microseconds) and
# Python's own overhead dominate.  Two rules for honest GPU timing:
#
# * **warm up** first: the first call of each kernel compiles or loads it;
# * **synchronise**: GPU calls return before the work is done, so wait
#   (`cupy.cuda.Device().synchronize()`) before reading the clock.
#
# First a matrix product $n \times n$ by $n \times n$ ($2n^3$ flops), float32:

# %%
def timed(fn, backend, reps):
    sync = (lambda: cupy.cuda.Device().synchronize()) if backend == "cupy" else (lambda: None)
    fn()  # warm-up
    sync()
    start = time.perf_counter()
    for _ in range(reps):
        fn()
    sync()
    return (time.perf_counter() - start) / reps


sizes = [64, 128, 256] if FAST else [64, 128, 256, 512, 1024, 2048]
backends = ["numpy"] + (["cupy"] if GPU else [])
matmul_times = {b: [] for b in backends}
for n in sizes:
    for b in backends:
        a_ = mt.randn(n, n, backend=b)
        b_ = mt.randn(n, n, backend=b)
        matmul_times[b].append(timed(lambda: a_ @ b_, b, reps=3 if n >= 1024 else 10))
for b, ts in matmul_times.items():
    print(f"{b:6s}", "  ".join(f"n={n}: {t * 1e3:.2f} ms ({2 * n**3 / t / 1e9:.0f} GFLOP/s)"
                               for n, t in zip(sizes, ts)))

# %% [markdown]
# Then what training does: forward and backward of a Transformer layer stack
# on a batch of (batch, length, d_model) activations, growing the model width.

# %%
widths = [32, 64] if FAST else [64, 128, 256, 512]
layer_times = {b: [] for b in backends}
for d in widths:
    for b in backends:
        with mt.use_backend(b):
            mt.manual_seed(0)
            layer = nn.TransformerEncoderLayer(d, 4, 4 * d, dropout=0.0, batch_first=True)
            enc = nn.TransformerEncoder(layer, num_layers=2)
            x = mt.randn(16, 32, d, requires_grad=True)

        def step(enc=enc, x=x):
            enc.zero_grad()
            (enc(x) ** 2).mean().backward()

        layer_times[b].append(timed(step, b, reps=2 if FAST else 5))
for b, ts in layer_times.items():
    print(f"{b:6s}", "  ".join(f"d={d}: {t * 1e3:.1f} ms" for d, t in zip(widths, ts)))

fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
for b in backends:
    axes[0].loglog(sizes, matmul_times[b], "o-", label=b, base=2)
    axes[1].loglog(widths, layer_times[b], "o-", label=b, base=2)
axes[0].set_xlabel("n")
axes[0].set_ylabel("seconds")
axes[0].set_title("n x n matrix product (float32)")
axes[1].set_xlabel("d_model")
axes[1].set_ylabel("seconds per forward + backward")
axes[1].set_title("2-layer encoder, batch 16 x 32 tokens")
for ax in axes:
    ax.legend()
    ax.grid(alpha=0.3, which="both")
if not GPU:
    fig.suptitle("CPU only: no GPU on this machine")
save(fig, "timing")
assert all(t > 0 for ts in matmul_times.values() for t in ts)

# %% [markdown]
# On a GPU the matrix product typically runs one to two orders of magnitude
# faster than on a laptop CPU once $n$ reaches a few hundred; for tiny sizes
# the CPU can win.  The Transformer step gains less at small widths: many
# small ops, each paying Python and launch overhead -- the reason real
# frameworks fuse ops and why this engine has fused `softmax`, `layer_norm`,
# `cross_entropy` and attention (tutorials 04 and 05).
#
# ## Summary
#
# * Ops are written against `xp = get_array_module(x)`: NumPy and CuPy share
#   one code path.  Fast versions of a few ops (threads on the CPU, fused
#   kernels on the GPU) live in `backend/fast/`; `formulas_only()` switches
#   them off.
# * `mt.use_backend("cupy")`, `tensor.to(...)`, `module.to(...)` move work to
#   the GPU; mixing devices in one op is an error, never a silent copy.
# * Check the GPU against NumPy in float64; time it with warm-up and
#   synchronisation.
