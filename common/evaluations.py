"""What a finished training job reports about its model's quality (the record's ``evaluation``).

Filled in by the worker after the last step (``models.training.judging``); the figures and how
they are measured are described there and in ``models/evaluation/__init__.py``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class EvaluatorFacts(BaseModel):
    """Which classifier judged the model, and what it cost."""

    kind: str = Field(description="'shipped' (a built-in dataset's) or 'trained for this dataset'")
    heldout_accuracy: float = Field(description="its accuracy on real images it never trained on")
    cached: bool = Field(description="a trained one found in the cache: no training this time")
    train_seconds: float = Field(description="spent training it for this job (0 when shipped or cached)")
    content_sha256: str | None = Field(default=None, description="the dataset hash it is cached under")


class MemorizationFacts(BaseModel):
    """The share of generated images that are near-copies of training images."""

    share: float = Field(description="about 0.05 for a model that draws new images; far more for copies")
    threshold: float = Field(description="the 5th percentile of training images' nearest-neighbour distances")
    space: str = Field(description="'evaluator features' or 'pixels'")
    num_generated: int
    num_reference: int


class JobEvaluation(BaseModel):
    """The final quality figures of a job's model, or why there are none."""

    status: Literal["done", "skipped", "failed"]
    reason: str | None = Field(default=None, description="why figures are missing (all, or FD only)")
    samples: int | None = Field(default=None, description="N generated images, against N real ones")
    frechet_distance: float | None = None
    floor_frechet_distance: float | None = Field(
        default=None, description="real images against real images at the same N: the best reachable"
    )
    fd_ratio: float | None = Field(default=None, description="frechet_distance / floor_frechet_distance")
    classes_present: int | None = None
    num_classes: int | None = None
    label_accuracy: float | None = Field(
        default=None, description="conditional models: images classified as the label asked for"
    )
    memorization: MemorizationFacts | None = None
    evaluator: EvaluatorFacts | None = None
    seconds: float = Field(default=0.0, description="the whole evaluation, evaluator training included")
