"""Training: config, loop, checkpoints."""
from sadp.train.config import TrainConfig
from sadp.train.trainer import NonFiniteLossError, Trainer, train

__all__ = ["NonFiniteLossError", "TrainConfig", "Trainer", "train"]
