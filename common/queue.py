"""The job queue: one Celery app configuration shared by the API (producer) and the worker.

Delivery is at least once (late acknowledgement, re-queue on worker loss, a reaper that
compares job records with the broker's own state and puts orphaned jobs back); a Redis lease
per job makes execution at most one at a time, and the job record's final status makes a
finished job a no-op. Together: each job trains exactly once.
"""

from __future__ import annotations

from typing import Any

from celery import Celery

from common.settings import Settings

TRAIN_TASK = "ganserve.train"
KEY_PREFIX = "ganserve:"


def lease_key(job_id: str) -> str:
    """Redis key of job ``job_id``'s lease, held by the one attempt allowed to run it."""
    return f"{KEY_PREFIX}lease:{job_id}"


def name_claim_key(model_name: str) -> str:
    """Held while an API process checks that a model name is free and creates its job."""
    return f"{KEY_PREFIX}name-claim:{model_name}"


def publish_job(app: Celery, job_id: str, **send_options: Any) -> None:
    """Send the message that makes a worker run job ``job_id``.

    The message carries the job id alone (its task name says the kind): the worker reads
    everything else from the job record, the one source of truth. ``send_options`` go to
    ``Celery.send_task`` (connection, retry policy).
    """
    app.send_task(TRAIN_TASK, args=[job_id], **send_options)


def make_celery(settings: Settings) -> Celery:
    """Build the Celery app for ``settings`` (broker and result-less task config)."""
    url = settings.effective_redis_url()
    # Workers sweep the unacknowledged set only every interval x throttle seconds (kombu's
    # default: 10 x 10); sweep four times per visibility timeout, so a short one (in tests)
    # is honoured, and never more than once a second.
    sweep = max(1, min(100, int(settings.visibility_timeout // 4)))
    app = Celery("ganserve", broker=url)
    app.conf.update(
        task_default_queue=settings.queue_name,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        broker_transport_options={
            # A long job must never be redelivered because it is still running (the lease makes
            # a redelivery harmless, but it costs a message); see Settings.visibility_timeout.
            "visibility_timeout": settings.visibility_timeout,
            "unacked_restore_interval": min(sweep, 10),
            "unacked_restore_throttle": max(1, sweep // 10),
            "socket_connect_timeout": 3,
            "socket_timeout": 5,
            "retry_on_timeout": True,
        },
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,
        worker_cancel_long_running_tasks_on_connection_loss=False,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
    )
    return app
