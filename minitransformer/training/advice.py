"""Warnings about runs that will work, but train poorly.

``TrainConfig.validate`` refuses what cannot work.  Some combinations run
fine and still waste the run: updates of a few hundred tokens, a
learning-rate warmup longer than the run, a time budget that ends training
long before ``--max-steps``.  These functions look at the configuration and
at the data it produced and return one line per problem, each naming the
flag to change; the trainer prints them as ``warning: ...`` before the first
update (and once more at the end, for a run the time budget cut short).
"""
from __future__ import annotations

# Below this many target tokens per update, a Transformer's gradient is too noisy
# for the usual learning rates (the paper used about 25,000; small recipes 2,000-4,000).
SMALL_UPDATE_TOKENS = 1000


def setup_warnings(config, *, target_tokens_per_update: float, vocab_sizes: tuple,
                   longest_valid_target: int | None) -> list:
    """What looks wrong before training starts, as lines of advice."""
    c, lines = config, []
    if target_tokens_per_update < SMALL_UPDATE_TOKENS:
        lines.append(
            f"an update averages only {target_tokens_per_update:,.0f} target tokens (--max-tokens {c.max_tokens} "
            f"bounds {'each side' if c.token_budget == 'per-side' else 'source + target tokens'} of a "
            f"micro-batch, padding included; --accum-steps {c.accum_steps}): "
            "such small batches give noisy updates. Raise --max-tokens or --accum-steps "
            f"(at least {SMALL_UPDATE_TOKENS} target tokens per update)")
    if not c.joint_vocab and not c.tie_output:
        lines.append(
            "separate source and target vocabularies with an untied output layer: the model learns three "
            "embedding tables instead of one, and learns them slowly on a small corpus. Use the joint "
            "vocabulary (drop --separate-vocab) with --share-embeddings true --tie-output true, or at "
            "least --tie-output true")
    elif c.joint_vocab and not c.share_embeddings and not c.tie_output:
        lines.append(
            "a joint vocabulary without --share-embeddings or --tie-output: three separate embedding "
            "tables of the same words. --share-embeddings true --tie-output true shares them")
    if c.max_steps is not None and c.schedule in ("noam", "inverse-sqrt", "cosine", "linear") \
            and c.warmup >= c.max_steps:
        lines.append(
            f"--warmup {c.warmup} is not shorter than --max-steps {c.max_steps}: the learning rate never "
            f"reaches --lr {c.lr:g}. Lower --warmup or raise --max-steps")
    if c.time_budget is not None and c.max_steps is not None and c.time_budget < 0.1 * c.max_steps:
        lines.append(
            f"--time-budget {c.time_budget:g} s leaves under 0.1 s per update for --max-steps {c.max_steps}; "
            "unless updates are that fast, the time budget ends the run first. Pass --time-budget 0 for no limit")
    requested = c.vocab_size
    smallest = min(vocab_sizes)
    if smallest < 0.8 * requested:
        lines.append(
            f"the tokenizer has {smallest:,} pieces, fewer than --vocab-size {requested:,}: the training text "
            "is too small for that vocabulary (this is harmless, but --vocab-size says more than it does)")
    if longest_valid_target is not None and c.decode_max_len < longest_valid_target:
        lines.append(
            f"decode_max_len {c.decode_max_len} is shorter than the longest validation target "
            f"({longest_valid_target} tokens): those translations are cut, which lowers BLEU. "
            "Raise --decode-max-len")
    return lines


def stop_warning(config, *, reason: str | None, steps_done: int) -> str | None:
    """A warning when the time budget, not --max-steps or --epochs, ended the run early."""
    c = config
    if not reason or "--time-budget" not in reason:
        return None
    planned = f" of --max-steps {c.max_steps}" if c.max_steps is not None else ""
    return (f"the time budget ({c.time_budget:g} s) ended training after {steps_done} updates{planned}: "
            "the model is undertrained. Continue it with --resume --time-budget 0, or start again with a "
            "larger --time-budget (0: no limit)")
