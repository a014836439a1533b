"""A cap on request body size, enforced before and while the body is read."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import HTTPException, status
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.errors import problem_response
from common.names import parse_ascii_int
from common.settings import Settings

# Room for the multipart boundaries and the `name` field around an upload's file part.
MULTIPART_OVERHEAD_BYTES = 64 * 1024


def body_limit_bytes(settings: Settings, method: str, path: str) -> int:
    """The most bytes a request body may have: an upload's (``GAN_MAX_UPLOAD_BYTES`` plus the
    multipart framing) on ``POST /datasets``, ``GAN_MAX_REQUEST_BYTES`` everywhere else. The one
    rule, for the check and for what /openapi.json declares (``x-max-body-bytes``)."""
    if method.upper() == "POST" and path.rstrip("/") == "/datasets":
        return settings.max_upload_bytes + MULTIPART_OVERHEAD_BYTES
    return settings.max_request_bytes


class RequestTooLarge(HTTPException):
    """An HTTPException so that FastAPI's body parsing passes it through unchanged (413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            status.HTTP_413_CONTENT_TOO_LARGE,
            detail=f"request body too large (limit {limit} bytes)",
        )


class BodySizeLimitMiddleware:
    """Reject bodies over ``limit_for(scope)`` bytes with a problem+json 413.

    A declared Content-Length over the limit is refused before the app runs; a body that
    grows past it (chunked or lying) fails while it is being read.
    """

    def __init__(self, app: ASGIApp, limit_for: Callable[[Scope], int]) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse a body over the route's limit with 413, by its declared length or as it streams."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope)
        declared = Headers(scope=scope).get("content-length")
        length = parse_ascii_int(declared) if declared is not None else None
        if length is not None and length > limit:
            error = RequestTooLarge(limit)
            response = problem_response(error.status_code, error.detail, headers={"Connection": "close"})
            await response(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise RequestTooLarge(limit)
            return message

        async def closing_send(message: Message) -> None:
            # A 413 (from here or from the upload parser's own cap) is sent while the client is
            # still sending; without "Connection: close" the server would go on reading, and
            # discarding, the rest of a body it has refused: hundreds of megabytes for nothing.
            if message["type"] == "http.response.start" and message["status"] == 413:
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"connection"]
                message = {**message, "headers": [*headers, (b"connection", b"close")]}
            await send(message)

        await self.app(scope, limited_receive, closing_send)
