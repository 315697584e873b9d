import minitransformer as torch
import minitransformer.nn as nn
from minitransformer.functional import log_softmax
import copy
import math

# An encoder-decoder written in the idioms of The Annotated Transformer's
# PyTorch code (pre-norm sublayers, a hand-written LayerNorm with std, masks
# from triu and uint8, a greedy loop with max/cat/fill_); the test runs this
# same file under PyTorch with the import lines above swapped.


def stack(module, n):
    return nn.ModuleList([copy.deepcopy(module) for _ in range(n)])


def no_peeking(size):
    upper = torch.triu(torch.ones((1, size, size)), diagonal=1).type(torch.uint8)
    return upper == 0


class Norm(nn.Module):
    def __init__(self, features, eps=1e-6):
        super().__init__()
        self.gain = nn.Parameter(torch.ones(features))
        self.shift = nn.Parameter(torch.zeros(features))
        self.eps = eps

    def forward(self, x):
        mean = x.mean(-1, keepdim=True)
        std = x.std(-1, keepdim=True)
        return self.gain * (x - mean) / (std + self.eps) + self.shift


def attend(q, k, v, mask=None):
    scores = torch.matmul(q, k.transpose(-2, -1)) / math.sqrt(q.size(-1))
    if mask is not None:
        scores = scores.masked_fill(mask == 0, -1e9)
    weights = scores.softmax(dim=-1)
    return torch.matmul(weights, v), weights


class Heads(nn.Module):
    def __init__(self, h, d_model):
        super().__init__()
        self.d_k, self.h = d_model // h, h
        self.projections = stack(nn.Linear(d_model, d_model), 4)

    def forward(self, query, key, value, mask=None):
        if mask is not None:
            mask = mask.unsqueeze(1)
        n = query.size(0)
        q, k, v = [p(x).view(n, -1, self.h, self.d_k).transpose(1, 2)
                   for p, x in zip(self.projections, (query, key, value))]
        x, _ = attend(q, k, v, mask)
        x = x.transpose(1, 2).contiguous().view(n, -1, self.h * self.d_k)
        return self.projections[-1](x)


class Residual(nn.Module):
    def __init__(self, size):
        super().__init__()
        self.norm = Norm(size)

    def forward(self, x, sublayer):
        return x + sublayer(self.norm(x))


class Block(nn.Module):
    def __init__(self, size, heads, cross, hidden):
        super().__init__()
        self.self_attn = copy.deepcopy(heads)
        self.cross_attn = copy.deepcopy(heads) if cross else None
        self.w_1, self.w_2 = nn.Linear(size, hidden), nn.Linear(hidden, size)
        self.residuals = stack(Residual(size), 3 if cross else 2)

    def forward(self, x, mask, memory=None, memory_mask=None):
        x = self.residuals[0](x, lambda y: self.self_attn(y, y, y, mask))
        if self.cross_attn is not None:
            x = self.residuals[1](x, lambda y: self.cross_attn(y, memory, memory, memory_mask))
        return self.residuals[-1](x, lambda y: self.w_2(self.w_1(y).relu()))


class Positions(nn.Module):
    def __init__(self, d_model, max_len=64):
        super().__init__()
        pe = torch.zeros(max_len, d_model)
        position = torch.arange(0, max_len).unsqueeze(1)
        div_term = torch.exp(torch.arange(0, d_model, 2) * -(math.log(10000.0) / d_model))
        pe[:, 0::2] = torch.sin(position * div_term)
        pe[:, 1::2] = torch.cos(position * div_term)
        self.register_buffer("pe", pe.unsqueeze(0))

    def forward(self, x):
        return x + self.pe[:, : x.size(1)].requires_grad_(False)


class Seq2Seq(nn.Module):
    def __init__(self, vocab, d_model=16, h=2, hidden=32, n=2):
        super().__init__()
        heads = Heads(h, d_model)
        self.encoder = stack(Block(d_model, heads, False, hidden), n)
        self.decoder = stack(Block(d_model, heads, True, hidden), n)
        self.enc_norm, self.dec_norm = Norm(d_model), Norm(d_model)
        self.src_embed = nn.Sequential(nn.Embedding(vocab, d_model), Positions(d_model))
        self.tgt_embed = nn.Sequential(nn.Embedding(vocab, d_model), Positions(d_model))
        self.proj = nn.Linear(d_model, vocab)
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)

    def encode(self, src, src_mask):
        x = self.src_embed(src) * math.sqrt(16)
        for block in self.encoder:
            x = block(x, src_mask)
        return self.enc_norm(x)

    def decode(self, memory, src_mask, tgt, tgt_mask):
        x = self.tgt_embed(tgt) * math.sqrt(16)
        for block in self.decoder:
            x = block(x, tgt_mask, memory, src_mask)
        return self.dec_norm(x)

    def generator(self, x):
        return log_softmax(self.proj(x), dim=-1)


def greedy(model, src, steps):
    src_mask = torch.ones(1, 1, src.size(1))
    memory = model.encode(src, src_mask)
    ys = torch.zeros(1, 1).type_as(src)
    for _ in range(steps):
        out = model.decode(memory, src_mask, ys, no_peeking(ys.size(1)).type_as(src.data))
        prob = model.generator(out[:, -1])
        _, next_word = torch.max(prob, dim=1)
        next_word = next_word.data[0]
        ys = torch.cat([ys, torch.empty(1, 1).type_as(src.data).fill_(next_word)], dim=1)
    return ys
