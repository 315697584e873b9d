"""PyTorch's attention masks, in the terms of the engine's softmax.

PyTorch's attention layers take up to three masks, each with its own meaning:

* ``attn_mask`` (L, S), or (B * H, L, S) for one mask per head:
  **boolean, True where attention is NOT allowed**; or **float, added to the
  scores** q k^T / sqrt(d_k) (0 = allowed, -inf = not allowed, anything else
  a bias, e.g. ALiBi's);
* ``key_padding_mask`` (B, S): **boolean, True at padding keys**, which no
  query may look at; or float, added to the scores of every query;
* ``is_causal=True``: query i may look at keys j <= i only.

The engine's softmax takes the opposite convention, one boolean array
broadcastable to the scores (B, H, L, S), **True where attention is
allowed** (``F.masked_softmax``).  ``attention_mask_parts`` turns PyTorch's
masks into two pieces:

    allowed  boolean, True = may attend (the bool masks, negated; the -inf
             entries of the float masks; the causal mask), or None
    bias     float, added to the scores (the finite part of the float
             masks), or None

so that ``weights = masked_softmax(scores + bias, allowed)``.  Both pieces
are broadcastable to (B, H, L, S); (B, S) key padding becomes (B, 1, 1, S).

One difference from PyTorch: a query that may look at no key at all (a row
of the mask fully masked) gets zero weights, hence a zero attention output
and zero gradients.  PyTorch adds -inf to the whole row and its softmax gives
NaN there, which then spreads through the network.
"""
from __future__ import annotations

import numpy

from ..autograd import Tensor
from ..backend import array_module, current_xp, get_array_module, get_default_dtype, to_host
from ..ops import masked_fill


def on_backend(data, xp):
    """An array on the backend of ``xp`` (a host array is sent there; a device one copied back)."""
    if get_array_module(data) is xp:
        return data
    return xp.asarray(to_host(data))


def _as_array(module: str, name: str, mask):
    data = mask.data if isinstance(mask, Tensor) else mask
    if not hasattr(data, "dtype"):
        data = numpy.asarray(data)
    if data.dtype.kind not in "bf":
        raise TypeError(
            f"{module}: {name} must be boolean (True = not allowed) or float (added to the scores), "
            f"got dtype {data.dtype} of shape {tuple(data.shape)}"
        )
    return data


def causal_allowed(len_q: int, len_k: int, xp, offset: int = 0):
    """(L, S) bool, True where query i may look at key j: j <= i + offset.

    ``offset`` is the number of keys before the first query (cached keys in
    incremental decoding); 0 gives PyTorch's ``is_causal`` (top left aligned).
    """
    return xp.tri(len_q, len_k, k=offset, dtype=bool)


def _float_parts(module: str, mask, data, dtype, xp):
    """(allowed, bias) of a float mask: its -inf entries are not allowed, the rest is a bias.

    (Whether there is any -inf is not asked: on a GPU the answer would cost
    a wait for the device.)
    """
    blocked = data == -numpy.inf
    if isinstance(mask, Tensor) and mask.requires_grad:   # a learned bias: keep it in the graph
        if mask.dtype != dtype:
            raise TypeError(f"{module}: a float mask that requires grad must have the query's dtype "
                            f"{numpy.dtype(dtype)}, got {mask.dtype}")
        return ~blocked, masked_fill(mask, blocked, 0.0)
    return ~blocked, xp.where(blocked, 0, data).astype(dtype, copy=False)


def attention_mask_parts(module: str, *, attn_mask=None, key_padding_mask=None, is_causal: bool = False,
                         batch: int, num_heads: int, len_q: int, len_k: int, dtype, xp, causal_offset: int = 0):
    """PyTorch's ``attn_mask``, ``key_padding_mask`` and ``is_causal`` -> (allowed, bias).

    ``allowed`` is a boolean array (True = may attend) and ``bias`` an array, or
    a Tensor for a float mask that requires grad, both broadcastable to the
    scores (B, H, L, S); each is None when no mask contributes to it.
    ``module`` names the layer in error messages.
    """
    allowed, biases = [], []
    if attn_mask is not None:
        data = on_backend(_as_array(module, "attn_mask", attn_mask), xp)
        if data.shape == (batch * num_heads, len_q, len_k):   # one mask per sequence and head
            data = data.reshape(batch, num_heads, len_q, len_k)
        elif data.shape != (len_q, len_k):
            raise ValueError(
                f"{module}: attn_mask of shape {tuple(data.shape)} does not fit the attention of "
                f"{len_q} queries over {len_k} keys (batch {batch}, {num_heads} heads): expected (L, S) = "
                f"{(len_q, len_k)} or (B * num_heads, L, S) = {(batch * num_heads, len_q, len_k)}"
            )
        if data.dtype == bool:
            allowed.append(~data)
        else:
            if isinstance(attn_mask, Tensor) and attn_mask.ndim == 3 and attn_mask.requires_grad:
                attn_mask = attn_mask.reshape(batch, num_heads, len_q, len_k)
            ok, bias = _float_parts(module, attn_mask, data, dtype, xp)
            allowed.append(ok)
            biases.append(bias)
    if key_padding_mask is not None:
        data = on_backend(_as_array(module, "key_padding_mask", key_padding_mask), xp)
        if data.shape != (batch, len_k):
            raise ValueError(
                f"{module}: key_padding_mask must have shape (B, S) = {(batch, len_k)} "
                f"(True at padding keys), got {tuple(data.shape)}"
            )
        data = data[:, None, None, :]                       # the same for every head and query
        if data.dtype == bool:
            allowed.append(~data)
        else:
            mask = key_padding_mask
            if isinstance(mask, Tensor) and mask.requires_grad:
                mask = mask.reshape(batch, 1, 1, len_k)
            ok, bias = _float_parts(module, mask, data, dtype, xp)
            allowed.append(ok)
            biases.append(bias)
    if is_causal:
        allowed.append(causal_allowed(len_q, len_k, xp, causal_offset))
    combined = None
    for a in allowed:
        combined = a if combined is None else combined & a
    if any(isinstance(b, Tensor) for b in biases):           # a learned mask: sum in the graph
        biases = [b if isinstance(b, Tensor) else Tensor(b) for b in biases]
    bias = None
    for b in biases:
        bias = b if bias is None else bias + b
    return combined, bias


def square_subsequent_mask(size: int, device=None, dtype=None) -> Tensor:
    """PyTorch's causal mask as a float (size, size) Tensor: 0 on and below the diagonal, -inf above.

    Added to the scores, it stops position i from looking at positions j > i.
    ``device`` is a backend name ("numpy", "cupy", "strict"; "cpu" and "cuda"
    as PyTorch's names for the first two), default the current backend;
    ``dtype`` defaults to the default float dtype.
    """
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise ValueError(f"generate_square_subsequent_mask: sz must be a non-negative integer, got {size!r}")
    devices = {None: None, "cpu": "numpy", "cuda": "cupy"}
    backend = devices.get(device, device)
    xp = current_xp() if backend is None else array_module(backend)
    dtype = get_default_dtype() if dtype is None else numpy.dtype(dtype)
    above = ~xp.tri(size, size, dtype=bool)
    return Tensor(xp.where(above, -numpy.inf, 0.0).astype(dtype))
