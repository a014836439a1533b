"""The one exception the client raises for an error answer, and how an answer becomes one."""

from __future__ import annotations

from typing import Any

import httpx


class ApiError(Exception):
    """The server answered with an error status; ``detail`` is its explanation.

    ``problem`` is the whole RFC 9457 body (``type``, ``title``, ``status``, ``detail``, and
    more, such as an unknown model's ``available``); ``errors`` the located problems of a 422,
    each ``{"location", "field", "message"}``.
    """

    def __init__(self, status_code: int, detail: Any, problem: dict[str, Any] | None = None) -> None:
        super().__init__(f"HTTP {status_code}: {detail}")
        self.status_code = status_code
        self.detail = detail
        self.problem = problem or {}
        errors = self.problem.get("errors")
        self.errors: list[dict[str, str]] = errors if isinstance(errors, list) else []


def error_from(response: httpx.Response) -> ApiError:
    """The ``ApiError`` for an error response: its problem's ``detail``, else its text."""
    try:
        body = response.json()
    except ValueError:
        return ApiError(response.status_code, response.text or response.reason_phrase)
    if not isinstance(body, dict):
        return ApiError(response.status_code, body)
    return ApiError(response.status_code, body.get("detail", body), body)
