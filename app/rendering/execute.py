"""Executing plans: draw their rows, run their passes (merged across requests), encode.

The plans a lane takes for one generator are executed together (:func:`run_plans`): each
plan's rows are drawn and checked on their own, so a request whose rows cannot be made fails
alone; then their passes are merged, in order, while the rows fit in one forward pass
(``models.inference.MAX_PASS_ROWS``), and each merged pass is one call of
``models.inference.generate_images``. An eval-mode generator computes every row independently
in the pass sizes its probe verified, so a request's bytes do not depend on its batch-mates or
on how passes were merged. :func:`encode` then lays a plan's images out and encodes them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch

from app.rendering.plans import RenderPlan
from app.services.models.entries import LoadedModel
from models.inference import (
    MAX_PASS_ROWS,
    SamplingError,
    encode_image,
    generate_images,
    label_tensor,
    make_grid,
)

MEDIA_TYPES = {"png": "image/png", "webp": "image/webp", "jpeg": "image/jpeg"}
# Responses finished within this many seconds of each other go back to the event loop together:
# every hand-over wakes the loop (a pipe write and an epoll round), which for cheap images costs
# more than the image itself, while a millisecond is nothing next to the request's latency.
# A batch's last responses go back with the end of its lane job (app.rendering.batcher).
DELIVERY_INTERVAL_SECONDS = 0.001


@dataclass(frozen=True)
class RenderedImage:
    """Encoded image bytes plus the layout clients need to cut tiles or frames out of it."""

    content: bytes
    media_type: str
    tile_width: int
    tile_height: int
    tiles: int


Outcome = RenderedImage | Exception
Deliver = Callable[[list[tuple[int, Outcome]]], None]


class _Part(NamedTuple):
    """A planned pass, its rows drawn: which plan and tiles it fills.

    A named tuple rather than a frozen dataclass: a lane makes one for every request it runs,
    and a tuple is built for a fraction of the cost.
    """

    plan: int
    tiles: range
    latents: torch.Tensor
    labels: tuple[int, ...] | None


def _draw(model: LoadedModel, plan: RenderPlan, index: int) -> list[_Part]:
    """The plan's rows, checked against the model, cut into its planned passes."""
    config = model.info.model_config
    latent_dim = config.latent_dim
    rows = plan.source.draw(latent_dim)
    if tuple(rows.shape) != (plan.rows, latent_dim):
        raise SamplingError(f"expected latents of shape ({plan.rows}, {latent_dim}), got {tuple(rows.shape)}")
    if (plan.labels is not None) != (config.num_classes > 0):
        raise SamplingError("labels must be given exactly for conditional models")
    if len(plan.passes) == 1:  # most requests: the pass takes every row, nothing to cut
        return [_Part(index, plan.passes[0].tiles, rows, plan.labels)]
    return [
        _Part(
            index,
            planned.tiles,
            rows[planned.tiles.start : planned.tiles.stop],
            None if plan.labels is None else plan.labels[planned.tiles.start : planned.tiles.stop],
        )
        for planned in plan.passes
    ]


def merge_passes(parts: Sequence[_Part]) -> list[list[_Part]]:
    """Consecutive passes grouped while their rows fit in one forward pass (in order)."""
    merged: list[list[_Part]] = []
    rows = 0
    for part in parts:
        if merged and rows + len(part.tiles) <= MAX_PASS_ROWS:
            merged[-1].append(part)
            rows += len(part.tiles)
        else:
            merged.append([part])
            rows = len(part.tiles)
    return merged


def run_plans(model: LoadedModel, plans: Sequence[RenderPlan]) -> tuple[list[np.ndarray | Exception], float]:
    """The uint8 images ``(N, H, W, C)`` of each plan's rows, and the CPU seconds of the passes.

    A plan whose own rows cannot be made (or have the wrong shape) gets its exception in its
    slot and stays out of the passes, so it cannot fail its batch-mates. If a pass itself
    raises, the exception propagates and every request of the batch gets it.
    """
    results: list[np.ndarray | Exception | None] = [None] * len(plans)
    parts: list[_Part] = []
    for index, plan in enumerate(plans):
        try:
            parts.extend(_draw(model, plan, index))
        except Exception as error:  # the request's own fault: it fails alone
            results[index] = error
    tiles: dict[int, list[np.ndarray]] = {}
    started = time.thread_time()
    with torch.inference_mode():
        for group in merge_passes(parts):
            latents = group[0].latents if len(group) == 1 else torch.cat([part.latents for part in group])
            labels = None if group[0].labels is None else [x for part in group for x in part.labels or ()]
            images = generate_images(model.generator, latents, label_tensor(labels))
            offset = 0
            for part in group:
                count = len(part.tiles)
                tiles.setdefault(part.plan, []).append(images[offset : offset + count])
                offset += count
    seconds = time.thread_time() - started if parts else 0.0
    for index, pieces in tiles.items():
        results[index] = pieces[0] if len(pieces) == 1 else np.concatenate(pieces)
    return results, seconds  # type: ignore[return-value]  # every slot is filled by now


def encode(plan: RenderPlan, images: np.ndarray) -> RenderedImage:
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


def encode_batch(
    plans: Sequence[RenderPlan], rows: Sequence[np.ndarray | Exception], deliver: Deliver
) -> list[tuple[int, Outcome]]:
    """Encode each request's rows in order, deliver the responses as they become ready, and
    return the last ones (they go back with the end of the lane job)."""
    ready: list[tuple[int, Outcome]] = []
    handed_over = time.perf_counter()
    for index, (plan, images) in enumerate(zip(plans, rows, strict=True)):
        ready.append((index, _encoded(plan, images)))
        if time.perf_counter() - handed_over >= DELIVERY_INTERVAL_SECONDS:
            deliver(ready)
            ready, handed_over = [], time.perf_counter()
    return ready


def _encoded(plan: RenderPlan, images: np.ndarray | Exception) -> Outcome:
    if isinstance(images, Exception):
        return images
    try:
        return encode(plan, images)
    except Exception as error:  # one request's encoding failed: it fails alone
        return error


def render(model: LoadedModel, plan: RenderPlan) -> RenderedImage:
    """The whole request on its own: draw the rows, run its passes, encode (no batching)."""
    (images,), _ = run_plans(model, [plan])
    if isinstance(images, Exception):
        raise images
    return encode(plan, images)
