"""Adam: adaptive moment estimation (Kingma & Ba, 2015), with optional AMSGrad."""
from __future__ import annotations

from ..backend import backend_of, get_array_module
from ..backend.fast import find_fast_version
from .optimizer import Optimizer


def adam_update(param, grad, exp_avg, exp_avg_sq, *, step, lr, beta1, beta2, eps, max_exp_avg_sq=None):
    """One Adam step for one parameter, in place on ``param`` and its moments ``exp_avg``, ``exp_avg_sq``.

    The formula of the class docstring, line by line.  (The backend may have
    a fast version of this routine, the same update without temporaries.)
    """
    xp = get_array_module(param)
    exp_avg[...] = beta1 * exp_avg + (1 - beta1) * grad                 # m_t
    exp_avg_sq[...] = beta2 * exp_avg_sq + (1 - beta2) * grad * grad    # v_t
    v = exp_avg_sq
    if max_exp_avg_sq is not None:                                      # AMSGrad: the largest v so far
        max_exp_avg_sq[...] = xp.maximum(max_exp_avg_sq, exp_avg_sq)
        v = max_exp_avg_sq
    m_hat = exp_avg / (1 - beta1 ** step)
    v_hat = v / (1 - beta2 ** step)
    param -= lr * m_hat / (xp.sqrt(v_hat) + eps)


class Adam(Optimizer):
    r"""Adam: a per-coordinate step from running means of the gradient and its square.

    With gradient :math:`g_t` (step :math:`t = 1, 2, \dots`), learning rate
    :math:`\eta`, betas :math:`(\beta_1, \beta_2)`, :math:`\epsilon` and L2
    weight decay :math:`\lambda`:

    .. math::
        g_t &\leftarrow g_t + \lambda\, p_{t-1}                        \\
        m_t &= \beta_1 m_{t-1} + (1 - \beta_1)\, g_t                   \\
        v_t &= \beta_2 v_{t-1} + (1 - \beta_2)\, g_t^2                 \\
        \hat m_t &= m_t / (1 - \beta_1^t), \qquad \hat v_t = v_t / (1 - \beta_2^t) \\
        p_t &= p_{t-1} - \eta\, \hat m_t / (\sqrt{\hat v_t} + \epsilon)

    :math:`m_0 = v_0 = 0`, which biases both toward 0 early on; dividing by
    :math:`1 - \beta^t` removes that bias.  With ``amsgrad=True`` (Reddi et
    al., 2018) :math:`v_t` in the denominator is replaced by
    :math:`\max(v_1, \dots, v_t)`, so the per-coordinate step never grows.

    ``weight_decay`` here is an L2 penalty added to the gradient (as in
    ``torch.optim.Adam``): it is rescaled by :math:`\hat v`, which is why
    :class:`AdamW` decouples it.

    Args:
        params: parameters or parameter groups.
        lr: learning rate :math:`\eta`.
        betas: :math:`(\beta_1, \beta_2)`, each in [0, 1).
        eps: :math:`\epsilon`, added to :math:`\sqrt{\hat v_t}` for stability.
        weight_decay: :math:`\lambda`.
        amsgrad: use the running maximum of :math:`v_t`.

    State per parameter: ``step`` (int), ``exp_avg`` (:math:`m`),
    ``exp_avg_sq`` (:math:`v`), and ``max_exp_avg_sq`` with AMSGrad; arrays
    of the parameter's shape and dtype, allocated once.
    """

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, amsgrad: bool = False):
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad)
        super().__init__(params, defaults)

    def _decay(self, param, grad, lr: float, wd: float):
        """Weight decay as L2: add ``wd * p`` to the gradient (AdamW overrides this)."""
        return grad + wd * param

    def _update(self, param, grad, state, group):
        xp = get_array_module(param)
        lr, eps, wd = group["lr"], group["eps"], group["weight_decay"]
        beta1, beta2 = group["betas"]
        if not state:
            state["step"] = 0
            state["exp_avg"] = xp.zeros_like(param)
            state["exp_avg_sq"] = xp.zeros_like(param)
        if group["amsgrad"] and "max_exp_avg_sq" not in state:   # also when switched on after a resume
            state["max_exp_avg_sq"] = xp.zeros_like(param)
        state["step"] += 1
        t = state["step"]
        if wd != 0:
            grad = self._decay(param, grad, lr, wd)
        update = find_fast_version("minitransformer.optim.adam.adam_update", backend_of(param)) or adam_update
        update(param, grad, state["exp_avg"], state["exp_avg_sq"], step=t, lr=lr, beta1=beta1, beta2=beta2,
               eps=eps, max_exp_avg_sq=state["max_exp_avg_sq"] if group["amsgrad"] else None)
