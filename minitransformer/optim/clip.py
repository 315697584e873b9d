"""Gradient clipping: bound the size of an update before the optimizer sees it.

In PyTorch these live in ``torch.nn.utils`` (``clip_grad_norm_``,
``clip_grad_value_``); here they sit next to the optimizers that they serve.
Call them between ``loss.backward()`` and ``optimizer.step()``:

    loss.backward()
    norm = clip_grad_norm_(model.parameters(), max_norm=1.0)   # log `norm` to spot spikes
    optimizer.step()

Both work in place on ``p.grad.data`` and skip parameters without a gradient.
"""
from __future__ import annotations

import math

from ..autograd import Tensor
from ..backend import get_array_module, to_host


def _grads(parameters, fn: str) -> list:
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    grads = []
    for p in parameters:
        if not isinstance(p, Tensor):
            raise TypeError(f"{fn}: expected Tensors/Parameters, got a {type(p).__name__}")
        if p.grad is not None:
            grads.append(p.grad.data)
    return grads


def clip_grad_norm_(parameters, max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False) -> float:
    r"""Rescale all gradients together so that their joint norm is at most ``max_norm``.

    The joint norm treats every gradient as one long vector:
    :math:`\lVert g \rVert_p = \big(\sum_i \lVert g_i \rVert_p^p\big)^{1/p}`
    (``norm_type=inf``: the largest absolute entry).  If it exceeds
    ``max_norm``, every gradient is multiplied by
    :math:`c = \text{max\_norm} / (\lVert g \rVert + 10^{-6})`, which keeps the
    update's *direction* and bounds its length (Pascanu et al., 2013).  The
    1e-6 (as in PyTorch) keeps the division safe; it leaves the clipped norm
    a hair below ``max_norm``.

    Args:
        parameters: an iterable of Parameters (or one Tensor).
        max_norm: the largest allowed norm (> 0).
        norm_type: p of the p-norm (2.0, 1.0, ``float('inf')``...).
        error_if_nonfinite: raise when the norm is nan or inf instead of
            scaling the gradients by nan.

    Returns:
        The joint norm *before* clipping, as a Python float.
    """
    max_norm, norm_type = float(max_norm), float(norm_type)
    if not max_norm > 0:
        raise ValueError(f"clip_grad_norm_: max_norm must be > 0, got {max_norm}")
    if not norm_type > 0:
        raise ValueError(f"clip_grad_norm_: norm_type must be > 0 (or inf), got {norm_type}")
    grads = _grads(parameters, "clip_grad_norm_")
    if not grads:
        return 0.0
    xp = get_array_module(grads[0])
    # one norm per tensor, stacked on the device, then a single host transfer
    if math.isinf(norm_type):
        norms = [xp.max(xp.abs(g)) for g in grads if g.size]
    else:
        norms = [xp.linalg.norm(g.ravel(), ord=norm_type) for g in grads]
    if not norms:
        return 0.0
    total = float(to_host(xp.linalg.norm(xp.stack(norms), ord=norm_type)))
    if error_if_nonfinite and not math.isfinite(total):
        raise FloatingPointError(
            f"clip_grad_norm_: the total {norm_type}-norm of the gradients is {total}; "
            "set error_if_nonfinite=False to clip anyway"
        )
    coef = max_norm / (total + 1e-6)
    if coef < 1.0:
        for g in grads:
            g *= coef
    return total


def clip_grad_value_(parameters, clip_value: float) -> None:
    """Clamp every gradient entry into ``[-clip_value, clip_value]``, in place.

    Unlike norm clipping this changes the update's direction; it is a blunt
    guard against single huge entries.
    """
    clip_value = float(clip_value)
    if not clip_value > 0:
        raise ValueError(f"clip_grad_value_: clip_value must be > 0, got {clip_value}")
    for g in _grads(parameters, "clip_grad_value_"):
        xp = get_array_module(g)
        xp.clip(g, -clip_value, clip_value, out=g)
