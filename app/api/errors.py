"""Every error answer, in one shape: RFC 9457 ``application/problem+json``.

A problem body has a stable ``type`` (a URI path under ``/problems/``, listed in the README),
the status's ``title``, the ``status``, a human-readable ``detail`` sentence, and for a 422 the
``errors`` it is made of, each ``{location, field, message}``. Routes raise
``HTTPException`` (or :class:`Problem` for the extra members); the handlers here turn every
error, FastAPI's validation list included, into that shape, and the service exceptions into
their statuses.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from fastapi import HTTPException, Request, status
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.routing import Match

from app.core.bounds import SERVER_LIMITS, ServerLimit
from app.rendering.pool import PoolBusy
from app.services.models.entries import InvalidModelRef, ModelUnavailable, UnknownModel
from app.services.models.registry import ModelRegistry
from common.disk import disk_full_errno, disk_full_reason
from common.settings import Settings
from common.specs import replaced_field_problem
from models.inference import SamplingError

logger = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
VALIDATION = "/problems/validation"
UNKNOWN_MODEL = "/problems/unknown-model"
# nginx's code for "the client closed the request": never sent (nobody is there to read it), but
# it is what the access log and the request metrics record instead of a 500.
CLIENT_CLOSED_REQUEST = 499
# The type and title of each status's problems; the README's "Problems" table lists them.
PROBLEM_TYPES: dict[int, tuple[str, str]] = {
    400: ("/problems/bad-request", "Bad request"),
    401: ("/problems/unauthorized", "API key missing or wrong"),
    403: ("/problems/forbidden", "Forbidden"),
    404: ("/problems/not-found", "Not found"),
    405: ("/problems/method-not-allowed", "Method not allowed"),
    408: ("/problems/upload-stalled", "Request timeout"),
    409: ("/problems/conflict", "Conflict"),
    413: ("/problems/too-large", "Request body too large"),
    422: (VALIDATION, "Invalid request"),
    CLIENT_CLOSED_REQUEST: ("/problems/client-closed", "Client closed the request"),
    500: ("/problems/internal", "Internal server error"),
    503: ("/problems/unavailable", "Service unavailable"),
    507: ("/problems/disk-full", "Insufficient storage"),
}
TITLES = {UNKNOWN_MODEL: "Unknown model"}
# An unknown-model 404 names this many of the available models (and counts them all).
LISTED_MODELS = 20


class ProblemResponse(JSONResponse):
    """A JSON response sent as ``application/problem+json``."""

    media_type = PROBLEM_MEDIA_TYPE


class Problem(HTTPException):
    """An ``HTTPException`` with a problem's extra members: its ``type`` when the status's own
    does not say enough, the ``errors`` of a 422, and extensions (e.g. the available models)."""

    def __init__(
        self,
        status_code: int,
        detail: str,
        *,
        type_: str | None = None,
        errors: Sequence[Mapping[str, str]] | None = None,
        extensions: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(status_code, detail=detail, headers=dict(headers) if headers else None)
        self.type = type_
        self.errors = list(errors) if errors is not None else None
        self.extensions = dict(extensions or {})


def problem_body(
    status_code: int,
    detail: str,
    *,
    type_: str | None = None,
    errors: Sequence[Mapping[str, str]] | None = None,
    extensions: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The problem document for ``status_code``: ``type``, ``title``, ``status``, ``detail``
    (and ``errors``, then ``extensions``)."""
    default_type, title = PROBLEM_TYPES.get(status_code, ("about:blank", f"HTTP {status_code}"))
    type_ = type_ or default_type
    body: dict[str, Any] = {
        "type": type_,
        "title": TITLES.get(type_, title),
        "status": status_code,
        "detail": detail,
    }
    if errors is not None:
        body["errors"] = [dict(error) for error in errors]
    return body | {key: value for key, value in (extensions or {}).items() if key not in body}


def problem_response(
    status_code: int,
    detail: str,
    *,
    type_: str | None = None,
    errors: Sequence[Mapping[str, str]] | None = None,
    extensions: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> ProblemResponse:
    """A problem+json response (see :func:`problem_body`)."""
    body = problem_body(status_code, detail, type_=type_, errors=errors, extensions=extensions)
    return ProblemResponse(body, status_code=status_code, headers=headers)


def field_error(location: str, field: str, message: str) -> dict[str, str]:
    """One item of a validation problem's ``errors``."""
    return {"location": location, "field": field, "message": message}


def unprocessable(detail: str, *, location: str = "body", field: str = "") -> Problem:
    """A 422 with ``detail``, about ``field`` at ``location`` ("" when no one field is at fault)."""
    return Problem(
        status.HTTP_422_UNPROCESSABLE_CONTENT, detail, errors=[field_error(location, field, detail)]
    )


def invalid(errors: Sequence[Mapping[str, str]]) -> Problem:
    """A 422 made of several ``field_error`` items; ``detail`` joins them."""
    return Problem(status.HTTP_422_UNPROCESSABLE_CONTENT, describe(errors), errors=errors)


def describe(errors: Sequence[Mapping[str, str]]) -> str:
    """``errors`` as one sentence: ``field: message`` items (the field once), '; '-joined."""
    parts = []
    for error in errors:
        field, message = error["field"], error["message"]
        parts.append(message if not field or message.startswith(field) else f"{field}: {message}")
    return "; ".join(parts) or "invalid request"


def check_limit(limit: ServerLimit, settings: Settings, value: Any) -> None:
    """Raise the 422 of ``value`` over this server's ``limit``, naming its field."""
    if type(value) is int and value <= getattr(settings, limit.setting):
        return  # the common case, on the hot path of GET /sample: one comparison
    problem = limit.problem(settings, value)
    if problem is not None:
        raise unprocessable(problem, location=limit.location, field=limit.field)


def named_field(message: str, fields: Collection[str]) -> str:
    """The field of ``fields`` a message is about, or "": the engine's messages name it first
    (``steps must be ...``, ``steps: Input should ...``), or after "unknown" (``unknown loss 'x'``)."""
    words = message.replace(":", " ").replace("(", " ").split()
    for word in words[:2]:
        if word in fields:
            return word
    return ""


def not_found(detail: str) -> Problem:
    """A 404 with ``detail``."""
    return Problem(status.HTTP_404_NOT_FOUND, detail)


def unknown_model(detail: str, registry: ModelRegistry) -> Problem:
    """The 404 of a model (or checkpoint) that does not exist, listing the ones that do."""
    names = [entry.name for entry in registry.list_models()]
    shown = ", ".join(names[:LISTED_MODELS]) + (" ..." if len(names) > LISTED_MODELS else "")
    return Problem(
        status.HTTP_404_NOT_FOUND,
        f"{detail}; available: {shown or 'none yet'} (GET /models)",
        type_=UNKNOWN_MODEL,
        extensions={"available": names[:LISTED_MODELS], "available_count": len(names)},
    )


@contextmanager
def sampling_errors(
    registry: ModelRegistry | None = None, location: str = "query", field: str = ""
) -> Iterator[None]:
    """Translate what resolving a model and rendering can raise into 4xx/503 responses
    (an unknown model's 404 lists ``registry``'s models, when given; a 422 is about the
    parameters at ``location``, and about ``field`` when the caller knows which one)."""
    try:
        yield
    except UnknownModel as error:
        raise (unknown_model(error.detail, registry) if registry else not_found(error.detail)) from None
    except InvalidModelRef as error:
        raise unprocessable(str(error), location=location, field="model") from None
    except SamplingError as error:
        raise unprocessable(str(error), location=location, field=field) from None
    except (ModelUnavailable, PoolBusy) as error:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail=str(error)) from None


async def http_error_handler(request: Request, error: Exception) -> ProblemResponse:
    """Every ``HTTPException`` (ours, FastAPI's and the router's 404) as a problem."""
    assert isinstance(error, StarletteHTTPException)
    if error.status_code == status.HTTP_405_METHOD_NOT_ALLOWED:
        return method_not_allowed(request)
    if isinstance(error, Problem):
        return problem_response(
            error.status_code,
            str(error.detail),
            type_=error.type,
            errors=error.errors,
            extensions=error.extensions,
            headers=error.headers,
        )
    return problem_response(error.status_code, str(error.detail), headers=error.headers)


async def unexpected_error(request: Request, error: Exception) -> ProblemResponse:
    """500 without details for an error no route expected (the traceback goes to the log)."""
    logger.error("unhandled error on %s %s", request.method, request.url.path, exc_info=error)
    return problem_response(500, "internal server error")


def disk_full_detail(code: int | None) -> str:
    """The 507 ``detail``: which disk, and what the client can do (never a server path)."""
    return f"{disk_full_reason(code)}; free space and retry"


async def os_error_handler(request: Request, error: Exception) -> ProblemResponse:
    """507 for a full disk on any route, whatever was being written (a job record, a
    checkpoint, an upload): the server's storage is at fault, not the request. Routes remove
    what they had half-made before the error reaches here. Any other OSError is a 500."""
    assert isinstance(error, OSError)
    code = disk_full_errno(error)
    if code is None:
        return await unexpected_error(request, error)
    logger.warning("%s %s: disk full: %s", request.method, request.url.path, error)
    return problem_response(status.HTTP_507_INSUFFICIENT_STORAGE, disk_full_detail(code))


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # JSON has no NaN/Infinity; echo them as text
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    return value


# Pydantic's error types for a value above a field's static maximum.
_TOO_BIG = frozenset({"less_than_equal", "less_than", "too_long"})


def validation_errors(
    error: RequestValidationError, settings: Settings | None = None
) -> list[dict[str, str]]:
    """FastAPI's validation list as ``{location, field, message}`` items: ``loc`` is
    ``(location, field, index...)``, e.g. ``("body", "latents", 0, 3)`` -> ``latents.0.3``.

    A value above both a field's static maximum and this server's lower one (``settings``) gets
    the server's message, so a field has one stated limit whatever the value.
    """
    items = []
    for problem in jsonable_encoder(_json_safe(list(error.errors()))):
        location, *path = [str(part) for part in problem.get("loc") or ("request",)]
        field = ".".join(path)
        message = str(problem.get("msg", "invalid value"))
        if problem.get("type") == "extra_forbidden" and location == "body":
            message = replaced_field_problem(field) or message
        if settings is not None and problem.get("type") in _TOO_BIG:
            message = _server_limit_message(location, field, problem.get("input"), settings) or message
        items.append(field_error(location, field, message))
    return items


def _server_limit_message(location: str, field: str, value: Any, settings: Settings) -> str | None:
    for limit in SERVER_LIMITS:
        if (limit.location, limit.field) == (location, field):
            return limit.problem(settings, value)
    return None


async def validation_error_handler(request: Request, error: Exception) -> ProblemResponse:
    """A malformed request's 422: every problem FastAPI found, located and named."""
    assert isinstance(error, RequestValidationError)
    runtime = getattr(request.app.state, "runtime", None)
    errors = validation_errors(error, getattr(runtime, "settings", None))
    return problem_response(status.HTTP_422_UNPROCESSABLE_CONTENT, describe(errors), errors=errors)


def method_not_allowed(request: Request) -> ProblemResponse:
    """405 with an ``Allow`` header naming every method the path has.

    The router stops at the first route whose path matches and lists only that route's methods
    (none at all for routes of an included router), so ``OPTIONS /datasets`` answered with an
    empty ``Allow`` although ``GET`` and ``POST /datasets`` exist. Each method is asked of the
    routes instead.
    """
    allowed = [
        method
        for method in HTTP_METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] == Match.FULL
            for route in request.app.router.routes
        )
    ]
    return problem_response(
        status.HTTP_405_METHOD_NOT_ALLOWED,
        f"{request.method} is not allowed here; allowed: {', '.join(allowed)}",
        headers={"Allow": ", ".join(allowed)},
    )


async def client_disconnected_handler(request: Request, error: Exception) -> ProblemResponse:
    """A client that went away while its body was read: not a server error, not logged as one."""
    assert isinstance(error, ClientDisconnect)
    return problem_response(CLIENT_CLOSED_REQUEST, "client closed the request")


HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
