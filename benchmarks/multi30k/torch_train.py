"""The Multi30k recipe trained by PyTorch, on minitransformer's own batches and weights.

    python benchmarks/multi30k/torch_train.py --config benchmarks/multi30k/config.toml --out runs/torch-multi30k

is the reference that ``minitransformer train --config ...`` is measured
against.  Everything outside the engine is shared, so that a difference in
BLEU can only come from the training step itself:

* the same tokenizer (trained by ``minitransformer.training.data_setup``),
  the same length-bucketed batches and the same batch order per epoch
  (``minitransformer.data.BatchIterator`` with the recipe's seed);
* the same initial weights: our ``TransformerTranslator`` is built with the recipe's
  seed exactly as ``Trainer`` builds it, and copied into the PyTorch twin
  (``benchmarks/torch_reference.py``);
* the PyTorch step is PyTorch's standard recipe: ``F.cross_entropy`` with
  ``label_smoothing`` and ``ignore_index`` summed over the batch and divided
  by its target tokens, ``torch.optim.Adam``, the Noam schedule as a
  ``LambdaLR``, ``clip_grad_norm_``, ``nn.Dropout`` and the dropout inside
  ``nn.MultiheadAttention``;
* the same greedy (and beam) decoding of the test set, scored by sacreBLEU.

It writes ``metrics.jsonl`` (one line per update: loss, lr, gradient norm,
seconds) and ``final_metrics.json`` to ``--out``.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

import numpy  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import minitransformer as mt  # noqa: E402
from minitransformer.nn import TransformerTranslator  # noqa: E402
from minitransformer.data import PAD_ID, BatchIterator, load_parallel  # noqa: E402
from minitransformer.training.config import TrainConfig  # noqa: E402
from minitransformer.training.data_setup import prepare  # noqa: E402
from minitransformer.training.evaluation import translation_scores  # noqa: E402
from torch_reference import TorchTransformer, beam_cached, copy_from_ours, greedy_cached  # noqa: E402

__all__ = ["build_twin", "torch_optimizer", "torch_update", "translate"]


def build_twin(config: TrainConfig, ours) -> TorchTransformer:
    """The PyTorch twin of ``ours`` (a TransformerTranslator built from ``config``), holding its weights.

    The twin takes our float dtype first, so that float64 weights are not
    rounded to float32 on the way; the positional table is ours too.
    """
    twin = TorchTransformer(ours.get_config()["src_vocab_size"], config.d_model, config.heads, config.layers,
                            config.layers, config.d_ff, max_len=ours.get_config()["max_len"], pad_id=PAD_ID,
                            dropout=config.dropout)
    twin.to(getattr(torch, str(ours.src_embed.weight.dtype)))
    with torch.no_grad():
        twin.pe.copy_(torch.from_numpy(ours.pos_encoding.pe.numpy()))
    return copy_from_ours(twin, ours)


def noam_factor(warmup: int):
    """LambdaLR's multiplier of the peak lr for update s = step + 1: min(s / w, sqrt(w / s))."""
    return lambda step: min((step + 1) / warmup, math.sqrt(warmup / (step + 1)))


def torch_optimizer(config: TrainConfig, model: TorchTransformer):
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, betas=tuple(config.betas), eps=config.eps)
    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, noam_factor(config.warmup))


def torch_update(model, optimizer, scheduler, batches, *, label_smoothing: float, clip_norm) -> dict:
    """One update of PyTorch's standard recipe over the micro-batches ``batches``."""
    model.train()
    tokens = sum(b.num_tgt_tokens for b in batches)
    loss_sum = 0.0
    for b in batches:
        logits = model(torch.from_numpy(b.src), torch.from_numpy(b.tgt_in))
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), torch.from_numpy(b.tgt_out).reshape(-1),
                               ignore_index=PAD_ID, label_smoothing=label_smoothing, reduction="sum")
        (loss / tokens).backward()
        loss_sum += loss.item()
    norm = torch.nn.utils.clip_grad_norm_(model.parameters(), clip_norm if clip_norm else math.inf)
    lr = optimizer.param_groups[0]["lr"]
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    return {"loss": loss_sum / tokens, "tokens": tokens, "grad_norm": float(norm), "lr": lr}


def translate(model, src_tok, tgt_tok, sentences, *, beam: int, max_len: int, batch_size: int = 64) -> list:
    model.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(sentences), batch_size):
            ids = src_tok.encode_batch(sentences[i:i + batch_size], add_eos=True)
            width = max(len(x) for x in ids)
            src = torch.full((len(ids), width), PAD_ID, dtype=torch.long)
            for row, x in enumerate(ids):
                src[row, :len(x)] = torch.tensor(x)
            hyps = greedy_cached(model, src, max_len) if beam == 1 else beam_cached(model, src, beam, max_len)
            out.extend(tgt_tok.decode_batch(hyps))
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", default=os.path.join(ROOT, "benchmarks", "multi30k", "config.toml"))
    p.add_argument("--max-steps", type=int, default=None, help="updates (default: the config's)")
    p.add_argument("--out", default="runs/torch-multi30k")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: all cores)")
    p.add_argument("--test-src", default=None, help="default: test_2016_flickr.de.gz beside the training data")
    p.add_argument("--test-ref", default=None)
    p.add_argument("--beams", default="1,4", help="beam sizes to score the test set with")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    options = TrainConfig.from_file(args.config)
    options.update(progress=False, out=args.out)
    if args.max_steps:
        options["max_steps"] = args.max_steps
    config = TrainConfig.from_dict(options)
    os.makedirs(args.out, exist_ok=True)

    # the setup of Trainer._setup, in its order, so that the weights are the same
    mt.use_backend("numpy")
    mt.set_default_dtype("float32")
    mt.manual_seed(config.seed)
    data = prepare(config, args.out)
    src_ids = data.src_tok.encode_batch([s for s, _ in data.train], add_eos=True)
    tgt_ids = data.tgt_tok.encode_batch([t for _, t in data.train])
    batches = BatchIterator(src_ids, tgt_ids, max_tokens=config.max_tokens, max_sentences=config.max_sentences,
                            seed=config.seed, token_budget=config.token_budget)
    longest = max(max(len(x) for x in src_ids), max(len(x) for x in tgt_ids) + 1)
    ours = TransformerTranslator(
        data.src_tok.vocab_size, data.tgt_tok.vocab_size, d_model=config.d_model, nhead=config.heads,
        num_encoder_layers=config.layers, num_decoder_layers=config.layers, dim_feedforward=config.d_ff,
        dropout=config.dropout, max_len=max(512, longest + 1, config.decode_max_len + 2),
        norm_first=config.norm_first, share_embeddings=True, tie_output=True, pad_id=PAD_ID)
    torch.manual_seed(config.seed)
    model = build_twin(config, ours)
    optimizer, scheduler = torch_optimizer(config, model)

    log = open(os.path.join(args.out, "metrics.jsonl"), "w", encoding="utf-8")
    step, epoch, position, train_seconds = 0, 0, 0, 0.0
    k = config.accum_steps
    while step < config.max_steps:
        order = batches.order(epoch)
        group = [batches.batches[i] for i in order[position:position + k]]
        position += len(group)
        if position >= len(order):
            epoch, position = epoch + 1, 0
        start = time.perf_counter()
        result = torch_update(model, optimizer, scheduler, group, label_smoothing=config.label_smoothing,
                              clip_norm=config.clip_norm)
        seconds = time.perf_counter() - start
        train_seconds += seconds
        step += 1
        log.write(json.dumps({"step": step, "epoch": epoch, **result, "seconds": seconds}) + "\n")
        if step % 50 == 0:
            log.flush()
            print(f"update {step}: loss {result['loss']:.3f}, lr {result['lr']:.2e}, "
                  f"{train_seconds / step:.3f} s/update", flush=True)
    log.close()

    corpus = os.path.dirname(config.src_train)
    test_src = args.test_src or os.path.join(corpus, "test_2016_flickr.de.gz")
    test_ref = args.test_ref or os.path.join(corpus, "test_2016_flickr.en.gz")
    test = load_parallel(test_src, test_ref)
    report = {"steps": step, "seconds_per_update": train_seconds / step, "torch": torch.__version__,
              "threads": torch.get_num_threads(), "numpy": numpy.__version__}
    for beam in (int(b) for b in args.beams.split(",")):
        hyps = translate(model, data.src_tok, data.tgt_tok, [s for s, _ in test], beam=beam,
                         max_len=config.decode_max_len)
        report[f"test_beam{beam}"] = translation_scores(hyps, [t for _, t in test])
        print(f"test_2016_flickr, beam {beam}: BLEU {report[f'test_beam{beam}']['bleu']:.2f}", flush=True)
    with open(os.path.join(args.out, "final_metrics.json"), "w", encoding="utf-8") as f:
        json.dump(report, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
