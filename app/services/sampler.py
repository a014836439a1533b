"""Rendering one sampling request: latents and labels in, encoded image bytes out.

These functions are synchronous and CPU-bound; routes run them in the sampling pool. They are
kept apart from HTTP concerns so a micro-batching scheduler can later call them (or replace
the forward pass) without touching the routes.

Label defaults for conditional models (documented in the API): tile ``i`` of a seeded grid
gets label ``(seed + i) % num_classes``, the same rule the training timeline grid uses, and
row ``i`` of ``POST /sample`` latents gets ``i % num_classes``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from app.services.registry import LoadedModel
from models.sampling import (
    encode_image,
    generate_images,
    interpolate_latents,
    latent_for_seed,
    latents_for_seeds,
    make_grid,
)

MEDIA_TYPES = {"png": "image/png", "webp": "image/webp", "jpeg": "image/jpeg"}
# Rows per forward pass: bounds peak memory for large grids. Eval-mode generators see each row
# independently, so chunking does not change any image.
_FORWARD_CHUNK = 64


class SamplingError(ValueError):
    """A request that does not fit the model (label range, vector length, ...)."""


@dataclass(frozen=True)
class RenderedImage:
    """Encoded image bytes plus the layout clients need to cut tiles or frames out of it."""

    content: bytes
    media_type: str
    tile_width: int
    tile_height: int
    tiles: int


def default_labels(seeds: Sequence[int], num_classes: int) -> list[int]:
    """Label of each seed when a conditional model is sampled without one."""
    return [seed % num_classes for seed in seeds]


def check_labels(model: LoadedModel, labels: Sequence[int] | None, count: int) -> None:
    """Reject labels an unconditional model cannot take, or a conditional one does not know."""
    num_classes = model.info.model_config.num_classes
    if labels is None:
        return
    if num_classes == 0:
        raise SamplingError(f"model {model.name!r} is unconditional and takes no label")
    if len(labels) != count:
        raise SamplingError(f"expected {count} labels, one per image, got {len(labels)}")
    for label in labels:
        if not 0 <= label < num_classes:
            raise SamplingError(f"label must be in 0..{num_classes - 1}, got {label}")


def _forward(model: LoadedModel, latents: torch.Tensor, labels: list[int] | None) -> np.ndarray:
    label_tensor = torch.tensor(labels, dtype=torch.int64) if labels is not None else None
    chunks = []
    with torch.inference_mode():
        for start in range(0, len(latents), _FORWARD_CHUNK):
            part = None if label_tensor is None else label_tensor[start : start + _FORWARD_CHUNK]
            chunks.append(
                generate_images(model.generator, latents[start : start + _FORWARD_CHUNK], part)
            )
    return np.concatenate(chunks)


def _encode(images: np.ndarray, columns: int | None, image_format: str) -> RenderedImage:
    grid = make_grid(images, columns)
    _, height, width, _ = images.shape
    return RenderedImage(encode_image(grid, image_format), MEDIA_TYPES[image_format], width, height,
                         len(images))


def _labels_for(model: LoadedModel, seeds: Sequence[int], label: int | None) -> list[int] | None:
    num_classes = model.info.model_config.num_classes
    if label is not None:
        check_labels(model, [label], 1)
        return [label] * len(seeds)
    return default_labels(seeds, num_classes) if num_classes else None


def render_seeds(
    model: LoadedModel,
    seeds: Sequence[int],
    *,
    truncation: float | None,
    label: int | None,
    columns: int | None,
    image_format: str,
) -> RenderedImage:
    """A grid whose tile ``i`` is the image of ``seeds[i]``.

    Args:
        model: the loaded generator.
        seeds: one seed per tile (validated by the caller).
        truncation: optional psi for the latent draw.
        label: class for every tile; None means the per-seed default on conditional models.
        columns: tiles per row (None: near-square).
        image_format: png, webp or jpeg.
    """
    labels = _labels_for(model, seeds, label)
    latents = latents_for_seeds(seeds, model.info.model_config.latent_dim, truncation)
    return _encode(_forward(model, latents, labels), columns, image_format)


def render_latents(
    model: LoadedModel,
    latents: Sequence[Sequence[float]],
    *,
    labels: Sequence[int] | None,
    columns: int | None,
    image_format: str,
) -> RenderedImage:
    """A grid of the images of caller-supplied latent vectors (row ``i`` -> tile ``i``)."""
    latent_dim = model.info.model_config.latent_dim
    for index, vector in enumerate(latents):
        if len(vector) != latent_dim:
            raise SamplingError(
                f"latents[{index}] has length {len(vector)}; model {model.name!r} "
                f"expects {latent_dim}"
            )
    check_labels(model, labels, len(latents))
    num_classes = model.info.model_config.num_classes
    if labels is None and num_classes:
        labels = default_labels(range(len(latents)), num_classes)
    tensor = torch.tensor(latents, dtype=torch.float32)
    if not torch.isfinite(tensor).all():
        raise SamplingError("latents must be finite numbers")  # e.g. 1e39 overflows float32
    return _encode(
        _forward(model, tensor, list(labels) if labels is not None else None), columns, image_format
    )


def render_interpolation(
    model: LoadedModel,
    start: int,
    end: int,
    *,
    steps: int,
    mode: str,
    truncation: float | None,
    label: int | None,
    image_format: str,
) -> RenderedImage:
    """A one-row strip of ``steps`` frames from seed ``start`` to seed ``end``, both included.

    Without a label, a conditional model's frames in the first half take the start seed's
    default label and the rest the end seed's, so both end frames equal their seed's image.
    """
    latent_dim = model.info.model_config.latent_dim
    num_classes = model.info.model_config.num_classes
    latents = interpolate_latents(
        latent_for_seed(start, latent_dim, truncation),
        latent_for_seed(end, latent_dim, truncation),
        steps,
        mode,  # type: ignore[arg-type]
    )
    if label is not None:
        labels = _labels_for(model, [start] * steps, label)
    elif num_classes:
        first, last = default_labels([start, end], num_classes)
        labels = [first if index < steps / 2 else last for index in range(steps)]
    else:
        labels = None
    return _encode(_forward(model, latents, labels), steps, image_format)
