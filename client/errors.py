"""The one exception the client raises for an error answer, and how an answer becomes one."""

from __future__ import annotations

from typing import Any

import httpx


class ApiError(Exception):
    """The server answered with an error status; ``detail`` is its explanation."""

    def __init__(self, status_code: int, detail: Any) -> None:
        super().__init__(f"HTTP {status_code}: {detail}")
        self.status_code = status_code
        self.detail = detail


def error_from(response: httpx.Response) -> ApiError:
    """The ``ApiError`` for an error response: its JSON ``detail``, else its text."""
    try:
        body = response.json()
    except ValueError:
        return ApiError(response.status_code, response.text or response.reason_phrase)
    detail = body.get("detail", body) if isinstance(body, dict) else body
    return ApiError(response.status_code, detail)
