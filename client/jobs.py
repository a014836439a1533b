"""The training-job routes, as calls: submit, plan, read, list and cancel jobs, follow their events."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx

from client.calls import Call, json_object, listing

FINAL_STATUSES = frozenset({"succeeded", "failed", "cancelled"})


def train(config: Mapping[str, Any] | None = None, **fields: Any) -> Call[dict[str, Any]]:
    """Submit a training job; ``fields`` override keys of ``config``. Returns the job.

    Raises:
        ValidationFailed: a config that cannot train; ``fields`` names what is wrong.
    """
    return Call("POST", "/train", json_object, json={**(config or {}), **fields})


def plan(config: Mapping[str, Any] | None = None, **fields: Any) -> Call[dict[str, Any]]:
    """What ``train`` would queue for the same fields: the complete spec, why each field
    chosen for the data has its value, and the measured duration (``estimate_seconds``)."""
    return Call("POST", "/train/plan", json_object, json={**(config or {}), **fields})


def job(job_id: str) -> Call[dict[str, Any]]:
    """One job's record: status, progress, losses, the final ``evaluation``, error."""
    return Call("GET", f"/jobs/{quote(job_id)}", json_object)


def jobs() -> Call[list[dict[str, Any]]]:
    """All jobs, as the server orders them (newest first)."""
    return listing("GET", "/jobs", "jobs")


def cancel(job_id: str) -> Call[dict[str, Any]]:
    """Cancel a job (a running one stops at its next step); returns the job.

    Raises:
        Conflict: 409 when the job has already finished.
        NotFound: 404 when it is unknown.
    """
    return Call("POST", f"/jobs/{quote(job_id)}/cancel", json_object)


def events(job_id: str, last_event_id: str | None = None) -> Call[httpx.Response]:
    """The request of a job's event stream, resuming after ``last_event_id`` when given."""
    headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
    return Call("GET", f"/jobs/{quote(job_id)}/events", _streamed, headers=headers)


def _streamed(response: httpx.Response) -> httpx.Response:
    return response  # a stream is read line by line, by the client's own loop
