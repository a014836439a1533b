"""Recipes: a complete training spec from the data's own facts and whatever the request fixed.

A request names a dataset and, if it likes, any field; every field it leaves out is chosen
here, from what the data is (its image size and channels, how many images, whether it has
classes), never from the host it will train on, so the same request makes the same job
everywhere. The choice runs once, when a job is accepted, and the job record stores the
result: a retried or resumed job never chooses again.

The rules and the figures behind them (docs/models.md, "your first model"):
- **Size and channels are the data's own**, snapped to the nearest size the architecture can
  build (a DCGAN builds 8, 14, 16, 28, 32, 56, 64, ...), never upscaled past the data.
- **Labelled data trains a conditional model** (two classes or more): the model can then be
  asked for a class, and on ``digits`` it reached about a fifth of the unconditional FD in the
  same steps.
- **Width 32** for both networks: the width every shipped model uses, fast on a CPU.
- **Steps by image size**, so a first model is good within minutes on a 2-core CPU.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from common.specs import TrainingSpec
from models.architectures.config import MLP_MAX_IMAGE_SIZE, MLP_MIN_IMAGE_SIZE, dcgan_image_sizes
from models.data.facts import DataFacts

# Generator updates for a first model, by the largest image side they apply to.
STEPS_BY_SIZE = ((16, 10_000), (32, 6_000), (64, 4_000))
STEPS_LARGER = 3_000
WIDTH = 32
# The fields a recipe may choose; every other field a request leaves out keeps its default.
CHOSEN_FIELDS = ("architecture", "image_size", "channels", "g_width", "d_width", "steps", "batch_size")


@dataclass(frozen=True)
class Recipe:
    """A full spec's fields, and why each field chosen for the data has its value (the others
    the request left out keep the engine's defaults)."""

    fields: dict[str, Any]
    reasons: dict[str, str]


def _architecture(facts: DataFacts) -> tuple[str, str]:
    if facts.num_classes >= 2:
        return "cdcgan", f"the data has {facts.num_classes} classes: a conditional model draws any of them"
    return "dcgan", "the data has no classes"


def buildable_size(architecture: str, side: int, max_image_size: int) -> int:
    """The image size a model of ``architecture`` trains at for images of ``side`` pixels: the
    largest size it can build that is at most ``side`` (the smallest it can build, for tiny
    images), within the server's ``max_image_size``."""
    limit = min(side, max_image_size)
    if architecture in ("gan", "cgan"):
        return max(MLP_MIN_IMAGE_SIZE, min(limit, MLP_MAX_IMAGE_SIZE))
    sizes = dcgan_image_sizes()
    fitting = [size for size in sizes if size <= limit]
    return fitting[-1] if fitting else sizes[0]


def _steps_for(image_size: int) -> int:
    for largest, steps in STEPS_BY_SIZE:
        if image_size <= largest:
            return steps
    return STEPS_LARGER


def resolve_recipe(
    facts: DataFacts,
    given: Mapping[str, Any],
    *,
    max_image_size: int,
    max_steps: int | None = None,
    max_batch_size: int | None = None,
) -> Recipe:
    """Every spec field: those in ``given`` as they are, the rest chosen for the data, within
    the server's limits (a chosen value never makes a request fail; a given one may).

    ``given`` holds only the fields a request set (so a field explicitly set to its engine
    default stays). The result is not yet judged: the caller builds and checks the config.
    """
    fields = dict(given)
    reasons: dict[str, str] = {}

    def choose(name: str, value: Any, reason: str) -> None:
        if name not in fields:
            fields[name] = value
            reasons[name] = reason

    architecture, why = _architecture(facts)
    choose("architecture", architecture, why)
    architecture = str(fields["architecture"])
    side = facts.image_size
    if side is not None:
        size = buildable_size(architecture, side, max_image_size)
        why = "the data's own size" if size == side else f"the buildable size nearest the data's {side}"
        choose("image_size", size, why)
    if facts.channels is not None:
        choose("channels", facts.channels, "the data's own channels")
    choose("g_width", WIDTH, "fast on a CPU; the width of every shipped model")
    choose("d_width", WIDTH, "fast on a CPU; the width of every shipped model")
    image_size = fields.get("image_size")
    if isinstance(image_size, int):
        steps = _steps_for(image_size)
        if max_steps is not None and steps > max_steps:
            choose(
                "steps",
                max_steps,
                f"this server's limit (a first model at {image_size}x{image_size}: {steps:,})",
            )
        choose("steps", steps, f"a first model at {image_size}x{image_size}")
    if max_batch_size is not None and TrainingSpec().batch_size > max_batch_size:
        choose("batch_size", max_batch_size, "this server's limit")
    defaults = TrainingSpec()
    for name in TrainingSpec.model_fields:
        if name not in fields:
            fields[name] = getattr(defaults, name)
    return Recipe(fields, reasons)
