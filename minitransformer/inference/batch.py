"""Source sentences as the decoders take them: one padded id array on the model's backend."""
from __future__ import annotations

import numpy

from ..autograd import Tensor
from ..backend import get_array_module
from ..data import PAD_ID


def pad_batch(sequences, pad_id: int = PAD_ID, xp=numpy):
    """Lists of ids -> an int64 array (B, longest) padded with ``pad_id``."""
    if not sequences:
        raise ValueError("decoding: no sentences given")
    longest = max(len(s) for s in sequences)
    if longest == 0:
        raise ValueError("decoding: every source sentence is empty")
    out = numpy.full((len(sequences), longest), pad_id, dtype=numpy.int64)
    for i, s in enumerate(sequences):
        out[i, :len(s)] = s
    return xp.asarray(out)


def source_ids(model, src):
    """``src`` (B, S) as an array on the backend of ``model``'s parameters.

    The decoders index it by rows (beam search repeats each sentence), so
    they need the array itself; the model checks its dtype and shape.
    """
    xp = get_array_module(model.src_embed.weight.data)
    return xp.asarray(src.data if isinstance(src, Tensor) else src)
