"""The client's training-job routes: submit, read, list, cancel, wait for and follow jobs."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import quote

import httpx

from client.errors import error_from
from client.sse import parse_sse
from client.transport import Transport

FINAL_STATUSES = frozenset({"succeeded", "failed", "cancelled"})


class JobRoutes(Transport):
    """``/train`` and ``/jobs``: the methods of :class:`client.GanServeClient` for jobs."""

    def train(self, config: Mapping[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
        """Submit a training job; ``fields`` override keys of ``config``. Returns the job."""
        body = {**(config or {}), **fields}
        return self._object("POST", "/train", json=body)

    def plan(self, config: Mapping[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
        """What ``train`` would queue for the same fields: the complete spec, why each field
        chosen for the data has its value, and the measured duration (``estimate_seconds``)."""
        body = {**(config or {}), **fields}
        return self._object("POST", "/train/plan", json=body)

    def job(self, job_id: str) -> dict[str, Any]:
        """One job's record: status, progress, losses, error."""
        return self._object("GET", f"/jobs/{quote(job_id)}")

    def jobs(self) -> list[dict[str, Any]]:
        """All jobs, as the server orders them."""
        return self._all_pages("/jobs", "jobs")

    def cancel(self, job_id: str) -> dict[str, Any]:
        """Cancel a job (a running one stops at its next step); returns the job.

        Raises:
            ApiError: 409 when the job has already finished, 404 when it is unknown.
        """
        return self._object("POST", f"/jobs/{quote(job_id)}/cancel")

    def wait(self, job_id: str, timeout: float = 600, poll: float = 0.5) -> dict[str, Any]:
        """Poll until the job is succeeded, failed or cancelled; returns the final record.

        Raises:
            TimeoutError: the job was still unfinished after ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while True:
            record = self.job(job_id)
            if record.get("status") in FINAL_STATUSES:
                return record
            if time.monotonic() >= deadline:
                raise TimeoutError(f"job {job_id} still {record.get('status')} after {timeout:g} s")
            time.sleep(poll)

    def events(self, job_id: str, last_event_id: str | None = None) -> Iterator[dict[str, Any]]:
        """Server-sent events of a job, as ``{"event": name, "data": parsed JSON}`` (plus
        ``"id"`` for events that carry one).

        The server sends ``source`` (``redis`` or ``record``), the job as ``progress``, then
        ``progress`` and ``state`` with the job and ``sample`` with a new grid's step and URL
        as they happen, and ``end`` with the final job; the iterator ends when the stream
        closes after that.

        Args:
            job_id: the job.
            last_event_id: an ``id`` seen before: the stream resumes right after that event.
        """
        url = self.base_url + f"/jobs/{quote(job_id)}/events"
        # Progress can pause for long (a checkpoint, a slow step): no read timeout.
        timeout = httpx.Timeout(self._timeout, read=None)
        headers = {**self._headers, **({"Last-Event-ID": last_event_id} if last_event_id else {})}
        with self._http.stream("GET", url, headers=headers, timeout=timeout) as response:
            if response.is_error:
                response.read()
                raise error_from(response)
            yield from parse_sse(response.iter_lines())
