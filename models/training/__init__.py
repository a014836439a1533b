"""Training: config, the alternating loop, and the run folder it writes."""

from models.training.config import TrainConfig
from models.training.trainer import Progress, Trainer, TrainResult, resolve_device, train

__all__ = ["Progress", "TrainConfig", "TrainResult", "Trainer", "resolve_device", "train"]
