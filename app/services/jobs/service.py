"""Submitting, describing and cancelling training jobs.

The record file is the truth about a job (see ``common.jobs``); Redis only carries the task.
Submission writes the record first and publishes second. An API killed in between leaves a
complete ``queued`` record without a message, which a worker's reaper enqueues; the reverse
order would leave a message without a record: a job nobody can see that trains anyway, and
whose model name a retried request could claim a second time. A publish that fails removes the
record again, so a Redis outage leaves nothing behind.
"""

from __future__ import annotations

import threading
import time

from app.schemas.jobs import JobView
from app.services.jobs.queue import JobQueue
from app.services.models.registry import ModelRegistry
from common.jobs import FINAL_STATUSES, JobRecord, JobStore, new_job_id
from common.specs import TrainingSpec


class NameTaken(FileExistsError):
    """A model or an unfinished job already uses the requested model name."""


class JobFinished(RuntimeError):
    """The job already reached a final status and cannot be cancelled."""


def job_links(record: JobRecord) -> dict[str, str]:
    """The URLs of everything about a job: itself, its events, cancel, samples, its model."""
    base = f"/jobs/{record.id}"
    return {
        "self": base,
        "events": f"{base}/events",
        "cancel": f"{base}/cancel",
        "samples": f"{base}/samples",
        "model": f"/models/{record.model}",
    }


def job_view(record: JobRecord) -> JobView:
    """The record as clients see it: every field plus links."""
    return JobView(**record.model_dump(), links=job_links(record))


class JobService:
    """Creates and cancels jobs against the record store and the queue."""

    def __init__(self, store: JobStore, queue: JobQueue, registry: ModelRegistry) -> None:
        self.store = store
        self.queue = queue
        self.registry = registry
        # Serialises "is the name free?" with creating the job, within this API process.
        self._submit_lock = threading.Lock()

    def submit(self, name: str, spec: TrainingSpec, estimate_seconds: float | None = None) -> JobRecord:
        """Write the record of a job that trains model ``name`` as ``spec`` says, then publish it.

        Raises:
            NameTaken: ``name`` is a model or the target of an unfinished job.
            QueueUnavailable: Redis is down; no record is left.
        """
        # The process lock keeps this process's threads off Redis while one of them submits;
        # the name claim in Redis does the same across API processes and hosts.
        with self._submit_lock, self.queue.name_claim(name):
            # Taking the claim already reached Redis: a Redis outage has failed by now, before
            # anything was written.
            self._check_name_free(name)
            record = JobRecord(id=new_job_id(), model=name, config=spec, estimate_seconds=estimate_seconds)
            if not self.store.create(record):
                raise RuntimeError(f"job id {record.id} exists already")  # a uuid4 clash
            try:
                self.queue.submit(record.id)
            except BaseException:
                self.store.delete(record.id)
                raise
        return record

    def _check_name_free(self, name: str) -> None:
        if self.registry.name_taken(name):
            raise NameTaken(f"model {name!r} already exists")
        for record in self.store.list():
            if record.model == name and record.status not in FINAL_STATUSES:
                raise NameTaken(f"model {name!r} is being trained by job {record.id}")

    def cancel(self, job_id: str) -> JobRecord | None:
        """Cancel a job: a queued one at once, a running one via the flag the worker polls.

        Returns:
            The record after the request, or None if there is no such job.

        Raises:
            JobFinished: the job already succeeded, failed or was cancelled.
        """
        record = self.store.get(job_id)
        if record is None:
            return None
        if record.status in FINAL_STATUSES:
            raise JobFinished(f"job {job_id} already {record.status}")
        # The flag first: whichever of us and the worker acts next, the job stops.
        self.store.request_cancel(job_id)
        current = self.store.get(job_id) or record
        if current.status == "queued":
            now = time.time()
            current.status = "cancelled"
            current.finished_at = now
            current.error = "cancelled before it started"
            self.store.save(current)
        return current
