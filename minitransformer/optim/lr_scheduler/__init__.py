"""Learning-rate schedules, with ``torch.optim.lr_scheduler``'s names and semantics.

Build the scheduler after the optimizer, call ``scheduler.step()`` after
``optimizer.step()`` (``scheduler.step(metric)`` for ReduceLROnPlateau).

    base.py        LRScheduler                         the protocol
    decay.py       LambdaLR, StepLR, MultiStepLR,      base lr times a factor
                   ExponentialLR
    cosine.py      CosineAnnealingLR,                  cosine, with or without restarts
                   CosineAnnealingWarmRestarts
    one_cycle.py   OneCycleLR                          the 1cycle policy (lr and momentum)
    plateau.py     ReduceLROnPlateau                   driven by a validation metric
    warmup.py      NoamLR, WarmupLinear,               Transformer warmup schedules
                   WarmupCosine, InverseSqrt
    scaling.py     linear_scaling_rule                 lr for another batch size
"""
from .base import LRScheduler
from .cosine import CosineAnnealingLR, CosineAnnealingWarmRestarts
from .decay import ExponentialLR, LambdaLR, MultiStepLR, StepLR
from .one_cycle import OneCycleLR
from .plateau import ReduceLROnPlateau
from .scaling import linear_scaling_rule
from .warmup import InverseSqrt, NoamLR, WarmupCosine, WarmupLinear

__all__ = [
    "CosineAnnealingLR", "CosineAnnealingWarmRestarts", "ExponentialLR", "InverseSqrt",
    "LRScheduler", "LambdaLR", "MultiStepLR", "NoamLR", "OneCycleLR", "ReduceLROnPlateau",
    "StepLR", "WarmupCosine", "WarmupLinear", "linear_scaling_rule",
]
