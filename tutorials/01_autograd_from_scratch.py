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
# # 01 · Autograd from scratch
#
# Training a network means following the gradient of a loss with respect to
# millions of parameters.  Nobody derives those by hand: a **reverse-mode
# automatic differentiation** engine records the computation as a graph and
# walks it backwards, applying the chain rule once per operation.
#
# In this tutorial we
#
# 1. apply the chain rule by hand to a scalar function, then with a 25-line
#    `Value` class (the idea in miniature);
# 2. do the same with the engine's `mt.Tensor` and look at the graph it records;
# 3. see the order in which `backward` visits that graph;
# 4. watch gradients *accumulate* (a tensor used twice, two backward calls);
# 5. intercept gradients with hooks, switch recording off with `no_grad`;
# 6. write our own differentiable operation as an `mt.Function`.
#
# Set `MINITRANSFORMER_TUTORIAL_FAST=1` to run everything with smaller sizes.

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
from minitransformer.viz.notebook import pyplot, setup_tutorial

tutorial = setup_tutorial("01_autograd", here=HERE)  # the FAST switch, the output folder, seed 0
FAST, OUT, save = tutorial.fast, tutorial.out, tutorial.save
plt = pyplot()  # matplotlib; outside Jupyter it draws into files, no window

# %% [markdown]
# ## 1. The chain rule by hand
#
# Take one neuron with a squared-error loss:
#
# $$z = w x + b, \qquad y = \tanh(z), \qquad L = (y - t)^2 .$$
#
# The chain rule multiplies the local derivatives along the path from $L$
# back to each input:
#
# $$\frac{\partial L}{\partial w}
#   = \underbrace{2 (y - t)}_{\partial L / \partial y}\;
#     \underbrace{(1 - y^2)}_{\partial y / \partial z}\;
#     \underbrace{x}_{\partial z / \partial w},
#   \qquad
#   \frac{\partial L}{\partial b} = 2 (y - t)(1 - y^2) \cdot 1 .$$
#
# The factor $2(y-t)(1-y^2)$ is shared: reverse mode computes it **once** and
# hands it to every input of $z$.  That sharing is why one backward pass costs
# about as much as one forward pass, however many parameters there are.

# %%
x, w, b, t = 0.5, -1.2, 0.3, 0.8
z = w * x + b
y = np.tanh(z)
L = (y - t) ** 2
upstream = 2 * (y - t) * (1 - y**2)  # dL/dz, shared by w and b
dL_dw_hand, dL_db_hand = upstream * x, upstream * 1.0
print(f"L = {L:.6f}   dL/dw = {dL_dw_hand:.6f}   dL/db = {dL_db_hand:.6f}")

# %% [markdown]
# ## 2. The same, mechanised: a tiny `Value` class
#
# Each `Value` remembers the values it was computed from and a small function
# that pushes its gradient back to them (its *local* chain-rule step).
# `backward()` orders the nodes so that every node comes after everything it
# depends on, then calls those functions from the output back.  This warm-up
# class lives only in this notebook; the engine's real `Tensor` follows.

# %%
class Value:
    def __init__(self, data, parents=(), op=""):
        self.data, self.grad, self.parents, self.op = float(data), 0.0, parents, op
        self._backward = lambda: None

    def __add__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data + other.data, (self, other), "+")

        def _backward():  # d(a+b)/da = d(a+b)/db = 1
            self.grad += out.grad
            other.grad += out.grad
        out._backward = _backward
        return out

    def __mul__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data * other.data, (self, other), "*")

        def _backward():  # d(ab)/da = b, d(ab)/db = a
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad
        out._backward = _backward
        return out

    def tanh(self):
        out = Value(np.tanh(self.data), (self,), "tanh")

        def _backward():  # d tanh(a)/da = 1 - tanh(a)^2
            self.grad += (1 - out.data**2) * out.grad
        out._backward = _backward
        return out

    def backward(self):
        order, seen = [], set()

        def visit(v):  # depth-first: parents are listed before their children
            if id(v) not in seen:
                seen.add(id(v))
                for p in v.parents:
                    visit(p)
                order.append(v)
        visit(self)
        self.grad = 1.0
        for v in reversed(order):
            v._backward()


vw, vb = Value(w), Value(b)
vy = (vw * x + vb).tanh()
vL = (vy + (-t)) * (vy + (-t))
vL.backward()
print(f"Value: L = {vL.data:.6f}   dL/dw = {vw.grad:.6f}   dL/db = {vb.grad:.6f}")
assert np.isclose(vw.grad, dL_dw_hand) and np.isclose(vb.grad, dL_db_hand)

# %% [markdown]
# Notice `self.grad += ...`, not `=`: in `vL = (vy - t) * (vy - t)` the node
# `vy - t` is used **twice**, and its gradient is the *sum* of what both uses
# send back.  Gradient accumulation is not an optional feature; the chain
# rule for a variable with several consumers is a sum.
#
# ## 3. The engine's `Tensor`
#
# `mt.Tensor` does the same for whole arrays.  Leaves we want gradients for
# get `requires_grad=True`; after `backward()` their gradient sits in `.grad`.

# %%
tw = mt.tensor(w, requires_grad=True, dtype="float64")
tb = mt.tensor(b, requires_grad=True, dtype="float64")
tz = tw * x + tb
ty = tz.tanh()
tL = (ty - t) ** 2
tL.backward()
print(tL)
print(f"dL/dw = {tw.grad.item():.6f}   dL/db = {tb.grad.item():.6f}")
assert np.isclose(tw.grad.item(), dL_dw_hand) and np.isclose(tb.grad.item(), dL_db_hand)

# %% [markdown]
# ### The graph it recorded
#
# Every tensor produced by an op that needs a gradient keeps that op's
# **context** in `t._ctx`.  The context knows the op's name (`ctx.name`), its
# input tensors (`ctx.inputs`, `None` for plain numbers such as `t`) and
# whatever forward saved for backward.  Following `ctx.inputs` from the loss
# reaches every leaf: that chain of contexts *is* the graph.
#
# (After `backward()` the saved arrays are freed to return the memory, but
# the structure is still there to look at.)

# %%
def show_graph(tensor, depth=0, names=None):
    names = names or {}
    ctx = tensor._ctx
    label = names.get(id(tensor), "leaf" if ctx is None else ctx.name)
    print("    " * depth + f"{label}  shape={tensor.shape}")
    if ctx is not None:
        for inp in ctx.inputs:
            if inp is None:
                print("    " * (depth + 1) + "(a Python number: no gradient)")
            else:
                show_graph(inp, depth + 1, names)


show_graph(tL, names={id(tw): "w (leaf)", id(tb): "b (leaf)"})

# %% [markdown]
# ## 4. Topological order
#
# `backward` must not call an op's backward before *all* gradient
# contributions to that op's output have arrived.  It therefore lists the
# graph's tensors so that every tensor comes after the tensors it was computed
# from (a **topological order**), then walks that list from the end.
# `minitransformer.autograd.engine.topological_order` is the function it uses
# (an explicit stack instead of recursion, so a 10,000-op chain works).
#
# A graph with a shared node makes the point: `h` feeds both `p` and `q`.

# %%
from minitransformer.autograd.engine import topological_order

a = mt.tensor([1.0, 2.0, 3.0], requires_grad=True)
h = a.exp()
p = h * 2.0
q = h.tanh()
out = (p + q).sum()

labels = {id(a): "a", id(h): "h = exp(a)", id(p): "p = 2h", id(q): "q = tanh(h)", id(out): "out = sum(p + q)"}
order = topological_order(out)
for i, node in enumerate(order):
    op = node._ctx.name if node._ctx is not None else "leaf"
    print(f"{i}: {labels.get(id(node), '(p + q)'):18s} made by {op}")
position = {id(n): i for i, n in enumerate(order)}
assert position[id(h)] < position[id(p)] and position[id(h)] < position[id(q)] < position[id(out)]

# %% [markdown]
# A picture of the same graph: one box per tensor in topological order, an
# arrow from each op input to its output.  Backward runs right to left.

# %%
fig, ax = plt.subplots(figsize=(9, 2.6))
ax.set_xlim(-0.6, len(order) - 0.4)
ax.set_ylim(-1.1, 1.1)
boxes = {}
for i, n in enumerate(order):
    row = 0.6 if n is q else (-0.6 if n is p else 0.0)
    op = n._ctx.name if n._ctx is not None else "leaf"
    boxes[id(n)] = ax.text(i, row, f"{labels.get(id(n), 'p + q')}\n[{op}]", ha="center", va="center",
                           fontsize=8, bbox=dict(boxstyle="round", fc="lightblue" if n._ctx else "lightyellow"))
fig.canvas.draw()  # lay the boxes out, so arrows can end at their edges
for n in order:
    for inp in (n._ctx.inputs if n._ctx is not None else ()):
        if inp is not None and id(inp) in boxes:
            ax.annotate("", xy=(0, 0.5), xycoords=boxes[id(n)], xytext=(1, 0.5),
                        textcoords=boxes[id(inp)], arrowprops=dict(arrowstyle="->", color="gray"))
ax.axis("off")
ax.set_title("the recorded graph, in topological order (backward walks it right to left)")
save(fig, "graph")

# %% [markdown]
# Now backward: `h` receives a gradient from `p` (2) and from `q`
# ($1 - \tanh^2 h$), and passes their sum times $e^a$ on to `a`.

# %%
out.backward()
hv = np.exp(a.numpy().astype(np.float64))
expected = (2.0 + (1 - np.tanh(hv) ** 2)) * hv
print("a.grad   =", a.grad.numpy())
print("expected =", expected)
np.testing.assert_allclose(a.grad.numpy(), expected, rtol=1e-5)

# %% [markdown]
# ## 5. Gradients accumulate
#
# **A tensor used twice.**  For $y = x \cdot x$ the engine sees a `Mul` whose
# two inputs are the same tensor; each input slot sends back $x$, and the two
# are added: $\partial y / \partial x = 2x$.

# %%
x1 = mt.tensor([3.0], requires_grad=True)
(x1 * x1).sum().backward()
print("d(x*x)/dx at x=3:", x1.grad.item())
assert x1.grad.item() == 6.0

# %% [markdown]
# **Two backward calls.**  `.grad` is *added to*, never overwritten, so a
# second backward (here through a freshly built graph) doubles it.  That is
# exactly what gradient accumulation over micro-batches relies on (tutorial
# 08), and why a training loop calls `optimizer.zero_grad()` before each
# update.

# %%
x2 = mt.tensor([3.0], requires_grad=True)
for call in range(2):
    (x2 * x2).sum().backward()
    print(f"after backward call {call + 1}: x.grad = {x2.grad.item()}")
assert x2.grad.item() == 12.0
x2.zero_grad()  # what optimizer.zero_grad() does to every parameter
print("after zero_grad:", x2.grad)

# %% [markdown]
# Calling backward twice on the **same** graph needs `retain_graph=True` on
# the first call: otherwise the values saved by forward are freed and the
# engine says so.

# %%
x3 = mt.tensor([3.0], requires_grad=True)
y3 = (x3 * x3).sum()
y3.backward(retain_graph=True)
y3.backward()
print("same graph twice, retained:", x3.grad.item())
assert x3.grad.item() == 12.0
try:
    y3.backward()
except mt.GraphError as err:
    print("third call ->", type(err).__name__ + ":", err)

# %% [markdown]
# ## 6. Hooks
#
# `t.register_hook(fn)` calls `fn(grad)` when the gradient of `t` has been
# computed, *before* it travels further.  A hook can inspect the gradient
# (debugging, logging gradient norms) or return a replacement, e.g. to scale
# it.  `register_hook` returns a handle whose `remove()` takes the hook off.

# %%
x4 = mt.tensor([1.0, -2.0, 3.0], requires_grad=True)
mid = x4 * 2.0
seen = []
handle = mid.register_hook(lambda g: seen.append(g.numpy()))  # observe
mid.register_hook(lambda g: g * 0.5)                          # halve what flows on
(mid * mid).sum().backward()
print("gradient arriving at mid:", seen[0])   # d(sum mid^2)/d mid = 2 mid
print("x.grad = 0.5 * (2 mid) * d mid/dx:", x4.grad.numpy())
np.testing.assert_allclose(seen[0], 2 * mid.numpy())
np.testing.assert_allclose(x4.grad.numpy(), 0.5 * 2 * mid.numpy() * 2.0)
handle.remove()

# %% [markdown]
# ## 7. `no_grad`: compute without recording
#
# Evaluation, decoding and the optimizer's own updates need no backward.
# Inside `with mt.no_grad():` ops record nothing: no context, no saved
# arrays, less memory, less time.

# %%
x5 = mt.tensor([1.0, 2.0], requires_grad=True)
with mt.no_grad():
    y5 = x5 * 2.0 + 1.0
print("inside no_grad:  requires_grad =", y5.requires_grad, " _ctx =", y5._ctx)
z5 = x5 * 2.0
print("outside:         requires_grad =", z5.requires_grad, " _ctx.name =", z5._ctx.name)
assert not y5.requires_grad and y5._ctx is None and z5._ctx is not None

# %% [markdown]
# ## 8. Your own differentiable op: `mt.Function`
#
# Every op of the engine is a small class with a static `forward` and a static
# `backward`, both working on **raw arrays** (NumPy, or CuPy on a GPU) in an
# ordinary backward pass (tutorial 11 shows the same `backward` running on
# Tensors, for higher-order gradients).  `ctx.save_for_backward` keeps what
# backward needs.  `backward`
# receives $\partial L / \partial \text{out}$ and returns one gradient per
# positional input.
#
# Let us add the *softplus*, a smooth ReLU:
#
# $$\operatorname{softplus}(x) = \log(1 + e^x), \qquad
#   \frac{d}{dx}\operatorname{softplus}(x) = \frac{1}{1 + e^{-x}} = \sigma(x).$$
#
# `np.logaddexp(0, x)` computes $\log(e^0 + e^x)$ without overflowing for
# large $x$, and `get_array_module` picks NumPy or CuPy to match the input.

# %%
from minitransformer import get_array_module


class Softplus(mt.Function):
    @staticmethod
    def forward(ctx, x):
        xp = get_array_module(x)
        ctx.save_for_backward(x)
        return xp.logaddexp(0.0, x)

    @staticmethod
    def backward(ctx, grad):
        """d softplus(x)/dx = sigmoid(x); chain rule: multiply by the incoming grad."""
        (x,) = ctx.saved_tensors
        xp = get_array_module(x)
        return grad / (1.0 + xp.exp(-x))


n = 200 if FAST else 1000
xs_plot = mt.tensor(np.linspace(-5, 5, n), requires_grad=True)
sp = Softplus.apply(xs_plot)
sp.sum().backward()  # d(sum softplus(x_i))/dx_i = softplus'(x_i)
print("output made by:", sp._ctx.name)

fig, ax = plt.subplots(figsize=(6, 3.2))
ax.plot(xs_plot.numpy(), sp.numpy(), label="softplus(x)")
ax.plot(xs_plot.numpy(), xs_plot.grad.numpy(), label="its gradient from backward")
ax.plot(xs_plot.numpy(), np.maximum(xs_plot.numpy(), 0), "k:", lw=1, label="relu(x)")
ax.legend()
ax.grid(alpha=0.3)
ax.set_xlabel("x")
save(fig, "softplus")

# %% [markdown]
# Is the backward right?  `mt.gradcheck` compares it with finite differences
# (tutorial 02 explains how, and why it insists on float64).

# %%
x6 = mt.tensor(np.random.default_rng(0).normal(size=(3, 4)), requires_grad=True, dtype="float64")
assert mt.gradcheck(Softplus.apply, [x6])
print("Softplus passes gradcheck")

# %% [markdown]
# ## A picture of the graph
#
# `mt.viz.draw_graph(t)` draws the graph behind a tensor: one box per op
# (its Function, the shape and dtype it returned) and per leaf, one arrow
# per tensor flowing into an op.  It walks the same `t._ctx` -> `ctx.inputs`
# chain as backward, so draw **before** `backward()` (which frees it).  In a
# notebook the drawing shows inline; `.save("graph.svg")` or `.png` writes it.

# %%
a7 = mt.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
b7 = mt.tensor([0.5, -1.0], requires_grad=True)
h7 = (a7 @ a7 + b7).tanh()
drawing = mt.viz.draw_graph((h7 * h7).sum(), names={"a": a7, "b": b7})
print(len(drawing.nodes), "nodes,", len(drawing.edges), "edges:", [n["label"] for n in drawing.nodes])
drawing

# %% [markdown]
# ## Summary
#
# * Reverse mode = the chain rule applied from the output back, once per op,
#   with the shared upstream factor computed once.
# * The graph is the chain of contexts `t._ctx` → `ctx.inputs`; backward
#   visits it in reverse topological order.
# * Gradients **add up**: over the uses of a tensor and over backward calls.
# * Hooks see (and may change) gradients in flight; `no_grad` records nothing.
# * `mt.viz.draw_graph(t)` draws that graph (before backward).
# * A new op is a `mt.Function` with `forward`/`backward` on raw arrays,
#   checked with `mt.gradcheck`.
