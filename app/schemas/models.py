"""How models and their checkpoints are described to clients."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class BrokenCheckpoint(BaseModel):
    step: int
    error: str


class ModelSummary(BaseModel):
    """A servable model (a folder of checkpoints)."""

    name: str
    source: str = Field(description="trained (here) or pretrained (shipped, read-only)")
    default: bool = Field(description="whether this is the server's default model")
    architecture: str | None = None
    image_size: int | None = None
    channels: int | None = None
    latent_dim: int | None = None
    num_classes: int | None = None
    conditional: bool | None = None
    class_names: list[str] | None = None
    codes: int | None = Field(
        default=None,
        description="categorical codes a self-conditioned or InfoGAN model draws from (0: none); "
        "POST /sample takes one per latent vector as `codes`",
    )
    dataset: str | None = None
    checkpoints: list[int] = Field(description="steps with a checkpoint file, ascending")
    latest_step: int
    quality: dict[str, Any] | None = Field(
        default=None, description="quality figures recorded with the newest checkpoint"
    )
    metrics: dict[str, Any] = Field(default_factory=dict)
    samples: list[int] = Field(default_factory=list, description="steps with a timeline grid")
    created_at: float
    error: str | None = Field(
        default=None, description="why the newest checkpoint cannot be served, if it cannot"
    )
    broken_checkpoints: list[BrokenCheckpoint] = Field(default_factory=list)
    links: dict[str, str] = Field(default_factory=dict)


class CheckpointDetail(BaseModel):
    """Everything one checkpoint says about itself."""

    model: str
    step: int
    kind: str | None = None
    model_config_: dict[str, Any] | None = Field(
        default=None, alias="model_config", serialization_alias="model_config"
    )
    train_config: dict[str, Any] | None = None
    metrics: dict[str, Any] | None = None
    content_sha256: str | None = None
    has_ema: bool | None = None
    size_bytes: int | None = None
    error: str | None = None

    model_config = {"populate_by_name": True}
