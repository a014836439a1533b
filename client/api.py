"""The client class: one method per route of the ganserve HTTP API.

    with GanServeClient("http://127.0.0.1:8000") as client:
        job = client.train({"dataset": "digits", "steps": 200})
        client.wait(job["id"])
        png = client.sample(seed=7, model=job["model"], count=16)

Every non-2xx answer raises ``ApiError`` with the server's ``detail``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote

import httpx

from client.errors import ApiError, error_from
from client.sse import parse_sse

FINAL_STATUSES = frozenset({"succeeded", "failed", "cancelled"})


@dataclass
class Strip:
    """An interpolation: all frames side by side in one PNG."""

    png: bytes
    frame_count: int
    frame_width: int
    frame_height: int


class GanServeClient:
    """Client for one ganserve server.

    Args:
        base_url: where the API is, e.g. ``http://127.0.0.1:8000``.
        api_key: sent as ``Authorization: Bearer <key>`` when set.
        timeout: seconds for each request (event streams wait on reads forever).
        http_client: an ``httpx.Client`` to use instead of a new one (e.g. Starlette's
            ``TestClient``); it is not closed by this client.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        timeout: float = 30.0,
        http_client: httpx.Client | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._owns_http = http_client is None
        self._http = http_client or httpx.Client(timeout=timeout)
        self._timeout = timeout

    # -- lifecycle --------------------------------------------------------------------------
    def close(self) -> None:
        """Close the HTTP connection pool if this client made it (a passed-in ``http_client`` stays open)."""
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> GanServeClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

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
        label: int | None = None,
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
        labels: Sequence[int] | None = None,
        columns: int | None = None,
        format: str = "png",
    ) -> bytes:
        """Images for explicit latent vectors (one per image, each ``latent_dim`` long).

        Returns:
            The encoded grid, tile ``i`` showing ``latents[i]``.
        """
        body = {
            "latents": [list(row) for row in latents],
            "model": model,
            "labels": None if labels is None else list(labels),
            "columns": columns,
            "format": format,
        }
        return self._request("POST", "/sample", json=_compact(body)).content

    def interpolate(
        self,
        start: int,
        end: int,
        *,
        steps: int = 8,
        mode: str = "slerp",
        model: str | None = None,
        truncation: float | None = None,
        label: int | None = None,
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

    # -- training jobs ----------------------------------------------------------------------
    def train(self, config: Mapping[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
        """Submit a training job; ``fields`` override keys of ``config``. Returns the job."""
        body = {**(config or {}), **fields}
        return self._object("POST", "/train", json=body)

    def job(self, job_id: str) -> dict[str, Any]:
        """One job's record: status, progress, losses, error."""
        return self._object("GET", f"/jobs/{quote(job_id)}")

    def jobs(self) -> list[dict[str, Any]]:
        """All jobs, as the server orders them."""
        return self._all_pages("/jobs", "jobs")

    def cancel(self, job_id: str) -> dict[str, Any]:
        """Cancel a job (a running one stops at its next step); returns the job.

        Raises:
            ApiError: 409 when the job has already finished, 404 when it is unknown.
        """
        return self._object("POST", f"/jobs/{quote(job_id)}/cancel")

    def wait(self, job_id: str, timeout: float = 600, poll: float = 0.5) -> dict[str, Any]:
        """Poll until the job is succeeded, failed or cancelled; returns the final record.

        Raises:
            TimeoutError: the job was still unfinished after ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while True:
            record = self.job(job_id)
            if record.get("status") in FINAL_STATUSES:
                return record
            if time.monotonic() >= deadline:
                raise TimeoutError(f"job {job_id} still {record.get('status')} after {timeout:g} s")
            time.sleep(poll)

    def events(self, job_id: str, last_event_id: str | None = None) -> Iterator[dict[str, Any]]:
        """Server-sent events of a job, as ``{"event": name, "data": parsed JSON}`` (plus
        ``"id"`` for events that carry one).

        The server sends ``source`` (``redis`` or ``record``), the job as ``progress``, then
        ``progress`` and ``state`` with the job and ``sample`` with a new grid's step and URL
        as they happen, and ``end`` with the final job; the iterator ends when the stream
        closes after that.

        Args:
            job_id: the job.
            last_event_id: an ``id`` seen before: the stream resumes right after that event.
        """
        url = self.base_url + f"/jobs/{quote(job_id)}/events"
        # Progress can pause for long (a checkpoint, a slow step): no read timeout.
        timeout = httpx.Timeout(self._timeout, read=None)
        headers = {**self._headers, **({"Last-Event-ID": last_event_id} if last_event_id else {})}
        with self._http.stream("GET", url, headers=headers, timeout=timeout) as response:
            if response.is_error:
                response.read()
                raise error_from(response)
            yield from parse_sse(response.iter_lines())

    # -- datasets ---------------------------------------------------------------------------
    def upload_dataset(self, name: str, path: str | Path) -> dict[str, Any]:
        """Upload a .zip/.tar/.tar.gz of images (class folders become labels)."""
        path = Path(path)
        with path.open("rb") as file:
            files = {"file": (path.name, file, "application/octet-stream")}
            return self._object("POST", "/datasets", data={"name": name}, files=files)

    def datasets(self) -> list[dict[str, Any]]:
        """Uploaded datasets."""
        return _items(self._json("GET", "/datasets"), "datasets")

    # -- plumbing ---------------------------------------------------------------------------
    def _request(
        self, method: str, path: str, *, params: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> httpx.Response:
        response = self._http.request(
            method,
            self.base_url + path,
            params=_compact(params) if params else None,
            headers=self._headers,
            timeout=self._timeout,
            **kwargs,
        )
        if response.is_error:
            raise error_from(response)
        return response

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._request(method, path, **kwargs).json()

    def _object(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """A response that is one JSON object (a card, a job, a status)."""
        body = self._json(method, path, **kwargs)
        if not isinstance(body, dict):
            raise ApiError(200, f"{method} {path}: expected a JSON object, got {type(body).__name__}")
        return body

    def _all_pages(self, path: str, key: str) -> list[dict[str, Any]]:
        """A paginated listing, every page: follows ``Link: <...>; rel="next"`` to its end."""
        items: list[dict[str, Any]] = []
        following: str | None = path
        while following is not None:
            response = self._request("GET", following)
            items += _items(response.json(), key)
            next_link = response.links.get("next", {}).get("url")
            # Only same-server paths are followed: the key must not travel to another host.
            following = next_link if next_link and next_link.startswith("/") else None
        return items


def _compact(values: Mapping[str, Any]) -> dict[str, Any]:
    """Leave unset options out so the server applies its own defaults."""
    return {key: value for key, value in values.items() if value is not None}


def _items(body: Any, key: str) -> list[dict[str, Any]]:
    # Lists may come bare or wrapped (``{"models": [...]}``); accept both.
    if isinstance(body, dict) and key in body:
        return list(body[key])
    return list(body)
