"""Server-Sent Events parsing: the lines of an event stream become one dict per event."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any


def parse_sse(lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    """Turn Server-Sent Event lines into ``{"event", "data"}`` dicts, with ``"id"`` added for
    an event that has an ``id:`` line (what ``Last-Event-ID`` resumes after).

    ``data`` is decoded as JSON when it is JSON, else kept as text; comment lines (``:``,
    used as keep-alives) are ignored; an event without ``event:`` is a ``message``.
    """
    event, data, event_id = "message", list[str](), None
    for raw in lines:
        line = raw.rstrip("\r\n")
        if not line:
            if data:
                yield _event(event, data, event_id)
            event, data, event_id = "message", [], None
            continue
        if line.startswith(":"):
            continue
        key, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if key == "event":
            event = value
        elif key == "data":
            data.append(value)
        elif key == "id":
            event_id = value
    if data:
        yield _event(event, data, event_id)


def _event(event: str, data: list[str], event_id: str | None) -> dict[str, Any]:
    parsed = {"event": event, "data": _maybe_json("\n".join(data))}
    return parsed if event_id is None else {**parsed, "id": event_id}


def _maybe_json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text
