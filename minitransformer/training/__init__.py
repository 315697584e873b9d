"""Training: the loop, large-batch steps, checkpoints, metrics, early stopping."""
from .config import TrainConfig
from .early_stopping import EarlyStopping
from .steps import NonFiniteLossError, accumulate_gradients, train_step
from .trainer import Trainer

__all__ = ["EarlyStopping", "NonFiniteLossError", "TrainConfig", "Trainer", "accumulate_gradients", "train_step"]
