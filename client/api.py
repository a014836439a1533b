"""The client class: one method per route of the ganserve HTTP API.

    with GanServeClient("http://127.0.0.1:8000") as client:
        job = client.train({"dataset": "digits", "steps": 200})
        client.wait(job["id"])
        png = client.sample(seed=7, model=job["model"], count=16)

Every non-2xx answer raises ``ApiError`` with the server's ``detail``.

This module has the service, model and sampling routes; the job routes are in ``client.jobs``,
the dataset routes in ``client.datasets``, and the HTTP plumbing they share in
``client.transport``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from client.datasets import DatasetRoutes
from client.jobs import JobRoutes
from client.transport import without_unset


@dataclass
class Strip:
    """An interpolation: all frames side by side in one PNG."""

    png: bytes
    frame_count: int
    frame_width: int
    frame_height: int


class GanServeClient(JobRoutes, DatasetRoutes):
    """Client for one ganserve server.

    Args:
        base_url: where the API is, e.g. ``http://127.0.0.1:8000``.
        api_key: sent as ``Authorization: Bearer <key>`` when set.
        timeout: seconds for each request (event streams wait on reads forever).
        http_client: an ``httpx.Client`` to use instead of a new one (e.g. Starlette's
            ``TestClient``); it is not closed by this client.
    """

    # -- service ----------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        """Liveness: the API process answers (``GET /healthz``)."""
        return self._object("GET", "/healthz")

    def ready(self) -> dict[str, Any]:
        """Readiness: the default model loads and Redis answers (``GET /readyz``).

        Raises:
            ApiError: 503 with what is missing, when not ready.
        """
        return self._object("GET", "/readyz")

    # -- models and sampling ----------------------------------------------------------------
    def models(self) -> list[dict[str, Any]]:
        """All servable models, packaged and trained."""
        return self._all_pages("/models", "models")

    def model(self, name: str) -> dict[str, Any]:
        """One model's card: architecture, training config, quality figures."""
        return self._object("GET", f"/models/{quote(name, safe='@')}")

    def sample(
        self,
        seed: int = 0,
        *,
        model: str | None = None,
        count: int = 1,
        columns: int | None = None,
        truncation: float | None = None,
        label: int | str | None = None,
        format: str = "png",
    ) -> bytes:
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
        return self._request("GET", "/sample", params=params).content

    def sample_latents(
        self,
        latents: Sequence[Sequence[float]],
        *,
        model: str | None = None,
        labels: Sequence[int | str] | None = None,
        codes: Sequence[int] | None = None,
        columns: int | None = None,
        format: str = "png",
    ) -> bytes:
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
        return self._request("POST", "/sample", json=without_unset(body)).content

    def interpolate(
        self,
        start: int,
        end: int,
        *,
        steps: int = 8,
        mode: str = "slerp",
        model: str | None = None,
        truncation: float | None = None,
        label: int | str | None = None,
    ) -> Strip:
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
        response = self._request("GET", "/interpolate", params=params)
        headers = response.headers
        return Strip(
            png=response.content,
            frame_count=int(headers["X-Frame-Count"]),
            frame_width=int(headers["X-Frame-Width"]),
            frame_height=int(headers["X-Frame-Height"]),
        )
