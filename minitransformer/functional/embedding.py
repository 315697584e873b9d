"""Embedding lookup: row ``ids[...]`` of a (num_embeddings, dim) weight table."""
from __future__ import annotations

from ..autograd import Function, Tensor
from ..backend import get_array_module
from ..ops.checks import out_of_range
from ..ops.indexing import IndexAdd, scatter_add_rows


class Embedding(Function):
    @staticmethod
    def forward(ctx, weight, ids, padding_idx=None):
        xp = get_array_module(weight)
        if ids.dtype.kind not in "iu":
            raise TypeError(
                f"embedding: token ids must be integers, got dtype {ids.dtype} (shape {tuple(ids.shape)}); "
                "convert them with .astype('int64')"
            )
        n = weight.shape[0]
        bad = out_of_range(ids, n)
        if bad is not None:
            raise IndexError(
                f"embedding: token id {bad[0]} is out of range for a table of {n} rows "
                f"(valid ids are 0..{n - 1}; {bad[1]} id(s) out of range in ids of shape {tuple(ids.shape)})"
            )
        ctx.save_for_backward(ids)
        ctx.num_rows, ctx.padding_idx = n, padding_idx
        return xp.take(weight, ids, axis=0)

    @staticmethod
    def backward(ctx, grad):
        """out[p] = W[ids[p]], so dL/dW[i] = sum of g[p] over the positions p with ids[p] = i
        (a token used twice gets both gradients); the padding row gets none."""
        # BEGIN SOLUTION
        (ids,) = ctx.saved_tensors
        dim = grad.shape[-1]
        gw = scatter_add_rows(ids.reshape(-1), grad.reshape(-1, dim), ctx.num_rows)
        if ctx.padding_idx is not None:
            gw[ctx.padding_idx] = 0
        return gw, None
        # END SOLUTION

    @staticmethod
    def backward_graph(ctx, grad):
        """The lookup is W[ids], so its adjoint is IndexAdd at ids (create_graph);
        the padding row's gradient is multiplied by 0."""
        (ids,) = ctx.saved_tensors
        gw = IndexAdd.apply(grad, index=ids, shape=(ctx.num_rows, grad.shape[-1]))
        if ctx.padding_idx is not None:
            keep = get_array_module(ids).ones((ctx.num_rows, 1), dtype=grad.dtype)
            keep[ctx.padding_idx] = 0
            gw = gw * Tensor(keep)
        return gw, None


def embedding(input, weight: Tensor, padding_idx: int | None = None, max_norm=None, norm_type: float = 2.0,
              scale_grad_by_freq: bool = False, sparse: bool = False) -> Tensor:
    """Look up rows of ``weight`` (V, D) for integer ids ``input`` of any shape: result input.shape + (D,).

    The row ``padding_idx`` (negative counts from the end) receives no
    gradient.  Ids out of range, negative ones included, raise IndexError
    (NumPy would silently wrap a negative id around to the end of the
    table): the lookup checks, once, that the ids are integers within the
    table.  ``input`` is a Tensor on ``weight``'s backend, or an array or
    list, sent there (a no-op for an array already there) and handed on as an
    array, not wrapped.  PyTorch's ``max_norm``, ``scale_grad_by_freq`` and
    ``sparse`` are not supported (a ValueError says so).
    """
    if max_norm is not None or scale_grad_by_freq or sparse:
        raise ValueError(
            "embedding: max_norm, scale_grad_by_freq and sparse are not supported; "
            f"got max_norm={max_norm!r}, scale_grad_by_freq={scale_grad_by_freq!r}, sparse={sparse!r}"
        )
    ids = input
    if not isinstance(ids, Tensor):
        ids = get_array_module(weight.data).asarray(ids)
    n = weight.shape[0]
    # checked here, not in backward, where a bad index would fail late and obscurely
    if padding_idx is not None and not -n <= padding_idx < n:
        raise ValueError(f"embedding: padding_idx {padding_idx!r} is out of range for a table of {n} rows")
    return Embedding.apply(weight, ids, padding_idx=padding_idx)
