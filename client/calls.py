"""A route's request as plain data, and how its answer becomes the method's result.

Each route of the API is one function (``client.sampling``, ``client.jobs``,
``client.datasets``) that returns a :class:`Call`: method, path, query, body, and the function
that reads the response. The sync and the async client only send calls (``client.transport``),
so what a route sends and returns is written once for both.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Generic, TypeVar

import httpx

from client.errors import ApiError

T = TypeVar("T")


@dataclass(frozen=True)
class Call(Generic[T]):
    """One request, and ``read``: its successful response to the result.

    ``merge`` marks a paginated listing: the pages that ``Link: <...>; rel="next"`` leads to
    are fetched too, and their results merged into the first's.
    """

    method: str
    path: str
    read: Callable[[httpx.Response], T]
    params: Mapping[str, Any] | None = None
    json: Any = None
    form: Mapping[str, str] | None = None
    upload: Path | None = None  # sent as the multipart field ``file``
    headers: Mapping[str, str] | None = None
    merge: Callable[[T, T], T] | None = None

    def next_page(self, response: httpx.Response) -> Call[T] | None:
        """The call for the page after ``response``, when this is a listing and there is one."""
        if self.merge is None:
            return None
        link = response.links.get("next", {}).get("url")
        # Only same-server paths are followed: the key must not travel to another host.
        return replace(self, path=link, params=None) if link and link.startswith("/") else None

    def merged(self, so_far: T, page: T) -> T:
        """``page``'s result added to the results of the pages before it."""
        assert self.merge is not None, "only listings have pages"
        return self.merge(so_far, page)


@contextmanager
def request_args(
    call: Call[Any], base_url: str, headers: Mapping[str, str], timeout: float | httpx.Timeout
) -> Iterator[dict[str, Any]]:
    """The keyword arguments of ``httpx.Client.request`` (or ``AsyncClient``'s) for ``call``,
    with its upload, if any, open while they are used."""
    args: dict[str, Any] = {
        "method": call.method,
        "url": base_url + call.path,
        "params": without_unset(call.params) if call.params else None,
        "headers": {**headers, **(call.headers or {})},
        "timeout": timeout,
        "json": call.json,
        "data": call.form,
    }
    if call.upload is None:
        yield args
        return
    with call.upload.open("rb") as file:
        yield {**args, "files": {"file": (call.upload.name, file, "application/octet-stream")}}


def without_unset(values: Mapping[str, Any]) -> dict[str, Any]:
    """Leave unset options out so the server applies its own defaults."""
    return {key: value for key, value in values.items() if value is not None}


# -- reading answers ----------------------------------------------------------------------------
def json_object(response: httpx.Response) -> dict[str, Any]:
    """A response that is one JSON object (a card, a job, a status)."""
    body = response.json()
    if not isinstance(body, dict):
        request = response.request
        raise ApiError(
            response.status_code,
            f"{request.method} {request.url.path}: expected a JSON object, got {type(body).__name__}",
        )
    return body


def content(response: httpx.Response) -> bytes:
    """The response's bytes (an encoded image)."""
    return response.content


def listing(method: str, path: str, key: str) -> Call[list[dict[str, Any]]]:
    """Every item of a listing, every page (e.g. ``GET /models``, whose items are ``models``)."""
    return Call(method, path, lambda response: listed_items(response.json(), key), merge=_concatenated)


def listed_items(body: Any, key: str) -> list[dict[str, Any]]:
    """The items of a listing, which may come bare or wrapped (``{"models": [...]}``)."""
    if isinstance(body, dict) and key in body:
        return list(body[key])
    return list(body)


def _concatenated(first: list[dict[str, Any]], then: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return first + then
