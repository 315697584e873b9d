"""Hypothesis properties: warmup shapes, ReduceLROnPlateau monotonicity, gradient clipping,
and exact resumption of optimizers and schedulers from their state_dict."""

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minitransformer as mt
from minitransformer.backend import is_array, to_host
from minitransformer import optim
from minitransformer.nn import Parameter
from minitransformer.optim import lr_scheduler as sch


def sgd(lr=0.1, n_groups=1):
    return optim.SGD([{"params": [Parameter(np.zeros(1))], "lr": lr * (i + 1)} for i in range(n_groups)],
                     momentum=0.9)


def lrs(opt, scheduler, n):
    out = []
    for _ in range(n):
        out.append(opt.param_groups[0]["lr"])
        scheduler.step()
    return np.array(out)


# ---------------------------------------------------------------- warmup schedules
WARMUPS = {
    "noam": lambda o, w, t, m: sch.NoamLR(o, d_model=64, warmup=w),
    "noam_peak": lambda o, w, t, m: sch.NoamLR.from_peak(o, peak_lr=0.1, warmup=w),
    "linear": lambda o, w, t, m: sch.WarmupLinear(o, warmup=w, total_steps=w + t, min_lr=m),
    "cosine": lambda o, w, t, m: sch.WarmupCosine(o, warmup=w, total_steps=w + t, min_lr=m),
    "inverse_sqrt": lambda o, w, t, m: sch.InverseSqrt(o, warmup=w, warmup_init_lr=m),
}


@settings(deadline=None, max_examples=60)
@given(kind=st.sampled_from(sorted(WARMUPS)), warmup=st.integers(1, 60),
       decay=st.integers(1, 100), base=st.floats(1e-5, 10.0),
       min_frac=st.floats(0.0, 0.9))
def test_warmup_rises_to_its_peak_and_never_exceeds_it(kind, warmup, decay, base, min_frac):
    opt = sgd(base)
    values = lrs(opt, WARMUPS[kind](opt, warmup, decay, base * min_frac), warmup + decay + 50)
    peak = int(values.argmax())
    # the peak is where the warmup ends (InverseSqrt counts updates done: one later)
    assert peak == warmup - 1 + (kind == "inverse_sqrt")
    rise, after = values[:peak + 1], values[peak:]
    assert np.all(np.diff(rise) > 0) or len(rise) == 1, "the warmup must rise strictly"
    assert np.all(np.diff(after) <= 1e-15 * values[peak]), "after the peak the lr may only go down"
    assert np.all(values >= 0) and np.all(rise[1:] > 0)


@settings(deadline=None, max_examples=60)
@given(metrics=st.lists(st.floats(-1e3, 1e3, allow_nan=False) | st.just(float("nan")),
                        min_size=1, max_size=80),
       mode=st.sampled_from(["min", "max"]), threshold_mode=st.sampled_from(["rel", "abs"]),
       factor=st.floats(0.01, 0.99), patience=st.integers(0, 4), cooldown=st.integers(0, 3),
       min_lr=st.floats(0.0, 0.5))
def test_reduce_on_plateau_never_raises_the_lr(metrics, mode, threshold_mode, factor, patience,
                                                cooldown, min_lr):
    opt = sgd(0.1, n_groups=2)                       # lrs 0.1 and 0.2; min_lr may exceed 0.1
    s = sch.ReduceLROnPlateau(opt, mode=mode, threshold_mode=threshold_mode, factor=factor,
                              patience=patience, cooldown=cooldown, min_lr=min_lr)
    previous = [g["lr"] for g in opt.param_groups]
    for m in metrics:
        s.step(m)
        current = [g["lr"] for g in opt.param_groups]
        assert all(c <= p for c, p in zip(current, previous))
        assert all(c >= min(min_lr, p) for c, p in zip(current, previous))
        previous = current


# ---------------------------------------------------------------- clipping
arrays = st.lists(st.floats(-1e3, 1e3), min_size=1, max_size=6).map(np.array)


@settings(deadline=None, max_examples=60)
@given(values=st.lists(arrays, min_size=1, max_size=4), max_norm=st.floats(1e-3, 1e3),
       norm_type=st.sampled_from([1.0, 2.0, 3.0, float("inf")]), with_none=st.booleans())
def test_clip_grad_norm_returns_the_norm_and_bounds_it(values, max_norm, norm_type, with_none):
    with mt.set_default_dtype("float64"):
        params = [Parameter(np.zeros_like(v)) for v in values]
        for p, v in zip(params, values):
            p.grad = mt.tensor(v)
        if with_none:
            params.append(Parameter(np.ones(3)))     # no gradient: ignored
    def pnorm(x):
        return np.abs(x).max() if norm_type == float("inf") else (np.abs(x) ** norm_type).sum() ** (1 / norm_type)

    flat = np.concatenate(values)
    norm = pnorm(flat)
    total = optim.clip_grad_norm_(params, max_norm, norm_type)
    assert isinstance(total, float)
    np.testing.assert_allclose(total, norm, rtol=1e-12, atol=1e-300)
    clipped = np.concatenate([p.grad.numpy() for p in params if p.grad is not None])
    new = pnorm(clipped)
    assert new <= max_norm * (1 + 1e-12)
    if norm + 1e-6 <= max_norm:                          # coefficient max_norm / (norm + 1e-6) >= 1
        np.testing.assert_array_equal(clipped, flat)     # nothing to clip: untouched
    else:                                               # same direction
        np.testing.assert_allclose(clipped * norm, flat * new, rtol=1e-9, atol=1e-9 * norm * max_norm)


# ---------------------------------------------------------------- exact resumption
OPTIMIZERS = {
    "SGD": lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3),
    "Adam": lambda ps: optim.Adam(ps, lr=0.01, amsgrad=True, weight_decay=1e-3),
    "AdamW": lambda ps: optim.AdamW([{"params": ps[:1]}, {"params": ps[1:], "lr": 0.003}], lr=0.01),
    "Adagrad": lambda ps: optim.Adagrad(ps, lr=0.1, lr_decay=0.01, initial_accumulator_value=0.1),
    "RMSprop": lambda ps: optim.RMSprop(ps, lr=0.01, momentum=0.5, centered=True),
    "LAMB": lambda ps: optim.LAMB(ps, lr=0.01, weight_decay=0.01),
}
SCHEDULES = {
    "none": None,
    "step": lambda o: sch.StepLR(o, step_size=3, gamma=0.5),
    "cosine": lambda o: sch.CosineAnnealingLR(o, T_max=7, eta_min=1e-4),
    "restarts": lambda o: sch.CosineAnnealingWarmRestarts(o, T_0=2, T_mult=2),
    "onecycle": lambda o: sch.OneCycleLR(o, max_lr=0.05, total_steps=40, three_phase=True,
                                         cycle_momentum=not isinstance(o, optim.Adagrad)),
    "noam": lambda o: sch.NoamLR.from_peak(o, peak_lr=0.02, warmup=4),
    "lambda": lambda o: sch.LambdaLR(o, lambda s: 0.9 ** s),
    "plateau": lambda o: sch.ReduceLROnPlateau(o, patience=1, factor=0.5),
}


def make_run(opt_name, sched_name, weights):
    params = [Parameter(w) for w in weights]
    opt = OPTIMIZERS[opt_name](params)
    make = SCHEDULES[sched_name]
    return params, opt, (make(opt) if make else None)


def train(params, opt, scheduler, steps, k0):
    target = [np.sin(np.arange(p.numel()).reshape(p.shape) + 1.0) for p in params]
    for i in range(steps):
        opt.zero_grad()
        loss = sum(((p - mt.tensor(t)) ** 2).sum() * (1.0 + 0.1 * (k0 + i))
                   for p, t in zip(params, target))
        loss.backward()
        opt.step()
        if isinstance(scheduler, sch.ReduceLROnPlateau):
            scheduler.step([3.0, 2.0, 2.5, 2.5, 1.0][(k0 + i) % 5])
        elif scheduler is not None:
            scheduler.step()


def json_round_trip(state):
    """What a checkpoint writer does: arrays aside (npz), the rest through JSON (int keys -> str)."""
    arrays = {}

    def strip(x, path):
        if is_array(x):
            arrays[path] = to_host(x)
            return {"__array__": path}
        if isinstance(x, dict):
            return {k: strip(v, f"{path}/{k}") for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [strip(v, f"{path}/{i}") for i, v in enumerate(x)]
        return x

    def put_back(x):
        if isinstance(x, dict):
            return arrays[x["__array__"]].copy() if "__array__" in x else {k: put_back(v) for k, v in x.items()}
        if isinstance(x, list):
            return [put_back(v) for v in x]
        return x

    return put_back(json.loads(json.dumps(strip(state, ""))))


@pytest.mark.parametrize("sched_name", sorted(SCHEDULES))
@pytest.mark.parametrize("opt_name", sorted(OPTIMIZERS))
@settings(deadline=None, max_examples=5)
@given(k=st.integers(0, 6), m=st.integers(1, 6), through_json=st.booleans())
def test_state_dict_round_trip_continues_bitwise(opt_name, sched_name, k, m, through_json):
    rng = np.random.default_rng(k)
    weights = [rng.normal(size=(2, 3)), rng.normal(size=(3,))]
    # uninterrupted run
    params, opt, sched = make_run(opt_name, sched_name, weights)
    train(params, opt, sched, k + m, 0)
    # interrupted after k steps, resumed in fresh objects
    params1, opt1, sched1 = make_run(opt_name, sched_name, weights)
    train(params1, opt1, sched1, k, 0)
    saved_opt, saved_sched = opt1.state_dict(), sched1.state_dict() if sched1 else None
    saved_w = [p.numpy() for p in params1]
    train(params1, opt1, sched1, 2, k)               # training on must not alter the snapshot
    if through_json:
        saved_opt = json_round_trip(saved_opt)
        saved_sched = json_round_trip(saved_sched) if saved_sched else None
    params2, opt2, sched2 = make_run(opt_name, sched_name, saved_w)
    opt2.load_state_dict(saved_opt)
    if sched2 is not None:
        sched2.load_state_dict(saved_sched)
    train(params2, opt2, sched2, m, k)
    for a, b in zip(params, params2):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert [g["lr"] for g in opt.param_groups] == [g["lr"] for g in opt2.param_groups]
    for key in opt.state[params[0]]:
        np.testing.assert_array_equal(to_host(opt.state[params[0]][key]), to_host(opt2.state[params2[0]][key]))
