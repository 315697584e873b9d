"""Optimizer and learning-rate schedule named by a TrainConfig."""
from __future__ import annotations

from .. import optim
from ..optim import lr_scheduler


def build_optimizer(config, parameters):
    params = list(parameters)
    name, lr, wd = config.optimizer, config.lr, config.weight_decay
    betas = tuple(config.betas)
    if name == "adam":
        return optim.Adam(params, lr=lr, betas=betas, eps=config.eps, weight_decay=wd)
    if name == "adamw":
        return optim.AdamW(params, lr=lr, betas=betas, eps=config.eps, weight_decay=wd)
    if name == "lamb":
        return optim.LAMB(params, lr=lr, betas=betas, eps=max(config.eps, 1e-6), weight_decay=wd)
    if name == "sgd":
        return optim.SGD(params, lr=lr, momentum=0.9, weight_decay=wd)
    if name == "adagrad":
        return optim.Adagrad(params, lr=lr, weight_decay=wd)
    if name == "rmsprop":
        return optim.RMSprop(params, lr=lr, weight_decay=wd)
    raise ValueError(f"unknown optimizer {name!r}")


def build_scheduler(config, optimizer, total_steps: int):
    """The schedule; with 'noam', --lr is the peak rate, reached at the end of warmup."""
    name, warmup = config.schedule, config.warmup
    if name == "noam":
        return lr_scheduler.NoamLR.from_peak(optimizer, peak_lr=config.lr, warmup=warmup)
    if name == "inverse-sqrt":
        w = max(warmup, 1)
        # start warmup at lr/w rather than 0, so the first update is not wasted
        return lr_scheduler.InverseSqrt(optimizer, warmup=w, warmup_init_lr=config.lr / w)
    if name == "cosine":
        return lr_scheduler.WarmupCosine(optimizer, warmup=warmup, total_steps=max(total_steps, warmup + 1))
    if name == "linear":
        return lr_scheduler.WarmupLinear(optimizer, warmup=warmup, total_steps=max(total_steps, warmup + 1))
    if name == "constant":
        w = max(warmup, 1)
        return lr_scheduler.LambdaLR(optimizer, lambda step: min(1.0, (step + 1) / w))
    raise ValueError(f"unknown schedule {name!r}")
