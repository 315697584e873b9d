"""Optimizers, gradient clipping, weight penalties and (in ``lr_scheduler``) lr schedules.

The names and interface are PyTorch's (``torch.optim``): build an optimizer
over ``model.parameters()``, then ``zero_grad()``, ``backward()``, ``step()``.

    optimizer.py       Optimizer: groups, state, zero_grad, state_dict
    sgd.py             SGD (momentum, dampening, Nesterov, weight decay)
    adam.py, adamw.py  Adam (L2 decay, AMSGrad), AdamW (decoupled decay)
    adagrad.py         Adagrad
    rmsprop.py         RMSprop (momentum, centered)
    lamb.py            LAMB (layer-wise trust ratio)
    clip.py            clip_grad_norm_, clip_grad_value_ (torch.nn.utils in PyTorch)
    regularization.py  l1_penalty, l2_penalty (differentiable, for the loss)
    lr_scheduler/      StepLR, CosineAnnealingLR, OneCycleLR, NoamLR, ...
"""
from . import lr_scheduler
from .adagrad import Adagrad
from .adam import Adam
from .adamw import AdamW
from .clip import clip_grad_norm_, clip_grad_value_
from .lamb import LAMB
from .lr_scheduler import linear_scaling_rule
from .optimizer import Optimizer
from .regularization import l1_penalty, l2_penalty
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = [
    "LAMB", "SGD", "Adagrad", "Adam", "AdamW", "Optimizer", "RMSprop", "clip_grad_norm_",
    "clip_grad_value_", "l1_penalty", "l2_penalty", "linear_scaling_rule", "lr_scheduler",
]
