"""The Celery task: a thin wrapper around ``worker.jobs.run_job``."""

from __future__ import annotations

import socket
from functools import cache
from typing import Any

import redis
from celery import Task
from celery.exceptions import Reject

from common.queue import TRAIN_TASK
from worker.celery_app import app, settings
from worker.jobs import RequeueJob, run_job


@cache
def redis_client() -> redis.Redis:
    """One client per pool process (created after the fork), with timeouts so a dead Redis
    shows up as an error the lease heartbeat can retry instead of a hang."""
    return redis.Redis.from_url(
        settings.effective_redis_url(),
        socket_timeout=5,
        socket_connect_timeout=3,
        retry_on_timeout=True,
    )


@app.task(name=TRAIN_TASK, bind=True, acks_late=True)
def train(self: Task, job_id: str, legacy_config: dict[str, Any] | None = None) -> None:
    """Run job ``job_id`` from its record. ``legacy_config`` is the config that messages of
    earlier versions carried beside the id; it is used only if the record is missing."""
    try:
        run_job(
            settings,
            job_id,
            hostname=self.request.hostname or socket.gethostname(),
            redis_client=redis_client(),
            legacy_config=legacy_config,
        )
    except RequeueJob as stop:
        # Back to the queue (not acknowledged), so another worker resumes from the checkpoint.
        raise Reject(str(stop), requeue=True) from None
