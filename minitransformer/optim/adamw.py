"""AdamW: Adam with decoupled weight decay (Loshchilov & Hutter, 2019)."""
from __future__ import annotations

from .adam import Adam


class AdamW(Adam):
    r"""Adam whose weight decay shrinks the weights directly instead of entering the gradient.

    .. math::
        p_{t-1} &\leftarrow p_{t-1}\,(1 - \eta \lambda)               \\
        m_t &= \beta_1 m_{t-1} + (1 - \beta_1)\, g_t                   \\
        v_t &= \beta_2 v_{t-1} + (1 - \beta_2)\, g_t^2                 \\
        p_t &= p_{t-1} - \eta\, \hat m_t / (\sqrt{\hat v_t} + \epsilon)

    (with :math:`\hat m_t, \hat v_t` bias-corrected as in :class:`Adam`).  In
    Adam, an L2 term :math:`\lambda p` in the gradient is divided by
    :math:`\sqrt{\hat v}`, so weights with large gradients are barely
    regularised; decoupling gives every weight the same relative decay
    :math:`\eta\lambda` per step.  This is the usual choice for Transformers.
    The decay is scaled by the current learning rate, as in PyTorch, so a
    schedule scales it too.

    Args: as :class:`Adam`, with ``weight_decay`` :math:`\lambda` defaulting to 0.01.
    """

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad)

    def _decay(self, param, grad, lr: float, wd: float):
        param *= 1.0 - lr * wd        # p <- p (1 - lr wd), before the Adam step
        return grad                   # the gradient is left as it is
