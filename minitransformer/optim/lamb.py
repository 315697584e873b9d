"""LAMB: Adam with a layer-wise trust ratio, for large-batch training (You et al., 2019)."""
from __future__ import annotations

from ..backend import get_array_module
from .optimizer import Optimizer


class LAMB(Optimizer):
    r"""Layer-wise Adaptive Moments for Batch training.

    For each parameter tensor ("layer") with gradient :math:`g_t` (step
    :math:`t = 1, 2, \dots`):

    .. math::
        m_t &= \beta_1 m_{t-1} + (1 - \beta_1)\, g_t, \qquad
        v_t = \beta_2 v_{t-1} + (1 - \beta_2)\, g_t^2                       \\
        \hat m_t &= m_t / (1 - \beta_1^t), \qquad \hat v_t = v_t / (1 - \beta_2^t) \\
        r_t &= \hat m_t / (\sqrt{\hat v_t} + \epsilon) + \lambda\, p_{t-1}    \\
        \rho_t &= \lVert p_{t-1} \rVert_2 / \lVert r_t \rVert_2
                  \quad (\rho_t = 1 \text{ when either norm is } 0)          \\
        p_t &= p_{t-1} - \eta\, \rho_t\, r_t

    The Adam direction :math:`r_t` (with decoupled weight decay) is rescaled
    per tensor so that the step's length is :math:`\eta` times the weight's
    own norm: every layer moves by the same *relative* amount, whatever the
    scale of its gradients, which keeps very large learning rates (large
    batches) stable.  The norms are the Frobenius norms of whole tensors.

    Args:
        params: parameters or parameter groups.
        lr: :math:`\eta`.  betas: :math:`(\beta_1, \beta_2)`.
        eps: :math:`\epsilon` (1e-6 as in the paper).
        weight_decay: :math:`\lambda`.

    State per parameter: ``step``, ``exp_avg`` (:math:`m`), ``exp_avg_sq`` (:math:`v`).
    """

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-6,
                 weight_decay: float = 0.0):
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
        super().__init__(params, defaults)

    def _update(self, param, grad, state, group):
        xp = get_array_module(param)
        beta1, beta2 = group["betas"]
        if not state:
            state["step"] = 0
            state["exp_avg"] = xp.zeros_like(param)
            state["exp_avg_sq"] = xp.zeros_like(param)
        state["step"] += 1
        t = state["step"]
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m *= beta1
        m += (1.0 - beta1) * grad
        v *= beta2
        v += (1.0 - beta2) * (grad * grad)
        # r = m_hat / (sqrt(v_hat) + eps) + wd * p, built in one new array
        r = xp.sqrt(v)
        r /= (1.0 - beta2 ** t) ** 0.5
        r += group["eps"]
        xp.divide(m, r, out=r)
        r /= 1.0 - beta1 ** t
        if group["weight_decay"] != 0:
            r += group["weight_decay"] * param
        # trust ratio as 0-d arrays on the device (no host round trip on a GPU)
        w_norm = xp.linalg.norm(param)
        r_norm = xp.linalg.norm(r)
        both = (w_norm > 0) & (r_norm > 0)
        trust = xp.where(both, w_norm, 1.0) / xp.where(both, r_norm, 1.0)
        r *= group["lr"] * trust
        param -= r
