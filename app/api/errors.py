"""Mapping service exceptions to HTTP errors with short, stable ``detail`` strings."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import HTTPException, Request, status
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.requests import ClientDisconnect
from starlette.routing import Match

from app.rendering.pool import PoolBusy
from app.services.models.entries import InvalidModelRef, ModelUnavailable, UnknownModel
from common.disk import disk_full_errno, disk_full_reason
from models.inference import SamplingError

logger = logging.getLogger(__name__)


def unprocessable(detail: str) -> HTTPException:
    """A 422 with ``detail``."""
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=detail)


def not_found(detail: str) -> HTTPException:
    """A 404 with ``detail``."""
    return HTTPException(status.HTTP_404_NOT_FOUND, detail=detail)


@contextmanager
def sampling_errors() -> Iterator[None]:
    """Translate what resolving a model and rendering can raise into 4xx/503 responses."""
    try:
        yield
    except UnknownModel as error:
        raise not_found(error.detail) from None
    except (InvalidModelRef, SamplingError) as error:
        raise unprocessable(str(error)) from None
    except (ModelUnavailable, PoolBusy) as error:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail=str(error)) from None


async def unexpected_error(request: Request, error: Exception) -> JSONResponse:
    """500 without details for an error no route expected (the traceback goes to the log)."""
    logger.error("unhandled error on %s %s", request.method, request.url.path, exc_info=error)
    return JSONResponse({"detail": "internal server error"}, status_code=500)


def disk_full_detail(code: int | None) -> str:
    """The 507 ``detail``: which disk, and what the client can do (never a server path)."""
    return f"{disk_full_reason(code)}; free space and retry"


async def os_error_handler(request: Request, error: Exception) -> JSONResponse:
    """507 for a full disk on any route, whatever was being written (a job record, a
    checkpoint, an upload): the server's storage is at fault, not the request. Routes remove
    what they had half-made before the error reaches here. Any other OSError is a 500."""
    assert isinstance(error, OSError)
    code = disk_full_errno(error)
    if code is None:
        return await unexpected_error(request, error)
    logger.warning("%s %s: disk full: %s", request.method, request.url.path, error)
    return JSONResponse({"detail": disk_full_detail(code)}, status_code=status.HTTP_507_INSUFFICIENT_STORAGE)


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # JSON has no NaN/Infinity; echo them as text
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    return value


async def validation_error_handler(request: Request, error: Exception) -> JSONResponse:
    """FastAPI's 422 list, made JSON-safe: Python's json accepts ``NaN`` in a body, and
    echoing it back in ``input`` would otherwise fail to serialise (a 500)."""
    assert isinstance(error, RequestValidationError)
    detail = _json_safe(jsonable_encoder(error.errors()))
    return JSONResponse({"detail": detail}, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)


async def method_not_allowed_handler(request: Request, error: Exception) -> JSONResponse:
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
    return JSONResponse(
        {"detail": "Method Not Allowed"},
        status_code=status.HTTP_405_METHOD_NOT_ALLOWED,
        headers={"Allow": ", ".join(allowed)},
    )


# nginx's code for "the client closed the request": never sent (nobody is there to read it), but
# it is what the access log and the request metrics record instead of a 500.
CLIENT_CLOSED_REQUEST = 499


async def client_disconnected_handler(request: Request, error: Exception) -> JSONResponse:
    """A client that went away while its body was read: not a server error, not logged as one."""
    assert isinstance(error, ClientDisconnect)
    return JSONResponse({"detail": "client closed the request"}, status_code=CLIENT_CLOSED_REQUEST)


HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
