"""Server-Sent Events for one job: relayed from its Redis stream, or read from its record file.

The worker publishes each job's events on a capped Redis stream (``common.events``); this
module relays them, each with the stream entry id as its SSE ``id``, so a client that
reconnects with ``Last-Event-ID`` resumes exactly after the last event it saw. While Redis is
unreachable (or refuses the read) the stream falls back to polling the record file, which the
worker writes atomically and which is the truth about the job either way: the API keeps
working with nothing but the shared data folder. A ``source`` event says which one is used.

The events: ``source``, then ``progress`` (the job, as ``GET /jobs/{id}`` shows it),
``state`` (the job at a status change), ``sample`` (``{"step", "url"}`` of a new timeline
grid) and, once the job is final, ``end`` with the final job, after which the stream closes.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import anyio
import redis
import redis.asyncio
from fastapi.sse import ServerSentEvent

from app.services.jobs.service import job_view
from common.events import EVENT_TYPES, events_key, is_entry_id
from common.jobs import FINAL_STATUSES, JobRecord, JobStore

# Redis must answer quickly or not at all: a viewer should get the fallback at once.
CONNECT_TIMEOUT_SECONDS = 2.0
# Entries read from the stream per round trip.
READ_COUNT = 100

IsDisconnected = Callable[[], Awaitable[bool]]


async def job_events(
    store: JobStore,
    job_id: str,
    *,
    redis_url: str | None,
    last_event_id: str | None,
    poll_interval: float,
    is_disconnected: IsDisconnected,
) -> AsyncIterator[ServerSentEvent]:
    """The events of ``job_id`` until it is final: from Redis, or from its record file.

    Args:
        store: where the record lives.
        job_id: the job (known to exist when the stream starts).
        redis_url: the Redis holding the event streams; None means "use the record file".
        last_event_id: the client's ``Last-Event-ID``: resume after this entry (ignored unless
            it is a stream entry id).
        poll_interval: seconds between reads of the record file, and the longest a read of
            the stream blocks before the record is looked at again.
        is_disconnected: stops the stream early when the client has gone.
    """
    resume_after = last_event_id if last_event_id and is_entry_id(last_event_id) else None
    reason = "GAN_REDIS_URL is not set"
    if redis_url:
        try:
            async for event in _relay(store, job_id, redis_url, resume_after, poll_interval, is_disconnected):
                yield event
            return
        except (redis.RedisError, OSError) as error:
            reason = f"Redis unavailable: {type(error).__name__}: {error}"
    yield _source("record", reason)
    async for event in _poll_record(store, job_id, poll_interval, is_disconnected):
        yield event


async def _relay(
    store: JobStore,
    job_id: str,
    redis_url: str,
    resume_after: str | None,
    poll_interval: float,
    is_disconnected: IsDisconnected,
) -> AsyncIterator[ServerSentEvent]:
    key = events_key(job_id)
    block_ms = max(1, round(poll_interval * 1000))
    client = redis.asyncio.Redis.from_url(
        redis_url,
        decode_responses=True,
        socket_connect_timeout=CONNECT_TIMEOUT_SECONDS,
        socket_timeout=poll_interval + CONNECT_TIMEOUT_SECONDS,
    )
    async with client:
        if resume_after is None:
            # A new viewer gets the job as it is now, then everything after the newest entry;
            # the snapshot carries that entry's id, so reconnecting resumes right after it.
            newest: Any = await client.xrevrange(key, count=1)
            cursor: str = newest[0][0] if newest else "0-0"
            yield _source("redis")
            record = await _read(store, job_id)
            if record is None:
                yield _vanished()
                return
            view = job_view(record).model_dump_json()
            yield ServerSentEvent(event="progress", raw_data=view, id=cursor if newest else None)
            if record.status in FINAL_STATUSES:
                yield _end(view)
                return
        else:
            cursor = resume_after
            await client.ping()  # "redis" is said only once it answers
            yield _source("redis")
        while True:
            # RESP2's answer: [[key, [(entry id, fields), ...]]], or nothing after the block.
            reply: Any = await client.xread({key: cursor}, count=READ_COUNT, block=block_ms)
            entries: list[tuple[str, dict[str, str]]] = reply[0][1] if reply else []
            for entry_id, fields in entries:
                cursor = entry_id
                event, final = _relayed(entry_id, fields)
                if event is None:
                    continue
                yield event
                if final and event.raw_data is not None:
                    yield _end(event.raw_data)
                    return
            if not entries:
                # Quiet for a while: the record says whether the job ended without an entry
                # saying so (its final event lost in an outage, a job cancelled while queued).
                record = await _read(store, job_id)
                if record is None:
                    yield _vanished()
                    return
                if record.status in FINAL_STATUSES:
                    yield _end(job_view(record).model_dump_json())
                    return
            if await is_disconnected():
                return


def _relayed(entry_id: str, fields: dict[str, str]) -> tuple[ServerSentEvent | None, bool]:
    """One stream entry as an SSE event, and whether it says the job is final."""
    kind, data = fields.get("type"), fields.get("data")
    if kind not in EVENT_TYPES or data is None:
        return None, False  # written by a newer worker, or not by us: skipped
    if kind == "sample":
        return ServerSentEvent(event=kind, raw_data=data, id=entry_id), False
    try:
        record = JobRecord.model_validate_json(data)
    except ValueError:
        return None, False
    view = job_view(record).model_dump_json()
    final = kind == "state" and record.status in FINAL_STATUSES
    return ServerSentEvent(event=kind, raw_data=view, id=entry_id), final


async def _poll_record(
    store: JobStore, job_id: str, poll_interval: float, is_disconnected: IsDisconnected
) -> AsyncIterator[ServerSentEvent]:
    """A ``progress`` event per change of the record file, then ``end`` at a final status."""
    last_seen: str | None = None
    while True:
        record = await _read(store, job_id)
        if record is None:
            yield _vanished()
            return
        view = job_view(record).model_dump_json()
        if view != last_seen:
            last_seen = view
            yield ServerSentEvent(event="progress", raw_data=view)
        if record.status in FINAL_STATUSES:
            yield _end(view)
            return
        if await is_disconnected():
            return
        await anyio.sleep(poll_interval)


async def _read(store: JobStore, job_id: str) -> JobRecord | None:
    return await anyio.to_thread.run_sync(store.get, job_id)


def _source(source: str, reason: str | None = None) -> ServerSentEvent:
    body = {"source": source} if reason is None else {"source": source, "reason": reason}
    return ServerSentEvent(event="source", raw_data=json.dumps(body))


def _end(view: str) -> ServerSentEvent:
    return ServerSentEvent(event="end", raw_data=view)


def _vanished() -> ServerSentEvent:
    return _end('{"detail": "job record disappeared"}')
