"""Publishing a job's live events on its Redis stream (``common.events``), never in training's way.

The record file is the truth about a job and Redis a convenience for live viewers, so a Redis
that is down, slow or refusing writes must cost training nothing: the publishing methods only
put the event in a queue and return; a thread of its own sends them in order. When a send
fails, the failure is logged once, that event and those queued behind it are dropped, and the
thread tries again with the first event after ``RETRY_SECONDS``; the record file meanwhile
carries on as ever, and the API falls back to it.
"""

from __future__ import annotations

import collections
import json
import logging
import threading
import time
from pathlib import Path

import redis

from common.events import (
    STREAM_FINAL_TTL_SECONDS,
    STREAM_IDLE_TTL_SECONDS,
    STREAM_MAXLEN,
    EventType,
    events_key,
    sample_url,
)
from common.jobs import FINAL_STATUSES, JobRecord
from common.settings import Settings
from models.training import run_files

log = logging.getLogger(__name__)

# Short: a send that cannot connect gives up quickly, and the queue behind it stays small.
SOCKET_TIMEOUT_SECONDS = 2.0
RETRY_SECONDS = 5.0
# How long closing waits for the last events (the final state) to go out.
CLOSE_TIMEOUT_SECONDS = 3.0
# Far more than a healthy Redis ever has waiting; beyond it the oldest are dropped.
MAX_QUEUED = 256


class JobEvents:
    """The event publisher of one job attempt.

    Args:
        client: Redis to publish on (owned: closed by :meth:`close`).
        job_id: whose stream.
        run_dir: the model's run folder, watched for new timeline grids (``sample`` events).
        retry_seconds: after a failed send, events are dropped unsent for this long.
    """

    def __init__(
        self, client: redis.Redis, job_id: str, run_dir: Path, retry_seconds: float = RETRY_SECONDS
    ) -> None:
        self.client = client
        self.retry_seconds = retry_seconds
        self.job_id = job_id
        self.key = events_key(job_id)
        self.run_dir = run_dir
        # Grids of an earlier attempt were announced by that attempt.
        self._last_sample = max(run_files.sample_steps(run_dir), default=-1)
        self._queue: collections.deque[tuple[EventType, JobRecord]] = collections.deque(maxlen=MAX_QUEUED)
        self._changed = threading.Condition()
        self._closed = False
        self._failing = False
        self._retry_at = 0.0
        self._thread = threading.Thread(target=self._send_loop, name="job-events", daemon=True)
        self._thread.start()

    @classmethod
    def for_job(cls, settings: Settings, job_id: str, run_dir: Path) -> JobEvents:
        """A publisher with its own short-timeout Redis client (the lease's is left alone)."""
        client = redis.Redis.from_url(
            settings.effective_redis_url(),
            socket_connect_timeout=SOCKET_TIMEOUT_SECONDS,
            socket_timeout=SOCKET_TIMEOUT_SECONDS,
        )
        return cls(client, job_id, run_dir)

    def state(self, record: JobRecord) -> None:
        """Announce the record's status (just saved); returns at once."""
        self._put("state", record.model_copy(deep=True))

    def progress(self, record: JobRecord) -> None:
        """Announce the record's progress; returns at once. A progress event still waiting
        is replaced by this newer one."""
        # Stamped now: the reporter's record is saved as copies, which get their own
        # updated_at, and viewers order job snapshots by it.
        self._put("progress", record.model_copy(update={"updated_at": time.time()}))

    def close(self, timeout: float = CLOSE_TIMEOUT_SECONDS) -> None:
        """Send what is queued (waiting at most ``timeout`` seconds) and stop."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning("job %s: events still unsent after %.0f s; leaving them", self.job_id, timeout)
            return
        self.client.close()

    def _put(self, kind: EventType, snapshot: JobRecord) -> None:
        # ``snapshot`` is a copy: the caller goes on changing its record.
        with self._changed:
            if self._closed:
                return
            if kind == "progress" and self._queue and self._queue[-1][0] == "progress":
                self._queue.pop()
            self._queue.append((kind, snapshot))
            self._changed.notify_all()

    def _send_loop(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: bool(self._queue) or self._closed)
                if not self._queue:
                    return
                kind, record = self._queue.popleft()
            if self._failing and time.monotonic() < self._retry_at:
                continue  # dropped: Redis failed a moment ago (viewers fall back to the record)
            try:
                self._send(kind, record)
            except redis.RedisError as error:
                if not self._failing:
                    log.warning(
                        "job %s: cannot publish live events (%s); skipping them while Redis "
                        "fails, the job record stays current",
                        self.job_id,
                        error,
                    )
                self._failing = True
                self._retry_at = time.monotonic() + self.retry_seconds
                continue
            if self._failing:
                log.info("job %s: publishing live events again", self.job_id)
                self._failing = False

    def _send(self, kind: EventType, record: JobRecord) -> None:
        final = kind == "state" and record.status in FINAL_STATUSES
        pipe = self.client.pipeline(transaction=False)
        # Grids written since the last entry go first: the trainer saves a grid right after
        # reporting its step, so a viewer sees the step, then its grid.
        for step in run_files.sample_steps(self.run_dir):
            if step > self._last_sample:
                data = json.dumps({"step": step, "url": sample_url(self.job_id, step)})
                pipe.xadd(self.key, {"type": "sample", "data": data}, maxlen=STREAM_MAXLEN, approximate=True)
                self._last_sample = step
        pipe.xadd(
            self.key,
            {"type": kind, "data": record.model_dump_json()},
            maxlen=STREAM_MAXLEN,
            approximate=True,
        )
        pipe.expire(self.key, STREAM_FINAL_TTL_SECONDS if final else STREAM_IDLE_TTL_SECONDS)
        pipe.execute()
