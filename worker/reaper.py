"""Sending again the jobs nobody is working on, from a thread in each worker's main process.

The job record says whether a job is unfinished; the broker says where its message is. Each
sweep compares the two for every queued or running job:

* held: a live attempt holds its lease (a lease whose holder died on this machine holds
  nothing: ``common.holders.holder_is_dead``, and the next attempt takes it over);
* waiting: a message for it is in the queue;
* starting: a consumer received its message a moment ago and has not taken the lease yet, or
  a running record changed within a lease period (a live attempt whose lease lapsed in a Redis
  outage; its heartbeat takes the lease back);
* stranded: its message sits delivered but unacknowledged with nobody holding the lease. The
  consumer died, or its requeue never reached Redis (Redis went down first). Kombu would hand
  the message out again only after the visibility timeout (weeks), so the reaper puts it back
  at the head of the queue at once;
* lost: no message anywhere (Redis lost its data, or the API died between writing the record
  and publishing). Seen so on two sweeps, it gets a fresh message.

No marker stands in for the broker's own state, so nothing can hide a lost message. Duplicates
would be harmless (the lease turns a second copy away, a final status makes it a no-op), and a
short per-job lock keeps two workers' reapers from both repairing one job.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Sequence
from typing import Literal

import redis
from celery import Celery
from kombu.connection import Connection
from kombu.exceptions import OperationalError

from common.holders import holder_is_dead
from common.jobs import JobRecord, JobStore
from common.queue import KEY_PREFIX, lease_key, publish_job
from common.settings import Settings
from worker.broker import Broker, BrokerView

log = logging.getLogger(__name__)

LOCK_SECONDS = 30
PUBLISH_RETRY = {"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5}
# A consumer takes the lease milliseconds after its message arrives; a delivery this old with
# no lease has no live consumer behind it.
DELIVERY_GRACE_SECONDS = 5.0
# How long a job must be seen without any message before it is sent again: covers the API's
# moment between writing a record and publishing, and kombu's between popping a message and
# recording it as delivered.
MISSING_GRACE_SECONDS = 2.0
UNFINISHED = ("queued", "running")

Verdict = Literal["held", "waiting", "starting", "stranded", "lost"]


def reaper_lock_key(job_id: str) -> str:
    """Redis key of the short lock a reaper holds while it repairs job ``job_id``."""
    return f"{KEY_PREFIX}reaper-lock:{job_id}"


class Reaper:
    """Finds orphaned jobs and sends them again.

    Args:
        settings: where the job records are, the queue, ``reaper_interval`` between sweeps.
        app: the Celery app, for its broker connection.
        client: Redis client for leases and locks.
        hostname: this worker's name (written into the lock, for debugging).
        delivery_grace: see ``DELIVERY_GRACE_SECONDS``.
        missing_grace: see ``MISSING_GRACE_SECONDS``.
    """

    def __init__(
        self,
        settings: Settings,
        app: Celery,
        client: redis.Redis,
        hostname: str,
        *,
        delivery_grace: float = DELIVERY_GRACE_SECONDS,
        missing_grace: float = MISSING_GRACE_SECONDS,
    ) -> None:
        self.store = JobStore(settings.jobs_dir)
        self.queue = settings.queue_name
        self.interval = settings.reaper_interval
        self.lease_seconds = settings.lease_seconds
        self.delivery_grace = delivery_grace
        self.missing_grace = missing_grace
        self.app = app
        self.client = client
        self.hostname = hostname
        # Job id -> when a sweep first found no message for it (a second sighting sends one).
        self._missing_since: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Sweep in a daemon thread: the first sweep at once, then one every ``reaper_interval``."""
        self._thread = threading.Thread(target=self._loop, name="ganserve-reaper", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Ask the thread to stop after its current sweep; returns without waiting for it."""
        self._stop.set()

    def _loop(self) -> None:
        # The first sweep runs at once: a worker that starts after a crash puts its stranded
        # messages back without waiting a period.
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
        """One pass over the unfinished jobs; returns the ids put back on the queue."""
        # Also the housekeeping no request path does: temporaries of killed writers.
        self.store.remove_stale_temporaries()
        unfinished = [record for record in self.store.list() if record.status in UNFINISHED]
        ids = {record.id for record in unfinished}
        self._missing_since = {k: v for k, v in self._missing_since.items() if k in ids}
        if not unfinished:
            return []
        sent = []
        # A fresh connection each sweep: this thread must not share the consumer's.
        with self.app.connection_for_write() as connection:
            broker = Broker(connection.default_channel, self.queue)
            # The broker first, then the leases: a message moves from the queue to delivered
            # to leased, so reading in that order can only see it later on its way, never miss it.
            view = broker.view()
            holders = self._holders([record.id for record in unfinished])
            now = time.time()
            for record in unfinished:
                verdict = self._judge(record, view, holders.get(record.id), now)
                orphaned = verdict in ("lost", "stranded")
                if orphaned and self._repair(record.id, verdict, broker, connection):
                    sent.append(record.id)
        return sent

    def _holders(self, job_ids: Sequence[str]) -> dict[str, str]:
        """Job id -> the token of its lease's holder, for the jobs that have one."""
        pipe = self.client.pipeline(transaction=False)
        for job_id in job_ids:
            pipe.get(lease_key(job_id))
        found = zip(job_ids, pipe.execute(), strict=True)
        return {job_id: _text(token) for job_id, token in found if token is not None}

    def _holder(self, job_id: str) -> str | None:
        token = self.client.get(lease_key(job_id))
        return None if token is None else _text(token)

    def _judge(self, record: JobRecord, view: BrokerView, holder: str | None, now: float) -> Verdict:
        verdict = self._verdict(record, view, holder, now)
        if verdict != "lost":
            self._missing_since.pop(record.id, None)
            return verdict
        first_seen = self._missing_since.setdefault(record.id, now)
        return "lost" if now - first_seen >= self.missing_grace else "starting"

    def _verdict(self, record: JobRecord, view: BrokerView, holder: str | None, now: float) -> Verdict:
        # A holder that died on this machine holds nothing: the next attempt takes its lease.
        dead_holder = holder is not None and holder_is_dead(holder)
        if holder is not None and not dead_holder:
            return "held"
        if record.id in view.waiting:
            return "waiting"
        recent = now - record.updated_at < self.lease_seconds
        if record.status == "running" and recent and not dead_holder:
            # A dead worker's record stopped changing when it died, at most a third of a lease
            # before its lease expired, so this delays the rescue of a real orphan that much.
            return "starting"
        deliveries = view.delivered.get(record.id, [])
        if any(now - delivery.delivered_at < self.delivery_grace for delivery in deliveries):
            return "starting"
        return "stranded" if deliveries else "lost"

    def _repair(self, job_id: str, verdict: Verdict, broker: Broker, connection: Connection) -> bool:
        lock = reaper_lock_key(job_id)
        if not self.client.set(lock, self.hostname, nx=True, ex=LOCK_SECONDS):
            return False
        try:
            # Look again under the lock: another reaper may have just handled it, or a worker
            # may have taken it up.
            record = self.store.get(job_id)
            if record is None or record.status not in UNFINISHED:
                return False
            view = broker.view()
            if self._verdict(record, view, self._holder(job_id), time.time()) != verdict:
                return False
            if record.status == "running":
                # The record tells the truth: from here on the job waits in the queue.
                record.status = "queued"
                self.store.save(record)
            if verdict == "stranded":
                first, *others = sorted(view.delivered[job_id], key=lambda d: d.delivered_at)
                broker.restore(first.tag)
                broker.drop(d.tag for d in others)  # one copy back is enough
            else:
                publish_job(self.app, job_id, connection=connection, retry=True, retry_policy=PUBLISH_RETRY)
                self._missing_since.pop(job_id, None)
            what = "its unacknowledged message restored" if verdict == "stranded" else "re-enqueued"
            log.warning("reaper: job %s was orphaned (last worker %s); %s", job_id, record.worker, what)
            return True
        finally:
            with contextlib.suppress(redis.RedisError):  # else it expires by itself
                self.client.delete(lock)


def _text(value: bytes | str) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else value
