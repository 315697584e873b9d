"""Every scheduler's lr sequence equals torch.optim.lr_scheduler's (or its formula)."""

import math

import numpy as np
import pytest

from minitransformer import optim
from minitransformer.nn import Parameter
from minitransformer.optim import lr_scheduler as sch

N = 300
BASE_LRS = (0.1, 0.03)


def our_optimizer(name="SGD", lrs=BASE_LRS):
    groups = [{"params": [Parameter(np.zeros(2))], "lr": lr} for lr in lrs]
    return getattr(optim, name)(groups, **({"momentum": 0.9} if name == "SGD" else {}))


def torch_optimizer(torch, name="SGD", lrs=BASE_LRS):
    groups = [{"params": [torch.zeros(2, requires_grad=True)], "lr": lr} for lr in lrs]
    return getattr(torch.optim, name)(groups, **({"momentum": 0.9} if name == "SGD" else {}))


def record(opt, scheduler, n=N, metrics=None):
    """lrs (and momenta) in force before each of n updates; step as a training loop does."""
    rows = []
    for i in range(n):
        g = opt.param_groups
        rows.append([x["lr"] for x in g] + [x.get("momentum", x.get("betas", (0,))[0]) for x in g])
        assert scheduler.get_last_lr() == [x["lr"] for x in g]
        opt.step()
        scheduler.step() if metrics is None else scheduler.step(metrics[i])
    return np.array(rows, dtype=float)


SCHEDULERS = {
    "LambdaLR": lambda m, o: m.LambdaLR(o, lambda s: 1.0 / (1.0 + 0.05 * s)),
    "LambdaLR-per-group": lambda m, o: m.LambdaLR(o, [lambda s: 0.99 ** s, lambda s: 1.0 + s % 7]),
    "StepLR": lambda m, o: m.StepLR(o, step_size=30, gamma=0.5),
    "MultiStepLR": lambda m, o: m.MultiStepLR(o, milestones=[50, 20, 120, 120], gamma=0.3),
    "ExponentialLR": lambda m, o: m.ExponentialLR(o, gamma=0.98),
    "CosineAnnealingLR": lambda m, o: m.CosineAnnealingLR(o, T_max=100, eta_min=1e-3),
    "CosineAnnealingLR-past-T_max": lambda m, o: m.CosineAnnealingLR(o, T_max=37),
    "WarmRestarts": lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=10, T_mult=2, eta_min=1e-4),
    "WarmRestarts-T_mult1": lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=17),
    "OneCycleLR": lambda m, o: m.OneCycleLR(o, max_lr=[1.0, 0.5], total_steps=N),
    "OneCycleLR-linear-3phase": lambda m, o: m.OneCycleLR(
        o, max_lr=0.4, epochs=10, steps_per_epoch=30, pct_start=0.25, anneal_strategy="linear",
        three_phase=True, div_factor=10.0, final_div_factor=100.0, base_momentum=0.8,
        max_momentum=0.9),
    "OneCycleLR-no-momentum": lambda m, o: m.OneCycleLR(o, max_lr=0.2, total_steps=N + 20,
                                                        cycle_momentum=False),
}


@pytest.mark.parametrize("key", sorted(SCHEDULERS))
@pytest.mark.parametrize("opt_name", ["SGD", "Adam"])
def test_lr_sequence_matches_torch(key, opt_name):
    torch = pytest.importorskip("torch")
    make = SCHEDULERS[key]
    opt, topt = our_optimizer(opt_name), torch_optimizer(torch, opt_name)
    ours = record(opt, make(sch, opt))
    theirs = record(topt, make(torch.optim.lr_scheduler, topt))
    # torch computes most schedules recursively, we in closed form: rounding differs only
    np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-13)
    assert len(np.unique(ours[:, 0])) >= 4, "the schedule must actually change the lr"


def test_warm_restarts_with_fractional_epochs_matches_torch():
    torch = pytest.importorskip("torch")
    opt, topt = our_optimizer(), torch_optimizer(torch)
    ours = sch.CosineAnnealingWarmRestarts(opt, T_0=3, T_mult=2, eta_min=0.01)
    theirs = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(topt, T_0=3, T_mult=2, eta_min=0.01)
    for epoch in np.arange(0, 40, 0.25):
        topt.step()
        ours.step(float(epoch))
        theirs.step(float(epoch))
        np.testing.assert_allclose(ours.get_last_lr(), theirs.get_last_lr(), rtol=1e-12)
        assert ours.last_epoch == theirs.last_epoch


PLATEAU = {
    "min-rel": dict(mode="min", factor=0.5, patience=3, threshold=0.01),
    "min-abs-cooldown": dict(mode="min", factor=0.3, patience=2, threshold=0.05,
                             threshold_mode="abs", cooldown=4, min_lr=[1e-3, 5e-3]),
    "max-rel": dict(mode="max", factor=0.1, patience=0, threshold=1e-4, min_lr=1e-4),
    "max-abs-eps": dict(mode="max", factor=0.9, patience=1, threshold_mode="abs", eps=0.004),
}


@pytest.mark.parametrize("key", sorted(PLATEAU))
def test_reduce_on_plateau_matches_torch(key):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    t = np.arange(N)
    metrics = list(1.0 / np.sqrt(1 + t) + 0.05 * np.sin(t / 3.0) + 0.02 * rng.normal(size=N))
    metrics[100:130] = [metrics[99]] * 30          # an exact plateau
    if PLATEAU[key]["mode"] == "max":
        metrics = [-m for m in metrics]
    opt, topt = our_optimizer(), torch_optimizer(torch)
    ours = record(opt, sch.ReduceLROnPlateau(opt, **PLATEAU[key]), metrics=metrics)
    theirs = record(topt, torch.optim.lr_scheduler.ReduceLROnPlateau(topt, **PLATEAU[key]),
                    metrics=metrics)
    np.testing.assert_array_equal(ours, theirs)
    assert ours[-1, 0] < ours[0, 0], "the scripted metric must trigger reductions"


# ---------------------------------------------------------------- Transformer schedules
def lrs_of(make, n=N, lrs=BASE_LRS):
    opt = our_optimizer(lrs=lrs)
    return record(opt, make(opt), n)[:, :len(lrs)]


def test_noam_follows_its_formula():
    d, w, f = 512, 40, 2.0
    got = lrs_of(lambda o: sch.NoamLR(o, d_model=d, warmup=w, factor=f))
    want = [f * d ** -0.5 * min(s ** -0.5, s * w ** -1.5) for s in range(1, N + 1)]
    np.testing.assert_allclose(got[:, 0], want, rtol=1e-14)
    np.testing.assert_allclose(got[:, 1], want, rtol=1e-14)   # absolute: base lrs ignored
    assert got[:, 0].argmax() == w - 1                          # update s = warmup is the peak


def test_noam_from_peak_reaches_peak_lr_at_end_of_warmup():
    got = lrs_of(lambda o: sch.NoamLR.from_peak(o, peak_lr=5e-4, warmup=25))[:, 0]
    assert got[24] == 5e-4 and got.max() == 5e-4
    np.testing.assert_allclose(got[0], 5e-4 / 25, rtol=1e-15)   # update 1
    np.testing.assert_allclose(got[99], 5e-4 * math.sqrt(25 / 100), rtol=1e-15)
    same = lrs_of(lambda o: sch.NoamLR(o, d_model=256, warmup=25, peak_lr=5e-4))[:, 0]
    np.testing.assert_allclose(got, same, rtol=1e-15)
    # and the plain formula with the equivalent factor gives the same curve
    formula = lrs_of(lambda o: sch.NoamLR(o, d_model=64, warmup=25, factor=5e-4 * math.sqrt(64 * 25)))
    np.testing.assert_allclose(got, formula[:, 0], rtol=1e-12)


@pytest.mark.parametrize("warmup_init_lr", [0.0, 0.01])
def test_inverse_sqrt_follows_fairseq(warmup_init_lr):
    W = 30
    got = lrs_of(lambda o: sch.InverseSqrt(o, warmup=W, warmup_init_lr=warmup_init_lr))
    for j, lr in enumerate(BASE_LRS):
        # fairseq: lr after n updates; update n + 1 uses it
        step = (lr - warmup_init_lr) / W
        want = [warmup_init_lr + n * step if n < W else lr * W ** 0.5 * n ** -0.5 for n in range(N)]
        np.testing.assert_allclose(got[:, j], want, rtol=1e-13)
        assert got[W, j] == pytest.approx(lr, rel=1e-15)


@pytest.mark.parametrize("cls", [sch.WarmupLinear, sch.WarmupCosine])
@pytest.mark.parametrize("warmup", [0, 1, 25])
def test_warmup_then_decay_follows_formula(cls, warmup):
    T, min_lr = 200, 0.01
    got = lrs_of(lambda o: cls(o, warmup=warmup, total_steps=T, min_lr=min_lr))
    for j, lr in enumerate(BASE_LRS):
        want = []
        for s in range(1, N + 1):
            if s <= warmup:
                want.append(lr * s / warmup)
            else:
                x = min(1.0, (s - warmup) / (T - warmup))
                shape = 1 - x if cls is sch.WarmupLinear else 0.5 * (1 + math.cos(math.pi * x))
                want.append(min_lr + (lr - min_lr) * shape)
        np.testing.assert_allclose(got[:, j], want, rtol=1e-13)
        assert got[T - 1, j] == pytest.approx(min_lr) and got[-1, j] == pytest.approx(min_lr)
        if warmup:
            assert got[warmup - 1, j] == lr and got[0, j] == pytest.approx(lr / warmup)


def test_construction_sets_initial_lr_and_first_lr():
    opt = our_optimizer()
    s = sch.StepLR(opt, step_size=2, gamma=0.5)
    assert [g["initial_lr"] for g in opt.param_groups] == list(BASE_LRS)
    assert s.last_epoch == 0 and s.get_last_lr() == list(BASE_LRS) and s.base_lrs == list(BASE_LRS)
    w = sch.WarmupLinear(our_optimizer(), warmup=10, total_steps=20)
    assert w.get_last_lr() == pytest.approx([lr / 10 for lr in BASE_LRS])


def test_linear_scaling_rule():
    assert optim.linear_scaling_rule(0.1, 256, 1024) == pytest.approx(0.4)
    assert sch.linear_scaling_rule(3e-4, 64, 32) == pytest.approx(1.5e-4)
