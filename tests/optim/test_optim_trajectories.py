"""Each optimizer's trajectory on a fixed float64 least-squares problem equals
(a) the update rule transcribed in NumPy below and (b) torch.optim's trajectory."""

import numpy as np
import pytest

import minitransformer as mt
from minitransformer import optim
from minitransformer.nn import Parameter

STEPS = 25
RNG = np.random.default_rng(1234)
X = RNG.normal(size=(8, 3))
Y = RNG.normal(size=(8, 2))
W0 = RNG.normal(size=(3, 2))
B0 = RNG.normal(size=(2,))


def grads_numpy(w, b):
    """Closed-form gradient of L = mean((X w + b - Y)^2) over all 16 entries."""
    r = X @ w + b - Y
    return 2 * X.T @ r / r.size, 2 * r.sum(axis=0) / r.size


def engine_loss(w, b):
    r = mt.tensor(X) @ w + b - mt.tensor(Y)
    return (r * r).mean()


# ---------------------------------------------------------------- NumPy transcriptions
def ref_sgd(p, g, s, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
    g = g + weight_decay * p
    if momentum:
        s["b"] = g.copy() if "b" not in s else momentum * s["b"] + (1 - dampening) * g
        g = g + momentum * s["b"] if nesterov else s["b"]
    return p - lr * g


def ref_adam(p, g, s, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False,
             decoupled=False):
    b1, b2 = betas
    if decoupled:
        p = p * (1 - lr * weight_decay)
    else:
        g = g + weight_decay * p
    t = s["t"] = s.get("t", 0) + 1
    s["m"] = b1 * s.get("m", 0.0) + (1 - b1) * g
    s["v"] = b2 * s.get("v", 0.0) + (1 - b2) * g * g
    v = s["v"]
    if amsgrad:
        v = s["vmax"] = np.maximum(s.get("vmax", 0.0), s["v"])
    m_hat, v_hat = s["m"] / (1 - b1 ** t), v / (1 - b2 ** t)
    return p - lr * m_hat / (np.sqrt(v_hat) + eps)


def ref_adamw(p, g, s, lr, weight_decay=1e-2, **kw):
    return ref_adam(p, g, s, lr, weight_decay=weight_decay, decoupled=True, **kw)


def ref_adagrad(p, g, s, lr, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0,
                eps=1e-10):
    g = g + weight_decay * p
    t = s["t"] = s.get("t", 0) + 1
    s["sum"] = s.get("sum", initial_accumulator_value) + g * g
    return p - lr / (1 + (t - 1) * lr_decay) * g / (np.sqrt(s["sum"]) + eps)


def ref_rmsprop(p, g, s, lr, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False):
    g = g + weight_decay * p
    s["v"] = alpha * s.get("v", 0.0) + (1 - alpha) * g * g
    var = s["v"]
    if centered:
        s["gbar"] = alpha * s.get("gbar", 0.0) + (1 - alpha) * g
        var = var - s["gbar"] ** 2
    step = g / (np.sqrt(var) + eps)
    if momentum > 0:
        s["b"] = momentum * s.get("b", 0.0) + step
        step = s["b"]
    return p - lr * step


def ref_lamb(p, g, s, lr, betas=(0.9, 0.999), eps=1e-6, weight_decay=0.0):
    b1, b2 = betas
    t = s["t"] = s.get("t", 0) + 1
    s["m"] = b1 * s.get("m", 0.0) + (1 - b1) * g
    s["v"] = b2 * s.get("v", 0.0) + (1 - b2) * g * g
    r = (s["m"] / (1 - b1 ** t)) / (np.sqrt(s["v"] / (1 - b2 ** t)) + eps) + weight_decay * p
    wn, rn = np.linalg.norm(p), np.linalg.norm(r)
    trust = wn / rn if wn > 0 and rn > 0 else 1.0
    return p - lr * trust * r


REFS = {"SGD": ref_sgd, "Adam": ref_adam, "AdamW": ref_adamw, "Adagrad": ref_adagrad,
        "RMSprop": ref_rmsprop, "LAMB": ref_lamb}

CASES = [
    ("SGD", {"lr": 0.1}),
    ("SGD", {"lr": 0.05, "momentum": 0.9}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}),
    ("SGD", {"lr": 0.05, "momentum": 0.8, "dampening": 0.3, "weight_decay": 0.1}),
    ("Adam", {"lr": 0.05}),
    ("Adam", {"lr": 0.05, "betas": (0.8, 0.99), "amsgrad": True, "weight_decay": 0.05}),
    ("AdamW", {"lr": 0.05, "weight_decay": 0.1}),
    ("AdamW", {"lr": 0.05, "amsgrad": True, "eps": 1e-6}),
    ("Adagrad", {"lr": 0.1}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.01, "weight_decay": 0.05,
                 "initial_accumulator_value": 0.1, "eps": 1e-8}),
    ("RMSprop", {"lr": 0.01}),
    ("RMSprop", {"lr": 0.01, "alpha": 0.9, "momentum": 0.9, "centered": True, "weight_decay": 0.01}),
    ("RMSprop", {"lr": 0.01, "centered": True}),
    ("LAMB", {"lr": 0.05}),
    ("LAMB", {"lr": 0.05, "betas": (0.85, 0.99), "weight_decay": 0.1}),
]
GROUP_LRS = {"SGD": (0.1, 0.02), "Adam": (0.05, 0.01), "AdamW": (0.05, 0.01),
             "Adagrad": (0.2, 0.05), "RMSprop": (0.01, 0.002), "LAMB": (0.05, 0.01)}


def run_engine(name, groups_kw, defaults):
    """Trajectory [(w, b) after each step] with our optimizer; groups_kw: per-group extras."""
    with mt.set_default_dtype("float64"):
        w, b = Parameter(W0), Parameter(B0)
        groups = [{"params": [w], **groups_kw[0]}, {"params": [b], **groups_kw[1]}]
        opt = getattr(optim, name)(groups, **defaults)
        out = []
        for _ in range(STEPS):
            opt.zero_grad()
            engine_loss(w, b).backward()
            opt.step()
            assert w.dtype == np.float64 and w.grad is not None
            out.append((w.numpy(), b.numpy()))
    return out


def run_numpy(name, groups_kw, defaults):
    ref = REFS[name]
    params, states, out = [W0.copy(), B0.copy()], [{}, {}], []
    for _ in range(STEPS):
        grads = grads_numpy(*params)
        params = [ref(p, g, s, **{**defaults, **kw})
                  for p, g, s, kw in zip(params, grads, states, groups_kw)]
        out.append(tuple(params))
    return out


def run_torch(name, groups_kw, defaults):
    torch = pytest.importorskip("torch")
    w = torch.tensor(W0, requires_grad=True)
    b = torch.tensor(B0, requires_grad=True)
    groups = [{"params": [w], **groups_kw[0]}, {"params": [b], **groups_kw[1]}]
    opt = getattr(torch.optim, name)(groups, **defaults)
    xt, yt = torch.tensor(X), torch.tensor(Y)
    out = []
    for _ in range(STEPS):
        opt.zero_grad()
        r = xt @ w + b - yt
        (r * r).mean().backward()
        opt.step()
        out.append((w.detach().numpy().copy(), b.detach().numpy().copy()))
    return out


def assert_same(a, b, atol):
    for step, (pa, pb) in enumerate(zip(a, b)):
        for x, y in zip(pa, pb):
            np.testing.assert_allclose(x, y, rtol=0, atol=atol, err_msg=f"after step {step + 1}")


def _ids(case):
    return case[0] + "-" + "-".join(f"{k}={v}" for k, v in case[1].items())


@pytest.mark.parametrize("case", CASES, ids=[_ids(c) for c in CASES])
def test_trajectory_matches_numpy_transcription(case):
    name, kw = case
    ours = run_engine(name, [{}, {}], kw)
    assert_same(ours, run_numpy(name, [{}, {}], kw), atol=1e-12)
    # the problem really moves the parameters
    assert np.abs(ours[-1][0] - W0).max() > 1e-2


@pytest.mark.parametrize("case", [c for c in CASES if c[0] != "LAMB"],
                         ids=[_ids(c) for c in CASES if c[0] != "LAMB"])
def test_trajectory_matches_torch(case):
    name, kw = case
    assert_same(run_engine(name, [{}, {}], kw), run_torch(name, [{}, {}], kw), atol=1e-9)


@pytest.mark.parametrize("name", sorted(REFS))
def test_param_groups_with_their_own_lr(name):
    lr_w, lr_b = GROUP_LRS[name]
    groups_kw = [{"lr": lr_w}, {"lr": lr_b}]
    defaults = {"lr": 123.0}                # overridden in both groups: must never be used
    ours = run_engine(name, groups_kw, defaults)
    assert_same(ours, run_numpy(name, groups_kw, defaults), atol=1e-12)
    if name != "LAMB":
        assert_same(ours, run_torch(name, groups_kw, defaults), atol=1e-9)
    # a different lr per group really changes the result
    same_lr = run_engine(name, [{"lr": lr_w}, {"lr": lr_w}], defaults)
    assert np.abs(ours[-1][1] - same_lr[-1][1]).max() > 1e-6
