"""Validation loss, and the BLEU/chrF of translations against their references."""
from __future__ import annotations

from ..autograd import no_grad
from ..functional import cross_entropy
from .steps import batch_ids


@no_grad()
def evaluate_loss(model, batches, *, pad_id: int = 0, backend: str = "numpy") -> float:
    """Mean per-token cross-entropy (no label smoothing) over all batches, in eval mode."""
    was_training = model.training
    model.eval()
    total, tokens = 0.0, 0
    for batch in batches:
        src, tgt_in, tgt_out = batch_ids(batch, backend)
        logits = model(src, tgt_in)
        total += cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt_out.reshape(-1), ignore_index=pad_id,
                               reduction="sum").item()
        tokens += batch.num_tgt_tokens
    model.train(was_training)
    return total / max(tokens, 1)


def translation_scores(hypotheses, references) -> dict:
    """Corpus BLEU and chrF (sacrebleu, on detokenized text) and exact-match accuracy."""
    import sacrebleu  # noqa: PLC0415

    if not hypotheses:
        return {"bleu": 0.0, "chrf": 0.0, "exact_match": 0.0}
    bleu = sacrebleu.corpus_bleu(hypotheses, [references]).score
    chrf = sacrebleu.corpus_chrf(hypotheses, [references]).score
    exact = sum(h.strip() == r.strip() for h, r in zip(hypotheses, references)) / len(hypotheses)
    return {"bleu": bleu, "chrf": chrf, "exact_match": exact}
