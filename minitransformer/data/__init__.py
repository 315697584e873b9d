"""Data for minitransformer: text files, toy tasks, tokenizers and batches.

The path from raw text to what the model eats::

    pairs = load_parallel("train.de.gz", "train.en.gz")     # corpus.py
    # or:   pairs = make_task("numbers", 10000, 500, 500, seed=0)["train"]   # tasks.py
    pairs, report = filter_by_length(pairs, max_len=100)
    src_tok, tgt_tok = train_tokenizers([s for s, _ in pairs],        # tokenizer.py
                                        [t for _, t in pairs], vocab_size=8000)
    src_ids = src_tok.encode_batch([s for s, _ in pairs])
    tgt_ids = tgt_tok.encode_batch([t for _, t in pairs])
    batches = BatchIterator(src_ids, tgt_ids, max_tokens=4096)       # batching.py
    for batch in batches.epoch(0): ...

This package uses only NumPy, the standard library and sentencepiece, and
imports nothing else from minitransformer.
"""

from .batching import Batch, BatchIterator, epoch_batches, make_batches
from .corpus import FilterReport, filter_by_length, load_parallel, load_tsv, read_lines
from .tasks import TASKS, Task, make_task, number_to_words
from .tokenizer import BOS_ID, EOS_ID, PAD_ID, UNK_ID, Tokenizer, train_tokenizers

__all__ = [
    "Batch", "BatchIterator", "epoch_batches", "make_batches",
    "FilterReport", "filter_by_length", "load_parallel", "load_tsv", "read_lines",
    "TASKS", "Task", "make_task", "number_to_words",
    "BOS_ID", "EOS_ID", "PAD_ID", "UNK_ID", "Tokenizer", "train_tokenizers",
]
