"""NaN and overflow: found where they start, and never written into a checkpoint.

* ``mt.detect_anomaly()`` stops at the first op whose forward output or
  backward gradient is NaN or inf, naming the op, its input shapes and the
  line of user code that called it;
* the trainer checks every update: with ``on_nonfinite="stop"`` it stops
  with a clear message and leaves the last checkpoint as it was; with
  ``"skip"`` it drops that update and goes on;
* float32 limits: exp(88) is finite, exp(89) and log(0) are not, and
  anomaly mode says so; optimizers survive all-zero gradients.
"""
import inspect
import json

import numpy as np
import pytest

import minitransformer as mt
import minitransformer.training.steps as steps
import minitransformer.training.trainer as trainer_module
from minitransformer import nn, optim
from minitransformer.cli import main
from minitransformer.data import make_batches
from minitransformer.training import NonFiniteLossError, train_step

HERE = __file__.rsplit("/", 1)[-1]
TINY = ["--task-size", "300", "--d-model", "16", "--heads", "2", "--layers", "1", "--d-ff", "32",
        "--max-steps", "12", "--eval-every", "6", "--eval-sentences", "10", "--time-budget", "60", "--no-progress"]
# a learning rate so large that the second update's forward overflows float32
EXPLODE = ["--lr", "1e20", "--clip-norm", "0", "--schedule", "constant", "--warmup", "1", "--save-every", "1",
           "--dropout", "0"]


@pytest.fixture(autouse=True)
def quiet_numpy():
    """NumPy's overflow warnings are expected here."""
    with np.errstate(all="ignore"):
        yield


def next_line():
    """The line number after the caller's line."""
    return inspect.currentframe().f_back.f_lineno + 1


# ------------------------------------------------------------ anomaly mode
def test_anomaly_mode_names_the_first_op_whose_output_is_nan():
    x = mt.tensor([[1.0, -1.0], [2.0, 3.0]], requires_grad=True)
    with mt.detect_anomaly():
        y = x * 2.0                                  # finite: no complaint
        with pytest.raises(mt.AnomalyError) as info:
            line = next_line()
            (y.log() * 3.0).sum()                    # log(-2) = nan: Log is named, not Mul or Sum
    message = str(info.value)
    assert "forward output of Log" in message and "op Log" in message, message
    assert "input shapes [(2, 2)]" in message and f"{HERE}:{line}" in message, message
    assert not mt.autograd.grad_mode.flags.anomaly   # switched off again after the error


def test_anomaly_mode_names_the_op_whose_gradient_is_inf():
    x = mt.tensor([0.0, 4.0, 9.0], requires_grad=True)
    with mt.detect_anomaly():
        line = next_line()
        y = x.sqrt()                                 # forward: sqrt(0) = 0, finite
        loss = (y * 3.0).sum()
        with pytest.raises(mt.AnomalyError) as info:
            loss.backward()                          # backward: 1 / (2 sqrt(0)) = inf
    message = str(info.value)
    assert "gradient Sqrt.backward returned for input 0" in message and "op Sqrt" in message, message
    assert "input shapes [(3,)]" in message and f"{HERE}:{line}" in message, message


def test_without_anomaly_mode_nan_passes_silently():
    x = mt.tensor([0.0, 4.0], requires_grad=True)
    x.sqrt().sum().backward()
    assert np.isinf(x.grad.numpy()[0])


def test_float32_exp_and_log_at_their_limits():
    with mt.detect_anomaly():
        big = mt.tensor([88.0]).exp()                # e^88 = 1.65e38 < float32 max 3.4e38
        assert big.dtype == np.float32 and np.isfinite(big.numpy()).all()
        with pytest.raises(mt.AnomalyError, match=r"forward output of Exp .*op Exp, input shapes \[\(1,\)\]"):
            mt.tensor([89.0]).exp()                  # e^89 overflows to inf
        with pytest.raises(mt.AnomalyError, match=r"forward output of Log .*input shapes \[\(2,\)\]"):
            mt.tensor([1.0, 0.0]).log()              # log(0) = -inf
    assert np.isposinf(mt.tensor([89.0]).exp().numpy()).all()    # outside anomaly mode: plain inf
    assert np.isneginf(mt.tensor([0.0]).log().numpy()).all()


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "LAMB", "Adagrad", "RMSprop"])
def test_optimizers_take_all_zero_gradients_without_nan(name):
    weights = np.array([[0.5, -1.0], [2.0, 0.0]], dtype=np.float32)
    p = nn.Parameter(weights.copy())
    opt = getattr(optim, name)([p], lr=0.1, weight_decay=0.0)
    for _ in range(3):
        p.grad = mt.zeros(2, 2)
        opt.step()
    assert np.array_equal(p.numpy(), weights)        # no gradient, no weight decay: no change
    for state in opt.state.values():
        for value in state.values():
            if isinstance(value, (mt.Tensor, np.ndarray)):
                assert np.isfinite(value.numpy() if isinstance(value, mt.Tensor) else value).all()


# ------------------------------------------------------------- train_step
def tiny_step_setup():
    model = nn.TransformerTranslator(13, 13, d_model=8, nhead=2, num_encoder_layers=1, num_decoder_layers=1,
                                     dim_feedforward=16, dropout=0.0, share_embeddings=True, tie_output=True)
    rng = np.random.default_rng(0)
    src = [rng.integers(4, 13, size=4).tolist() for _ in range(6)]
    tgt = [rng.integers(4, 13, size=3).tolist() for _ in range(6)]
    return model, optim.Adam(model.parameters(), lr=1e-3), make_batches(src, tgt, max_tokens=100)


@pytest.mark.parametrize("clip_norm", [None, 1.0])
def test_a_finite_loss_with_an_infinite_gradient_is_not_applied(monkeypatch, clip_norm):
    model, opt, batches = tiny_step_setup()
    real = steps.accumulate_gradients

    def poisoned(model, *args, **kwargs):
        loss = real(model, *args, **kwargs)          # finite loss...
        model.decoder.layers[0].linear1.weight.grad.data[0, 0] = np.inf   # ...one overflowed gradient
        return loss

    monkeypatch.setattr(steps, "accumulate_gradients", poisoned)
    before = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    with pytest.raises(NonFiniteLossError, match="gradient norm (inf|nan)"):
        train_step(model, opt, None, batches, clip_norm=clip_norm, on_nonfinite="stop")
    result = train_step(model, opt, None, batches, clip_norm=clip_norm, on_nonfinite="skip")
    assert result["finite"] is False and np.isfinite(result["loss"])
    for k, v in model.state_dict().items():
        assert np.array_equal(v.numpy(), before[k]), k        # nothing applied
    assert all(p.grad is None for p in model.parameters()) and not opt.state


# ----------------------------------------------------------------- trainer
def records(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def model_arrays(path):
    return {k: v.numpy() for k, v in mt.load(path, backend="numpy")["model"].items()}


def test_on_nonfinite_stop_ends_the_run_and_keeps_the_last_checkpoint(tmp_path, capsys, monkeypatch):
    run = tmp_path / "stop"
    snapshots = []
    real_step = trainer_module.train_step

    def step_after_snapshot(*args, **kwargs):       # the bytes of last.ckpt before each update
        last = run / "last.ckpt"
        snapshots.append(last.read_bytes() if last.exists() else None)
        return real_step(*args, **kwargs)

    monkeypatch.setattr(trainer_module, "train_step", step_after_snapshot)
    assert main(["train", *TINY, *EXPLODE, "--out", str(run)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("minitransformer train: error: update 2: the loss or gradient"), err
    assert "the last checkpoint is intact" in err and "--detect-anomaly" in err
    assert len(snapshots) == 2 and snapshots[1] is not None
    assert (run / "last.ckpt").read_bytes() == snapshots[1]          # untouched by the failed update
    ck = mt.load(run / "last.ckpt", backend="numpy")
    assert ck["trainer"]["step"] == 1
    assert all(np.isfinite(v.numpy()).all() for v in ck["model"].values())
    assert [r["step"] for r in records(run)] == [1] and records(run)[0]["skipped"] is False


def test_on_nonfinite_skip_drops_the_bad_updates_and_goes_on(tmp_path, capsys):
    assert main(["train", *TINY, *EXPLODE, "--max-steps", "1", "--out", str(tmp_path / "one")]) == 0
    assert main(["train", *TINY, *EXPLODE, "--on-nonfinite", "skip", "--out", str(tmp_path / "skip")]) == 0
    capsys.readouterr()
    updates = [r for r in records(tmp_path / "skip") if "loss" in r]
    assert [r["step"] for r in updates] == list(range(1, 13))        # ran to the end
    assert updates[0]["skipped"] is False and all(r["skipped"] and r["loss"] is None for r in updates[1:])
    # every later update was dropped: the weights are those after update 1
    after_one, final = model_arrays(tmp_path / "one" / "last.ckpt"), model_arrays(tmp_path / "skip" / "last.ckpt")
    assert after_one.keys() == final.keys()
    for k in final:
        assert np.array_equal(final[k], after_one[k]), k


def test_skipping_gives_up_when_every_update_fails(tmp_path, capsys, monkeypatch):
    from minitransformer.training import trainer

    monkeypatch.setattr(trainer, "MAX_SKIPS_IN_A_ROW", 3)
    status = main(["train", *TINY, *EXPLODE, "--on-nonfinite", "skip", "--out", str(tmp_path / "skip")])
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1, err
    assert "3 updates in a row" in err and "diverged" in err, err
    # update 1 was good, 2-4 were skipped: it stopped there, not at the end
    assert [r["step"] for r in records(tmp_path / "skip") if "loss" in r] == [1, 2, 3, 4]


def test_the_detect_anomaly_flag_is_accepted_and_names_the_op(tmp_path, capsys):
    assert main(["train", *TINY, "--max-steps", "2", "--detect-anomaly", "--out", str(tmp_path / "ok")]) == 0
    assert json.loads((tmp_path / "ok" / "config.json").read_text())["detect_anomaly"] is True
    capsys.readouterr()
    assert main(["train", *TINY, *EXPLODE, "--detect-anomaly", "--out", str(tmp_path / "bad")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "contains NaN or inf (op " in err and "input shapes [(" in err, err
    assert mt.load(tmp_path / "bad" / "last.ckpt", backend="numpy")["trainer"]["step"] == 1
