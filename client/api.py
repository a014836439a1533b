"""The synchronous client: one method per route of the ganserve HTTP API.

    with GanServeClient("http://127.0.0.1:8000") as client:
        job = client.train({"dataset": "digits", "steps": 200})
        client.wait(job["id"], on_progress=lambda job: print(job["progress"]))
        png = client.sample(seed=7, model=job["model"], count=16)

The routes themselves (what each sends, what it returns) are the functions of
``client.sampling``, ``client.jobs`` and ``client.datasets``, shared with
:class:`client.AsyncGanServeClient`; this class sends them over an ``httpx.Client``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from client import datasets as dataset_routes
from client import jobs as job_routes
from client import sampling
from client.sse import parse_sse
from client.transport import Transport, sync_route
from client.waiting import OnProgress, Waiter


class GanServeClient(Transport):
    """Client for one ganserve server.

    Args:
        base_url: where the API is, e.g. ``http://127.0.0.1:8000``.
        api_key: sent as ``Authorization: Bearer <key>`` when set.
        timeout: seconds for each request (event streams wait on reads forever).
        http_client: an ``httpx.Client`` to use instead of a new one (e.g. Starlette's
            ``TestClient``); it is not closed by this client.

    Every error answer raises an :class:`client.ApiError` subclass (``ModelNotFound``,
    ``ValidationFailed``, ``Unauthorized``, ...; see ``client.errors``).
    """

    health = sync_route(sampling.health)
    ready = sync_route(sampling.ready)
    models = sync_route(sampling.models)
    model = sync_route(sampling.model)
    sample = sync_route(sampling.sample)
    sample_latents = sync_route(sampling.sample_latents)
    interpolate = sync_route(sampling.interpolate)
    train = sync_route(job_routes.train)
    plan = sync_route(job_routes.plan)
    job = sync_route(job_routes.job)
    jobs = sync_route(job_routes.jobs)
    cancel = sync_route(job_routes.cancel)
    upload_dataset = sync_route(dataset_routes.upload_dataset)
    datasets = sync_route(dataset_routes.datasets)

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
        # Progress can pause for long (a checkpoint, a slow step): no read timeout.
        with self._stream(job_routes.events(job_id, last_event_id), self._stream_timeout(None)) as response:
            yield from parse_sse(response.iter_lines())

    def wait(
        self, job_id: str, timeout: float = 600, poll: float = 0.5, on_progress: OnProgress | None = None
    ) -> dict[str, Any]:
        """Follow a job until it is succeeded, failed or cancelled; returns its final record.

        Args:
            job_id: the job.
            timeout: seconds to wait at most.
            poll: seconds between reads of the record, when the event stream is unavailable.
            on_progress: called with the job record at each ``progress`` and ``state`` event
                (at each change of the record, when polling).

        Returns:
            The stored record (``GET /jobs/{id}``), with its final ``evaluation``.

        Raises:
            TimeoutError: the job was still unfinished after ``timeout`` seconds.
        """
        waiter = Waiter(job_id, timeout, poll, on_progress)
        while waiter.streaming:
            with waiter.reading(), self._stream(*waiter.next_stream(self._timeout)) as response:
                for line in response.iter_lines():
                    if waiter.line(line):
                        break
        while (pause := waiter.polled(self.job(job_id))) is not None:
            time.sleep(pause)
        return waiter.record
