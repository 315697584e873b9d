"""SGD: stochastic gradient descent, with momentum, dampening, Nesterov and weight decay."""
from __future__ import annotations

from .optimizer import Optimizer


class SGD(Optimizer):
    r"""Stochastic gradient descent (PyTorch's formulation of momentum).

    With gradient :math:`g_t`, learning rate :math:`\eta`, momentum :math:`\mu`,
    dampening :math:`\tau` and weight decay :math:`\lambda`:

    .. math::
        g_t &\leftarrow g_t + \lambda\, p_{t-1}                      \\
        b_t &= g_t \ (t = 1), \qquad b_t = \mu\, b_{t-1} + (1 - \tau)\, g_t \ (t > 1) \\
        d_t &= g_t + \mu\, b_t \ \text{(Nesterov)}, \qquad d_t = b_t \ \text{(otherwise)} \\
        p_t &= p_{t-1} - \eta\, d_t

    Without momentum (:math:`\mu = 0`), :math:`d_t = g_t`: plain gradient descent.
    This is Sutskever et al. (2013)'s momentum with the learning rate moved
    outside the buffer, as PyTorch does; Nesterov's form evaluates the step
    "looking ahead" along the buffer.

    Args:
        params: parameters or parameter groups.
        lr: learning rate :math:`\eta`.
        momentum: :math:`\mu \ge 0` (0 turns momentum off).
        dampening: :math:`\tau`, scales the new gradient in the buffer.
        weight_decay: :math:`\lambda`, an L2 penalty added to the gradient.
        nesterov: use Nesterov momentum (needs momentum > 0 and dampening = 0).
    """

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False):
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening,
                        weight_decay=weight_decay, nesterov=nesterov)
        super().__init__(params, defaults)

    def _validate_group(self, group: dict, index: int) -> None:
        super()._validate_group(group, index)
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(
                f"SGD: nesterov=True needs momentum > 0 and dampening = 0, got "
                f"momentum={group['momentum']} and dampening={group['dampening']} "
                f"in parameter group {index}"
            )

    def _update(self, param, grad, state, group):
        lr, momentum, wd = group["lr"], group["momentum"], group["weight_decay"]
        if wd != 0:
            grad = grad + wd * param             # a new array: p.grad itself stays untouched
        if momentum != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = grad.copy()   # b_1 = g_1
            else:
                buf *= momentum
                buf += (1.0 - group["dampening"]) * grad
            grad = grad + momentum * buf if group["nesterov"] else buf
        param -= lr * grad
