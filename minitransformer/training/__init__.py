"""Training utilities: the loop, checkpoints, metrics, early stopping."""
from .early_stopping import EarlyStopping

__all__ = ["EarlyStopping"]
