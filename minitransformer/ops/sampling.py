"""Drawing categories at random: multinomial (sampling the next token of a language model).

A draw has no derivative (an index is an integer), so the result is an int64
tensor outside the graph.  The randomness is the engine's seeded generator
(``minitransformer.backend.get_rng``): after ``mt.manual_seed(s)`` the same
draws come again.  They are not the draws PyTorch makes with the same seed;
what they share is the distribution.
"""
from __future__ import annotations

import numpy

from ..autograd import Tensor
from ..backend import get_array_module, get_rng, to_host
from .ordering import stable_argsort


def _check_weights(probs, num_samples, replacement) -> None:
    data = probs.data
    if data.dtype.kind != "f":
        raise TypeError(f"multinomial: expected float weights, got dtype {data.dtype}")
    if data.ndim not in (1, 2) or data.shape[-1] == 0:
        raise ValueError(f"multinomial: expected a vector or a matrix (one distribution per row) of "
                         f"weights, got shape {tuple(data.shape)}")
    if isinstance(num_samples, bool) or not isinstance(num_samples, (int, numpy.integer)) or num_samples <= 0:
        raise ValueError(f"multinomial: num_samples must be a positive int, got {num_samples!r}")
    xp = get_array_module(data)
    rows = data.reshape(-1, data.shape[-1])
    # one copy to the host (a wait on a GPU): a bad distribution must raise here
    valid = bool(to_host(xp.isfinite(rows).all() & (rows >= 0).all()))
    positive = to_host((rows > 0).sum(axis=1))
    if not valid or positive.min() == 0:
        raise ValueError(f"multinomial: each row of weights (shape {tuple(data.shape)}) must be finite, "
                         ">= 0, and not all 0")
    if not replacement and num_samples > positive.min():
        raise ValueError(f"multinomial: cannot draw {num_samples} distinct categories without replacement "
                         f"from a row with {int(positive.min())} of nonzero weight (use replacement=True)")


def multinomial(probs, num_samples: int, replacement: bool = False) -> Tensor:
    """``num_samples`` category indices drawn from each row of ``probs``, as PyTorch's ``multinomial``.

    ``probs`` holds weights >= 0 (they need not add up to 1), one
    distribution per row (shape ``(n,)`` or ``(rows, n)``); the result has
    shape ``(num_samples,)`` or ``(rows, num_samples)``, dtype int64.

    * With replacement, each draw is independent: a uniform ``u`` in
      [0, total) falls between two cumulative sums, ``cdf[j-1] <= u <
      cdf[j]``, and picks ``j`` (category j's share of [0, total) is its weight).
    * Without replacement, each category gets an exponential random time
      ``E_j / w_j`` (a clock that rings at rate ``w_j``), and the first
      ``num_samples`` to ring are drawn, in that order: the first is category
      j with probability w_j / total, and, the exponential having no memory,
      each next one is drawn the same way from those left.
    """
    _check_weights(probs, num_samples, replacement)
    data = probs.data
    xp = get_array_module(data)
    n = data.shape[-1]
    weights = data.reshape(-1, n).astype(numpy.float64)
    rng = get_rng(xp)
    if replacement:
        cdf = xp.cumsum(weights, axis=1)                                 # (rows, n)
        u = rng.random((weights.shape[0], num_samples)) * cdf[:, -1:]    # (rows, num_samples)
        drawn = (cdf[:, None, :] <= u[:, :, None]).sum(axis=2)           # how many cumulative sums u passed
        # u * total can round up to total (chance 2^-53): keep to the last category of nonzero weight
        last = n - 1 - xp.argmax(weights[:, ::-1] > 0, axis=1)
        drawn = xp.minimum(drawn, last[:, None])
    else:
        arrival = -xp.log1p(-rng.random(weights.shape))                  # E ~ Exp(1); 1 - u in (0, 1]
        positive = weights > 0
        arrival = xp.where(positive, arrival / xp.where(positive, weights, 1.0), xp.inf)
        drawn = stable_argsort(arrival, axis=1)[:, :num_samples]
    drawn = drawn.astype(numpy.int64)
    return Tensor(drawn if data.ndim == 2 else drawn.reshape(num_samples))
