"""A small Python client for the ganserve HTTP API, synchronous and asynchronous.

    from client import GanServeClient

    with GanServeClient("http://127.0.0.1:8000") as client:
        job = client.train({"dataset": "digits", "steps": 200})
        client.wait(job["id"], on_progress=lambda job: print(job["progress"]))
        png = client.sample(seed=7, model=job["model"], count=16)

``AsyncGanServeClient`` has the same methods as coroutines. Every error answer raises an
``ApiError`` subclass chosen from the RFC 9457 problem: ``ModelNotFound`` (with the
``available`` models), ``ValidationFailed`` (with the refused ``fields``), ``Unauthorized``,
``Conflict``, ... (see ``client.errors``). The package is apart from the server's (``app``) on
purpose: importing it loads httpx and nothing of the server, and leaves the process environment
as it was (``app`` sets OpenMP's wait policy when imported).
"""

from __future__ import annotations

from client.aio import AsyncClient, AsyncGanServeClient
from client.api import GanServeClient
from client.errors import (
    ApiError,
    BadRequest,
    Conflict,
    DiskFull,
    Forbidden,
    ModelNotFound,
    NotFound,
    PayloadTooLarge,
    ServerError,
    ServiceUnavailable,
    Unauthorized,
    ValidationFailed,
)
from client.jobs import FINAL_STATUSES
from client.sampling import Strip
from client.sse import parse_sse

__all__ = [
    "FINAL_STATUSES",
    "ApiError",
    "AsyncClient",
    "AsyncGanServeClient",
    "BadRequest",
    "Conflict",
    "DiskFull",
    "Forbidden",
    "GanServeClient",
    "ModelNotFound",
    "NotFound",
    "PayloadTooLarge",
    "ServerError",
    "ServiceUnavailable",
    "Strip",
    "Unauthorized",
    "ValidationFailed",
    "parse_sse",
]
