"""The service, model and sampling routes, each as the :class:`~client.calls.Call` it makes.

These functions are the methods of :class:`client.GanServeClient` and
:class:`client.AsyncGanServeClient` (their docstrings are the methods'); they build requests
and never send one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from client.calls import Call, content, json_object, listing, without_unset


@dataclass
class Strip:
    """An interpolation: all frames side by side in one PNG."""

    png: bytes
    frame_count: int
    frame_width: int
    frame_height: int


# -- service ------------------------------------------------------------------------------------
def health() -> Call[dict[str, Any]]:
    """Liveness: the API process answers (``GET /healthz``)."""
    return Call("GET", "/healthz", json_object)


def ready() -> Call[dict[str, Any]]:
    """Readiness: the default model loads and Redis answers (``GET /readyz``).

    Raises:
        ServiceUnavailable: 503 with what is missing, when not ready.
    """
    return Call("GET", "/readyz", json_object)


# -- models and sampling ------------------------------------------------------------------------
def models() -> Call[list[dict[str, Any]]]:
    """All servable models, packaged and trained (every page of ``GET /models``)."""
    return listing("GET", "/models", "models")


def model(name: str) -> Call[dict[str, Any]]:
    """One model's card: architecture, training config, quality figures.

    Raises:
        ModelNotFound: no such model; its ``available`` names the ones there are.
    """
    return Call("GET", f"/models/{quote(name, safe='@')}", json_object)


def sample(
    seed: int = 0,
    *,
    model: str | None = None,
    count: int = 1,
    columns: int | None = None,
    truncation: float | None = None,
    label: int | str | None = None,
    format: str = "png",
) -> Call[bytes]:
    """Generated images for ``seed`` (the same seed always gives the same images).

    Returns:
        The encoded image (a grid when ``count`` > 1) in ``format``.
    """
    params = {
        "seed": seed,
        "model": model,
        "count": count,
        "columns": columns,
        "truncation": truncation,
        "label": label,
        "format": format,
    }
    return Call("GET", "/sample", content, params=params)


def sample_latents(
    latents: Sequence[Sequence[float]],
    *,
    model: str | None = None,
    labels: Sequence[int | str] | None = None,
    codes: Sequence[int] | None = None,
    columns: int | None = None,
    format: str = "png",
) -> Call[bytes]:
    """Images for explicit latent vectors (one per image, each ``latent_dim`` long); ``codes``
    (models with codes) makes vector ``i`` draw categorical code ``codes[i]``.

    Returns:
        The encoded grid, tile ``i`` showing ``latents[i]``.
    """
    body = {
        "latents": [list(row) for row in latents],
        "model": model,
        "labels": None if labels is None else list(labels),
        "codes": None if codes is None else list(codes),
        "columns": columns,
        "format": format,
    }
    return Call("POST", "/sample", content, json=without_unset(body))


def interpolate(
    start: int,
    end: int,
    *,
    steps: int = 8,
    mode: str = "slerp",
    model: str | None = None,
    truncation: float | None = None,
    label: int | str | None = None,
) -> Call[Strip]:
    """Frames walking the latent space from seed ``start`` to seed ``end``.

    Returns:
        One PNG strip; its first and last frames equal ``sample(start)`` and
        ``sample(end)``, and its geometry comes from the ``X-Frame-*`` headers.
    """
    params = {
        "start": start,
        "end": end,
        "steps": steps,
        "mode": mode,
        "model": model,
        "truncation": truncation,
        "label": label,
    }
    return Call("GET", "/interpolate", strip, params=params)


def strip(response: httpx.Response) -> Strip:
    """An interpolation's response as a :class:`Strip`."""
    headers = response.headers
    return Strip(
        png=response.content,
        frame_count=int(headers["X-Frame-Count"]),
        frame_width=int(headers["X-Frame-Width"]),
        frame_height=int(headers["X-Frame-Height"]),
    )
