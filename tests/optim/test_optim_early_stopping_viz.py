"""EarlyStopping, and the lr-schedule plots."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import minitransformer as mt
from minitransformer.nn import Module, Parameter
from minitransformer.optim import lr_scheduler as sch
from minitransformer.training.early_stopping import EarlyStopping


class Tiny(Module):
    def __init__(self):
        super().__init__()
        self.w = Parameter(np.zeros((2, 2)))
        self.b = Parameter(np.zeros(2))


def test_early_stopping_min_mode_counts_bad_steps():
    es = EarlyStopping(patience=3, min_delta=0.1)
    decisions = [es.step(m) for m in [5.0, 4.0, 3.95, 3.91, 3.92]]
    # 3.95, 3.91 and 3.92 are not 0.1 below 4.0: the third of them stops
    assert decisions == [False, False, False, False, True]
    assert es.best == 4.0 and es.best_step == 2 and es.num_bad == 3 and es.should_stop


def test_early_stopping_max_mode_with_steps_and_nan():
    es = EarlyStopping(patience=2, mode="max")
    assert not es.step(10.0, step=100)
    assert not es.step(float("nan"), step=200)    # nan never improves
    assert not es.step(12.0, step=300)            # improvement resets the count
    assert es.best == 12.0 and es.best_step == 300 and es.num_bad == 0
    assert not es.step(12.0, step=400)            # equal is not better
    assert es.step(mt.tensor(11.0), step=500)     # a one-element Tensor is accepted
    assert es.best_step == 300


def test_early_stopping_keeps_and_restores_best_weights():
    model = Tiny()
    es = EarlyStopping(patience=2, restore_best=True)
    for i, metric in enumerate([3.0, 1.0, 2.0, 2.5]):
        model.w.data[...] = i                      # the weights change at each evaluation
        stop = es.step(metric, model=model)
    assert stop and es.best_step == 2
    np.testing.assert_array_equal(model.w.numpy(), np.ones((2, 2)))   # restored to evaluation 2
    model.w.data[...] = 7.0
    es.restore(model)
    np.testing.assert_array_equal(model.w.numpy(), np.ones((2, 2)))
    with pytest.raises(ValueError, match=r"EarlyStopping.restore: no weights were kept"):
        EarlyStopping(patience=1).restore(model)


def test_early_stopping_state_dict_round_trip():
    model = Tiny()
    es = EarlyStopping(patience=3, min_delta=0.01, mode="max")
    for m in [0.1, 0.3, 0.2]:
        es.step(m, model=model)
    state = es.state_dict()
    weights = state.pop("best_weights")
    state = json.loads(json.dumps(state))          # everything but the arrays is JSON
    state["best_weights"] = weights
    fresh = EarlyStopping(patience=3, min_delta=0.01, mode="max")
    fresh.load_state_dict(state)
    for m, stop in [(0.25, False), (0.305, True)]:     # 0.305 is not 0.01 above 0.3
        assert es.step(m) is fresh.step(m) is stop
    assert (fresh.best, fresh.best_step, fresh.num_bad) == (es.best, es.best_step, es.num_bad) == (0.3, 2, 3)
    np.testing.assert_array_equal(fresh.best_weights["w"], es.best_weights["w"])


@pytest.mark.parametrize("kwargs, pattern", [
    (dict(patience=0), r"patience must be an integer >= 1, got 0"),
    (dict(patience=2, mode="low"), r"mode must be 'min' or 'max', got 'low'"),
    (dict(patience=2, min_delta=-1.0), r"min_delta must be >= 0, got -1.0"),
])
def test_early_stopping_bad_arguments(kwargs, pattern):
    with pytest.raises(ValueError, match="EarlyStopping: " + pattern):
        EarlyStopping(**kwargs)


def test_lr_schedule_values_without_matplotlib():
    from minitransformer.viz import lr_schedule_values

    values = lr_schedule_values(lambda o: sch.StepLR(o, step_size=2, gamma=0.5), 6, lr=0.8)
    assert values == [0.8, 0.8, 0.4, 0.4, 0.2, 0.2]
    values = lr_schedule_values(lambda o: sch.OneCycleLR(o, max_lr=1.0, total_steps=10), 10)
    assert max(values) == 1.0 and values[0] == pytest.approx(1 / 25)
    with pytest.raises(ValueError, match="ReduceLROnPlateau depends on a metric"):
        lr_schedule_values(lambda o: sch.ReduceLROnPlateau(o), 5)


def test_viz_import_is_lazy():
    # a fresh interpreter: other tests in this process may have imported matplotlib already
    code = (
        "import sys\n"
        "from minitransformer.optim import lr_scheduler as sch\n"
        "from minitransformer.viz import lr_schedule_values\n"
        "assert lr_schedule_values(lambda o: sch.ExponentialLR(o, 0.5), 3) == [1.0, 0.5, 0.25]\n"
        "assert 'matplotlib' not in sys.modules, 'computing a schedule imported matplotlib'\n"
    )
    root = str(Path(__file__).resolve().parents[2])
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root,
                            env={**os.environ, "PYTHONPATH": root}, timeout=120)
    assert result.returncode == 0, result.stderr


def test_plot_lr_schedule_writes_png(tmp_path):
    from minitransformer.viz import plot_lr_schedule

    path = tmp_path / "noam.png"
    lrs, fig = plot_lr_schedule(lambda o: sch.NoamLR.from_peak(o, peak_lr=1e-3, warmup=20), 100,
                                path=str(path), label="noam")
    assert len(lrs) == 100 and max(lrs) == 1e-3
    data = path.read_bytes()
    assert len(data) > 1000 and data[:8] == b"\x89PNG\r\n\x1a\n"
    # overlay a second curve on the same axes
    lrs2, fig2 = plot_lr_schedule(lambda o: sch.InverseSqrt(o, warmup=20), 100, ax=fig.axes[0],
                                  label="inverse sqrt", lr=1e-3)
    assert fig2 is fig and len(fig.axes[0].lines) == 2
    np.testing.assert_allclose(fig.axes[0].lines[1].get_ydata(), lrs2)
    import matplotlib.pyplot as plt

    plt.close(fig)
