"""Server-Sent Events parsing: the lines of an event stream become one dict per event."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any


def parse_sse(lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    """Turn Server-Sent Event lines into ``{"event", "data"}`` dicts.

    ``data`` is decoded as JSON when it is JSON, else kept as text; comment lines (``:``,
    used as keep-alives) are ignored; an event without ``event:`` is a ``message``.
    """
    event, data = "message", list[str]()
    for raw in lines:
        line = raw.rstrip("\r\n")
        if not line:
            if data:
                yield {"event": event, "data": _maybe_json("\n".join(data))}
            event, data = "message", []
            continue
        if line.startswith(":"):
            continue
        key, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if key == "event":
            event = value
        elif key == "data":
            data.append(value)
    if data:
        yield {"event": event, "data": _maybe_json("\n".join(data))}


def _maybe_json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text
