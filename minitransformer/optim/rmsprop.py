"""RMSprop: divide the gradient by a running RMS of recent gradients (Hinton, 2012)."""
from __future__ import annotations

from ..backend import get_array_module
from .optimizer import Optimizer


class RMSprop(Optimizer):
    r"""RMSprop, with optional momentum and the "centered" variant (Graves, 2013).

    With gradient :math:`g_t`, learning rate :math:`\eta`, smoothing
    :math:`\alpha`, momentum :math:`\mu` and weight decay :math:`\lambda`:

    .. math::
        g_t &\leftarrow g_t + \lambda\, p_{t-1}                         \\
        v_t &= \alpha\, v_{t-1} + (1 - \alpha)\, g_t^2                  \\
        \bar g_t &= \alpha\, \bar g_{t-1} + (1 - \alpha)\, g_t \quad \text{(centered only)} \\
        d_t &= \sqrt{v_t - \bar g_t^2} + \epsilon \ \text{(centered)}, \qquad
               d_t = \sqrt{v_t} + \epsilon \ \text{(otherwise)}          \\
        b_t &= \mu\, b_{t-1} + g_t / d_t, \qquad p_t = p_{t-1} - \eta\, b_t
               \quad (\mu > 0)                                          \\
        p_t &= p_{t-1} - \eta\, g_t / d_t \quad (\mu = 0)

    Centered RMSprop divides by an estimate of the gradient's standard
    deviation instead of its root mean square.  There is no bias correction
    (compare :class:`Adam`), so early steps are large when :math:`v_0 = 0`.

    Args:
        params: parameters or parameter groups.
        lr: :math:`\eta`.  alpha: :math:`\alpha`.  eps: :math:`\epsilon`.
        weight_decay: :math:`\lambda`.  momentum: :math:`\mu`.
        centered: normalise by the variance rather than the second moment.

    State per parameter: ``step``, ``square_avg`` (:math:`v`), and
    ``momentum_buffer`` (:math:`b`) / ``grad_avg`` (:math:`\bar g`) when used.
    """

    def __init__(self, params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum: float = 0.0, centered: bool = False):
        defaults = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                        momentum=momentum, centered=centered)
        super().__init__(params, defaults)

    def _update(self, param, grad, state, group):
        xp = get_array_module(param)
        alpha, momentum, wd = group["alpha"], group["momentum"], group["weight_decay"]
        if not state:
            state["step"] = 0
            state["square_avg"] = xp.zeros_like(param)
        state["step"] += 1
        if wd != 0:
            grad = grad + wd * param
        v = state["square_avg"]
        v *= alpha
        v += (1.0 - alpha) * (grad * grad)
        if group["centered"]:
            gbar = state.setdefault("grad_avg", xp.zeros_like(param))
            gbar *= alpha
            gbar += (1.0 - alpha) * grad
            avg = v - gbar * gbar
            xp.sqrt(avg, out=avg)
        else:
            avg = xp.sqrt(v)
        avg += group["eps"]
        xp.divide(grad, avg, out=avg)             # reuse the buffer: g / d
        if momentum > 0:
            buf = state.setdefault("momentum_buffer", xp.zeros_like(param))
            buf *= momentum
            buf += avg
            param -= group["lr"] * buf
        else:
            avg *= group["lr"]
            param -= avg
