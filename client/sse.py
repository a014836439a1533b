"""Server-Sent Events parsing: the lines of an event stream become one dict per event."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any


class SseParser:
    """Lines in, events out, one line at a time, so a sync and an async reader share it.

    An event is ``{"event", "data"}``, with ``"id"`` added for an event that has an ``id:``
    line (what ``Last-Event-ID`` resumes after). ``data`` is decoded as JSON when it is JSON,
    else kept as text; comment lines (``:``, used as keep-alives) are ignored; an event without
    ``event:`` is a ``message``.
    """

    def __init__(self) -> None:
        self._event, self._data = "message", list[str]()
        self._id: str | None = None

    def feed(self, raw: str) -> dict[str, Any] | None:
        """Take one line; returns the event it completes, if any."""
        line = raw.rstrip("\r\n")
        if not line:
            return self.flush()
        if line.startswith(":"):
            return None
        key, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if key == "event":
            self._event = value
        elif key == "data":
            self._data.append(value)
        elif key == "id":
            self._id = value
        return None

    def flush(self) -> dict[str, Any] | None:
        """The event in progress, if it has data (at a blank line, or where the stream ends)."""
        event, data, event_id = self._event, self._data, self._id
        self._event, self._data, self._id = "message", [], None
        if not data:
            return None
        parsed = {"event": event, "data": _maybe_json("\n".join(data))}
        return parsed if event_id is None else {**parsed, "id": event_id}


def parse_sse(lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    """Turn Server-Sent Event lines into event dicts (see :class:`SseParser`)."""
    parser = SseParser()
    for line in lines:
        if (event := parser.feed(line)) is not None:
            yield event
    if (event := parser.flush()) is not None:
        yield event


def _maybe_json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text
