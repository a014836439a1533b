"""Server-Sent Events for one job: an event each time its record file changes.

The worker writes the record atomically, so polling the file is cheap and never sees half a
write; it also works when the API and the worker share nothing but the data folder.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable

import anyio

from app.services.jobs import job_view
from common.jobs import FINAL_STATUSES, JobRecord, JobStore

HEARTBEAT_SECONDS = 15.0


def format_event(event: str, data: str) -> str:
    """One SSE frame (``data`` is single-line JSON, so one ``data:`` line suffices)."""
    return f"event: {event}\ndata: {data}\n\n"


async def job_events(
    store: JobStore,
    job_id: str,
    *,
    poll_interval: float,
    is_disconnected: Callable[[], Awaitable[bool]],
    heartbeat_seconds: float = HEARTBEAT_SECONDS,
) -> AsyncIterator[str]:
    """Yield a ``progress`` event per change of the record, then ``end`` at a final status.

    Args:
        store: where the record lives.
        job_id: the job (known to exist when the stream starts).
        poll_interval: seconds between reads of the record file.
        is_disconnected: stops the stream early when the client has gone.
        heartbeat_seconds: an SSE comment is sent after this much silence, so proxies keep
            the connection open and a vanished client is noticed.
    """
    last_seen: str | None = None
    last_sent = time.monotonic()
    while True:
        record: JobRecord | None = await anyio.to_thread.run_sync(store.get, job_id)
        if record is None:
            yield format_event("end", '{"detail": "job record disappeared"}')
            return
        payload = job_view(record).model_dump_json()
        if payload != last_seen:
            last_seen = payload
            last_sent = time.monotonic()
            yield format_event("progress", payload)
        if record.status in FINAL_STATUSES:
            yield format_event("end", payload)
            return
        if time.monotonic() - last_sent >= heartbeat_seconds:
            last_sent = time.monotonic()
            yield ": heartbeat\n\n"
        if await is_disconnected():
            return
        await anyio.sleep(poll_interval)
