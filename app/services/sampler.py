"""Rendering one sampling request: a plan (rows and layout) in, encoded image bytes out.

A request becomes a :class:`SamplingPlan` first: its labels are checked and fixed, and its
latent rows are described by a function of the request alone. The rows then go through the
generator, either on their own (:func:`render`) or stacked with other requests' rows
(:func:`forward_plans`, for the micro-batcher in ``app.services.batcher``); eval-mode
generators compute every row independently (see ``models.inference.generate``), so both give
the same bytes. Finally :func:`encode` lays the request's images out and encodes them.

Label defaults for conditional models are ``models.inference``'s (documented in the API): tile
``i`` of a seeded grid gets label ``(seed + i) % num_classes``, row ``i`` of ``POST /sample``
latents ``i % num_classes``.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from app.services.registry import LoadedModel
from models import inference
from models.inference import (
    SamplingError,
    encode_image,
    generate_images,
    interpolate_latents,
    interpolation_labels,
    label_tensor,
    latent_for_seed,
    latent_labels,
    latents_for_seeds,
    make_grid,
    seed_labels,
)

MEDIA_TYPES = {"png": "image/png", "webp": "image/webp", "jpeg": "image/jpeg"}
# Rows per forward pass: bounds peak memory for large grids. Eval-mode generators see each row
# independently, so chunking does not change any image.
FORWARD_CHUNK = 64


@dataclass(frozen=True)
class RenderedImage:
    """Encoded image bytes plus the layout clients need to cut tiles or frames out of it."""

    content: bytes
    media_type: str
    tile_width: int
    tile_height: int
    tiles: int


@dataclass(frozen=True)
class SamplingPlan:
    """One validated request: how to make its latent rows, their labels, and the layout.

    ``latents`` is a function rather than a tensor so the rows are drawn where the forward pass
    runs, off the event loop; it depends on this request alone, never on batch-mates.
    """

    latents: Callable[[], torch.Tensor]
    labels: tuple[int, ...] | None
    rows: int
    columns: int | None
    image_format: str


def check_labels(model: LoadedModel, labels: Sequence[int] | None, count: int) -> None:
    """Reject labels the model cannot take (``models.inference.check_labels``, naming the model)."""
    inference.check_labels(labels, count, model.info.model_config.num_classes, subject=_subject(model))


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
) -> SamplingPlan:
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
    latent_dim = model.info.model_config.latent_dim
    make = functools.partial(latents_for_seeds, list(seeds), latent_dim, truncation)
    return SamplingPlan(make, _as_tuple(labels), len(seeds), columns, image_format)


def plan_latents(
    model: LoadedModel,
    latents: Sequence[Sequence[float]],
    *,
    labels: Sequence[int] | None,
    columns: int | None,
    image_format: str,
) -> SamplingPlan:
    """A grid of the images of caller-supplied latent vectors (row ``i`` -> tile ``i``).

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
    return SamplingPlan(lambda: tensor, _as_tuple(labels), len(latents), columns, image_format)


def plan_interpolation(
    model: LoadedModel,
    start: int,
    end: int,
    *,
    steps: int,
    mode: str,
    truncation: float | None,
    label: int | None,
    image_format: str,
) -> SamplingPlan:
    """A one-row strip of ``steps`` frames from seed ``start`` to seed ``end``, both included.

    Without a label, a conditional model's frames in the first half take the start seed's
    default label and the rest the end seed's, so both end frames equal their seed's image.
    """
    latent_dim = model.info.model_config.latent_dim
    num_classes = model.info.model_config.num_classes
    labels = interpolation_labels(start, end, steps, num_classes, label, subject=_subject(model))

    def make() -> torch.Tensor:
        return interpolate_latents(
            latent_for_seed(start, latent_dim, truncation),
            latent_for_seed(end, latent_dim, truncation),
            steps,
            mode,  # type: ignore[arg-type]
        )

    return SamplingPlan(make, _as_tuple(labels), steps, steps, image_format)


def forward(model: LoadedModel, latents: torch.Tensor, labels: Sequence[int] | None) -> np.ndarray:
    """uint8 images ``(N, H, W, C)`` of ``latents`` (and ``labels`` on conditional models)."""
    tensor = label_tensor(labels)
    chunks = []
    with torch.inference_mode():
        for start in range(0, len(latents), FORWARD_CHUNK):
            part = None if tensor is None else tensor[start : start + FORWARD_CHUNK]
            chunks.append(generate_images(model.generator, latents[start : start + FORWARD_CHUNK], part))
    return chunks[0] if len(chunks) == 1 else np.concatenate(chunks)


def forward_plans(
    model: LoadedModel, plans: Sequence[SamplingPlan]
) -> tuple[list[np.ndarray | Exception], float]:
    """The images of each plan's rows, from one stacked forward pass, and its CPU seconds.

    A plan whose own rows cannot be made (or have the wrong shape) gets its exception in its
    slot and stays out of the pass, so it cannot fail its batch-mates. If the pass itself
    raises, the exception propagates and every request of the batch gets it.
    """
    latent_dim = model.info.model_config.latent_dim
    conditional = model.info.model_config.num_classes > 0
    results: list[np.ndarray | Exception | None] = [None] * len(plans)
    members: list[int] = []
    latents: list[torch.Tensor] = []
    labels: list[int] = []
    for index, plan in enumerate(plans):
        try:
            rows = plan.latents()
            if tuple(rows.shape) != (plan.rows, latent_dim):
                raise SamplingError(
                    f"expected latents of shape ({plan.rows}, {latent_dim}), got {tuple(rows.shape)}"
                )
            if (plan.labels is not None) != conditional:
                raise SamplingError("labels must be given exactly for conditional models")
        except Exception as error:  # the request's own fault: it fails alone
            results[index] = error
            continue
        members.append(index)
        latents.append(rows)
        labels.extend(plan.labels or ())
    seconds = 0.0
    if members:
        stacked = latents[0] if len(latents) == 1 else torch.cat(latents)
        started = time.thread_time()
        images = forward(model, stacked, labels if conditional else None)
        seconds = time.thread_time() - started
        offset = 0
        for index in members:
            results[index] = images[offset : offset + plans[index].rows]
            offset += plans[index].rows
    return results, seconds  # type: ignore[return-value]  # every slot is filled by now


def encode(plan: SamplingPlan, images: np.ndarray) -> RenderedImage:
    """Lay ``images`` (the plan's rows, in order) out as its grid and encode it."""
    grid = make_grid(images, plan.columns)
    _, height, width, _ = images.shape
    return RenderedImage(
        encode_image(grid, plan.image_format),
        MEDIA_TYPES[plan.image_format],
        width,
        height,
        len(images),
    )


def render(model: LoadedModel, plan: SamplingPlan) -> RenderedImage:
    """The whole request on its own: draw the rows, run the generator, encode (no batching)."""
    return encode(plan, forward(model, plan.latents(), plan.labels))
