"""Draw a learning-rate schedule before training with it.

    from minitransformer.optim.lr_scheduler import NoamLR
    lrs, fig = plot_lr_schedule(lambda opt: NoamLR(opt, d_model=512, warmup=4000),
                                steps=20000, path="noam.png")

The schedule runs on a dummy optimizer (plain SGD over one zero parameter),
so no model is needed; ``lrs[k]`` is the lr that update ``k + 1`` would use.
"""
from __future__ import annotations

from ..autograd import zeros
from ..optim import SGD
from ._pyplot import pyplot


def lr_schedule_values(scheduler_factory, steps: int, lr: float = 1.0) -> list:
    """The lr of each of ``steps`` updates (no matplotlib needed).

    Args:
        scheduler_factory: ``optimizer -> scheduler``, e.g.
            ``lambda opt: StepLR(opt, step_size=30)``.
        steps: how many updates to record.
        lr: the optimizer's base lr (schedules that scale it, like StepLR,
            give multiples of it; absolute ones, like NoamLR, ignore it).

    Returns:
        A list of ``steps`` floats: the lr in force before each update.
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"lr_schedule_values: steps must be a positive integer, got {steps!r}")
    param = zeros(1, requires_grad=True)
    optimizer = SGD([param], lr=lr)     # has a 'momentum' setting, so OneCycleLR can cycle it
    scheduler = scheduler_factory(optimizer)
    if type(scheduler).__name__ == "ReduceLROnPlateau":
        raise ValueError("lr_schedule_values: ReduceLROnPlateau depends on a metric, not on the "
                         "step count, so it has no curve to draw in advance")
    lrs = []
    for _ in range(steps):
        lrs.append(float(optimizer.param_groups[0]["lr"]))
        optimizer.step()                # no gradient: nothing moves, but the order is honest
        scheduler.step()
    return lrs


def plot_lr_schedule(scheduler_factory, steps: int, path=None, ax=None, label=None,
                     lr: float = 1.0):
    """Plot the lr of each update; save a PNG when ``path`` is given.

    Args:
        scheduler_factory, steps, lr: as in :func:`lr_schedule_values`.
        path: where to write the PNG (optional).
        ax: a matplotlib Axes to draw into (e.g. to overlay several
            schedules); a new figure is made when None.
        label: the curve's legend label.

    Returns:
        ``(lrs, figure)``: the values plotted and the matplotlib Figure.
    """
    lrs = lr_schedule_values(scheduler_factory, steps, lr=lr)
    plt = pyplot()

    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 3.5))
    else:
        fig = ax.figure
    ax.plot(range(1, steps + 1), lrs, label=label)
    ax.set_xlabel("update")
    ax.set_ylabel("learning rate")
    ax.grid(True, alpha=0.3)
    if label is not None:
        ax.legend()
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=100)
    return lrs, fig
