"""Streaming a multipart upload straight to disk, with a hard cap on the file's size.

Starlette's form parser would spool the file to a temporary file of its own choosing and only
then hand it over; this parser writes the file part into the caller's folder (inside
``datasets_dir``, so the later rename is atomic) as the bytes arrive, and stops at the cap, or
when the body makes no progress for the idle time (a stalled client would otherwise hold its
connection and its temporary folder for as long as it stays connected).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import anyio
from python_multipart.multipart import MultipartParser, parse_options_header

FILE_FIELD = "file"
MAX_FIELD_BYTES = 1024
MAX_PARTS = 8


class UploadError(ValueError):
    """The request is not a well-formed upload (400/422)."""


class UploadTooLarge(ValueError):
    """The file part exceeds the configured cap (413)."""


class UploadStalled(Exception):
    """No body bytes arrived for the idle time (408)."""


@dataclass
class UploadedForm:
    """Text fields and the one file part of a multipart request."""

    fields: dict[str, str] = field(default_factory=dict)
    repeated: set[str] = field(default_factory=set)  # text fields sent more than once
    file_path: Path | None = None
    file_name: str | None = None
    file_bytes: int = 0


@dataclass
class _Part:
    headers: dict[bytes, bytes] = field(default_factory=dict)
    name: str = ""
    is_file: bool = False
    data: bytearray = field(default_factory=bytearray)


class _Collector:
    """Parser callbacks; kept synchronous (python-multipart calls them from ``write``)."""

    def __init__(self, target: Path, max_file_bytes: int) -> None:
        self.form = UploadedForm()
        self.target = target
        self.max_file_bytes = max_file_bytes
        self.part = _Part()
        self.parts = 0
        self.header_name = b""
        self.header_value = b""
        self.handle: BinaryIO | None = None

    def on_part_begin(self) -> None:
        self.parts += 1
        if self.parts > MAX_PARTS:
            raise UploadError(f"too many form parts (at most {MAX_PARTS})")
        self.part = _Part()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def on_header_end(self) -> None:
        self.part.headers[self.header_name.lower()] = self.header_value
        self.header_name, self.header_value = b"", b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self.part.headers.get(b"content-disposition", b""))
        if b"name" not in options:
            raise UploadError("a form part has no name")
        self.part.name = options[b"name"].decode("utf-8", "replace")
        self.part.is_file = b"filename" in options
        if self.part.is_file:
            if self.part.name != FILE_FIELD or self.handle is not None or self.form.file_path:
                raise UploadError(f"send exactly one file, in the form field {FILE_FIELD!r}")
            self.form.file_name = options[b"filename"].decode("utf-8", "replace")
            self.form.file_path = self.target
            self.handle = open(self.target, "wb")  # noqa: SIM115 - closed in on_part_end/close

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if self.part.is_file:
            assert self.handle is not None
            self.form.file_bytes += len(chunk)
            if self.form.file_bytes > self.max_file_bytes:
                raise UploadTooLarge(f"upload exceeds the limit of {self.max_file_bytes} bytes")
            self.handle.write(chunk)
        else:
            if len(self.part.data) + len(chunk) > MAX_FIELD_BYTES:
                raise UploadError(f"form field {self.part.name!r} is too long")
            self.part.data.extend(chunk)

    def on_part_end(self) -> None:
        if self.part.is_file:
            self.close()
        else:
            if self.part.name in self.form.fields:
                self.form.repeated.add(self.part.name)
            self.form.fields[self.part.name] = self.part.data.decode("utf-8", "replace")

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None


async def receive_upload(
    content_type: str | None,
    body: AsyncIterator[bytes],
    target: Path,
    *,
    max_file_bytes: int,
    idle_seconds: float,
) -> UploadedForm:
    """Parse a ``multipart/form-data`` body, writing its file part to ``target``.

    Args:
        content_type: the request's Content-Type header (carries the boundary).
        body: the request body stream.
        target: where the file part is written (the caller deletes it on failure).
        max_file_bytes: cap on the file part; exceeded -> :class:`UploadTooLarge` at once.
        idle_seconds: longest wait for the next piece of the body.

    Raises:
        UploadError: not multipart, malformed, or not exactly one file in field ``file``.
        UploadTooLarge: the file is larger than ``max_file_bytes``.
        UploadStalled: nothing arrived for ``idle_seconds``.
        starlette.requests.ClientDisconnect: the client went away (from ``body``).
    """
    kind, options = parse_options_header(content_type or "")
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise UploadError("expected a multipart/form-data body with a file and a name")
    collector = _Collector(target, max_file_bytes)
    callbacks = {
        name: getattr(collector, name)
        for name in (
            "on_part_begin",
            "on_part_data",
            "on_part_end",
            "on_header_field",
            "on_header_value",
            "on_header_end",
            "on_headers_finished",
        )
    }
    parser = MultipartParser(boundary, callbacks)  # type: ignore[arg-type]
    chunks = aiter(body)
    try:
        while True:
            with anyio.move_on_after(idle_seconds) as waiting:
                chunk = await anext(chunks, None)
            if waiting.cancelled_caught:
                raise UploadStalled(f"no upload data arrived for {idle_seconds:g} s; upload closed")
            if chunk is None:
                break
            if chunk:
                parser.write(chunk)
        parser.finalize()
    except (UploadError, UploadTooLarge):
        raise
    except ValueError as error:  # python-multipart's parse errors derive from ValueError
        raise UploadError(f"malformed multipart body: {error}") from error
    finally:
        collector.close()
    if collector.form.file_path is None:
        raise UploadError(f"the form has no file in the field {FILE_FIELD!r}")
    return collector.form
