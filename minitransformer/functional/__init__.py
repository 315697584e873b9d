"""Neural-network functions (``import minitransformer.functional as F``).

Fused ops (one Function with a hand-derived backward) for speed and
stability, each next to a ``*_composed`` version built from primitive ops
that reads like the formula; tests check that the two agree.
"""
from ..autograd import Tensor
from .activation import (
    LogSoftmax, Softmax, gelu, log_softmax, log_softmax_composed, relu, sigmoid, softmax, softmax_composed, tanh,
)
from .attention import masked_softmax, scaled_dot_product_attention, scaled_dot_product_attention_composed
from .dropout import Dropout, dropout
from .embedding import Embedding, embedding
from .fused_attention import Attention, fused_attention
from .linear import Linear, linear, linear_composed
from .loss import CrossEntropy, cross_entropy, cross_entropy_composed, mse_loss, nll_loss
from .masks import causal_mask, padding_mask
from .normalization import LayerNorm, layer_norm, layer_norm_composed

__all__ = [
    "Attention", "CrossEntropy", "Dropout", "Embedding", "LayerNorm", "Linear", "LogSoftmax", "Softmax",
    "causal_mask", "cross_entropy", "cross_entropy_composed", "dropout", "embedding", "fused_attention", "gelu",
    "layer_norm", "layer_norm_composed", "linear", "linear_composed", "log_softmax",
    "log_softmax_composed", "masked_softmax", "padding_mask", "relu", "scaled_dot_product_attention",
    "scaled_dot_product_attention_composed", "softmax", "softmax_composed",
    # PyTorch's names, added for code written for torch.nn.functional
    "mse_loss", "nll_loss", "sigmoid", "tanh",
]


def _attach_tensor_methods() -> None:
    """``x.softmax(dim)`` and ``x.log_softmax(dim)``, as PyTorch's Tensor has them.

    They are ops of this floor, so this floor attaches them (``ops`` attaches
    the primitive ones); ``import minitransformer`` imports this package.
    """
    Tensor.softmax = softmax
    Tensor.log_softmax = log_softmax


_attach_tensor_methods()
