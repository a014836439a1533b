"""The exceptions the client raises for error answers, and how an answer becomes one.

Every error answer raises an :class:`ApiError`; its class says what went wrong, chosen from the
problem's ``type`` first (``/problems/unknown-model`` is a :class:`ModelNotFound`), then from the
status (a proxy's bare 502 is a :class:`ServerError`)::

    ApiError
    ├── BadRequest          400
    ├── Unauthorized        401
    ├── Forbidden           403
    ├── NotFound            404
    │   └── ModelNotFound   404 /problems/unknown-model (.available, .available_count)
    ├── Conflict            409
    ├── PayloadTooLarge     413
    ├── ValidationFailed    422 (.errors, .fields)
    └── ServerError         5xx
        ├── ServiceUnavailable  503
        └── DiskFull            507
"""

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

    @property
    def type(self) -> str:
        """The problem's ``type`` (``/problems/...``); ``about:blank`` for a body that is no problem."""
        return str(self.problem.get("type", "about:blank"))


class BadRequest(ApiError):
    """400: an unparsable body, a malformed upload, a credential header given twice."""


class Unauthorized(ApiError):
    """401: the API key is missing or wrong."""


class Forbidden(ApiError):
    """403: not allowed whatever the key (e.g. deleting a builtin dataset)."""


class NotFound(ApiError):
    """404: no such job, dataset, grid, file or route."""


class ModelNotFound(NotFound):
    """404 ``/problems/unknown-model``: no such model or checkpoint.

    ``available`` names the first models the server has (at most 20), ``available_count``
    counts them all.
    """

    @property
    def available(self) -> list[str]:
        """The names of (the first 20) models the server does have."""
        names = self.problem.get("available")
        return [str(name) for name in names] if isinstance(names, list) else []

    @property
    def available_count(self) -> int:
        """How many models the server has."""
        count = self.problem.get("available_count")
        return count if isinstance(count, int) else len(self.available)


class Conflict(ApiError):
    """409: a name taken, a job already finished, a dataset in use."""


class PayloadTooLarge(ApiError):
    """413: the body is over the server's limit."""


class ValidationFailed(ApiError):
    """422: parameters or fields the server refused; ``errors`` locates each one."""

    @property
    def fields(self) -> list[str]:
        """The refused fields (dotted paths such as ``latents.0.3``), in order, each once."""
        return list(dict.fromkeys(error.get("field", "") for error in self.errors if error.get("field")))


class ServerError(ApiError):
    """5xx: the server could not answer (``ServiceUnavailable`` and ``DiskFull`` are kinds of it)."""


class ServiceUnavailable(ServerError):
    """503: queue down, model unloadable, server busy, or not ready."""


class DiskFull(ServerError):
    """507: the server's data disk is full; reading and sampling keep working."""


BY_TYPE: dict[str, type[ApiError]] = {
    "/problems/bad-request": BadRequest,
    "/problems/unauthorized": Unauthorized,
    "/problems/forbidden": Forbidden,
    "/problems/not-found": NotFound,
    "/problems/unknown-model": ModelNotFound,
    "/problems/conflict": Conflict,
    "/problems/too-large": PayloadTooLarge,
    "/problems/validation": ValidationFailed,
    "/problems/internal": ServerError,
    "/problems/unavailable": ServiceUnavailable,
    "/problems/disk-full": DiskFull,
}
BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: PayloadTooLarge,
    422: ValidationFailed,
    503: ServiceUnavailable,
    507: DiskFull,
}


def error_class(status_code: int, problem_type: Any = None) -> type[ApiError]:
    """The exception class for an answer: by its problem ``type``, else by its status."""
    if isinstance(problem_type, str) and problem_type in BY_TYPE:
        return BY_TYPE[problem_type]
    if status_code in BY_STATUS:
        return BY_STATUS[status_code]
    return ServerError if status_code >= 500 else ApiError


def error_from(response: httpx.Response) -> ApiError:
    """The exception for an error response: its problem's ``detail``, else its text."""
    try:
        body = response.json()
    except ValueError:
        return error_class(response.status_code)(
            response.status_code, response.text or response.reason_phrase
        )
    if not isinstance(body, dict):
        return error_class(response.status_code)(response.status_code, body)
    return error_class(response.status_code, body.get("type"))(
        response.status_code, body.get("detail", body), body
    )
