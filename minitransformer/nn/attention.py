"""Multi-head attention (Vaswani et al. 2017, section 3.2.2):

    MultiHead(Q, K, V) = Concat(head_1, ..., head_h) W_O
    head_i = Attention(Q W_Q^i, K W_K^i, V W_V^i),   Attention = softmax(q k^T / sqrt(d_k)) v

with d_k = d_model / h.  The h per-head projections are computed as one
(d_model x d_model) projection each for q, k and v, then split into heads:

    (B, L, d_model) --reshape--> (B, L, H, d_k) --transpose--> (B, H, L, d_k)

so every head attends in one batched matrix product, and merged back with
the inverse transpose and reshape before ``out_proj``.

Incremental decoding (a cache per layer)
----------------------------------------
Generating token t+1 only needs the query of the newest position, but the
keys and values of every position so far.  Recomputing them each step costs
O(t) projections per step, O(T^2) in all; caching them makes a step O(1)
projections plus one attention over t keys.  The caller owns one dict per
attention layer, starting empty, and passes it each step:

* self-attention (``static_kv=False``): the new step's keys and values are
  appended along the length axis to ``cache["k"]``, ``cache["v"]`` (Tensors
  of shape (B, H, L_so_far, d_k)); the query attends to all of them.
* cross-attention (``static_kv=True``): the encoder memory does not change
  while decoding, so its projected keys and values are computed on the first
  call, stored, and reused afterwards (``key``/``value`` may then be None).

For beam search, ``reorder_cache(cache, indices)`` picks the batch rows
(beams) to keep, in any nesting of dicts and lists.
"""
from __future__ import annotations

import numpy

from .. import functional as F
from ..autograd import Tensor
from ..backend import get_array_module
from ..ops import concatenate
from . import init
from .linear import Linear, _check_positive_int
from .module import Module


class MultiHeadAttention(Module):
    """Batch-first multi-head attention with separate ``q_proj``, ``k_proj``, ``v_proj``, ``out_proj``.

    forward(query (B, L_q, d_model), key (B, L_k, d_model), value (B, L_k, d_model),
            mask=None, need_weights=False, cache=None, static_kv=False)
      -> (output (B, L_q, d_model), weights (B, H, L_q, L_k) or None)

    ``mask`` is boolean, True where attention is allowed, of shape (L_q, L_k),
    (B, L_q, L_k) (a head axis is inserted), or any 4-D shape broadcastable to
    (B, H, L_q, L_k) such as the padding mask (B, 1, 1, L_k).  ``dropout`` is
    applied to the attention weights in training mode (as PyTorch does); the
    returned weights are the ones before dropout.

    Init as PyTorch's nn.MultiheadAttention: Xavier uniform for the q, k, v
    projections, the Linear default for ``out_proj.weight``, zero biases.
    """

    def __init__(self, d_model: int, num_heads: int, dropout: float = 0.0, bias: bool = True):
        super().__init__()
        _check_positive_int("MultiHeadAttention", "d_model", d_model)
        _check_positive_int("MultiHeadAttention", "num_heads", num_heads)
        if d_model % num_heads:
            raise ValueError(
                f"MultiHeadAttention: d_model={d_model} is not divisible by num_heads={num_heads} "
                f"(each head gets d_model / num_heads features)"
            )
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
            raise ValueError(f"MultiHeadAttention: dropout must be in [0, 1), got {dropout!r}")
        self.d_model, self.num_heads, self.d_k = d_model, num_heads, d_model // num_heads
        self.dropout = float(dropout)
        # for plots: when True, forward keeps its attention weights in last_weights
        self.keep_weights = False
        self.last_weights = None
        self.q_proj = Linear(d_model, d_model, bias)
        self.k_proj = Linear(d_model, d_model, bias)
        self.v_proj = Linear(d_model, d_model, bias)
        self.out_proj = Linear(d_model, d_model, bias)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for proj in (self.q_proj, self.k_proj, self.v_proj):
            init.xavier_uniform_(proj.weight)
        self.out_proj.reset_parameters()
        for proj in (self.q_proj, self.k_proj, self.v_proj, self.out_proj):
            if proj.bias is not None:
                init.zeros_(proj.bias)

    def load_packed_in_proj(self, weight, bias=None) -> None:
        """Copy a packed (3 d_model, d_model) input projection [W_q; W_k; W_v] (PyTorch's
        ``in_proj_weight``, as a NumPy/CuPy array) and its (3 d_model,) bias into q/k/v_proj."""
        d = self.d_model
        weight = weight.data if isinstance(weight, Tensor) else weight
        if tuple(weight.shape) != (3 * d, d):
            raise ValueError(f"load_packed_in_proj: weight must have shape {(3 * d, d)}, got {tuple(weight.shape)}")
        projections = (self.q_proj, self.k_proj, self.v_proj)
        for i, proj in enumerate(projections):
            proj.weight.data[...] = get_array_module(proj.weight.data).asarray(weight[i * d:(i + 1) * d])
        if bias is not None:
            bias = bias.data if isinstance(bias, Tensor) else bias
            if tuple(bias.shape) != (3 * d,):
                raise ValueError(f"load_packed_in_proj: bias must have shape {(3 * d,)}, got {tuple(bias.shape)}")
            for i, proj in enumerate(projections):
                proj.bias.data[...] = get_array_module(proj.bias.data).asarray(bias[i * d:(i + 1) * d])

    # ------------------------------------------------------------ heads
    def _split_heads(self, x: Tensor) -> Tensor:
        """(B, L, d_model) -> (B, H, L, d_k)."""
        b, length, _ = x.shape
        return x.reshape(b, length, self.num_heads, self.d_k).permute(0, 2, 1, 3)

    def _merge_heads(self, x: Tensor) -> Tensor:
        """(B, H, L, d_k) -> (B, L, d_model): the concatenation of the heads."""
        b, _, length, _ = x.shape
        return x.permute(0, 2, 1, 3).reshape(b, length, self.d_model)

    def _check_input(self, name: str, x, batch=None) -> None:
        if not isinstance(x, Tensor):
            raise TypeError(f"MultiHeadAttention: {name} must be a Tensor, got {type(x).__name__}")
        if x.ndim != 3 or x.shape[-1] != self.d_model or (batch is not None and x.shape[0] != batch):
            want = f"({batch if batch is not None else 'B'}, L, {self.d_model})"
            raise ValueError(f"MultiHeadAttention: {name} must have shape {want} (batch-first), got {x.shape}")

    def _prepare_mask(self, mask, batch: int, len_q: int, len_k: int, xp):
        """Check the mask and bring it to 4-D, broadcastable to (B, H, L_q, L_k)."""
        if mask is None:
            return None
        data = mask.data if isinstance(mask, Tensor) else mask
        if not hasattr(data, "dtype"):
            data = numpy.asarray(data)
        if data.dtype != bool:
            raise TypeError(
                f"MultiHeadAttention: mask must be boolean (True = may attend), got dtype {data.dtype} "
                f"of shape {tuple(data.shape)}; convert a 0/1 mask with mask.astype(bool)"
            )
        target = (batch, self.num_heads, len_q, len_k)
        shape = tuple(data.shape)
        if data.ndim == 3:
            data = data[:, None]  # (B, L_q, L_k) -> (B, 1, L_q, L_k): the same mask for every head
        ok = data.ndim in (2, 4) and all(m in (1, t) for m, t in zip(data.shape[::-1], target[::-1]))
        if not ok:
            raise ValueError(
                f"MultiHeadAttention: mask of shape {shape} does not fit the attention scores' shape "
                f"(B, H, L_q, L_k) = {target}; use (L_q, L_k), (B, L_q, L_k), (B, 1, 1, L_k) or (B, H, L_q, L_k)"
            )
        if get_array_module(data) is not xp:
            data = xp.asarray(data) if xp is not numpy else data.get()
        return Tensor(data)

    # ------------------------------------------------------------ forward
    def forward(self, query: Tensor, key: Tensor | None, value: Tensor | None, mask=None,
                need_weights: bool = False, cache: dict | None = None, static_kv: bool = False):
        self._check_input("query", query)
        batch, len_q = query.shape[0], query.shape[1]
        if cache is not None and not isinstance(cache, dict):
            raise TypeError(f"MultiHeadAttention: cache must be a dict (empty at the first step), got {type(cache).__name__}")
        q = self._split_heads(self.q_proj(query))

        if static_kv and cache is not None and "k" in cache:
            k, v = cache["k"], cache["v"]          # projected memory, computed at the first step
        else:
            self._check_input("key", key, batch)
            self._check_input("value", value, batch)
            if key.shape[1] != value.shape[1]:
                raise ValueError(f"MultiHeadAttention: key {key.shape} and value {value.shape} need the same length")
            k = self._split_heads(self.k_proj(key))
            v = self._split_heads(self.v_proj(value))
            if cache is not None:
                if not static_kv and "k" in cache:
                    if cache["k"].shape[0] != batch:
                        raise ValueError(
                            f"MultiHeadAttention: cached keys of shape {cache['k'].shape} do not match the "
                            f"query's batch of {batch} (reorder the cache with reorder_cache after pruning beams)"
                        )
                    k = concatenate([cache["k"], k], axis=2)   # (B, H, L_so_far + L_new, d_k)
                    v = concatenate([cache["v"], v], axis=2)
                cache["k"], cache["v"] = k, v

        m = self._prepare_mask(mask, batch, len_q, k.shape[2], get_array_module(query.data))
        out, weights = F.scaled_dot_product_attention(
            q, k, v, mask=m, dropout_p=self.dropout, return_weights=True, training=self.training
        )
        if self.keep_weights:
            self.last_weights = weights.detach()
        return self.out_proj(self._merge_heads(out)), (weights if need_weights else None)

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, num_heads={self.num_heads}, dropout={self.dropout}"


def reorder_cache(cache, indices):
    """Select batch rows ``indices`` (an integer array) of every Tensor in a cache,
    in place for dicts and lists; other values (e.g. an int offset) are kept."""
    if isinstance(cache, dict):
        for name, value in cache.items():
            cache[name] = reorder_cache(value, indices)
        return cache
    if isinstance(cache, list):
        cache[:] = [reorder_cache(value, indices) for value in cache]
        return cache
    if isinstance(cache, Tensor):
        xp = get_array_module(cache.data)
        idx = indices.data if isinstance(indices, Tensor) else xp.asarray(indices)
        return cache.take(Tensor(idx), axis=0)
    return cache
