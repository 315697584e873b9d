r"""Explicit weight penalties, added to the loss so that autograd differentiates them.

    loss = criterion(model(x), y) + 1e-4 * l2_penalty(model.parameters())
    loss.backward()

:math:`\tfrac{d}{dp}\,\lambda \sum p^2 = 2\lambda p`, so an L2 penalty in the loss
gives the same update as an optimizer's ``weight_decay`` of :math:`2\lambda`
for SGD.  With Adam, a penalty in the loss is rescaled by the adaptive
denominator, like Adam's own weight_decay; AdamW's decoupled decay is not.
The L1 penalty's (sub)gradient :math:`\lambda\,\mathrm{sign}(p)` pulls every weight
toward 0 by the same amount whatever its size, which favours sparse weights.
"""
from __future__ import annotations

from ..autograd import Tensor, tensor


def _params(parameters, fn: str) -> list:
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    params = list(parameters)
    for p in params:
        if not isinstance(p, Tensor):
            raise TypeError(f"{fn}: expected Tensors/Parameters, got a {type(p).__name__}")
    return params


def l2_penalty(parameters) -> Tensor:
    r"""The differentiable scalar :math:`\sum_{p} \sum_i p_i^2` (no factor 1/2).

    Built from the engine's ops (``(p * p).sum()``), so its gradient flows
    into every parameter: :math:`\partial/\partial p = 2p`.  An empty list
    gives the constant 0.
    """
    total = None
    for p in _params(parameters, "l2_penalty"):
        term = (p * p).sum()
        total = term if total is None else total + term
    return tensor(0.0) if total is None else total


def l1_penalty(parameters) -> Tensor:
    r"""The differentiable scalar :math:`\sum_{p} \sum_i |p_i|`.

    Its gradient is :math:`\mathrm{sign}(p)` (0 at exactly 0, the subgradient
    the engine's ``abs`` uses).
    """
    total = None
    for p in _params(parameters, "l1_penalty"):
        term = p.abs().sum()
        total = term if total is None else total + term
    return tensor(0.0) if total is None else total
