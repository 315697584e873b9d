"""Attention heatmaps of a trained model for one sentence.

Every ``MultiheadAttention`` can keep the weights of its last call
(``keep_weights = True``); we switch that on, translate the sentence
greedily, run the model once more on (source, translation), and draw the
encoder self-attention and decoder cross-attention of each layer, one panel
per head.
"""
from __future__ import annotations

import contextlib
import os

import numpy

from ..autograd import Tensor, no_grad
from ..backend import get_array_module, to_host
from ..data import BOS_ID
from ..inference import greedy_decode, pad_batch
from ..nn.attention import MultiheadAttention
from ._pyplot import pyplot


@contextlib.contextmanager
def keep_attention_weights(model):
    """Inside the block every attention module of ``model`` stores ``last_weights``."""
    modules = [m for m in model.modules() if isinstance(m, MultiheadAttention)]
    for m in modules:
        m.keep_weights = True
    try:
        yield modules
    finally:
        for m in modules:
            m.keep_weights = False
            m.last_weights = None


@no_grad()
def attention_maps(model, tokenizers, sentence: str, run_dir: str, layer: int = -1) -> list:
    """Write attention_encoder.png and attention_cross.png for ``sentence``; return the paths."""
    src_tok, tgt_tok = tokenizers
    was_training = model.training
    model.eval()
    xp = get_array_module(model.src_embed.weight.data)
    src_ids = src_tok.encode(sentence, add_eos=True)
    src = pad_batch([src_ids], xp=xp)
    hyp = greedy_decode(model, src, max_len=64)[0]
    tgt_in = xp.asarray(numpy.array([[BOS_ID] + hyp], dtype=numpy.int64))
    with keep_attention_weights(model):
        model(src, tgt_in)
        encoder_attn = model.encoder.layers[layer].self_attn.last_weights
        cross_attn = model.decoder.layers[layer].multihead_attn.last_weights
    model.train(was_training)
    src_labels = [src_tok.id_to_piece(i) for i in src_ids]
    tgt_labels = ["<s>"] + [tgt_tok.id_to_piece(i) for i in hyp]
    written = [
        plot_attention(_host(encoder_attn)[0], src_labels, src_labels,
                       os.path.join(run_dir, "attention_encoder.png"), "encoder self-attention (last layer)"),
        plot_attention(_host(cross_attn)[0], src_labels, tgt_labels,
                       os.path.join(run_dir, "attention_cross.png"), "decoder cross-attention (last layer)"),
    ]
    return written


def _host(t):
    return to_host(t.data if isinstance(t, Tensor) else t)


def plot_attention(weights, src_tokens, tgt_tokens, path: str, title: str = "attention") -> str:
    """Heatmaps of attention weights (heads, L_q, L_k), one panel per head."""
    plt = pyplot()
    heads = weights.shape[0]
    fig, axes = plt.subplots(1, heads, figsize=(3 * heads + 1, 3.2), squeeze=False)
    for h in range(heads):
        ax = axes[0][h]
        ax.imshow(weights[h], cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
        ax.set_xticks(range(len(src_tokens)))
        ax.set_xticklabels(src_tokens, rotation=90, fontsize=7)
        ax.set_yticks(range(len(tgt_tokens)))
        ax.set_yticklabels(tgt_tokens if h == 0 else [], fontsize=7)
        ax.set_title(f"head {h}", fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
