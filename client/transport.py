"""The HTTP side of the client: base URL, API key, timeouts, error answers and pagination.

The route methods (``client.api``, ``client.jobs``, ``client.datasets``) ask this class for a
response, a JSON object or every page of a listing; none of them builds a request itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import Any, Self

import httpx

from client.errors import ApiError, error_from


class Transport:
    """One connection pool to one ganserve server, and how its answers are read.

    Its arguments are :class:`client.GanServeClient`'s, documented there.
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

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # -- plumbing ---------------------------------------------------------------------------
    def _request(
        self, method: str, path: str, *, params: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> httpx.Response:
        response = self._http.request(
            method,
            self.base_url + path,
            params=without_unset(params) if params else None,
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
            items += listed_items(response.json(), key)
            next_link = response.links.get("next", {}).get("url")
            # Only same-server paths are followed: the key must not travel to another host.
            following = next_link if next_link and next_link.startswith("/") else None
        return items


def without_unset(values: Mapping[str, Any]) -> dict[str, Any]:
    """Leave unset options out so the server applies its own defaults."""
    return {key: value for key, value in values.items() if value is not None}


def listed_items(body: Any, key: str) -> list[dict[str, Any]]:
    """The items of a listing, which may come bare or wrapped (``{"models": [...]}``)."""
    if isinstance(body, dict) and key in body:
        return list(body[key])
    return list(body)
