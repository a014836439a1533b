"""The live events of a job on Redis: one capped stream per job, written by the worker, read by
the API's ``GET /jobs/{id}/events``. This module owns the contract both sides share.

Each stream entry has two fields: ``type`` and ``data`` (JSON):

* ``state``: the job record (``JobRecord`` JSON) at a status change: running, succeeded,
  failed, cancelled, or queued again when a worker shuts down mid-job.
* ``progress``: the job record after a progress save (step, total, rate, ETA, losses inside).
* ``sample``: ``{"step": n, "url": "/jobs/{id}/samples/n"}``, a timeline grid that is on disk.

The stream is a convenience: the record file stays the truth, and a reader that finds Redis
down falls back to it.
"""

from __future__ import annotations

import re
from typing import Literal

from common.queue import KEY_PREFIX

EventType = Literal["state", "progress", "sample"]
EVENT_TYPES: frozenset[str] = frozenset({"state", "progress", "sample"})

# About this many entries are kept (XADD MAXLEN ~): a progress entry per save (every
# GAN_PROGRESS_INTERVAL seconds, 1 s by default) is a quarter of an hour of history.
STREAM_MAXLEN = 1000
# Refreshed by every entry, so the stream of a job whose worker vanished for good still goes.
STREAM_IDLE_TTL_SECONDS = 7 * 24 * 3600
# Once the job is final: long enough for a client to reconnect and resume, then it goes.
STREAM_FINAL_TTL_SECONDS = 3600

# A stream entry id: milliseconds, a dash, a sequence number.
_ENTRY_ID = re.compile(r"[0-9]{1,20}-[0-9]{1,20}")


def events_key(job_id: str) -> str:
    """The Redis stream holding the events of ``job_id``."""
    return f"{KEY_PREFIX}events:{job_id}"


def sample_url(job_id: str, step: int) -> str:
    """Where the API serves the timeline grid of ``step`` (``GET /jobs/{id}/samples/{step}``)."""
    return f"/jobs/{job_id}/samples/{step}"


def is_entry_id(value: str) -> bool:
    """Whether ``value`` is a stream entry id (``<ms>-<seq>``), e.g. from ``Last-Event-ID``."""
    return _ENTRY_ID.fullmatch(value) is not None
