"""Turning a POST /train body into a complete, validated training config.

Everything that can be known before a worker starts is checked here, so a job that is
accepted does not fail a second later on a typo: server limits, dataset, architecture, loss,
and whether the architecture can build a model of the requested size for that dataset.
"""

from __future__ import annotations

import secrets
from typing import Any

from app.schemas.jobs import TrainRequest
from app.services.datasets.catalog import DatasetCatalog
from common.settings import Settings
from models.architectures import ARCHITECTURES, CONDITIONAL_ARCHITECTURES
from models.data import BUILTIN_DATASETS, DOWNLOADABLE_DATASETS
from models.training import TrainConfig
from models.training.networks import build_model_config
from models.training.recipes import resolve_recipe


class TrainRequestError(ValueError):
    """The config cannot train; the message names every offending field ('; '-joined)."""


def default_model_name(dataset: str, architecture: str) -> str:
    """``<dataset>-<architecture>-<6 hex>``, kept within the 64-character name limit."""
    return f"{dataset}-{architecture}"[:56] + "-" + secrets.token_hex(3)


def build_train_config(request: TrainRequest, settings: Settings, catalog: DatasetCatalog) -> TrainConfig:
    """Complete, name and judge a request: the one check a job's spec gets (the worker trusts it).

    Every field the request left out is chosen for the dataset by its recipe
    (models.training.recipes), once: the job record stores the result.

    Args:
        request: the body the client sent (field types already checked by its schema).
        settings: server limits.
        catalog: to resolve the dataset name (builtin, downloadable or uploaded).

    Returns:
        The engine's config; its ``name`` and ``spec()`` make the job record.

    Raises:
        TrainRequestError: with one readable message per problem.
    """
    dataset = request.dataset
    facts = catalog.facts(dataset)
    given = request.model_dump(include=request.model_fields_set - {"name"})
    if facts is not None:
        given = resolve_recipe(facts.data, given, max_image_size=settings.max_image_size).fields
    fields = {**request.model_dump(exclude={"name"}), **given}
    fields["name"] = request.name or default_model_name(dataset, str(fields["architecture"]))

    problems = _limit_problems(fields, settings)
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
        raise TrainRequestError("; ".join(problems)) from None

    if facts is not None and config.architecture in ARCHITECTURES:
        image_size = config.image_size or facts.image_size
        channels = config.channels or facts.channels
        conditional = config.architecture in CONDITIONAL_ARCHITECTURES
        if image_size > settings.max_image_size:
            problems.append(
                f"image_size must be at most {settings.max_image_size} on this server, got {image_size}"
            )
        elif conditional and facts.num_classes < 2:
            problems.append(
                f"architecture {config.architecture!r} is class-conditional but dataset "
                f"{config.dataset!r} has no labels (upload it with one folder per class)"
            )
        else:
            problems.extend(_build_problems(config, image_size, channels, facts.num_classes))
    if problems:
        raise TrainRequestError("; ".join(problems))
    return config


def _limit_problems(fields: dict[str, Any], settings: Settings) -> list[str]:
    problems = []
    for name, limit in (("steps", settings.max_train_steps), ("batch_size", settings.max_batch_size)):
        value = fields.get(name)
        if isinstance(value, int) and value > limit:
            problems.append(f"{name} must be at most {limit} on this server, got {value}")
    return problems


def _build_problems(config: TrainConfig, image_size: int, channels: int, num_classes: int) -> list[str]:
    # Build the model config the worker will build, with the engine's own function, so sizes
    # an architecture cannot make (e.g. a DCGAN at 12x12) fail now with the engine's message.
    try:
        build_model_config(config, image_size, channels, num_classes)
    except ValueError as error:
        return [str(error)]
    return []
