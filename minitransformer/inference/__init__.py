"""Inference: from a trained model (or a run directory) to translations.

    run = load_run("runs/latest")                                     # run.py
    src = pad_batch([run.src_tok.encode("12", add_eos=True)])         # batch.py
    greedy_decode(run.model, src)                                     # greedy.py
    beam_search(run.model, src, beam=4)                               # beam.py
    translate_pairs(run.model, run.src_tok, run.tgt_tok, ["12"])      # translate.py

Both decoders encode the source once and then call ``model.decode_step``
with a cache of every decoder layer's keys and values, so each new token
costs one decoder step over one position -- O(length) work per sentence,
not the O(length^2) of re-running the decoder on the whole prefix.

The special ids are the tokenizers' (``data.PAD_ID``, ``BOS_ID``,
``EOS_ID``); copies to the host go through ``backend.to_host``.
"""
from .batch import pad_batch
from .beam import beam_search, gnmt_penalty
from .greedy import greedy_decode
from .run import LoadedRun, check_max_len, load_run, load_tokenizers, tokenizer_paths
from .translate import translate_batch, translate_pairs

__all__ = [
    "LoadedRun", "beam_search", "check_max_len", "gnmt_penalty", "greedy_decode", "load_run",
    "load_tokenizers", "pad_batch", "tokenizer_paths", "translate_batch", "translate_pairs",
]
