"""Multi-head attention (Vaswani et al. 2017, section 3.2.2), as PyTorch's nn.MultiheadAttention:

    MultiHead(Q, K, V) = Concat(head_1, ..., head_h) W_O
    head_i = Attention(Q W_Q^i, K W_K^i, V W_V^i),   Attention = softmax(q k^T / sqrt(d_k) + bias) v

with d_k = embed_dim / h (``head_dim``).  The h per-head projections of q,
k and v are kept, as in PyTorch, in one packed Parameter ``in_proj_weight``
= [W_Q; W_K; W_V] of shape (3 E, E) (and ``in_proj_bias`` (3 E,)); its three
blocks of rows are the q, k and v projections.  The projections are then
split into heads,

    (B, L, E) --reshape--> (B, L, H, d_k) --permute--> (B, H, L, d_k)

so that every head attends in one batched matrix product, and merged back
with the inverse permute and reshape before ``out_proj``.  The masks are
PyTorch's (see ``attention_masks.py``): a boolean ``attn_mask`` is True where
attention is NOT allowed, a float one is added to the scores;
``key_padding_mask`` (B, S) is True at padding.

Incremental decoding (a cache per layer)
----------------------------------------
Generating token t+1 only needs the query of the newest position, but the
keys and values of every position so far.  Recomputing them each step costs
O(t) projections per step, O(T^2) in all; caching them makes a step O(1)
projections plus one attention over t keys.  The caller owns one dict per
attention layer, starting empty, and passes it each step (``cache=``, an
addition of this engine; PyTorch's layer has no cache):

* self-attention (``static_kv=False``): the new step's keys and values are
  appended along the length axis to ``cache["k"]``, ``cache["v"]`` (Tensors
  of shape (B, H, L_so_far, d_k)); the query attends to all of them
  (``is_causal=True`` then lets new query i see the cached keys and new keys
  up to i).
* cross-attention (``static_kv=True``): the encoder memory does not change
  while decoding, so its projected keys and values are computed on the first
  call, stored, and reused afterwards (``key``/``value`` may then be None).

For beam search, ``reorder_cache(cache, indices)`` picks the batch rows
(beams) to keep, in any nesting of dicts and lists.
"""
from __future__ import annotations

import math

from .. import functional as F
from ..autograd import Tensor
from ..backend import get_array_module
from ..ops import concatenate
from . import init
from .attention_masks import attention_mask_parts
from .linear import Linear, _check_positive_int, empty_parameter
from .module import Module


def _check_probability(cls: str, name: str, p) -> None:
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p < 1.0:
        raise ValueError(f"{cls}: {name} must be a probability in [0, 1), got {p!r}")


class MultiheadAttention(Module):
    """PyTorch's ``nn.MultiheadAttention``: same arguments, defaults, parameter names and init.

    ``MultiheadAttention(embed_dim, num_heads, dropout=0.0, bias=True, add_bias_kv=False,
    add_zero_attn=False, kdim=None, vdim=None, batch_first=False)``

    ``forward(query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
    average_attn_weights=True, is_causal=False)`` -> (output, weights or None)

    * query (L, B, E), key (S, B, kdim), value (S, B, vdim); (B, L, E) ... with
      ``batch_first=True``; (L, E) ... for one unbatched sequence.
    * output: the query's layout and shape.  weights (only if
      ``need_weights``): (B, L, S) averaged over the heads, or (B, H, L, S)
      with ``average_attn_weights=False``; after dropout, as PyTorch's.
    * ``dropout`` is applied to the attention weights in training mode.

    Parameters, as PyTorch's: ``in_proj_weight`` (3 E, E) and ``in_proj_bias``
    (3 E,), or ``q_proj_weight``, ``k_proj_weight``, ``v_proj_weight`` when
    kdim or vdim differ from E; ``out_proj`` (a Linear E -> E); ``bias_k``,
    ``bias_v`` (1, 1, E) with ``add_bias_kv``.  Init as PyTorch's: Xavier
    uniform for the input projection, the Linear default for
    ``out_proj.weight``, zero biases, Xavier normal for bias_k/bias_v.

    Differences from PyTorch: a query whose keys are all masked gets zero
    weights and a zero attention output, not NaN; ``is_causal=True`` applies
    the causal mask (together with any ``attn_mask``), where PyTorch takes it
    as a hint that ``attn_mask`` is causal and requires that mask.  Two
    keyword-only additions serve incremental decoding: ``cache`` and
    ``static_kv`` (see the module's docstring).  For plots, with
    ``keep_weights = True`` each call keeps its per-head weights (before
    dropout) in ``last_weights`` (B, H, L, S).
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 add_bias_kv: bool = False, add_zero_attn: bool = False, kdim: int | None = None,
                 vdim: int | None = None, batch_first: bool = False):
        super().__init__()
        name = "MultiheadAttention"
        _check_positive_int(name, "embed_dim", embed_dim)
        _check_positive_int(name, "num_heads", num_heads)
        if embed_dim % num_heads:
            raise ValueError(
                f"{name}: embed_dim={embed_dim} is not divisible by num_heads={num_heads} "
                f"(each head gets embed_dim / num_heads features)"
            )
        _check_probability(name, "dropout", dropout)
        kdim = embed_dim if kdim is None else kdim
        vdim = embed_dim if vdim is None else vdim
        _check_positive_int(name, "kdim", kdim)
        _check_positive_int(name, "vdim", vdim)
        self.embed_dim, self.kdim, self.vdim = embed_dim, kdim, vdim
        self._qkv_same_embed_dim = kdim == embed_dim and vdim == embed_dim
        self.num_heads, self.head_dim = num_heads, embed_dim // num_heads
        self.dropout, self.batch_first = float(dropout), bool(batch_first)
        self.add_zero_attn = bool(add_zero_attn)
        # for plots: when True, forward keeps its attention weights in last_weights
        self.keep_weights = False
        self.last_weights = None
        if self._qkv_same_embed_dim:
            self.in_proj_weight = empty_parameter(3 * embed_dim, embed_dim)
            self.q_proj_weight = self.k_proj_weight = self.v_proj_weight = None
        else:
            self.in_proj_weight = None
            self.q_proj_weight = empty_parameter(embed_dim, embed_dim)
            self.k_proj_weight = empty_parameter(embed_dim, kdim)
            self.v_proj_weight = empty_parameter(embed_dim, vdim)
        self.in_proj_bias = empty_parameter(3 * embed_dim) if bias else None
        self.out_proj = Linear(embed_dim, embed_dim, bias=bias)
        if add_bias_kv:
            self.bias_k = empty_parameter(1, 1, embed_dim)
            self.bias_v = empty_parameter(1, 1, embed_dim)
        else:
            self.bias_k = self.bias_v = None
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            for weight in (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight):
                init.xavier_uniform_(weight)
        if self.in_proj_bias is not None:
            init.zeros_(self.in_proj_bias)
            init.zeros_(self.out_proj.bias)
        if self.bias_k is not None:
            init.xavier_normal_(self.bias_k)
            init.xavier_normal_(self.bias_v)

    # ------------------------------------------------------------ projections
    def _projection(self, which: int):
        """(weight, bias) of the q (0), k (1) or v (2) projection.

        Slicing the packed Parameter is a view, and its gradient lands in
        the rows of ``in_proj_weight`` that the slice covers.
        """
        e = self.embed_dim
        rows = slice(which * e, (which + 1) * e)
        if self._qkv_same_embed_dim:
            weight = self.in_proj_weight[rows]
        else:
            weight = (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight)[which]
        return weight, (None if self.in_proj_bias is None else self.in_proj_bias[rows])

    def _project(self, x: Tensor, which: int) -> Tensor:
        weight, bias = self._projection(which)
        return F.linear(x, weight, bias)

    def _split_heads(self, x: Tensor) -> Tensor:
        """(B, L, E) -> (B, H, L, d_k)."""
        b, length, _ = x.shape
        return x.reshape(b, length, self.num_heads, self.head_dim).permute(0, 2, 1, 3)

    def _merge_heads(self, x: Tensor) -> Tensor:
        """(B, H, L, d_k) -> (B, L, E): the concatenation of the heads."""
        b, _, length, _ = x.shape
        return x.permute(0, 2, 1, 3).reshape(b, length, self.embed_dim)

    # ------------------------------------------------------------ checks and layouts
    def _layout(self) -> str:
        return "(B, L, E) (batch_first=True)" if self.batch_first else "(L, B, E) (batch_first=False)"

    def _to_batch_first(self, name: str, x, features: int, batched: bool):
        """x as (B, L, features), from the module's layout; a clear error for anything else."""
        if not isinstance(x, Tensor):
            raise TypeError(f"MultiheadAttention: {name} must be a Tensor, got {type(x).__name__}")
        if x.ndim != (3 if batched else 2) or x.shape[-1] != features:
            raise ValueError(
                f"MultiheadAttention: {name} must be {'3' if batched else '2'}-D with {features} features "
                f"in the last axis, {self._layout() if batched else '(L, E) (unbatched)'}; got shape {x.shape}"
            )
        if not batched:
            return x.reshape(1, *x.shape)
        return x if self.batch_first else x.swapaxes(0, 1)

    # ------------------------------------------------------------ forward
    def forward(self, query: Tensor, key: Tensor | None, value: Tensor | None, key_padding_mask=None,
                need_weights: bool = True, attn_mask=None, average_attn_weights: bool = True,
                is_causal: bool = False, *, cache: dict | None = None, static_kv: bool = False):
        name = "MultiheadAttention"
        if not isinstance(query, Tensor):
            raise TypeError(f"{name}: query must be a Tensor, got {type(query).__name__}")
        batched = query.ndim == 3
        if cache is not None:
            if not isinstance(cache, dict):
                raise TypeError(f"{name}: cache must be a dict (empty at the first step), got {type(cache).__name__}")
            if self.bias_k is not None or self.add_zero_attn:
                raise NotImplementedError(f"{name}: incremental decoding (cache=) with add_bias_kv or add_zero_attn")
        q_in = self._to_batch_first("query", query, self.embed_dim, batched)
        batch = q_in.shape[0]
        if key_padding_mask is not None and not batched:
            key_padding_mask = key_padding_mask.reshape(1, *key_padding_mask.shape)
        q = self._split_heads(self._project(q_in, 0))

        cached = 0                                   # keys from earlier steps
        if static_kv and cache is not None and "k" in cache:
            k, v = cache["k"], cache["v"]            # projected memory, computed at the first step
        else:
            k_in = self._to_batch_first("key", key, self.kdim, batched)
            v_in = self._to_batch_first("value", value, self.vdim, batched)
            if k_in.shape[:2] != v_in.shape[:2] or k_in.shape[0] != batch:
                raise ValueError(
                    f"{name}: query {query.shape}, key {key.shape} and value {value.shape} must have "
                    f"the same batch size, and key and value the same length; layout {self._layout()}"
                )
            k, v = self._project(k_in, 1), self._project(v_in, 2)
            if self.bias_k is not None:              # one more key and value, learned
                k = concatenate([k, self.bias_k.expand(batch, 1, self.embed_dim)], axis=1)
                v = concatenate([v, self.bias_v.expand(batch, 1, self.embed_dim)], axis=1)
            if self.add_zero_attn:                   # and one more, zero
                zeros = Tensor(get_array_module(k.data).zeros((batch, 1, self.embed_dim), dtype=k.dtype))
                k, v = concatenate([k, zeros], axis=1), concatenate([v, zeros], axis=1)
            k, v = self._split_heads(k), self._split_heads(v)
            if cache is not None:
                if not static_kv and "k" in cache:
                    if cache["k"].shape[0] != batch:
                        raise ValueError(
                            f"{name}: cached keys of shape {cache['k'].shape} do not match the query's "
                            f"batch of {batch} (reorder the cache with reorder_cache after pruning beams)"
                        )
                    cached = cache["k"].shape[2]
                    k = concatenate([cache["k"], k], axis=2)   # (B, H, L_so_far + L_new, d_k)
                    v = concatenate([cache["v"], v], axis=2)
                cache["k"], cache["v"] = k, v

        out, weights = self._attend(q, k, v, attn_mask, key_padding_mask, is_causal, cached)
        out = self.out_proj(self._merge_heads(out))
        if not batched:
            out = out.reshape(*out.shape[1:])
        elif not self.batch_first:
            out = out.swapaxes(0, 1)
        if not need_weights:
            return out, None
        if average_attn_weights:
            weights = weights.mean(axis=1)
        return out, (weights if batched else weights.reshape(*weights.shape[1:]))

    def _attend(self, q, k, v, attn_mask, key_padding_mask, is_causal, cached):
        """softmax(q k^T / sqrt(d_k) + bias, masked) v over (B, H, L, d_k) heads; (output, weights)."""
        batch, heads, len_q, _ = q.shape
        len_k = k.shape[2]
        extra = (self.bias_k is not None) + self.add_zero_attn   # keys no mask covers: always allowed
        xp = get_array_module(q.data)
        allowed, bias = attention_mask_parts(
            "MultiheadAttention", attn_mask=attn_mask, key_padding_mask=key_padding_mask, is_causal=is_causal,
            batch=batch, num_heads=heads, len_q=len_q, len_k=len_k - extra, dtype=q.dtype, xp=xp,
            causal_offset=cached,
        )
        if extra:
            allowed, bias = _allow_extra_keys(allowed, bias, extra, xp)
        # scaling q (L_q x d_k values) is cheaper than scaling the L_q x L_k scores
        scores = (q * (1.0 / math.sqrt(self.head_dim))) @ k.swapaxes(-1, -2)
        if bias is not None:
            scores = scores + (bias if isinstance(bias, Tensor) else Tensor(bias))
        weights = F.masked_softmax(scores, allowed)
        if self.keep_weights:
            self.last_weights = weights.detach()
        if self.dropout and self.training:
            weights = F.dropout(weights, self.dropout, True)
        return weights @ v, weights

    def extra_repr(self) -> str:
        text = f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, dropout={self.dropout}"
        if not self._qkv_same_embed_dim:
            text += f", kdim={self.kdim}, vdim={self.vdim}"
        return text + f", batch_first={self.batch_first}"


def _allow_extra_keys(allowed, bias, count: int, xp):
    """Masks over S keys, extended to S + count keys that every query may look at."""
    if allowed is not None:
        allowed = xp.concatenate([allowed, xp.ones(allowed.shape[:-1] + (count,), dtype=bool)], axis=-1)
    if isinstance(bias, Tensor):
        bias = concatenate([bias, Tensor(xp.zeros(bias.shape[:-1] + (count,), dtype=bias.dtype))], axis=-1)
    elif bias is not None:
        bias = xp.concatenate([bias, xp.zeros(bias.shape[:-1] + (count,), dtype=bias.dtype)], axis=-1)
    return allowed, bias


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
        return cache.index_select(0, Tensor(idx))
    return cache
