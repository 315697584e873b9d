"""The per-op profiler: it records a real training step, sums per op kind and
phase, prints a sorted table, and always removes its hook."""
import numpy as np
import pytest

import minitransformer as mt
from minitransformer import functional as F
from minitransformer import nn, optim
from minitransformer.autograd.grad_mode import flags
from minitransformer.profiler import Profiler, profile


def tiny_step(prof=None):
    model = nn.TransformerTranslator(20, 20, d_model=8, nhead=2, num_encoder_layers=1, num_decoder_layers=1,
                                     dim_feedforward=16, dropout=0.0, share_embeddings=True, tie_output=True)
    opt = optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.98), eps=1e-9)
    rng = np.random.default_rng(0)
    src, tgt = rng.integers(4, 20, (2, 5)), rng.integers(4, 20, (2, 6))
    logits = model(src, tgt[:, :-1])                      # (B, T, V): one row of V classes per token
    loss = F.cross_entropy(logits.reshape(-1, 20), tgt[:, 1:].reshape(-1), ignore_index=0, label_smoothing=0.1)
    loss.backward()
    if prof is not None:
        with prof.section("optimizer"):
            opt.step()
    else:
        opt.step()
    opt.zero_grad()


def test_records_the_ops_of_a_training_step():
    with profile() as prof:
        assert flags.profiler is prof
        tiny_step(prof)
    rows = {r["op"]: r for r in prof.rows()}
    # one encoder + one decoder layer: 4 attention blocks x 4 projections, 2 FFNs x 2 linears, tied output
    assert rows["Linear"]["forward_calls"] == 3 * 4 + 2 * 2 + 1
    assert rows["Linear"]["backward_calls"] == rows["Linear"]["forward_calls"]
    assert rows["Linear"]["forward_s"] > 0 and rows["Linear"]["backward_s"] > 0
    assert "CrossEntropy" in rows
    t = prof.totals()
    assert t["forward_s"] > 0 and t["backward_s"] > 0
    assert t["total_s"] == pytest.approx(sum(r["total_s"] for r in rows.values()))
    assert t["calls"] == sum(r["forward_calls"] for r in rows.values())
    assert 0 < t["total_s"] <= t["wall_s"]
    assert sum(r["percent"] for r in rows.values()) == pytest.approx(100.0)
    assert prof.sections()["optimizer"]["calls"] == 1 and prof.sections()["optimizer"]["seconds"] > 0


def test_table_is_sorted_and_lists_the_ops():
    with profile() as prof:
        tiny_step(prof)
    text = prof.table()
    header = text.splitlines()[0]
    for column in ("op", "forward ms", "backward ms", "calls", "% of ops"):
        assert column in header
    assert "Linear" in text and "all ops" in text and "section 'optimizer'" in text
    totals = [r["total_s"] for r in prof.rows()]
    assert totals == sorted(totals, reverse=True)
    first_op = text.splitlines()[2].split()[0]
    assert first_op == prof.rows()[0]["op"]
    short = prof.table(limit=2, steps=2)
    assert "more op kinds" in short


def test_matmul_recorded_with_exact_counts():
    a = mt.randn(3, 4, requires_grad=True)
    b = mt.randn(4, 5, requires_grad=True)
    with profile() as prof:
        (a @ b).sum().backward()
        with mt.no_grad():
            a @ b  # forward only: no backward recorded for this one
    rows = {r["op"]: r for r in prof.rows()}
    assert rows["MatMul"]["forward_calls"] == 2
    assert rows["MatMul"]["backward_calls"] == 1


def test_hook_removed_after_block_even_on_exception():
    assert flags.profiler is None
    with pytest.raises(RuntimeError, match="boom"):
        with profile():
            mt.randn(2, 2) + 1
            raise RuntimeError("boom")
    assert flags.profiler is None
    # no recording outside the block
    with profile() as prof:
        pass
    mt.randn(2, 2) * 2
    assert prof.rows() == [] and prof.totals()["calls"] == 0


def test_nested_blocks_restore_the_outer_profiler():
    with profile() as outer:
        with profile() as inner:
            mt.randn(2, 2) * 3
        assert flags.profiler is outer
        mt.randn(2, 2) + 3
    assert flags.profiler is None
    assert inner.totals()["calls"] >= 1 and outer.totals()["calls"] >= 1
    assert "Mul" in {r["op"] for r in inner.rows()} - {r["op"] for r in outer.rows()}


def test_bad_arguments_are_clear():
    prof = Profiler()
    with pytest.raises(ValueError, match="phase"):
        prof.record("Add", "sideways", 0.1)
    with pytest.raises(TypeError, match="profiler"):
        with profile(object()):
            pass
    assert flags.profiler is None
    with pytest.raises(ValueError, match="steps"):
        prof.table(steps=0)
