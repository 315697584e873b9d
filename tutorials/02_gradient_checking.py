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
# # 02 · Gradient checking
#
# Every op of the engine has a hand-written backward.  One wrong sign, one
# missing factor, and training still *runs* -- it just learns worse, and
# nothing tells you why.  The cure is to test every backward against a
# definition of the derivative that cannot be wrong in the same way:
# **finite differences**.
#
# In this tutorial:
#
# 1. central differences and their two errors (truncation and rounding);
# 2. why the check runs in float64: the V-shaped error curve;
# 3. absolute vs relative error, and the tolerance `mt.gradcheck` uses;
# 4. what a wrong backward looks like in `mt.gradcheck`'s report;
# 5. property tests: let Hypothesis hunt for inputs that break a backward.

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

tutorial = setup_tutorial("02_gradient_checking", here=HERE)  # the FAST switch, the output folder, seed 0
FAST, OUT, save = tutorial.fast, tutorial.out, tutorial.save
plt = pyplot()  # matplotlib; outside Jupyter it draws into files, no window


# %% [markdown]
# ## 1. Central differences
#
# The derivative is a limit, $f'(x) = \lim_{\epsilon \to 0} (f(x+\epsilon) - f(x))/\epsilon$.
# With a small but finite $\epsilon$, Taylor's expansion
# $f(x \pm \epsilon) = f(x) \pm \epsilon f'(x) + \tfrac{\epsilon^2}{2} f''(x) \pm \tfrac{\epsilon^3}{6} f'''(x) + \dots$
# shows that the **central** difference cancels the even terms:
#
# $$\frac{f(x+\epsilon) - f(x-\epsilon)}{2\epsilon} = f'(x) + \frac{\epsilon^2}{6} f'''(x) + O(\epsilon^4)$$
#
# a *truncation* error of order $\epsilon^2$, against order $\epsilon$ for the
# one-sided difference.  For a function of many inputs we perturb one element
# at a time: $n$ elements cost $2n$ forward passes, so gradient checks use
# small tensors.

# %%
def central_difference(f, x, eps):
    return (f(x + eps) - f(x - eps)) / (2 * eps)


x0 = 0.7
exact = 1 - np.tanh(x0) ** 2
for eps in (1e-1, 1e-2, 1e-3):
    err = abs(central_difference(np.tanh, x0, eps) - exact)
    predicted = eps**2 / 6 * abs(exact * (-2 + 6 * np.tanh(x0) ** 2))  # eps^2/6 |tanh'''(x0)|
    print(f"eps = {eps:.0e}:  error = {err:.2e}   eps^2 |f'''| / 6 = {predicted:.2e}")

# %% [markdown]
# ## 2. Why float64: the V-shaped curve
#
# Shrinking $\epsilon$ shrinks the truncation error, but $f(x \pm \epsilon)$
# are each rounded to the dtype's precision $u$ (about $6 \cdot 10^{-8}$ in
# float32, $1.1 \cdot 10^{-16}$ in float64), and dividing their difference by
# $2\epsilon$ magnifies that rounding:
#
# $$\text{error}(\epsilon) \approx \underbrace{\frac{\epsilon^2}{6}|f'''|}_{\text{truncation}}
#   + \underbrace{\frac{u\,|f|}{\epsilon}}_{\text{rounding}}$$
#
# On a log-log plot: a line of slope $-1$ (rounding) meeting a line of slope
# $+2$ (truncation).  The best $\epsilon \sim u^{1/3}$ gives an error of about
# $u^{2/3}$: roughly $10^{-5}$ in float32 -- as large as the tolerance of a
# useful check, so real bugs and rounding noise look alike -- but $10^{-11}$ in
# float64.  That is why `mt.gradcheck` refuses float32 inputs.
#
# We evaluate $\tanh$ with the engine itself, in each dtype.

# %%
n_eps = 25 if FAST else 60
epsilons = np.logspace(-12, -0.5, n_eps)
errors = {}
for dtype in ("float32", "float64"):
    def f(v, dtype=dtype):
        return mt.tensor(v, dtype=dtype).tanh().item()
    xd = float(np.array(x0, dtype=dtype))  # x0 as the dtype stores it
    exact_d = 1 - np.tanh(xd) ** 2
    errs = []
    for eps in epsilons:
        plus, minus = mt.tensor(xd + eps, dtype=dtype), mt.tensor(xd - eps, dtype=dtype)
        step = (plus - minus).item()  # the step the dtype actually took (may be 0)
        diff = (plus.tanh() - minus.tanh()).item()
        errs.append(abs(diff / step - exact_d) if step != 0 else np.nan)
    errors[dtype] = np.array(errs)

fig, ax = plt.subplots(figsize=(6.5, 4))
for dtype, u in (("float32", np.finfo(np.float32).eps), ("float64", np.finfo(np.float64).eps)):
    line, = ax.loglog(epsilons, errors[dtype], "o-", ms=3, label=dtype)
    best = u ** (1 / 3)
    ax.axvline(best, color=line.get_color(), ls=":", lw=1)
third = abs(exact * (-2 + 6 * np.tanh(x0) ** 2))  # |f'''(x0)| for f = tanh
ax.loglog(epsilons, epsilons**2 / 6 * third, "k--", lw=0.8, label=r"$\epsilon^2 |f'''| / 6$ (truncation)")
ax.set_ylim(1e-14, 1)
ax.set_xlabel(r"$\epsilon$")
ax.set_ylabel("|central difference - exact|")
ax.set_title(r"finite-difference error of tanh'(0.7); dotted: $u^{1/3}$")
ax.legend()
ax.grid(alpha=0.3, which="both")
save(fig, "error_vs_eps")

best32, best64 = np.nanmin(errors["float32"]), np.nanmin(errors["float64"])
print(f"best error: float32 {best32:.1e}, float64 {best64:.1e}")
assert best64 < 1e-9 < 1e-6 < best32 * 100  # float64 is many orders of magnitude better

# %% [markdown]
# `mt.gradcheck` uses $\epsilon = 10^{-6}$ (near the float64 optimum) and
# tells you when you forget to switch dtype:

# %%
x32 = mt.randn(3, requires_grad=True)  # float32, the default
try:
    mt.gradcheck(lambda t: t.tanh(), [x32])
except ValueError as err:
    print("ValueError:", err)

# %% [markdown]
# Two ways to get float64: `dtype="float64"` on a factory, or
# `with mt.set_default_dtype("float64"):` for everything inside the block
# (layers and their parameters included).

# %%
with mt.set_default_dtype("float64"):
    x64 = mt.randn(3, 4, requires_grad=True)
    assert mt.gradcheck(lambda t: t.tanh(), [x64])
print("tanh passes in float64; x64.dtype =", x64.dtype)

# %% [markdown]
# ## 3. Absolute vs relative error
#
# Is a difference of $10^{-4}$ between analytic and numeric gradient a bug?
# If the gradient is $10^{6}$, no -- that is a relative error of $10^{-10}$.
# If the gradient is $10^{-5}$, yes.  A pure absolute tolerance fails
# correct large gradients; a pure relative one fails correct gradients near
# zero (where the numeric one is mostly noise).  `mt.gradcheck` combines them,
# as `numpy.allclose` does, element by element:
#
# $$|g_\text{analytic} - g_\text{numeric}| \le \text{atol} + \text{rtol}\cdot|g_\text{numeric}|,
#   \qquad \text{atol} = 10^{-5},\ \text{rtol} = 10^{-3}.$$

# %%
atol, rtol = 1e-5, 1e-3
cases = [  # (analytic, numeric)
    (1.0e6 + 1e-4, 1.0e6),      # large gradient, tiny relative error: fine
    (3.0e-5, 1.0e-5),           # small gradient, 200% off: a bug
    (1.0e-9, 0.0),              # both ~0: fine
]
print(f"{'analytic':>12} {'numeric':>12} {'abs err':>9} {'rel err':>9}  abs<1e-5  rel<1e-3  gradcheck's test")
for a, n in cases:
    abs_err = abs(a - n)
    rel_err = abs_err / max(abs(n), 1e-12)
    ok = abs_err <= atol + rtol * abs(n)
    print(f"{a:12.4g} {n:12.4g} {abs_err:9.1e} {rel_err:9.1e}  {abs_err < 1e-5!s:>8}  {rel_err < 1e-3!s:>8}  {ok!s:>9}")

# %% [markdown]
# A pure absolute test rejects the first case (correct), a pure relative test
# the third (correct too); only the combination gets all three right.
#
# ## 4. What a wrong backward looks like
#
# Here is the sigmoid $\sigma(x) = 1/(1+e^{-x})$, whose derivative is
# $\sigma'(x) = \sigma(x)(1 - \sigma(x))$ -- written with a classic slip: the
# backward forgets the factor $(1 - \sigma)$.

# %%
from minitransformer import get_array_module


class BrokenSigmoid(mt.Function):
    @staticmethod
    def forward(ctx, x):
        xp = get_array_module(x)
        y = 1.0 / (1.0 + xp.exp(-x))
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        return grad * y  # BUG: should be grad * y * (1 - y)


with mt.set_default_dtype("float64"):
    xs = mt.randn(2, 3, requires_grad=True)
try:
    mt.gradcheck(BrokenSigmoid.apply, [xs], name="BrokenSigmoid")
    raise RuntimeError("gradcheck should have failed")
except mt.GradcheckError as err:
    print("GradcheckError:", err)

# %% [markdown]
# The message names the input, the element where the check fails worst, both
# values and both errors.  `gradcheck_report` returns the same numbers for
# every input, to inspect or plot.  The analytic/numeric ratio is telling:
# here it is $1/(1-\sigma(x))$ at every element, the missing factor.

# %%
from minitransformer.gradcheck import gradcheck_report

report = gradcheck_report(BrokenSigmoid.apply, [xs])
r = report.inputs[0]
print(f"passed={report.passed}  max abs error={r.max_abs_error:.3g}  worst element {r.worst_index}: "
      f"analytic {r.analytic:.4f} vs numeric {r.numeric:.4f}")
y_worst = 1 / (1 + np.exp(-xs.numpy()[r.worst_index]))
print(f"analytic / numeric = {r.analytic / r.numeric:.4f};  1 / (1 - sigmoid) = {1 / (1 - y_worst):.4f}")
assert not report.passed
np.testing.assert_allclose(r.analytic / r.numeric, 1 / (1 - y_worst), rtol=1e-5)

# %% [markdown]
# The fixed version passes, and agrees with the engine's own `sigmoid`:

# %%
class Sigmoid(BrokenSigmoid):
    @staticmethod
    def backward(ctx, grad):
        """d sigma/dx = sigma (1 - sigma)."""
        (y,) = ctx.saved_tensors
        return grad * y * (1.0 - y)


assert mt.gradcheck(Sigmoid.apply, [xs])
np.testing.assert_allclose(Sigmoid.apply(xs).numpy(), xs.sigmoid().numpy())
print("Sigmoid passes gradcheck")

# %% [markdown]
# Some mistakes are caught even earlier, by the engine itself: a backward must
# return a gradient of its input's shape.  Forgetting to sum over a broadcast
# axis is the usual culprit:

# %%
class BrokenAddBias(mt.Function):
    @staticmethod
    def forward(ctx, x, b):
        return x + b  # b (n,) broadcasts over the rows of x (m, n)

    @staticmethod
    def backward(ctx, grad):
        return grad, grad  # BUG: b's gradient must be grad.sum(axis=0)


with mt.set_default_dtype("float64"):
    xb, bb = mt.randn(4, 3, requires_grad=True), mt.randn(3, requires_grad=True)
try:
    BrokenAddBias.apply(xb, bb).sum().backward()
except ValueError as err:
    print("ValueError:", err)

# %% [markdown]
# ## 5. Property tests with Hypothesis
#
# A gradient check on one hand-picked input proves little: a backward may be
# right for square matrices and wrong for others, right away from zero and
# wrong at it.  **Property-based testing** states a fact for *all* inputs and
# lets [Hypothesis](https://hypothesis.readthedocs.io) search for a
# counterexample -- then *shrink* it to the smallest one it can find.
#
# `minitransformer.testing` provides strategies for the engine: `tensors()`
# (leaf tensors of drawn shapes and values, float64 by default), `shapes()`,
# `broadcastable_shapes()`, `matmul_shapes()`, and `op_inputs(name)`, which
# draws valid cases of any registered op.
#
# A test is a function decorated with `@given`; pytest would collect it, but
# we can also just call it: Hypothesis runs it on many drawn inputs.

# %%
from hypothesis import given, settings

from minitransformer.testing import op_inputs, shapes, tensors

N_EXAMPLES = 10 if FAST else 50
quick = settings(max_examples=N_EXAMPLES, deadline=None, database=None)


@quick
@given(tensors(shape=shapes(min_dims=1, max_dims=3, max_side=4)))
def test_sigmoid_gradient(x):
    assert mt.gradcheck(Sigmoid.apply, [x])


test_sigmoid_gradient()
print(f"Sigmoid: gradcheck held on {N_EXAMPLES} drawn tensors")

# %% [markdown]
# The registry of ops (`minitransformer.testing.registry`) knows each op's valid
# inputs, so one line tests e.g. matrix products of every shape combination,
# including batched and vector cases, against NumPy and finite differences:

# %%
@quick
@given(op_inputs("MatMul", max_dims=3, max_side=3))
def test_matmul(sample):
    out = sample.call(*sample.tensors())
    np.testing.assert_allclose(out.numpy(), sample.expected(), rtol=1e-12)
    assert mt.gradcheck(sample.call, sample.tensors())


test_matmul()
print("MatMul: forward and gradient held on", N_EXAMPLES, "drawn cases")

# %% [markdown]
# Now a subtler bug, one a single test input can easily miss: an absolute
# value whose backward uses the sign of the *output* (always $\ge 0$) instead
# of the input.  It is correct for every positive input.  Hypothesis finds a
# negative one and shrinks the tensor to a single element:

# %%
class BrokenAbs(mt.Function):
    @staticmethod
    def forward(ctx, x):
        xp = get_array_module(x)
        y = xp.abs(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        xp = get_array_module(y)
        return grad * xp.sign(y)  # BUG: sign of the output, not of the input


found = []


@settings(max_examples=200, deadline=None, database=None)
@given(tensors(shape=shapes(min_dims=1, max_dims=2, max_side=4), domain="away_from_kinks"))
def test_abs_gradient(x):
    try:
        mt.gradcheck(BrokenAbs.apply, [x], name="BrokenAbs")
    except mt.GradcheckError:
        found.append(x.numpy())
        raise


try:
    test_abs_gradient()
    raise RuntimeError("Hypothesis should have found the bug")
except mt.GradcheckError as err:
    print("Hypothesis found a counterexample; the last (shrunk) one is", found[-1])
    print(err)
assert (found[-1] < 0).any()

# %% [markdown]
# ## Summary
#
# * Central differences have error $O(\epsilon^2)$ from truncation plus
#   $O(u/\epsilon)$ from rounding; only float64 makes their sum small enough
#   to judge a backward by.
# * Compare with $|a - n| \le \text{atol} + \text{rtol}|n|$: relative for large
#   gradients, absolute near zero.
# * `mt.gradcheck` raises `GradcheckError` naming the input, element and
#   values; `gradcheck_report` gives the numbers.
# * Property tests (`hypothesis` + `minitransformer.testing`) check a backward
#   on hundreds of inputs and shrink a failure to a minimal case.
