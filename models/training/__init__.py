"""Training: config, the alternating loop, and the run folder it writes."""

from models.training.config import TrainConfig
from models.training.networks import resolve_device
from models.training.reports import Progress, TrainResult
from models.training.trainer import Trainer, train

__all__ = ["Progress", "TrainConfig", "TrainResult", "Trainer", "resolve_device", "train"]
