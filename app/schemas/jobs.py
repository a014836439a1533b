"""Training requests and job views."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from common.jobs import JobRecord
from common.specs import TrainingSpec


class TrainRequest(TrainingSpec):
    """The body of ``POST /train``: a training spec and, optionally, the model's name."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"dataset": "digits", "architecture": "dcgan", "steps": 200}]},
    )

    name: str | None = Field(default=None, description="model name; default <dataset>-<arch>-<6 hex>")


class JobView(JobRecord):
    """A job record plus links to everything about it."""

    links: dict[str, str] = Field(description="self, events, cancel, samples, model")


class SampleLink(BaseModel):
    """One fixed-noise grid saved during training."""

    model_config = ConfigDict(frozen=True)

    step: int
    url: str
