"""The same Transformer in PyTorch, for the benchmarks (and its weight copy from ours).

Mirrors ``minitransformer.nn.TransformerTranslator`` with share_embeddings=True,
tie_output=True, norm_first=False (post-LN), ReLU, dropout in the same places as ours
(after the positional encoding, on the attention weights, after each sub-layer and
on the feed-forward's hidden units; 0 by default, as the speed benchmarks use):

    x = dropout(E[src] * sqrt(d) + PE[:S])   (one table E for source and target)
    memory = encoder(x)                       (nn.TransformerEncoderLayer x N, no final norm)
    y = dropout(E[tgt] * sqrt(d) + PE[:T])
    h = decoder(y, memory)                    (nn.TransformerDecoderLayer x N, no final norm)
    logits = h E^T                            (tied output, no bias)

with the same masks as ours: source padding (keys of every attention over
the memory), target causal & target padding.  ``copy_from_ours`` loads our
weights by name (our layers are PyTorch's classes, with its parameter names),
so both start from the same point and their first losses agree.

For decoding, ``greedy_nocache`` re-runs the decoder on the whole prefix at
every step (what ``nn.TransformerDecoder`` offers); ``greedy_cached`` and
``beam_cached`` run the same layers' weights step by step with a key/value
cache, as ``minitransformer.inference`` does.
"""
from __future__ import annotations

import math

import numpy
import torch
import torch.nn.functional as F
from torch import nn

from minitransformer.nn.embedding import sinusoidal_table

PAD, BOS, EOS = 0, 2, 3


class TorchTransformer(nn.Module):
    """PyTorch twin of ``minitransformer.nn.TransformerTranslator`` (shared, tied embeddings; post-LN)."""

    def __init__(self, vocab: int, d_model: int, num_heads: int, num_encoder_layers: int,
                 num_decoder_layers: int, d_ff: int, max_len: int = 128, pad_id: int = PAD,
                 dropout: float = 0.0):
        super().__init__()
        self.d_model, self.num_heads, self.pad_id = d_model, num_heads, pad_id
        self.src_embed = nn.Embedding(vocab, d_model, padding_idx=pad_id)
        self.tgt_embed = self.src_embed                       # share_embeddings
        enc = nn.TransformerEncoderLayer(d_model, num_heads, d_ff, dropout=dropout, activation="relu",
                                         batch_first=True, norm_first=False)
        dec = nn.TransformerDecoderLayer(d_model, num_heads, d_ff, dropout=dropout, activation="relu",
                                         batch_first=True, norm_first=False)
        self.dropout = nn.Dropout(dropout)                    # after the positional encoding
        # post-LN: no final norm; dense tensors (no nested-tensor shortcut) as ours
        self.encoder = nn.TransformerEncoder(enc, num_encoder_layers, norm=None, enable_nested_tensor=False)
        self.decoder = nn.TransformerDecoder(dec, num_decoder_layers, norm=None)
        self.register_buffer("pe", torch.from_numpy(sinusoidal_table(max_len, d_model, dtype=numpy.float32)),
                             persistent=False)

    def embed(self, ids, offset: int = 0):
        return self.dropout(self.src_embed(ids) * math.sqrt(self.d_model) + self.pe[offset: offset + ids.shape[1]])

    def encode(self, src):
        """memory (B, S, d) and the source padding mask (B, S), True at padding (PyTorch's convention)."""
        src_pad = src == self.pad_id
        return self.encoder(self.embed(src), src_key_padding_mask=src_pad), src_pad

    def decode(self, tgt, memory, src_pad):
        """Logits (B, T, V) of every target position (the whole prefix, no cache)."""
        length = tgt.shape[1]
        causal = torch.triu(torch.ones(length, length, dtype=torch.bool, device=tgt.device), 1)
        h = self.decoder(self.embed(tgt), memory, tgt_mask=causal, tgt_key_padding_mask=tgt == self.pad_id,
                         memory_key_padding_mask=src_pad)
        return F.linear(h, self.tgt_embed.weight)              # tie_output: h E^T

    def forward(self, src, tgt):
        memory, src_pad = self.encode(src)
        return self.decode(tgt, memory, src_pad)


# ---------------------------------------------------------------- weights
@torch.no_grad()
def copy_from_ours(theirs: TorchTransformer, ours) -> TorchTransformer:
    """Load our model's weights into the PyTorch twin, parameter by parameter.

    Our layers are PyTorch's classes, with PyTorch's names (``in_proj_weight``,
    ``linear1``, ...), so every parameter of the twin has its namesake in our
    ``state_dict``.
    """
    own = {name: t.numpy() for name, t in ours.state_dict().items()}
    for name, param in theirs.named_parameters():
        if name not in own:
            raise KeyError(f"copy_from_ours: no parameter {name} in our model")
        value = own[name]
        if tuple(value.shape) != tuple(param.shape):
            raise ValueError(f"copy_from_ours: {name} has shape {tuple(param.shape)}, ours {value.shape}")
        param.copy_(torch.from_numpy(numpy.ascontiguousarray(value)))
    left = set(own) - {name for name, _ in theirs.named_parameters()} - {"tgt_embed.weight"}
    if left:   # (the shared table appears once in named_parameters)
        raise KeyError(f"copy_from_ours: our parameters {sorted(left)} have no PyTorch counterpart")
    return theirs


# ---------------------------------------------------------------- decoding
def _heads(x, h):
    b, length, d = x.shape
    return x.view(b, length, h, d // h).transpose(1, 2)          # (B, H, L, d_k)


def _merge(x):
    b, h, length, dk = x.shape
    return x.transpose(1, 2).reshape(b, length, h * dk)


def _proj(attn: nn.MultiheadAttention, x, which: int):
    """The q (0), k (1) or v (2) projection, from PyTorch's packed in_proj weight."""
    d = attn.embed_dim
    return F.linear(x, attn.in_proj_weight[which * d:(which + 1) * d], attn.in_proj_bias[which * d:(which + 1) * d])


def decode_step(model: TorchTransformer, last, memory, src_pad, cache: list, offset: int):
    """Logits (B, V) of one new token per row, with per-layer caches of keys and values.

    ``cache[i]`` holds layer i's self-attention keys/values so far ("k", "v")
    and its projected memory ("mk", "mv", computed once).
    """
    h = model.num_heads
    x = model.embed(last, offset)                                 # (B, 1, d)
    keep = ~src_pad[:, None, None, :]                              # (B, 1, 1, S), True = may attend
    for layer, c in zip(model.decoder.layers, cache):
        sa = layer.self_attn
        q, k, v = (_heads(_proj(sa, x, i), h) for i in range(3))
        if "k" in c:
            k, v = torch.cat([c["k"], k], dim=2), torch.cat([c["v"], v], dim=2)
        c["k"], c["v"] = k, v
        x = layer.norm1(x + sa.out_proj(_merge(F.scaled_dot_product_attention(q, k, v))))
        ca = layer.multihead_attn
        if "mk" not in c:
            c["mk"], c["mv"] = _heads(_proj(ca, memory, 1), h), _heads(_proj(ca, memory, 2), h)
        q = _heads(_proj(ca, x, 0), h)
        x = layer.norm2(x + ca.out_proj(_merge(F.scaled_dot_product_attention(q, c["mk"], c["mv"], attn_mask=keep))))
        x = layer.norm3(x + layer.linear2(F.relu(layer.linear1(x))))
    return F.linear(x[:, -1], model.tgt_embed.weight)


def _select(cache: list, rows, keys=("k", "v", "mk", "mv")):
    for c in cache:
        for key in keys:
            if key in c:
                c[key] = c[key][rows]


@torch.no_grad()
def greedy_cached(model: TorchTransformer, src, max_len: int) -> list:
    """Greedy decoding with a cache; finished rows leave the batch (as ours does)."""
    memory, src_pad = model.encode(src)
    batch = src.shape[0]
    cache = [{} for _ in model.decoder.layers]
    tokens = torch.full((batch, max_len), PAD, dtype=torch.long)
    active = torch.arange(batch)
    last = torch.full((batch, 1), BOS, dtype=torch.long, device=src.device)
    for t in range(max_len):
        nxt = decode_step(model, last, memory, src_pad, cache, t).argmax(-1).cpu()
        tokens[active, t] = nxt
        keep = nxt != EOS
        if not keep.any():
            break
        if not keep.all():
            rows = keep.nonzero().squeeze(1)
            active, nxt = active[rows], nxt[rows]
            rows = rows.to(src.device)
            memory, src_pad = memory[rows], src_pad[rows]
            _select(cache, rows)
        last = nxt[:, None].to(src.device)
    return _cut(tokens)


@torch.no_grad()
def greedy_nocache(model: TorchTransformer, src, max_len: int) -> list:
    """Greedy decoding re-running the decoder on the whole prefix each step: O(T^2) in all."""
    memory, src_pad = model.encode(src)
    batch = src.shape[0]
    tokens = torch.full((batch, max_len), PAD, dtype=torch.long)
    active = torch.arange(batch)
    prefix = torch.full((batch, 1), BOS, dtype=torch.long, device=src.device)
    for t in range(max_len):
        nxt = model.decode(prefix, memory, src_pad)[:, -1].argmax(-1).cpu()
        tokens[active, t] = nxt
        keep = nxt != EOS
        if not keep.any():
            break
        if not keep.all():
            rows = keep.nonzero().squeeze(1)
            active, nxt = active[rows], nxt[rows]
            rows = rows.to(src.device)
            memory, src_pad, prefix = memory[rows], src_pad[rows], prefix[rows]
        prefix = torch.cat([prefix, nxt[:, None].to(src.device)], dim=1)
    return _cut(tokens)


@torch.no_grad()
def beam_cached(model: TorchTransformer, src, beam: int, max_len: int, length_penalty: float = 0.6) -> list:
    """Beam search as ``minitransformer.inference.beam_search`` (same ranking, penalty and stop), cached.

    The projected memory of a sentence is the same for all its beams, so
    only the self-attention cache is reordered.
    """
    batch, dev = src.shape[0], src.device
    memory, src_pad = model.encode(src)
    expand = torch.arange(batch, device=dev).repeat_interleave(beam)
    memory, src_pad = memory[expand], src_pad[expand]
    cache = [{} for _ in model.decoder.layers]
    scores = torch.full((batch, beam), -math.inf, dtype=torch.float64, device=dev)
    scores[:, 0] = 0.0
    tokens = torch.full((batch, beam, max_len), PAD, dtype=torch.long, device=dev)
    finished = [[] for _ in range(batch)]
    best_finished = torch.full((batch,), -math.inf, dtype=torch.float64)
    last = torch.full((batch * beam, 1), BOS, dtype=torch.long, device=dev)

    def penalty(length):
        return ((5.0 + length) / 6.0) ** length_penalty

    for t in range(max_len):
        logp = F.log_softmax(decode_step(model, last, memory, src_pad, cache, t), dim=-1).double()
        vocab = logp.shape[-1]
        candidates = (scores[:, :, None] + logp.view(batch, beam, vocab)).view(batch, beam * vocab)
        cand_scores, best = candidates.topk(min(2 * beam, beam * vocab), dim=1)
        origin, token = best // vocab, best % vocab
        ends = token == EOS
        for b, rank in ends[:, :beam].nonzero().tolist():
            if math.isfinite(cand_scores[b, rank]):
                score = float(cand_scores[b, rank]) / penalty(t + 1)
                finished[b].append((score, tokens[b, origin[b, rank], :t].tolist()))
                best_finished[b] = max(float(best_finished[b]), score)
        keep = torch.argsort(ends.to(torch.int8), dim=1, stable=True)[:, :beam]
        scores = cand_scores.gather(1, keep)
        if bool((best_finished >= scores.max(dim=1).values.cpu() / penalty(max_len)).all()):
            break
        origin, token = origin.gather(1, keep), token.gather(1, keep)
        tokens = tokens.gather(1, origin[:, :, None].expand(-1, -1, max_len))
        tokens[:, :, t] = token
        _select(cache, (torch.arange(batch, device=dev)[:, None] * beam + origin).view(-1), keys=("k", "v"))
        last = token.view(-1, 1)
    else:
        for b in range(batch):
            for k in range(beam):
                if math.isfinite(scores[b, k]):
                    finished[b].append((float(scores[b, k]) / penalty(max_len), tokens[b, k].tolist()))
    return [max(f, key=lambda scored: scored[0])[1] for f in finished]


def _cut(rows) -> list:
    out = []
    for row in rows.tolist():
        out.append(row[:row.index(EOS)] if EOS in row else row)
    return out
