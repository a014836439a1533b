"""Turning a POST /train body into a complete, validated training config.

Everything that can be known before a worker starts is checked here, so a job that is
accepted does not fail a second later on a typo: server limits, dataset, architecture, loss,
and whether the architecture can build a model of the requested size for that dataset.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from app.core.bounds import TRAIN_BATCH_SIZE, TRAIN_IMAGE_SIZE, TRAIN_STEPS
from app.schemas.jobs import TrainRequest
from app.services.datasets.catalog import DatasetCatalog, DatasetFacts
from app.services.jobs.queue import QueueUnavailable
from common.settings import Settings
from common.specs import TrainingSpec
from models.architectures import ARCHITECTURES, CONDITIONAL_ARCHITECTURES
from models.data import BUILTIN_DATASETS, DOWNLOADABLE_DATASETS
from models.training import TrainConfig
from models.training.networks import build_model_config
from models.training.recipes import resolve_recipe


class TrainRequestError(ValueError):
    """The config cannot train; the message names every offending field ('; '-joined), and
    ``problems`` holds the messages one by one."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def default_model_name(dataset: str, architecture: str) -> str:
    """``<dataset>-<architecture>-<6 hex>``, kept within the 64-character name limit."""
    return f"{dataset}-{architecture}"[:56] + "-" + secrets.token_hex(3)


# What a plan knows of the cost of a step: seconds (None: never measured), and in words.
Measure = Callable[[TrainingSpec], float | None]


@dataclass(frozen=True)
class TrainingPlan:
    """A judged request: the engine's config, why its chosen fields are what they are, and what
    the workers measured a step of its shape to cost."""

    config: TrainConfig
    chosen: dict[str, str]
    seconds_per_step: float | None
    estimate_note: str

    @property
    def estimate_seconds(self) -> float | None:
        """The job's expected duration from the workers' measurements (None: never measured)."""
        if self.seconds_per_step is None:
            return None
        return self.seconds_per_step * self.config.steps


def plan_training(
    request: TrainRequest, settings: Settings, catalog: DatasetCatalog, measure: Measure
) -> TrainingPlan:
    """Complete, name and judge a request: the one check a job's spec gets (the worker trusts it).

    Every field the request left out is chosen for the dataset by its recipe
    (models.training.recipes), once: the job record stores the result. ``budget_minutes``
    becomes steps at the measured cost of a step of the job's shape.

    Args:
        request: the body the client sent (field types already checked by its schema).
        settings: server limits.
        catalog: to resolve the dataset name (builtin, downloadable or uploaded).
        measure: seconds per step of a spec's shape on these workers (QueueUnavailable: unknown).

    Raises:
        TrainRequestError: with one readable message per problem.
    """
    dataset = request.dataset
    facts = catalog.facts(dataset)
    given = request.model_dump(include=request.model_fields_set - {"name", "budget_minutes"})
    chosen: dict[str, str] = {}
    problems: list[str] = []
    if request.budget_minutes is not None and "steps" in given:
        problems.append("give steps or budget_minutes, not both")
    if facts is not None:
        recipe = resolve_recipe(
            facts.data,
            given,
            max_image_size=settings.max_image_size,
            max_steps=settings.max_train_steps,
            max_batch_size=settings.max_batch_size,
        )
        given, chosen = recipe.fields, recipe.reasons
    fields = {**request.model_dump(exclude={"name", "budget_minutes"}), **given}
    fields["name"] = request.name or default_model_name(dataset, str(fields["architecture"]))
    config = _judged(fields, facts, settings, problems)
    rate, note = _measured(measure, config.spec())
    if request.budget_minutes is not None and not problems:
        if rate is None:
            raise TrainRequestError(
                [f"budget_minutes cannot be turned into steps: {note}; give steps instead"]
            )
        steps = max(1, min(TRAIN_STEPS.value(settings), int(request.budget_minutes * 60 / rate)))
        config = _judged({**config.to_dict(), "steps": steps}, facts, settings, problems)
        chosen["steps"] = f"{request.budget_minutes:g} minutes at the measured {rate:.4f} s per step"
    return TrainingPlan(config, chosen, rate, note)


def _measured(measure: Measure, spec: TrainingSpec) -> tuple[float | None, str]:
    try:
        rate = measure(spec)
    except QueueUnavailable as error:
        return None, f"no measurement available (job queue unavailable: {error})"
    if rate is None:
        return None, "no worker has trained a job of this shape yet; the first one measures it"
    return rate, "measured on these workers"


def _judged(
    fields: dict[str, Any], facts: DatasetFacts | None, settings: Settings, problems: list[str]
) -> TrainConfig:
    """The config of ``fields``, after every check that can be made before a worker starts.

    Raises:
        TrainRequestError: ``problems`` (as given, plus what was found), '; '-joined.
    """
    dataset = fields.get("dataset")
    problems = [*problems, *_limit_problems(fields, settings)]
    if dataset == "folder":
        problems.append(
            "dataset 'folder' is not available over HTTP; upload an archive with "
            "POST /datasets and train on it by name"
        )
    elif facts is None:
        problems.append(
            f"unknown dataset {dataset!r}; expected one of "
            + ", ".join((*BUILTIN_DATASETS, *DOWNLOADABLE_DATASETS))
            + " or an uploaded dataset (GET /datasets)"
        )
    try:
        config = TrainConfig.from_dict(fields)
    except ValueError as error:
        problems.extend(str(error).split("; "))
        raise TrainRequestError(problems) from None

    if facts is not None and config.architecture in ARCHITECTURES:
        image_size = config.image_size or facts.image_size
        channels = config.channels or facts.channels
        conditional = config.architecture in CONDITIONAL_ARCHITECTURES
        too_large = TRAIN_IMAGE_SIZE.problem(settings, image_size)
        if too_large:
            problems.append(too_large)
        elif conditional and facts.num_classes < 2:
            problems.append(
                f"architecture {config.architecture!r} is class-conditional but dataset "
                f"{config.dataset!r} has no labels (upload it with one folder per class)"
            )
        else:
            problems.extend(_build_problems(config, image_size, channels, facts.num_classes))
    if problems:
        raise TrainRequestError(problems)
    return config


def _limit_problems(fields: dict[str, Any], settings: Settings) -> list[str]:
    # image_size is judged below, as the size the model will have (the dataset's when unset).
    found = (limit.problem(settings, fields.get(limit.field)) for limit in (TRAIN_STEPS, TRAIN_BATCH_SIZE))
    return [problem for problem in found if problem]


def _build_problems(config: TrainConfig, image_size: int, channels: int, num_classes: int) -> list[str]:
    # Build the model config the worker will build, with the engine's own function, so sizes
    # an architecture cannot make (e.g. a DCGAN at 12x12) fail now with the engine's message.
    try:
        build_model_config(config, image_size, channels, num_classes)
    except ValueError as error:
        return [str(error)]
    return []
