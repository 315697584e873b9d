"""The position-wise feed-forward network (Vaswani et al. 2017, eq. 2):

    FFN(x) = linear2(dropout(act(linear1(x))))  =  max(0, x W1^T + b1) W2^T + b2   (act = ReLU)

applied to each position separately: (..., d_model) -> (..., d_ff) -> (..., d_model).

``feed_forward`` is the formula, written once: the ``FeedForward`` module
here and the feed-forward block of PyTorch's encoder and decoder layers
(``linear1``, ``dropout``, ``linear2`` and ``activation`` are attributes of
the layer itself there, so that the parameter names are PyTorch's) both call it.
"""
from __future__ import annotations

from .. import functional as F
from ..autograd import Tensor
from .dropout import Dropout
from .linear import Linear, _check_positive_int
from .module import Module


def gelu_exact(x: Tensor) -> Tensor:
    """GELU with erf: PyTorch's F.gelu and TransformerEncoderLayer(activation="gelu")."""
    return F.gelu(x, approximate="none")


def gelu_tanh(x: Tensor) -> Tensor:
    """GELU's tanh approximation (GPT-2, BERT)."""
    return F.gelu(x, approximate="tanh")


ACTIVATIONS = {"relu": F.relu, "gelu": gelu_exact, "gelu_tanh": gelu_tanh}


def get_activation(cls: str, activation):
    """The activation function named by ``activation`` (or ``activation`` itself if callable)."""
    if callable(activation):
        return activation
    if activation not in ACTIVATIONS:
        raise ValueError(f"{cls}: activation must be one of {sorted(ACTIVATIONS)} or a callable, got {activation!r}")
    return ACTIVATIONS[activation]


def feed_forward(x: Tensor, linear1, activation, dropout, linear2) -> Tensor:
    """linear2(dropout(activation(linear1(x)))): the position-wise feed-forward network."""
    return linear2(dropout(activation(linear1(x))))


class FeedForward(Module):
    """linear2(dropout(act(linear1(x)))); ``linear1`` is d_model -> d_ff, ``linear2`` d_ff -> d_model.

    The dropout on the hidden activations is the one PyTorch's
    TransformerEncoderLayer applies (``self.dropout`` there).  The encoder
    and decoder layers hold these pieces themselves, under PyTorch's names.
    """

    def __init__(self, d_model: int, d_ff: int, dropout: float = 0.0, activation="relu"):
        super().__init__()
        _check_positive_int("FeedForward", "d_model", d_model)
        _check_positive_int("FeedForward", "d_ff", d_ff)
        self.activation_name = activation if isinstance(activation, str) else getattr(activation, "__name__", "custom")
        self.activation = get_activation("FeedForward", activation)
        self.linear1 = Linear(d_model, d_ff)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(d_ff, d_model)

    def forward(self, x: Tensor) -> Tensor:
        return feed_forward(x, self.linear1, self.activation, self.dropout, self.linear2)

    def extra_repr(self) -> str:
        return f"activation={self.activation_name!r}"
