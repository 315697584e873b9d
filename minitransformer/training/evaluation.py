"""Validation loss, translations of a list of sentences, and their BLEU/chrF."""
from __future__ import annotations

from ..autograd import no_grad
from ..decoding import translate_batch
from ..functional import cross_entropy
from .steps import batch_tensors


@no_grad()
def evaluate_loss(model, batches, *, pad_id: int = 0, backend: str = "numpy") -> float:
    """Mean per-token cross-entropy (no label smoothing) over all batches, in eval mode."""
    was_training = model.training
    model.eval()
    total, tokens = 0.0, 0
    for batch in batches:
        src, tgt_in, tgt_out = batch_tensors(batch, backend)
        logits = model(src, tgt_in)
        total += cross_entropy(logits, tgt_out, ignore_index=pad_id, reduction="sum").item()
        tokens += batch.num_tgt_tokens
    model.train(was_training)
    return total / max(tokens, 1)


def translate_pairs(model, src_tok, tgt_tok, sentences, *, beam: int = 1, max_len: int = 64,
                    batch_size: int = 64, backend: str = "numpy", length_penalty: float = 0.6) -> list:
    """Translate sentences (strings) in batches, in order; returns detokenized strings."""
    out = []
    for i in range(0, len(sentences), batch_size):
        chunk = sentences[i:i + batch_size]
        ids = src_tok.encode_batch(chunk, add_eos=True)
        hyps = translate_batch(model, ids, beam=beam, max_len=max_len, backend=backend,
                               length_penalty=length_penalty)
        out.extend(tgt_tok.decode_batch(hyps))
    return out


def translation_scores(hypotheses, references) -> dict:
    """Corpus BLEU and chrF (sacrebleu, on detokenized text) and exact-match accuracy."""
    import sacrebleu  # noqa: PLC0415

    if not hypotheses:
        return {"bleu": 0.0, "chrf": 0.0, "exact_match": 0.0}
    bleu = sacrebleu.corpus_bleu(hypotheses, [references]).score
    chrf = sacrebleu.corpus_chrf(hypotheses, [references]).score
    exact = sum(h.strip() == r.strip() for h, r in zip(hypotheses, references)) / len(hypotheses)
    return {"bleu": bleu, "chrf": chrf, "exact_match": exact}
