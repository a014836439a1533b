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
    budget_minutes: float | None = Field(
        default=None,
        gt=0,
        le=7 * 24 * 60,
        description="train for about this long instead of a number of steps (needs a measured shape)",
    )


class TrainPlan(BaseModel):
    """What ``POST /train`` would queue for the same body, and how long it should take."""

    config: TrainingSpec = Field(description="the complete spec the job record would store")
    name: str | None = Field(description="the model name, when the request gave one")
    chosen: dict[str, str] = Field(description="why each field chosen for the data has its value")
    estimate_seconds: float | None = Field(description="expected duration; null: never measured")
    estimate: str = Field(description="where the estimate comes from, or why there is none")


class JobView(JobRecord):
    """A job record plus links to everything about it."""

    links: dict[str, str] = Field(description="self, events, cancel, samples, model")


class SampleLink(BaseModel):
    """One fixed-noise grid saved during training."""

    model_config = ConfigDict(frozen=True)

    step: int
    url: str
