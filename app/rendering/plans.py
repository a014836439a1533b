"""A sampling request becomes a plan: plain data listing its forward passes and their tiles.

A :class:`RenderPlan` holds everything rendering needs and nothing else: where its latent rows
come from (a :class:`SeedRows`, :class:`GivenRows` or :class:`FrameRows`: the request's own
parameters, drawn where the forward pass runs, off the event loop), one label per row on a
conditional model, the layout, and its passes (:class:`PlannedPass`), each filling a run of the
request's tiles. How many rows a pass carries is ``models.inference.split_passes``'s rule, and
the labels are ``models.inference``'s default rule; nothing here decides either.

Planning validates against the model (labels, vector lengths) and raises
:class:`~models.inference.SamplingError`; it is cheap enough for the event loop, except
:func:`plan_latents`, which converts up to ``max_count`` vectors.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import torch

from app.services.models.entries import LoadedModel
from models import inference
from models.inference import (
    InterpolationMode,
    SamplingError,
    code_components,
    interpolate_latents,
    interpolation_labels,
    latent_for_seed,
    latent_labels,
    latents_for_seeds,
    seed_labels,
    split_passes,
    with_codes,
)


class RowSource(Protocol):
    """Where a plan's latent rows come from: a function of the request alone, never of the
    batch it joins."""

    @property
    def rows(self) -> int:
        """How many rows (tiles) it gives."""
        ...

    def draw(self, latent_dim: int) -> torch.Tensor:
        """The ``(rows, latent_dim)`` float32 latents."""
        ...


@dataclass(frozen=True)
class SeedRows:
    """Row ``i`` is the latent of ``seeds[i]`` (truncated by ``truncation`` when given; the
    first ``codes`` components, a self-conditioned model's class, never are)."""

    seeds: tuple[int, ...]
    truncation: float | None
    codes: int = 0

    @property
    def rows(self) -> int:
        """One row per seed."""
        return len(self.seeds)

    def draw(self, latent_dim: int) -> torch.Tensor:
        """The seeds' latents (``models.inference.latents_for_seeds``)."""
        return latents_for_seeds(self.seeds, latent_dim, self.truncation, self.codes)


@dataclass(frozen=True, eq=False)
class GivenRows:
    """Latent vectors a client sent, already converted and checked."""

    latents: torch.Tensor

    @property
    def rows(self) -> int:
        """One row per vector."""
        return int(self.latents.shape[0])

    def draw(self, latent_dim: int) -> torch.Tensor:
        """The vectors as they came."""
        return self.latents


@dataclass(frozen=True)
class FrameRows:
    """The ``steps`` frames from seed ``start`` to seed ``end``, both ends included; the
    first ``codes`` components (a class code) switch from the start's to the end's halfway."""

    start: int
    end: int
    steps: int
    mode: InterpolationMode
    truncation: float | None
    codes: int = 0

    @property
    def rows(self) -> int:
        """One row per frame."""
        return self.steps

    def draw(self, latent_dim: int) -> torch.Tensor:
        """The frames' latents (``models.inference.interpolate_latents``)."""
        return interpolate_latents(
            latent_for_seed(self.start, latent_dim, self.truncation, self.codes),
            latent_for_seed(self.end, latent_dim, self.truncation, self.codes),
            self.steps,
            self.mode,
            self.codes,
        )


@dataclass(frozen=True)
class PlannedPass:
    """One forward pass of a plan: it fills ``tiles``, from the source's rows of those indices."""

    tiles: range


@dataclass(frozen=True)
class RenderPlan:
    """One validated request: its rows, their labels, its passes and its layout.

    ``rows`` (the source's, one per tile) and ``passes`` are derived once, here: the batcher
    reads a plan's rows a dozen times on the event loop as it queues and dispatches it.
    """

    source: RowSource
    labels: tuple[int, ...] | None
    columns: int | None
    image_format: str
    rows: int = field(init=False)
    passes: tuple[PlannedPass, ...] = field(init=False)

    def __post_init__(self) -> None:
        rows = self.source.rows
        object.__setattr__(self, "rows", rows)
        object.__setattr__(self, "passes", _planned_passes(rows))


@functools.lru_cache(maxsize=1024)
def _planned_passes(rows: int) -> tuple[PlannedPass, ...]:
    # A pure function of the row count, and plans are made on the event loop for every request:
    # the passes of each count are listed once and shared (they are immutable).
    return tuple(PlannedPass(tiles) for tiles in split_passes(rows))


def check_label(model: LoadedModel, label: int | None) -> None:
    """Reject a label the model cannot take, naming the model (None always passes)."""
    inference.check_label(label, model.info.model_config.num_classes, subject=_subject(model))


def _subject(model: LoadedModel) -> str:
    return f"model {model.name!r}"


def _as_tuple(labels: Sequence[int] | None) -> tuple[int, ...] | None:
    return None if labels is None else tuple(labels)


def plan_seeds(
    model: LoadedModel,
    seeds: Sequence[int],
    *,
    truncation: float | None,
    label: int | None,
    columns: int | None,
    image_format: str,
) -> RenderPlan:
    """A grid whose tile ``i`` is the image of ``seeds[i]``.

    Args:
        model: the loaded generator.
        seeds: one seed per tile (validated by the caller).
        truncation: optional psi for the latent draw.
        label: class for every tile; None means the per-seed default on conditional models.
        columns: tiles per row (None: near-square).
        image_format: png, webp or jpeg.

    Raises:
        SamplingError: the label does not fit the model.
    """
    labels = seed_labels(seeds, model.info.model_config.num_classes, label, subject=_subject(model))
    codes = code_components(model.info.model_config)
    return RenderPlan(SeedRows(tuple(seeds), truncation, codes), _as_tuple(labels), columns, image_format)


def plan_latents(
    model: LoadedModel,
    latents: Sequence[Sequence[float]],
    *,
    labels: Sequence[int] | None,
    columns: int | None,
    image_format: str,
    codes: Sequence[int] | None = None,
) -> RenderPlan:
    """A grid of the images of caller-supplied latent vectors (row ``i`` -> tile ``i``), each
    made to draw ``codes[i]`` when given (``models.inference.with_codes``).

    The vectors are converted here, not later, so an overflowing value is refused before the
    request can join a batch. Raises :class:`SamplingError` for a vector or label that does not
    fit the model.
    """
    latent_dim = model.info.model_config.latent_dim
    for index, vector in enumerate(latents):
        if len(vector) != latent_dim:
            raise SamplingError(
                f"latents[{index}] has length {len(vector)}; model {model.name!r} expects {latent_dim}"
            )
    num_classes = model.info.model_config.num_classes
    labels = latent_labels(len(latents), num_classes, labels, subject=_subject(model))
    tensor = torch.tensor(latents, dtype=torch.float32)
    if not torch.isfinite(tensor).all():
        raise SamplingError("latents must be finite numbers")  # e.g. 1e39 overflows float32
    if codes is not None:
        try:
            components = code_components(model.info.model_config)
            tensor = with_codes(tensor, codes, components, subject=_subject(model))
        except ValueError as error:
            raise SamplingError(str(error)) from None
    return RenderPlan(GivenRows(tensor), _as_tuple(labels), columns, image_format)


def plan_interpolation(
    model: LoadedModel,
    start: int,
    end: int,
    *,
    steps: int,
    mode: InterpolationMode,
    truncation: float | None,
    label: int | None,
    image_format: str,
) -> RenderPlan:
    """A one-row strip of ``steps`` frames from seed ``start`` to seed ``end``, both included.

    Without a label, a conditional model's frames in the first half take the start seed's
    default label and the rest the end seed's, so both end frames equal their seed's image.
    """
    num_classes = model.info.model_config.num_classes
    labels = interpolation_labels(start, end, steps, num_classes, label, subject=_subject(model))
    source = FrameRows(start, end, steps, mode, truncation, code_components(model.info.model_config))
    return RenderPlan(source, _as_tuple(labels), steps, image_format)
