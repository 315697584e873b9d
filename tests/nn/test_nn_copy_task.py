"""Done when: a tiny float32 Transformer learns to copy its input in a few seconds on a CPU.

Copying needs each output position to find "its" source token by position:
if attention, masks, positional encoding or any gradient were wrong, the
loss would plateau well above zero.  Greedy decoding with the incremental
cache must then reproduce unseen sequences exactly.
"""

import numpy as np

import minitransformer as mt
import minitransformer.functional as F
from minitransformer import nn

PAD, BOS, EOS, FIRST_SYMBOL, VOCAB = 0, 1, 2, 3, 13   # 10 symbols: ids 3..12

try:
    from minitransformer.optim import Adam
except ImportError:  # the optimizer package may not exist yet: a minimal Adam
    class Adam:
        def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
            self.params, self.lr, self.betas, self.eps, self.t = list(params), lr, betas, eps, 0
            self.m = [np.zeros_like(p.data) for p in self.params]
            self.v = [np.zeros_like(p.data) for p in self.params]

        def zero_grad(self):
            for p in self.params:
                p.grad = None

        def step(self):
            self.t += 1
            b1, b2 = self.betas
            for p, m, v in zip(self.params, self.m, self.v):
                if p.grad is None:
                    continue
                g = p.grad.data
                m *= b1
                m += (1 - b1) * g
                v *= b2
                v += (1 - b2) * g * g
                step = self.lr * (m / (1 - b1 ** self.t)) / (np.sqrt(v / (1 - b2 ** self.t)) + self.eps)
                p.data -= step.astype(p.dtype)


def copy_batch(rng, batch, min_len=4, max_len=7):
    """src: symbols then padding; tgt_in: BOS + symbols; tgt_out: symbols + EOS (padded with PAD)."""
    lengths = rng.integers(min_len, max_len + 1, size=batch)
    src = np.full((batch, max_len), PAD)
    tgt_in = np.full((batch, max_len + 1), PAD)
    tgt_out = np.full((batch, max_len + 1), PAD)
    for b, n in enumerate(lengths):
        seq = rng.integers(FIRST_SYMBOL, VOCAB, size=n)
        src[b, :n] = seq
        tgt_in[b, 0], tgt_in[b, 1:n + 1] = BOS, seq
        tgt_out[b, :n], tgt_out[b, n] = seq, EOS
    return src, tgt_in, tgt_out


def greedy_decode(model, src, max_steps):
    """Generate with the incremental cache, one token per step, until every row has EOS."""
    with mt.no_grad():
        memory = model.encode(src)
        cache = model.init_cache()
        out = np.full((src.shape[0], 1), BOS)
        done = np.zeros(src.shape[0], dtype=bool)
        for _ in range(max_steps):
            logits = model.decode_step(out[:, -1:], memory, cache, src)
            nxt = logits.numpy()[:, -1].argmax(-1)
            nxt[done] = PAD
            out = np.concatenate([out, nxt[:, None]], axis=1)
            done |= nxt == EOS
            if done.all():
                break
    return out[:, 1:]


def test_tiny_transformer_learns_to_copy():
    mt.manual_seed(0)
    rng = np.random.default_rng(0)
    model = nn.TransformerTranslator(VOCAB, VOCAB, d_model=32, nhead=2, num_encoder_layers=1, num_decoder_layers=1,
                                     dim_feedforward=64, dropout=0.0, pad_id=PAD)
    opt = Adam(model.parameters(), lr=3e-3, betas=(0.9, 0.98), eps=1e-9)
    losses = []
    for step in range(1500):
        src, tgt_in, tgt_out = copy_batch(rng, 64)
        logits = model(src, tgt_in)                          # (B, T, V): one row of V classes per token
        loss = F.cross_entropy(logits.reshape(-1, VOCAB), tgt_out.reshape(-1), ignore_index=PAD)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if step >= 50 and np.mean(losses[-10:]) < 0.005:
            break
    assert losses[0] > 2.0                                   # starts near log(13) = 2.56
    assert np.mean(losses[-10:]) < 0.1, (step, losses[-10:])

    model.eval()
    src, _, tgt_out = copy_batch(np.random.default_rng(123), 100)
    hyp = greedy_decode(model, src, max_steps=tgt_out.shape[1])
    hyp = np.pad(hyp, ((0, 0), (0, tgt_out.shape[1] - hyp.shape[1])), constant_values=PAD)
    exact = (hyp == tgt_out).all(axis=1).mean()
    assert exact >= 0.95, exact
