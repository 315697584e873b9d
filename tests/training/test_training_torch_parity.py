"""Our training loop and PyTorch's standard recipe, update for update.

The trainer is set up as ``minitransformer train`` sets it up (tokenizer,
length-bucketed batches, Xavier initialization, Adam, the Noam schedule,
clipping, label smoothing, gradient accumulation); PyTorch's twin starts from
the same weights and gets the same batches in the same order, and trains with
``F.cross_entropy(label_smoothing=..., ignore_index=pad)``, ``torch.optim.Adam``,
a ``LambdaLR`` Noam schedule and ``clip_grad_norm_``
(``benchmarks/multi30k/torch_train.py``, the Multi30k reference).  With
dropout off, every update's loss, gradient norm and learning rate, and the
weights after the last update, must agree.

Dropout draws differ between the engines, so a third test gives both the
same masks: each engine's dropout takes its uniform numbers from its own
copy of one seeded stream, in call order.  The losses then agree only if
dropout sits in the same places in both (after the positional encoding, on
the attention weights, after each sub-layer, on the feed-forward's hidden
units), in the same order, with the same 1/(1-p) scaling.
"""
import importlib
import importlib.util
import os

import math

import numpy as np
import pytest

from minitransformer.backend import current_xp
from minitransformer.training import TrainConfig, Trainer

torch = pytest.importorskip("torch")
F = torch.nn.functional

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def load_reference():
    path = os.path.join(ROOT, "benchmarks", "multi30k", "torch_train.py")
    spec = importlib.util.spec_from_file_location("multi30k_torch_train", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def config(tmp_path, dtype, **overrides):
    options = dict(task="numbers", task_size=400, vocab_size=64, d_model=32, heads=4, layers=2, d_ff=64,
                   dropout=0.0, label_smoothing=0.1, max_tokens=600, accum_steps=2, lr=0.004, warmup=4,
                   clip_norm=0.5, max_steps=10, seed=3, dtype=dtype, out=str(tmp_path / "run"),
                   progress=False)
    options.update(overrides)
    return TrainConfig(**options)


def train_both(cfg, updates):
    ref = load_reference()
    trainer = Trainer(cfg, log=lambda *a: None)
    trainer._setup()
    twin = ref.build_twin(cfg, trainer.model)
    optimizer, scheduler = ref.torch_optimizer(cfg, twin)
    rows = []
    for _ in range(updates):
        group = trainer._next_group()
        ours = trainer._train_step(group)
        theirs = ref.torch_update(twin, optimizer, scheduler, group, label_smoothing=cfg.label_smoothing,
                                  clip_norm=cfg.clip_norm)
        rows.append((ours, theirs))
    return trainer.model, twin, ref, rows


def test_ten_updates_match_pytorch_in_float64(tmp_path):
    model, twin, ref, rows = train_both(config(tmp_path, "float64"), updates=10)
    for step, (ours, theirs) in enumerate(rows, 1):
        assert ours["tokens"] == theirs["tokens"], step
        assert ours["lr"] == pytest.approx(theirs["lr"], rel=1e-12), step
        assert ours["loss"] == pytest.approx(theirs["loss"], rel=1e-12), step
        assert ours["grad_norm"] == pytest.approx(theirs["grad_norm"], rel=1e-12), step
    # (the key projection's bias gets a zero gradient in exact arithmetic: softmax ignores
    # a shift shared by all keys, so only rounding noise of ~1e-12 reaches it; hence atol)
    # the recipe's clipping was active, and the loss moved: the comparison covered real updates
    assert max(o["grad_norm"] for o, _ in rows) > 0.5
    assert rows[-1][0]["loss"] < rows[0][0]["loss"] - 0.1
    own = {name: t.numpy() for name, t in model.state_dict().items()}
    for name, param in twin.named_parameters():       # the same names: our layers are PyTorch's classes
        np.testing.assert_allclose(own[name], param.detach().numpy(), rtol=1e-9, atol=1e-10, err_msg=name)


def test_updates_match_pytorch_in_float32(tmp_path):
    _, _, _, rows = train_both(config(tmp_path, "float32", accum_steps=1), updates=6)
    for step, (ours, theirs) in enumerate(rows, 1):
        assert ours["loss"] == pytest.approx(theirs["loss"], rel=2e-5), step
        assert ours["grad_norm"] == pytest.approx(theirs["grad_norm"], rel=2e-3), step


class SharedUniforms:
    """A fake random generator: ``random(shape)`` reads the next numbers of a seeded stream."""

    def __init__(self, seed, xp=np):
        self.stream, self.xp = np.random.default_rng(seed), xp
        self.shapes = []

    def random(self, shape, dtype=np.float64):
        self.shapes.append(tuple(shape))
        return self.xp.asarray(self.stream.random(shape).astype(dtype))   # on the engine's backend


def torch_dropout_from(uniforms):
    """F.dropout keeping the places where the shared stream's number is >= p."""
    def dropout(x, p=0.5, training=True, inplace=False):
        if not training or p == 0.0:
            return x
        keep = torch.from_numpy(uniforms.random(tuple(x.shape))) >= p
        return x * keep.to(x.dtype) / (1.0 - p)
    return dropout


def torch_attention_with(dropout):
    """F.scaled_dot_product_attention written out, so its dropout on the weights is ``dropout``."""
    def attention(q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False, **unused):
        assert not is_causal
        scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
        if attn_mask is not None:
            scores = scores.masked_fill(~attn_mask, -math.inf) if attn_mask.dtype == torch.bool \
                else scores + attn_mask
        weights = torch.softmax(scores, dim=-1)
        return dropout(weights, dropout_p, True) @ v
    return attention


def test_dropout_sits_where_pytorch_puts_it(tmp_path, monkeypatch):
    our_dropout = importlib.import_module("minitransformer.functional.dropout")  # the module, not the function

    ours_draws, torch_draws = SharedUniforms(11, current_xp()), SharedUniforms(11)
    monkeypatch.setattr(our_dropout, "get_rng", lambda xp: ours_draws)
    dropout = torch_dropout_from(torch_draws)
    monkeypatch.setattr(F, "dropout", dropout)
    monkeypatch.setattr(F, "scaled_dot_product_attention", torch_attention_with(dropout))
    _, _, _, rows = train_both(config(tmp_path, "float64", dropout=0.3), updates=4)
    # 2 embeddings + 4 per encoder layer + 6 per decoder layer, per micro-batch
    per_forward = 2 + 4 * 2 + 6 * 2
    assert len(ours_draws.shapes) == 4 * 2 * per_forward
    assert ours_draws.shapes == torch_draws.shapes
    for step, (ours, theirs) in enumerate(rows, 1):
        assert ours["loss"] == pytest.approx(theirs["loss"], rel=1e-12), step
        assert ours["grad_norm"] == pytest.approx(theirs["grad_norm"], rel=1e-10), step
