"""Large batches from small ones: gradient accumulation, token-budget batching and padding.

* K accumulated micro-batches give the gradient of one batch holding all of
  their pairs (float64, to 1e-9), and only one micro-batch's graph is alive
  at a time;
* the trainer's batches respect ``--max-tokens``, and over an epoch of
  accumulated updates every training pair is seen exactly once;
* padding a sentence (to share a batch with a longer one) leaves the logits
  of its real positions unchanged: the masks hide the padding.
"""
import weakref

import numpy as np
import pytest

import minitransformer as mt
from minitransformer import nn
from minitransformer.data import Batch, make_batches
from minitransformer.training import TrainConfig, Trainer, accumulate_gradients

VOCAB = 13


def tiny_model(**kw):
    config = dict(d_model=8, nhead=2, num_encoder_layers=1, num_decoder_layers=1, dim_feedforward=16,
                  dropout=0.0, share_embeddings=True, tie_output=True, pad_id=0)
    return nn.TransformerTranslator(VOCAB, VOCAB, **{**config, **kw})


def random_pairs(n, seed=0):
    """n pairs of id lists (ids 4..VOCAB-1: no specials), of varied lengths."""
    rng = np.random.default_rng(seed)
    src = [rng.integers(4, VOCAB, size=rng.integers(1, 9)).tolist() for _ in range(n)]
    tgt = [rng.integers(4, VOCAB, size=rng.integers(1, 7)).tolist() for _ in range(n)]
    return src, tgt


def union(batches):
    """One Batch holding every pair of ``batches``: their arrays padded to the widest, stacked."""
    def stack(name):
        arrays = [getattr(b, name) for b in batches]
        width = max(a.shape[1] for a in arrays)
        return np.concatenate([np.pad(a, ((0, 0), (0, width - a.shape[1]))) for a in arrays])

    return Batch(src=stack("src"), tgt_in=stack("tgt_in"), tgt_out=stack("tgt_out"),
                 src_lengths=np.concatenate([b.src_lengths for b in batches]),
                 tgt_lengths=np.concatenate([b.tgt_lengths for b in batches]),
                 indices=np.concatenate([b.indices for b in batches]),
                 num_tgt_tokens=sum(b.num_tgt_tokens for b in batches))


def gradients(model):
    return {name: p.grad.numpy().copy() for name, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
def test_accumulated_micro_batches_give_the_gradient_of_their_union(label_smoothing):
    with mt.set_default_dtype("float64"):
        model = tiny_model()
    src, tgt = random_pairs(24)
    micro = make_batches(src, tgt, max_tokens=40, seed=3)
    assert len(micro) >= 4                                  # a real accumulation, of unequal batches
    assert len({b.src.shape for b in micro}) > 1
    whole = union(micro)
    assert sorted(whole.indices.tolist()) == list(range(24))

    loss_k = accumulate_gradients(model, micro, label_smoothing=label_smoothing)
    grads_k = gradients(model)
    model.zero_grad()
    loss_1 = accumulate_gradients(model, [whole], label_smoothing=label_smoothing)
    grads_1 = gradients(model)

    assert loss_k == pytest.approx(loss_1, rel=1e-12)
    assert grads_k.keys() == grads_1.keys() and len(grads_k) == len(list(model.parameters()))
    for name in grads_1:
        assert np.abs(grads_1[name]).max() > 0 or name.endswith("bias"), name
        np.testing.assert_allclose(grads_k[name], grads_1[name], rtol=1e-9, atol=1e-12, err_msg=name)


def test_accumulation_normalises_by_the_tokens_of_the_whole_update():
    """Each micro-batch divides by the tokens of all K, not its own: doing the latter
    would weigh a pair of a small micro-batch more than one of a large micro-batch."""
    with mt.set_default_dtype("float64"):
        model = tiny_model()
    micro = make_batches(*random_pairs(12, seed=1), max_tokens=30, seed=0)[:2]
    assert micro[0].num_tgt_tokens != micro[1].num_tgt_tokens
    accumulate_gradients(model, micro)
    together = gradients(model)
    own = {}
    for batch in micro:
        model.zero_grad()
        accumulate_gradients(model, [batch])
        for name, g in gradients(model).items():
            own[name] = own.get(name, 0) + g * batch.num_tgt_tokens
    total = sum(b.num_tgt_tokens for b in micro)
    for name, g in together.items():
        np.testing.assert_allclose(g, own[name] / total, rtol=1e-9, atol=1e-12, err_msg=name)


def graph_tensors(root):
    """Every non-leaf tensor of the graph that produced ``root`` (the activations)."""
    found, stack = {}, [root]
    while stack:
        t = stack.pop()
        if t._ctx is not None and id(t) not in found:
            found[id(t)] = t
            stack.extend(x for x in t._ctx.inputs if x is not None)
    return list(found.values())


class SpyModel:
    """Calls the model, keeping only weak references to the activations of each forward;
    records how many of the earlier ones are still alive when the next forward starts."""

    def __init__(self, model):
        self.model, self.graphs, self.alive_at_call = model, [], []

    def __call__(self, src, tgt):
        self.alive_at_call.append([sum(ref() is not None for ref in refs) for refs in self.graphs])
        logits = self.model(src, tgt)
        self.graphs.append([weakref.ref(t) for t in graph_tensors(logits)])
        return logits


def test_only_one_micro_batch_graph_is_alive_at_a_time():
    model = tiny_model()
    micro = make_batches(*random_pairs(16), max_tokens=40, seed=0)[:3]
    spy = SpyModel(model)
    accumulate_gradients(spy, micro)
    assert all(len(refs) > 50 for refs in spy.graphs)       # a real graph: embeddings, attention...
    # each micro-batch's activations are freed before the next forward runs
    assert spy.alive_at_call == [[], [0], [0, 0]]
    assert all(p.grad is not None for p in model.parameters())


def test_an_update_without_target_tokens_is_refused():
    model = tiny_model()
    with pytest.raises(ValueError, match="accumulate_gradients: the batch holds no target tokens"):
        accumulate_gradients(model, [])


# --------------------------------------------------------------- the trainer's batches
def test_the_trainer_batches_respect_the_token_budget_and_lose_no_pair(tmp_path):
    config = TrainConfig(task="copy", task_size=300, d_model=8, heads=2, layers=1, d_ff=16, vocab_size=32,
                         max_tokens=150, accum_steps=3, max_steps=1, out=str(tmp_path / "run"), progress=False)
    trainer = Trainer(config, log=lambda *a: None)
    trainer._setup()
    batches = trainer.batches.batches
    n = len(trainer.data.train)
    assert n == 300 and len(trainer.src_ids) == n       # the task has its own validation split
    seen = np.concatenate([b.indices for b in batches])
    assert sorted(seen.tolist()) == list(range(n))      # every pair in exactly one batch
    for b in batches:
        assert config.token_budget == "per-side"           # the default: the longer side counts
        assert len(b.indices) * max(b.src.shape[1], b.tgt_in.shape[1]) <= config.max_tokens
        for row, i in enumerate(b.indices):
            src, tgt = trainer.src_ids[i], trainer.tgt_ids[i]
            assert b.src[row, :len(src)].tolist() == src and not b.src[row, len(src):].any()
            assert b.tgt_out[row, :len(tgt) + 1].tolist() == tgt + [3]
    # one epoch of accumulated updates visits every batch once, K at a time
    groups = [trainer._next_group() for _ in range(trainer.updates_per_epoch)]
    assert all(len(g) == 3 for g in groups[:-1]) and 1 <= len(groups[-1]) <= 3
    assert sorted(id(b) for g in groups for b in g) == sorted(id(b) for b in batches)
    assert trainer.state["epoch"] == 1 and trainer.state["position"] == 0


# --------------------------------------------------------------- padding and masks
@pytest.mark.parametrize("norm_first", [False, True])
def test_padding_does_not_change_the_logits_of_real_positions(norm_first):
    with mt.set_default_dtype("float64"):
        model = tiny_model(norm_first=norm_first, tie_output=False)
    model.eval()
    short_src, short_tgt = [5, 6, 7], [2, 8, 9]                       # tgt_in starts with bos = 2
    long_src, long_tgt = [4, 5, 6, 7, 8, 9, 10], [2, 4, 5, 6, 11, 12]
    alone = model(np.array([short_src]), np.array([short_tgt])).numpy()[0]
    src = np.array([short_src + [0] * 4, long_src])
    tgt = np.array([short_tgt + [0] * 3, long_tgt])
    batched = model(src, tgt).numpy()
    np.testing.assert_allclose(batched[0, :3], alone, rtol=1e-10, atol=1e-12)
    long_alone = model(np.array([long_src]), np.array([long_tgt])).numpy()[0]
    np.testing.assert_allclose(batched[1], long_alone, rtol=1e-10, atol=1e-12)
    # the check can fail: with the masks off, the padding leaks into the short sentence
    unmasked = tiny_model(norm_first=norm_first, tie_output=False, pad_id=None)
    unmasked.load_state_dict(model.state_dict())
    unmasked.eval()
    leaked = unmasked(src, tgt).numpy()[0, :3]
    assert np.abs(leaked - alone).max() > 1e-3
