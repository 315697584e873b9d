"""Adagrad: per-coordinate steps scaled by the accumulated squared gradients (Duchi et al., 2011)."""
from __future__ import annotations

from ..backend import get_array_module
from .optimizer import Optimizer


class Adagrad(Optimizer):
    r"""Adagrad: coordinates that have seen large gradients take smaller steps.

    With gradient :math:`g_t` (step :math:`t = 1, 2, \dots`), learning rate
    :math:`\eta`, learning-rate decay :math:`\delta`, weight decay
    :math:`\lambda` and :math:`s_0` = ``initial_accumulator_value``:

    .. math::
        g_t &\leftarrow g_t + \lambda\, p_{t-1}                        \\
        \tilde\eta_t &= \eta / (1 + (t - 1)\,\delta)                   \\
        s_t &= s_{t-1} + g_t^2                                         \\
        p_t &= p_{t-1} - \tilde\eta_t\, g_t / (\sqrt{s_t} + \epsilon)

    Because :math:`s_t` only grows, the effective step shrinks like
    :math:`1/\sqrt{t}`: good for sparse features, too aggressive for long
    deep-learning runs (RMSprop and Adam replace the sum by a running mean).

    Args:
        params: parameters or parameter groups.
        lr: :math:`\eta`.
        lr_decay: :math:`\delta \ge 0`.
        weight_decay: :math:`\lambda` (L2, added to the gradient).
        initial_accumulator_value: :math:`s_0 \ge 0`.
        eps: :math:`\epsilon`, added to :math:`\sqrt{s_t}`.

    State per parameter: ``step`` (int) and ``sum`` (:math:`s`).
    """

    def __init__(self, params, lr: float = 1e-2, lr_decay: float = 0.0, weight_decay: float = 0.0,
                 initial_accumulator_value: float = 0.0, eps: float = 1e-10):
        defaults = dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, eps=eps)
        super().__init__(params, defaults)

    def _update(self, param, grad, state, group):
        xp = get_array_module(param)
        if not state:
            state["step"] = 0
            state["sum"] = xp.full_like(param, group["initial_accumulator_value"])
        state["step"] += 1
        wd = group["weight_decay"]
        if wd != 0:
            grad = grad + wd * param
        clr = group["lr"] / (1.0 + (state["step"] - 1) * group["lr_decay"])
        s = state["sum"]
        s += grad * grad                          # s_t = s_{t-1} + g^2
        std = xp.sqrt(s)
        std += group["eps"]
        xp.divide(grad, std, out=std)             # reuse the buffer: g / (sqrt(s) + eps)
        std *= clr
        param -= std
