"""Layers (modules) of the Transformer, with PyTorch's names."""
from .containers import ModuleList, Sequential
from .module import Module, StateDictError
from .parameter import Parameter

__all__ = ["Module", "ModuleList", "Parameter", "Sequential", "StateDictError"]
