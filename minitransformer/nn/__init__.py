"""Layers (modules) of the Transformer, with PyTorch's names.

Bottom up: Linear, Embedding, LayerNorm, Dropout, PositionalEncoding ->
MultiheadAttention, FeedForward -> TransformerEncoderLayer,
TransformerDecoderLayer -> TransformerEncoder, TransformerDecoder ->
Transformer (PyTorch's, on embedded sequences) and the engine's models
built from the same layers: TransformerTranslator (ids to logits),
TransformerLM, TransformerEncoderModel.  ``nn.init`` holds the weight
initializers.
"""
from . import init
from .attention import MultiheadAttention, reorder_cache
from .containers import ModuleList, Sequential
from .dropout import Dropout
from .embedding import Embedding, LearnedPositionalEmbedding, PositionalEncoding, sinusoidal_table
from .feedforward import FeedForward
from .language_model import TransformerEncoderModel, TransformerLM
from .linear import Linear
from .module import Module, StateDictError
from .normalization import LayerNorm
from .parameter import Parameter
from .transformer import Transformer, TransformerDecoder, TransformerEncoder
from .transformer_layers import TransformerDecoderLayer, TransformerEncoderLayer
from .translator import TransformerTranslator

__all__ = [
    "Dropout", "Embedding", "FeedForward", "LayerNorm", "LearnedPositionalEmbedding", "Linear", "Module",
    "ModuleList", "MultiheadAttention", "Parameter", "PositionalEncoding", "Sequential", "StateDictError",
    "Transformer", "TransformerDecoder", "TransformerDecoderLayer", "TransformerEncoder",
    "TransformerEncoderLayer", "TransformerEncoderModel", "TransformerLM", "TransformerTranslator", "init",
    "reorder_cache", "sinusoidal_table",
]

# PyTorch's surface for code written for torch.nn: activations, losses, containers, Identity
from .activation import GELU, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from .containers import ModuleDict
from .linear import Identity
from .loss import CrossEntropyLoss, MSELoss, NLLLoss
from .module import IncompatibleKeys

__all__ += [
    "CrossEntropyLoss", "GELU", "Identity", "IncompatibleKeys", "LogSoftmax", "MSELoss", "ModuleDict", "NLLLoss",
    "ReLU", "Sigmoid", "Softmax", "Tanh",
]
