"""Re-enqueueing jobs nobody is working on, from a thread in each worker's main process.

Two ways a job can be orphaned:

* its worker died as a whole (SIGKILL, power loss): the record still says ``running`` but the
  lease has expired. Its message sits unacknowledged in Redis and would only come back after
  the (deliberately huge) visibility timeout.
* Redis lost its data: the record says ``queued``, but the ``enqueued`` marker is gone with
  the message.

Either way a fresh message is sent. Duplicates would be harmless (lease + final status), but a
short per-job lock keeps two workers' reapers from both sending one.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time

import redis
from celery import Celery
from kombu.exceptions import OperationalError

from common.jobs import JobRecord, JobStore
from common.queue import KEY_PREFIX, TRAIN_TASK, enqueued_key, lease_key
from common.settings import Settings

log = logging.getLogger(__name__)

LOCK_SECONDS = 30
PUBLISH_RETRY = {"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5}


def reaper_lock_key(job_id: str) -> str:
    return f"{KEY_PREFIX}reaper-lock:{job_id}"


class Reaper:
    """Finds orphaned jobs and sends them again.

    Args:
        settings: where the job records are; ``reaper_interval`` between sweeps.
        app: the Celery app, for sending.
        client: Redis client for leases, markers and locks.
        hostname: this worker's name (written into the lock, for debugging).
    """

    def __init__(self, settings: Settings, app: Celery, client: redis.Redis, hostname: str) -> None:
        self.store = JobStore(settings.jobs_dir)
        self.interval = settings.reaper_interval
        self.lease_seconds = settings.lease_seconds
        self.app = app
        self.client = client
        self.hostname = hostname
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="ganserve-reaper", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.sweep()
            except (redis.RedisError, OperationalError, OSError) as error:
                # Redis down (or restarting): the next round tries again.
                log.warning("reaper: sweep failed, retrying in %.0f s: %s", self.interval, error)
            except Exception:
                log.exception("reaper: unexpected error; retrying next round")
            self._stop.wait(self.interval)

    def sweep(self) -> list[str]:
        """One pass over the unfinished jobs; returns the ids sent again."""
        sent = []
        # Also the housekeeping no request path does: temporaries of killed writers.
        self.store.remove_stale_temporaries()
        for record in self.store.list():
            unfinished = record.status in ("queued", "running")
            if unfinished and self._orphaned(record) and self._reenqueue(record.id):
                sent.append(record.id)
        return sent

    def _orphaned(self, record: JobRecord) -> bool:
        if self.client.exists(lease_key(record.id)):
            return False
        if record.status == "running":
            # A record written within the lease period belongs to a live attempt whose lease
            # lapsed in a Redis outage (its heartbeat takes it back). A dead worker's record
            # stopped changing when it died, at most a third of a lease before the lease
            # expired, so this delays the rescue of a real orphan by that much at most.
            return time.time() - record.updated_at >= self.lease_seconds
        return not self.client.exists(enqueued_key(record.id))

    def _reenqueue(self, job_id: str) -> bool:
        lock = reaper_lock_key(job_id)
        if not self.client.set(lock, self.hostname, nx=True, ex=LOCK_SECONDS):
            return False
        try:
            # Look again under the lock: another reaper may have just handled it, or a
            # worker may have taken it up.
            record = self.store.get(job_id)
            if record is None or record.status not in ("queued", "running"):
                return False
            if not self._orphaned(record):
                return False
            if record.status == "running":
                # Its old message is out of reach: drop the marker first, so that if sending
                # fails below the next sweep still sees a queued job without a message.
                self.client.delete(enqueued_key(job_id))
                record.status = "queued"
                self.store.save(record)
            # A fresh connection each time: this thread must not share the consumer's.
            with self.app.connection_for_write() as connection:
                self.app.send_task(
                    TRAIN_TASK,
                    args=[job_id, record.config],
                    connection=connection,
                    retry=True,
                    retry_policy=PUBLISH_RETRY,
                )
            self.client.set(enqueued_key(job_id), "1")
            log.warning("reaper: job %s was orphaned (last worker %s); re-enqueued", job_id, record.worker)
            return True
        finally:
            with contextlib.suppress(redis.RedisError):  # else it expires by itself
                self.client.delete(lock)
