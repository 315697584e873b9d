"""The benchmark scripts run end to end at a seconds-long size and print their
columns; their FLOP formula and PyTorch twin are checked against the model.

No speed is asserted: these are smoke tests of the harness, not timings.
"""
import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest

from minitransformer.backend.fast import formulas_only
from minitransformer.functional.linear import Linear
from minitransformer.ops.matrix_product import MatMul


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "benchmarks")
HAVE_TORCH = importlib.util.find_spec("torch") is not None


def load(name):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", os.path.join(BENCH, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(script, *args, timeout=120):
    env = dict(os.environ, PYTHONPATH=ROOT)
    proc = subprocess.run([sys.executable, os.path.join(BENCH, script), *args], capture_output=True, text=True,
                          env=env, timeout=timeout, cwd=ROOT)
    assert proc.returncode == 0, f"{script} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


def table_row(out, *first_cells):
    """The table line starting with these cells (split on whitespace)."""
    for line in out.splitlines():
        cells = line.split()
        if cells[:len(first_cells)] == list(first_cells):
            return cells
    raise AssertionError(f"no row {first_cells} in:\n{out}")


def test_train_step_smoke():
    out = run("train_step.py", "--config", "smoke", "--steps", "2", "--warmup", "1", "--repeats", "1",
              "--threads", "1", "--peak-size", "128")
    for column in ("median ms/step", "min ms/step", "tgt tokens/s", "step RSS MB", "peak RSS MB", "GFLOP/s",
                   "% of peak", "loss first -> last", "float32 GEMM peak", "matmul FLOPs per step"):
        assert column in out
    ours = table_row(out, "ours")
    assert float(ours[1]) > 0 and float(ours[2]) > 0   # median and min ms/step
    if HAVE_TORCH:
        torch_row = table_row(out, "torch")
        assert "ours / PyTorch time per step" in out
        # the same initial weights and data: the same first loss
        assert ours[-3] == torch_row[-3]
    else:
        assert "PyTorch is not installed" in out


def test_decode_smoke():
    out = run("decode.py", "--config", "smoke", "--runs", "1", "--repeats", "1", "--threads", "1",
              "--batch", "3", "--max-len", "4", "--src-min", "3", "--src-max", "5", "--beam", "2")
    for column in ("median ms/batch", "min ms/batch", "sentences/s", "same as ours"):
        assert column in out
    assert float(table_row(out, "ours", "greedy")[2]) > 0
    assert float(table_row(out, "ours", "beam", "2")[3]) > 0
    if HAVE_TORCH:
        # same weights, same algorithm: the same translations
        assert table_row(out, "torch", "greedy", "(no", "cache)")[-1] == "100%"
        assert table_row(out, "torch", "beam", "2")[-1] == "100%"
        assert "ours greedy / PyTorch greedy:" in out


def test_profile_step_smoke():
    out = run("profile_step.py", "--config", "smoke", "--steps", "1", "--warmup", "1", "--limit", "5")
    for column in ("forward ms", "backward ms", "calls", "% of ops", "plain step (no profiler)"):
        assert column in out
    assert "Linear" in out and "section 'backward'" in out


def test_gpu_script_skips_or_runs():
    """Without CuPy/GPU gpu.py says why and exits 0 (with one, it runs a smoke config)."""
    out = run("gpu.py", "--config", "smoke", "--steps", "1", "--warmup", "1", "--repeats", "1", "--peak-size", "256")
    assert "skipped" in out or "median ms/step" in out


def test_flop_formula_counts_every_matmul(monkeypatch):
    """train_flops' forward count equals 2*M*K*N summed over the products our model really runs."""
    harness = load("harness")
    cfg = dict(harness.CONFIGS["smoke"], src_len=7, tgt_len=5)   # S != T catches swapped lengths
    counted = []

    def counting(cls, flops_of):
        original = cls.forward

        def forward(ctx, *args, **kwargs):
            counted.append(flops_of(*args))
            return original(ctx, *args, **kwargs)
        monkeypatch.setattr(cls, "forward", staticmethod(forward))

    counting(Linear, lambda x, w, b=None: 2 * x.size * w.shape[0])
    counting(MatMul,
             lambda a, b: 2 * np.prod(np.broadcast_shapes(a.shape[:-2], b.shape[:-2]), dtype=int)
             * a.shape[-2] * a.shape[-1] * b.shape[-1])
    model = harness.build_ours(cfg)
    src, tgt_in, _ = harness.make_batch(cfg)
    with formulas_only():   # the formulas' forwards are the ones counted
        model(src, tgt_in)
    flops = harness.train_flops(cfg)
    assert sum(counted) == flops["forward"]
    assert flops["train_step"] == 3 * flops["forward"]


def test_torch_reference_mirrors_our_model():
    torch = pytest.importorskip("torch")
    harness = load("harness")
    sys.path.insert(0, BENCH)
    try:
        ref = load("torch_reference")
    finally:
        sys.path.remove(BENCH)
    cfg = harness.CONFIGS["smoke"]
    ours = harness.build_ours(cfg)
    theirs = ref.TorchTransformer(cfg["vocab"], cfg["d_model"], cfg["num_heads"], cfg["num_encoder_layers"],
                                  cfg["num_decoder_layers"], cfg["d_ff"], 64)
    ref.copy_from_ours(theirs, ours)
    src, tgt_in, _ = harness.make_batch(cfg)
    src[0, -3:] = 0   # padding, so the masks matter
    tgt_in[1, -2:] = 0
    expected = ours(src, tgt_in).numpy()
    got = theirs(torch.from_numpy(src), torch.from_numpy(tgt_in)).detach().numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
