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
# # 11 · Higher-order gradients
#
# `loss.backward()` turns a graph into numbers: the gradient arrives in
# `.grad` as plain values, with no memory of how it was computed.  But the
# backward pass is itself a computation -- products and sums of the inputs
# and of the incoming gradient -- and if we *record* it as we record the
# forward pass, the gradient becomes a Tensor with a graph of its own, which
# can be differentiated again.  That is `create_graph=True`.
#
# In this tutorial:
#
# 1. how double backward works, on $y = x^3$;
# 2. derivatives of every order of tanh and sin, plotted (sin written as your own `mt.Function`);
# 3. Newton's method, with $f''$ from the engine;
# 4. a Hessian-vector product, checked against finite differences;
# 5. a gradient-norm penalty on a small attention model: a loss that contains a gradient.

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
from minitransformer.viz.notebook import pyplot, setup_tutorial

tutorial = setup_tutorial("11_higher_order_gradients", here=HERE)  # the FAST switch, the output folder, seed 0
FAST, OUT, save = tutorial.fast, tutorial.out, tutorial.save
plt = pyplot()  # matplotlib; outside Jupyter it draws into files, no window
mt.set_default_dtype("float64")  # derivatives checked to many digits


# %% [markdown]
# ## 1. The backward pass of the backward pass
#
# For $y = x \cdot x \cdot x$ the forward graph is two `Mul` ops.  The
# backward pass of `Mul` computes $\bar a = \bar c\, b$ and $\bar b = \bar c\, a$
# ($\bar v$ is the gradient arriving at $v$).  With `create_graph=True` the
# engine runs each op's *same* `backward` on Tensors: `grad` is a Tensor, and
# `ctx.saved_tensors` gives back the op's input and output Tensors, so each
# of those products is recorded too: the result
# $\bar x = 3x^2$ is a Tensor whose graph leads back to $x$.  Its backward
# pass is then an ordinary backward pass -- through the ops that the first
# backward pass created -- and gives $6x$.
#
# `mt.grad(outputs, inputs)` returns the gradients instead of adding them to
# `.grad`, as `torch.autograd.grad` does.

# %%
x = mt.tensor(2.0, requires_grad=True)
y = x * x * x
(dy,) = mt.grad(y, x, create_graph=True)      # 3 x^2 = 12, with a graph
print("dy/dx   =", dy.item(), " recorded by", dy._ctx.name)
(d2y,) = mt.grad(dy, x, create_graph=True)    # 6 x = 12
(d3y,) = mt.grad(d2y, x)                      # 6
print("d2y/dx2 =", d2y.item(), " d3y/dx3 =", d3y.item())
assert (dy.item(), d2y.item(), d3y.item()) == (12.0, 12.0, 6.0)

# %% [markdown]
# `loss.backward(create_graph=True)` does the same into `.grad`.  The default
# pass (`create_graph=False`) runs the same `backward` on raw arrays, and the
# backend's fast versions of the hot ops (threads, `out=` buffers) where there
# are any, so training pays nothing for this feature.  For every registered op
# the test suite checks that the two passes give the same gradient and that
# the recorded backward is itself differentiated correctly, with
# `mt.gradgradcheck` (finite differences of the analytic gradient, the
# second-order cousin of tutorial 2's `mt.gradcheck`).

# %%
w = mt.tensor([0.3, -1.2, 0.8], requires_grad=True)
(w.tanh() * w).sum().backward(create_graph=True)
print("w.grad =", w.grad, "(a Tensor with a graph)")
assert mt.gradgradcheck(lambda t: (t.tanh() * t).sum(), [mt.tensor([0.3, -1.2, 0.8], requires_grad=True)])

# %% [markdown]
# ## 2. Derivatives of every order: tanh and sin
#
# For an element-wise $f$, $\partial/\partial x_i \sum_j f(x_j) = f'(x_i)$: one
# `mt.grad` of the sum gives $f'$ at every point of a grid at once, and
# repeating it (each time with `create_graph=True`) gives $f''$, $f'''$, ...
#
# The engine has no `sin`, which makes it a good exercise.  An `mt.Function`
# whose `backward` is written with `xp = get_array_module(grad)` needs
# nothing more for higher orders: on Tensors `xp` is a namespace of NumPy's
# names on Tensors (`exp`, `tanh`, `where`, ...), so the derivative is
# recorded.  But that namespace has no `cos`: the derivative of our `Sin` is
# *another op* of ours, `Cos`.  An op whose derivative is another op adds
# `backward_graph(ctx, grad)`, which the graph pass calls instead, on Tensors
# (`ctx.inputs` are the input Tensors); the engine's indexing ops do the same,
# since picking and scattering are each other's derivative.
# $\sin' = \cos$ and $\cos' = -\sin$, so two small Functions whose
# `backward_graph` apply each other give derivatives of every order.

# %%
class Sin(mt.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.sin(x)

    @staticmethod
    def backward(ctx, grad):
        """d sin(x)/dx = cos(x)."""
        (x,) = ctx.saved_tensors
        return grad * np.cos(x)

    @staticmethod
    def backward_graph(ctx, grad):
        return grad * Cos.apply(ctx.inputs[0])


class Cos(mt.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.cos(x)

    @staticmethod
    def backward(ctx, grad):
        """d cos(x)/dx = -sin(x)."""
        (x,) = ctx.saved_tensors
        return -grad * np.sin(x)

    @staticmethod
    def backward_graph(ctx, grad):
        return -grad * Sin.apply(ctx.inputs[0])


def derivatives(f, xs, order):
    """[f, f', ..., f^(order)] at the points xs, each by one more backward pass."""
    x = mt.tensor(xs, requires_grad=True)
    current, values = f(x), []
    for k in range(order + 1):
        values.append(current.numpy())
        if k < order:
            (current,) = mt.grad(current.sum(), x, create_graph=True)
    return values


grid = np.linspace(-4, 4, 101 if FAST else 401)
order = 4
tanh_ds = derivatives(lambda t: t.tanh(), grid, order)
sin_ds = derivatives(Sin.apply, grid, order)

# the closed forms: sin^(k)(x) = sin(x + k pi/2); t' = 1 - t^2, t'' = -2 t t', t''' = (6 t^2 - 2) t'
for k, d in enumerate(sin_ds):
    np.testing.assert_allclose(d, np.sin(grid + k * np.pi / 2), atol=1e-12)
t = np.tanh(grid)
np.testing.assert_allclose(tanh_ds[1], 1 - t ** 2, atol=1e-12)
np.testing.assert_allclose(tanh_ds[2], -2 * t * (1 - t ** 2), atol=1e-12)
np.testing.assert_allclose(tanh_ds[3], (6 * t ** 2 - 2) * (1 - t ** 2), atol=1e-12)
assert mt.gradgradcheck(Sin.apply, [mt.tensor([0.1, 1.0, -2.0], requires_grad=True)])

fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
for ax, ds, name in zip(axes, (tanh_ds, sin_ds), ("tanh", "sin")):
    for k, d in enumerate(ds):
        ax.plot(grid, d, label=name + "'" * k if k < 4 else f"{name}$^{{({k})}}$")
    ax.set_title(f"{name} and its first {order} derivatives (by repeated mt.grad)")
    ax.set_xlabel("x")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
save(fig, "derivatives_tanh_sin")

# %% [markdown]
# ## 3. Newton's method
#
# To find a minimum of $f(x) = x^4 - 3x^2 + x$, Newton's method jumps to the
# minimum of the local quadratic model $f(x) + f'(x)\,d + \tfrac12 f''(x)\,d^2$:
# $x \leftarrow x - f'(x) / f''(x)$.  Both derivatives come from the engine.
# Near the minimum the number of correct digits doubles at every step
# (quadratic convergence), where gradient descent gains a constant factor.

# %%
def f(x):
    return x ** 4 - 3 * x ** 2 + x


def f_prime_and_second(value):
    x = mt.tensor(value, requires_grad=True)
    (d1,) = mt.grad(f(x), x, create_graph=True)
    (d2,) = mt.grad(d1, x)
    return d1.item(), d2.item()


newton = [2.0]
for _ in range(8):
    d1, d2 = f_prime_and_second(newton[-1])
    newton.append(newton[-1] - d1 / d2)

descent = [2.0]
for _ in range(8):
    d1, _ = f_prime_and_second(descent[-1])
    descent.append(descent[-1] - 0.02 * d1)

x_star = newton[-1]
slope, curvature = f_prime_and_second(x_star)
print(f"Newton: x* = {x_star:.12f}, f'(x*) = {slope:.2e}, f''(x*) = {curvature:.3f} (> 0: a minimum)")
assert abs(slope) < 1e-12 and curvature > 0
errors_newton = [abs(v - x_star) + 1e-17 for v in newton]
errors_descent = [abs(v - x_star) + 1e-17 for v in descent]
assert errors_newton[6] < 1e-10 < errors_descent[6]  # Newton: 14 digits in 6 steps

fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
xs = np.linspace(-2.2, 2.2, 200)
axes[0].plot(xs, xs ** 4 - 3 * xs ** 2 + xs, color="gray")
axes[0].plot(newton, [f(v) for v in newton], "o-", label="Newton")
axes[0].plot(descent, [f(v) for v in descent], "s--", ms=3, label="gradient descent, lr 0.02")
axes[0].set_title("$f(x) = x^4 - 3x^2 + x$ and the iterates")
axes[0].legend()
axes[1].semilogy(errors_newton, "o-", label="Newton")
axes[1].semilogy(errors_descent, "s--", label="gradient descent")
axes[1].set_xlabel("step")
axes[1].set_title("$|x_k - x^*|$: quadratic vs linear convergence")
axes[1].legend()
save(fig, "newton")

# %% [markdown]
# ## 4. A Hessian-vector product
#
# The Hessian $H$ of a function of $n$ parameters has $n^2$ entries, too many
# to form for a network.  But $Hv$ for one vector $v$ costs only about two
# backward passes: it is the gradient of the scalar $g(w)^\top v$, where
# $g = \nabla f$ was computed with `create_graph=True`:
#
# $$H v = \nabla_w \big(\nabla_w f(w)^\top v\big).$$
#
# (`mt.grad(g, w, grad_outputs=v)` computes exactly that vector-Jacobian
# product.)  Finite differences of the gradient check it:
# $Hv \approx (g(w + \epsilon v) - g(w - \epsilon v)) / 2\epsilon$.

# %%
rng = np.random.default_rng(0)
A = mt.tensor(rng.standard_normal((5, 4)))
b = mt.tensor(rng.standard_normal(5))


def loss_fn(w):
    """A small least-squares-through-tanh loss of the weights w (4,)."""
    return (((A @ w).tanh() - b) ** 2).sum()


def gradient(w_values):
    w = mt.tensor(w_values, requires_grad=True)
    return mt.grad(loss_fn(w), w)[0].numpy()


w = mt.tensor(rng.standard_normal(4), requires_grad=True)
v = mt.tensor(rng.standard_normal(4))
(g,) = mt.grad(loss_fn(w), w, create_graph=True)
(hv,) = mt.grad(g, w, grad_outputs=v)
eps = 1e-5
hv_numeric = (gradient(w.numpy() + eps * v.numpy()) - gradient(w.numpy() - eps * v.numpy())) / (2 * eps)
print("H v (engine)             =", np.round(hv.numpy(), 6))
print("H v (finite differences) =", np.round(hv_numeric, 6))
np.testing.assert_allclose(hv.numpy(), hv_numeric, rtol=1e-6, atol=1e-8)

# the whole Hessian, one column H e_i per product: symmetric, as a Hessian must be
(g,) = mt.grad(loss_fn(w), w, create_graph=True)
H = np.stack([mt.grad(g, w, grad_outputs=mt.tensor(np.eye(4)[i]), retain_graph=True)[0].numpy() for i in range(4)])
np.testing.assert_allclose(H, H.T, atol=1e-12)
np.testing.assert_allclose(H @ v.numpy(), hv.numpy(), atol=1e-12)
print("eigenvalues of H:", np.round(np.linalg.eigvalsh(H), 4))

# %% [markdown]
# ## 5. A loss that contains a gradient: the gradient-norm penalty
#
# Penalising the size of a gradient is how *double backpropagation*
# (Drucker & LeCun 1992) makes a model insensitive to small changes of its
# input, how WGAN-GP keeps a critic 1-Lipschitz, and how several papers
# regularise the sharpness of a Transformer's loss.  Here: a one-layer
# self-attention classifier on random sequences of vectors, trained with
#
# $$L = \text{cross-entropy} + \lambda \,\lVert \partial\, \text{cross-entropy} / \partial X \rVert^2,$$
#
# the squared gradient with respect to the input embeddings $X$.  Its
# gradient with respect to the weights needs the second derivatives of every
# op on the way: linear, attention (matmul, masked softmax), mean, cross-entropy.

# %%
mt.manual_seed(0)
batch, length, dim, classes = 16, 6, 8, 3
data_rng = np.random.default_rng(1)
X = mt.tensor(data_rng.standard_normal((batch, length, dim)), requires_grad=True)
labels = data_rng.integers(0, classes, size=batch)


def make_model():
    mt.manual_seed(0)
    return mt.nn.MultiheadAttention(dim, num_heads=2, batch_first=True), mt.nn.Linear(dim, classes)


def task_loss(attention, head, x):
    h, _ = attention(x, x, x)  # (output, weights or None)
    return F.cross_entropy(head(h.mean(axis=1)), labels)


def penalised_loss(attention, head, x, lam):
    loss = task_loss(attention, head, x)
    (gx,) = mt.grad(loss, x, create_graph=True)
    return loss, (gx * gx).sum(), loss + lam * (gx * gx).sum()


# first, check d(penalty)/d(weights) against finite differences on the head's weight
attention, head = make_model()


@mt.enable_grad()  # gradcheck's numeric pass runs under no_grad; the inner mt.grad needs a graph
def penalty_of(weight):
    h, _ = attention(X, X, X)
    loss = F.cross_entropy(F.linear(h.mean(axis=1), weight, head.bias), labels)
    (gx,) = mt.grad(loss, X, create_graph=True)
    return (gx * gx).sum()


assert mt.gradcheck(penalty_of, [head.weight])

steps, lam = (30 if FAST else 150), 10.0
curves = {}
for name, weight in (("cross-entropy only", 0.0), (f"with penalty, lambda = {lam}", lam)):
    attention, head = make_model()
    params = list(attention.parameters()) + list(head.parameters())
    optimizer = mt.optim.Adam(params, lr=0.01)
    history = []
    for _ in range(steps):
        loss, penalty, total = penalised_loss(attention, head, X, weight)
        optimizer.zero_grad()
        total.backward()
        optimizer.step()
        history.append((loss.item(), penalty.item()))
    curves[name] = np.array(history)
    print(f"{name:28s}: final cross-entropy {history[-1][0]:.3f}, input-gradient norm^2 {history[-1][1]:.2e}")

plain, penalised = curves.values()
assert penalised[-1, 1] < plain[-1, 1]  # the penalty made the loss flatter in the input

fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
for name, c in curves.items():
    axes[0].plot(c[:, 0], label=name)
    axes[1].semilogy(c[:, 1], label=name)
axes[0].set_title("cross-entropy")
axes[1].set_title(r"$\|\partial\, \mathrm{CE} / \partial X\|^2$")
for ax in axes:
    ax.set_xlabel("step")
    ax.legend()
save(fig, "gradient_penalty")

# %% [markdown]
# ## Summary
#
# * `backward(create_graph=True)` and `mt.grad(..., create_graph=True)` record
#   the backward pass, so gradients are Tensors that can be differentiated again;
#   `retain_graph` defaults to `create_graph`.
# * Each op's `backward` is written once and runs on arrays (training, with
#   the backend's fast versions) and on Tensors (`create_graph=True`); only an
#   op whose derivative is another op adds a `backward_graph`.  Tests check
#   that the two passes agree, and `mt.gradgradcheck` checks the second
#   derivatives of every registered op.
# * With them: derivatives of every order, Newton's method, Hessian-vector
#   products in two backward passes, and losses that contain gradients.
