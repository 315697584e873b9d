"""Optimizer mechanics: zero_grad, skipped parameters, in-place float32 updates, closures,
and each optimizer really minimising a convex problem and training a tiny MLP."""

import numpy as np
import pytest

import minitransformer as mt
from minitransformer.backend import is_array, to_host
from minitransformer import optim
from minitransformer.nn import Parameter

ALL = ["SGD", "Adam", "AdamW", "Adagrad", "RMSprop", "LAMB"]
# options that exercise every state array each rule has
FULL_OPTIONS = {
    "SGD": dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3),
    "Adam": dict(lr=0.01, amsgrad=True, weight_decay=1e-3),
    "AdamW": dict(lr=0.01, amsgrad=True),
    "Adagrad": dict(lr=0.1, lr_decay=1e-3, weight_decay=1e-3),
    "RMSprop": dict(lr=0.01, momentum=0.5, centered=True, weight_decay=1e-3),
    "LAMB": dict(lr=0.01, weight_decay=1e-2),
}


def quadratic_step(opt, params):
    opt.zero_grad()
    loss = sum(((p - 1.0) * (p - 1.0)).sum() for p in params)
    loss.backward()
    opt.step()
    return loss.item()


def test_zero_grad_sets_none_or_zeroes_in_place():
    p = Parameter(np.ones(3))
    opt = optim.SGD([p], lr=0.1)
    (p * p).sum().backward()
    grad_array = p.grad.data
    opt.zero_grad(set_to_none=False)
    assert p.grad.data is grad_array and np.array_equal(to_host(grad_array), np.zeros(3))
    opt.zero_grad()
    assert p.grad is None


@pytest.mark.parametrize("name", ALL)
def test_parameters_without_grad_are_skipped(name):
    a, b = Parameter(np.ones(3)), Parameter(np.full(2, 2.0))
    opt = getattr(optim, name)([a, b], **FULL_OPTIONS[name])
    (a * a).sum().backward()                  # b gets no gradient
    opt.step()
    assert np.array_equal(b.numpy(), np.full(2, 2.0, dtype=np.float32))
    assert b not in opt.state and a in opt.state
    assert not np.array_equal(a.numpy(), np.ones(3, dtype=np.float32))


@pytest.mark.parametrize("name", ALL)
def test_updates_in_place_keep_float32_and_build_no_graph(name):
    p = Parameter(np.linspace(-1, 1, 6).reshape(2, 3))
    assert p.dtype == np.float32
    opt = getattr(optim, name)([p], **FULL_OPTIONS[name])
    data = p.data
    quadratic_step(opt, [p])
    state_arrays = {k: v for k, v in opt.state[p].items() if is_array(v)}
    assert state_arrays, "every rule here keeps some per-parameter array"
    for _ in range(3):
        quadratic_step(opt, [p])
    assert p.data is data, "the update must write into the existing array"
    assert p.dtype == np.float32 and p.is_leaf and p._ctx is None
    for k, v in opt.state[p].items():
        if isinstance(v, np.ndarray):
            assert v is state_arrays[k], f"state {k!r} was reallocated"
            assert v.dtype == np.float32, f"state {k!r} was upcast to {v.dtype}"
    assert p.grad.dtype == np.float32


def test_step_does_not_modify_the_gradient():
    p = Parameter(np.ones(4))
    opt = optim.SGD([p], lr=0.1, momentum=0.9, weight_decay=0.5)
    (p * 3.0).sum().backward()
    opt.step()
    opt.step()                                # second step: momentum buffer path
    np.testing.assert_array_equal(p.grad.numpy(), np.full(4, 3.0, dtype=np.float32))


def test_closure_is_evaluated_and_its_loss_returned():
    p = Parameter(np.array([3.0]))
    opt = optim.SGD([p], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    loss = opt.step(closure)
    assert loss.item() == pytest.approx(9.0)
    assert p.numpy()[0] == pytest.approx(3.0 - 0.25 * 6.0)


def test_add_param_group_fills_defaults_and_lr_is_live():
    a, b = Parameter(np.zeros(2)), Parameter(np.zeros(2))
    opt = optim.Adam([a], lr=0.01, betas=(0.8, 0.9))
    opt.add_param_group({"params": [b], "lr": 0.5})
    g = opt.param_groups[1]
    assert g["lr"] == 0.5 and g["betas"] == (0.8, 0.9) and g["eps"] == 1e-8 and g["params"] == [b]
    opt.param_groups[0]["lr"] = 0.0           # a scheduler does exactly this
    quadratic_step(opt, [a, b])
    assert np.array_equal(a.numpy(), np.zeros(2, dtype=np.float32))
    np.testing.assert_allclose(b.numpy(), [0.5, 0.5])   # Adam's first step has length lr


@pytest.mark.parametrize("name", ALL)
def test_minimises_a_convex_quadratic(name):
    """f(w) = 1/2 w^T H w - c^T w with H positive definite: the minimum is H^{-1} c."""
    H = np.array([[3.0, 0.5], [0.5, 1.0]])
    c = np.array([1.0, -2.0])
    w_star = np.linalg.solve(H, c)
    f = lambda w: 0.5 * w @ H @ w - c @ w  # noqa: E731
    lr = {"SGD": 0.1, "Adam": 0.05, "AdamW": 0.05, "Adagrad": 0.5, "RMSprop": 0.03,
          # LAMB's step always has length lr * ||w||: it hovers within that of the minimum
          "LAMB": 0.01}[name]
    kw = {"weight_decay": 0.0} if name == "AdamW" else {}
    with mt.set_default_dtype("float64"):
        w = Parameter(np.array([3.0, -1.0]))
        opt = getattr(optim, name)([w], lr=lr, **kw)
        Ht, ct = mt.tensor(H), mt.tensor(c)
        for _ in range(400):
            opt.zero_grad()
            (0.5 * (w @ Ht @ w) - (ct * w).sum()).backward()
            opt.step()
    gap0, gap = f(np.array([3.0, -1.0])) - f(w_star), f(w.numpy()) - f(w_star)
    assert gap < 1e-3 * gap0, f"{name}: f - f* went from {gap0:.3g} only to {gap:.3g}"


@pytest.mark.parametrize("name", ALL)
def test_trains_a_tiny_mlp(name):
    """A 2-16-1 tanh MLP fits y = sin(2 x0) + x1^2 on 64 points (float32, mt ops only)."""
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, size=(64, 2)).astype(np.float32)
    y = (np.sin(2 * x[:, :1]) + x[:, 1:] ** 2).astype(np.float32)
    xt, yt = mt.tensor(x), mt.tensor(y)
    params = [Parameter(rng.normal(size=(2, 16)) * 0.7), Parameter(np.zeros(16)),
              Parameter(rng.normal(size=(16, 1)) * 0.3), Parameter(np.zeros(1))]
    w1, b1, w2, b2 = params
    lr = {"SGD": 0.1, "Adam": 0.02, "AdamW": 0.02, "Adagrad": 0.1, "RMSprop": 0.005, "LAMB": 0.02}[name]
    momentum = {"momentum": 0.9} if name == "SGD" else {}
    opt = getattr(optim, name)(params, lr=lr, **momentum)

    def loss_fn():
        err = (xt @ w1 + b1).tanh() @ w2 + b2 - yt
        return (err * err).mean()

    first = loss_fn().item()
    for _ in range(200):
        opt.zero_grad()
        loss = loss_fn()
        loss.backward()
        opt.step()
    last = loss_fn().item()
    assert last < 0.1 * first, f"{name}: loss {first:.4f} -> {last:.4f}"
    assert all(p.dtype == np.float32 for p in params)


def _run_on(backend, name, steps, weights, state=None, targets=None):
    """A few float32 steps toward cos(targets) on ``backend``; returns (params as NumPy, optimizer)."""
    params = [Parameter(mt.tensor(w, backend=backend)) for w in weights]
    opt = getattr(optim, name)(params, **FULL_OPTIONS[name])
    if state is not None:
        opt.load_state_dict(state)
    targets = [mt.tensor(np.cos(t), backend=backend) for t in (targets or weights)]
    for _ in range(steps):
        opt.zero_grad()
        loss = sum(((p - t) * (p - t)).sum() for p, t in zip(params, targets))
        loss.backward()
        optim.clip_grad_norm_(params, max_norm=1.0)
        opt.step()
    return [p.numpy() for p in params], opt


@pytest.mark.parametrize("name", ALL)
def test_same_result_on_every_backend_and_state_dict_is_numpy(backend, name):
    """On CuPy (GPU runs only) the update, clipping and checkpoints behave as on NumPy."""
    rng = np.random.default_rng(3)
    weights = [rng.normal(size=(3, 4)), rng.normal(size=(4,))]
    want, _ = _run_on("numpy", name, 6, weights)
    got, opt = _run_on(backend, name, 3, weights)
    state = opt.state_dict()
    arrays = [v for s in state["state"].values() for v in s.values() if hasattr(v, "shape")]
    assert arrays and all(type(a) is np.ndarray and a.dtype == np.float32 for a in arrays)
    got, opt2 = _run_on(backend, name, 3, got, state=state, targets=weights)   # resumed
    assert all(type(v) is not np.ndarray or backend == "numpy"
               for s in opt2.state.values() for v in s.values() if hasattr(v, "shape"))
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)
