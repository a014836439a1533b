"""What a training run tells its caller: a progress report per step, and the result at the end."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from models.architectures import ModelConfig


@dataclass(frozen=True)
class Progress:
    """What the loop reports after every step (and at checkpoints, with ``event``)."""

    step: int
    total_steps: int
    images_per_second: float
    eta_seconds: float | None
    losses: dict[str, float]
    event: str = "step"  # "step" | "checkpoint" | "sample"
    checkpoint_step: int | None = None
    metrics: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TrainResult:
    status: str  # "completed" | "stopped"
    step: int
    checkpoint: Path | None
    model_config: ModelConfig
