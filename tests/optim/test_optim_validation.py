"""Bad optimizer/scheduler arguments raise clear errors that name the class and the value."""

import numpy as np
import pytest

import minitransformer as mt
from minitransformer import optim
from minitransformer.nn import Parameter
from minitransformer.optim import lr_scheduler as sch


def p():
    return Parameter(np.ones(3))


@pytest.mark.parametrize("name, kwargs, pattern", [
    ("SGD", {"lr": -0.1}, r"SGD: invalid learning rate lr=-0.1"),
    ("Adam", {"lr": -1e-3}, r"Adam: invalid learning rate lr=-0.001"),
    ("Adam", {"lr": float("nan")}, r"Adam: invalid learning rate lr=nan"),
    ("Adam", {"betas": (1.0, 0.999)}, r"Adam: invalid beta1=1.0"),
    ("AdamW", {"betas": (0.9, -0.1)}, r"AdamW: invalid beta2=-0.1"),
    ("LAMB", {"betas": (0.9, 1.5)}, r"LAMB: invalid beta2=1.5"),
    ("Adam", {"betas": (0.9,)}, r"Adam: betas must be a pair"),
    ("Adam", {"eps": -1e-8}, r"Adam: invalid eps=-1e-08"),
    ("Adagrad", {"eps": -1.0}, r"Adagrad: invalid eps=-1.0"),
    ("AdamW", {"weight_decay": -0.01}, r"AdamW: invalid weight_decay=-0.01"),
    ("RMSprop", {"weight_decay": -1}, r"RMSprop: invalid weight_decay=-1"),
    ("SGD", {"momentum": -0.9}, r"SGD: invalid momentum=-0.9"),
    ("RMSprop", {"momentum": -0.5}, r"RMSprop: invalid momentum=-0.5"),
    ("RMSprop", {"alpha": -0.5}, r"RMSprop: invalid alpha=-0.5"),
    ("Adagrad", {"lr_decay": -0.1}, r"Adagrad: invalid lr_decay=-0.1"),
    ("SGD", {"nesterov": True}, r"SGD: nesterov=True needs momentum > 0 and dampening = 0.*momentum=0.0"),
    ("SGD", {"nesterov": True, "momentum": 0.9, "dampening": 0.1}, r"SGD: nesterov=True.*dampening=0.1"),
])
def test_bad_hyper_parameters(name, kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        getattr(optim, name)([p()], **kwargs)


def test_bad_hyper_parameter_in_a_later_group_names_the_group():
    with pytest.raises(ValueError, match=r"Adam: invalid learning rate lr=-1.0 in parameter group 1"):
        optim.Adam([{"params": [p()]}, {"params": [p()], "lr": -1.0}])
    opt = optim.SGD([p()], lr=0.1)
    with pytest.raises(ValueError, match=r"SGD: invalid momentum=-1.0 in parameter group 1"):
        opt.add_param_group({"params": [p()], "momentum": -1.0})
    assert len(opt.param_groups) == 1, "a rejected group must not be added"


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "Adagrad", "RMSprop", "LAMB"])
def test_empty_parameter_list(name):
    with pytest.raises(ValueError, match=rf"{name}: got an empty parameter list"):
        getattr(optim, name)([])
    with pytest.raises(ValueError, match=rf"{name}: got an empty parameter list"):
        getattr(optim, name)(iter([]))          # an exhausted generator, e.g. model.parameters()


def test_empty_group():
    with pytest.raises(ValueError, match=r"Adam: parameter group 1 has an empty parameter list"):
        optim.Adam([{"params": [p()]}, {"params": []}])


def test_parameter_given_twice():
    a = p()
    with pytest.raises(ValueError, match=r"SGD: parameter 1 of group 0 \(shape \(3,\)\) is given twice"):
        optim.SGD([a, a], lr=0.1)
    with pytest.raises(ValueError, match=r"Adam: parameter 0 of group 1 .* already in group 0"):
        optim.Adam([{"params": [a]}, {"params": [a], "lr": 0.1}])
    opt = optim.Adam([a])
    with pytest.raises(ValueError, match=r"already in group 0"):
        opt.add_param_group({"params": [p(), a]})


def test_non_float_and_non_tensor_parameters():
    ints = mt.tensor(np.arange(3))
    with pytest.raises(ValueError, match=r"RMSprop: parameter 0 of group 0 has dtype int64.*only float"):
        optim.RMSprop([ints])
    with pytest.raises(TypeError, match=r"SGD: parameter 1 of group 0 is a ndarray"):
        optim.SGD([p(), np.ones(3)])
    with pytest.raises(TypeError, match=r"Adam: params must be an iterable .* single Tensor"):
        optim.Adam(p())
    with pytest.raises(ValueError, match=r"not a leaf"):
        optim.Adam([p() * 2])
    with pytest.raises(TypeError, match=r"not a set"):
        optim.Adam([{"params": {p()}}])


def test_load_state_dict_mismatch():
    opt = optim.Adam([p(), p()])
    other = optim.Adam([p()])
    with pytest.raises(ValueError, match=r"Adam.load_state_dict: group 0 has 1 parameters in the snapshot but 2"):
        opt.load_state_dict(other.state_dict())
    with pytest.raises(ValueError, match=r"expected keys 'state' and 'param_groups'"):
        opt.load_state_dict({"lr": 1})


def opt1():
    return optim.SGD([p()], lr=0.1)


@pytest.mark.parametrize("make, pattern", [
    (lambda: sch.StepLR(opt1(), step_size=0), r"StepLR: step_size must be a positive integer, got 0"),
    (lambda: sch.StepLR(opt1(), step_size=3, gamma=-1), r"StepLR: gamma must be > 0"),
    (lambda: sch.MultiStepLR(opt1(), [3, -1]), r"MultiStepLR: milestones must be integers >= 0"),
    (lambda: sch.LambdaLR(opt1(), [lambda s: 1.0] * 2), r"LambdaLR: expected 1 lr_lambdas"),
    (lambda: sch.CosineAnnealingLR(opt1(), T_max=0), r"CosineAnnealingLR: T_max must be a positive integer"),
    (lambda: sch.CosineAnnealingWarmRestarts(opt1(), T_0=5, T_mult=0), r"T_mult must be an integer >= 1"),
    (lambda: sch.OneCycleLR(opt1(), 0.1), r"OneCycleLR: give total_steps, or both epochs"),
    (lambda: sch.OneCycleLR(opt1(), 0.1, total_steps=10, pct_start=1.5), r"pct_start must be in \[0, 1\]"),
    (lambda: sch.OneCycleLR(opt1(), 0.1, total_steps=10, anneal_strategy="exp"), r"anneal_strategy"),
    (lambda: sch.OneCycleLR(optim.Adagrad([p()]), 0.1, total_steps=10),
     r"OneCycleLR: cycle_momentum=True needs an optimizer with momentum or betas; Adagrad"),
    (lambda: sch.ReduceLROnPlateau(opt1(), factor=1.0), r"ReduceLROnPlateau: factor must be in \(0, 1\)"),
    (lambda: sch.ReduceLROnPlateau(opt1(), mode="up"), r"ReduceLROnPlateau: mode must be 'min' or 'max'"),
    (lambda: sch.ReduceLROnPlateau(opt1(), min_lr=[0, 0]), r"expected 1 min_lrs"),
    (lambda: sch.NoamLR(opt1(), d_model=512, warmup=0), r"NoamLR: warmup must be an integer >= 1"),
    (lambda: sch.NoamLR.from_peak(opt1(), peak_lr=-1, warmup=10), r"NoamLR: peak_lr must be > 0"),
    (lambda: sch.WarmupLinear(opt1(), warmup=10, total_steps=10),
     r"WarmupLinear: total_steps=10 must exceed warmup=10"),
    (lambda: sch.WarmupCosine(opt1(), warmup=1, total_steps=10, min_lr=1.0),
     r"WarmupCosine: min_lr=1.0 must be in"),
    (lambda: sch.InverseSqrt(opt1(), warmup=0), r"InverseSqrt: warmup must be an integer >= 1"),
    (lambda: sch.StepLR("not an optimizer", 3), r"StepLR: expected an Optimizer"),
    (lambda: sch.StepLR(opt1(), 3, last_epoch=5), r"StepLR: last_epoch=5 resumes a schedule"),
    (lambda: optim.linear_scaling_rule(0.1, 0, 64), r"linear_scaling_rule: base_batch must be > 0"),
])
def test_bad_scheduler_arguments(make, pattern):
    with pytest.raises((ValueError, TypeError), match=pattern):
        make()


def test_one_cycle_refuses_to_step_past_total_steps():
    s = sch.OneCycleLR(opt1(), max_lr=0.1, total_steps=5)
    for _ in range(5):
        s.step()
    with pytest.raises(ValueError, match=r"OneCycleLR: tried to step 6 times; the schedule has total_steps=5"):
        s.step()
