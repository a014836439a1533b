"""The reaper in this process, against a real Redis and a real Celery producer."""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from common.jobs import JobRecord, JobStatus, JobStore, new_job_id
from common.queue import TRAIN_TASK, enqueued_key, lease_key, make_celery
from common.settings import Settings
from tests.support.processes import RedisServer, free_port
from tests.worker.conftest import TINY
from worker.reaper import Reaper, reaper_lock_key


@pytest.fixture
def reaper(settings: Settings, redis_server: RedisServer) -> Iterator[Reaper]:
    app = make_celery(settings)
    yield Reaper(settings, app, redis_server.client(), hostname="reaper@test")
    app.close()


def put(settings: Settings, status: JobStatus, *, age: float = 0.0) -> JobRecord:
    """Write a record as if its last update was ``age`` seconds ago."""
    record = JobRecord(
        id=new_job_id(),
        model="m",
        config={**TINY, "name": "m"},
        status=status,
        updated_at=time.time() - age,
    )
    JobStore(settings.jobs_dir).path(record.id).write_text(record.model_dump_json())
    return record


def queued_messages(settings: Settings, client: redis.Redis) -> list[tuple[str, Any]]:
    """(task name, args) of every message waiting in the queue."""
    out = []
    for raw in client.lrange(settings.queue_name, 0, -1):
        message = json.loads(raw)
        args, _kwargs, _embed = json.loads(base64.b64decode(message["body"]))
        out.append((message["headers"]["task"], args))
    return out


def test_a_queued_job_whose_message_vanished_is_sent_again(
    settings: Settings, redis_server: RedisServer, reaper: Reaper
) -> None:
    client = redis_server.client()
    lost = put(settings, "queued")  # Redis lost the message and the marker with it
    waiting = put(settings, "queued")
    client.set(enqueued_key(waiting.id), "1")

    assert reaper.sweep() == [lost.id]
    assert queued_messages(settings, client) == [(TRAIN_TASK, [lost.id, lost.config])]
    assert client.exists(enqueued_key(lost.id))
    assert reaper.sweep() == []  # the marker says it is in the queue now


def test_a_running_job_without_lease_is_requeued_once_its_record_is_stale(
    settings: Settings, redis_server: RedisServer, reaper: Reaper
) -> None:
    client = redis_server.client()
    alive = put(settings, "running", age=60)
    client.set(lease_key(alive.id), "w@host", px=10_000)
    lapsed = put(settings, "running", age=0.5)  # lease gone in a Redis blip, still training
    dead = put(settings, "running", age=60)
    for record in (alive, lapsed, dead):
        client.set(enqueued_key(record.id), "1")

    assert reaper.sweep() == [dead.id]
    assert queued_messages(settings, client) == [(TRAIN_TASK, [dead.id, dead.config])]
    statuses = [JobStore(settings.jobs_dir).path(r.id).read_text() for r in (alive, lapsed, dead)]
    assert [JobRecord.model_validate_json(text).status for text in statuses] == [
        "running",
        "running",
        "queued",
    ]
    assert reaper.sweep() == []


def test_finished_jobs_and_jobs_locked_by_another_reaper_are_left_alone(
    settings: Settings, redis_server: RedisServer, reaper: Reaper
) -> None:
    client = redis_server.client()
    for status in ("succeeded", "failed", "cancelled"):
        put(settings, status, age=60)
    locked = put(settings, "running", age=60)
    client.set(reaper_lock_key(locked.id), "other-reaper", ex=30)
    assert reaper.sweep() == []
    assert queued_messages(settings, client) == []


def test_the_reaper_thread_survives_redis_being_down(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    put(settings, "queued")
    settings = settings.model_copy(update={"reaper_interval": 0.05})
    no_retries = Retry(NoBackoff(), 0)
    dead = redis.Redis(port=free_port(), socket_connect_timeout=0.2, retry=no_retries)
    app = make_celery(settings)
    reaper = Reaper(settings, app, dead, hostname="reaper@test")
    with caplog.at_level(logging.WARNING, logger="worker.reaper"):
        reaper.start()
        time.sleep(0.5)
    assert reaper._thread is not None and reaper._thread.is_alive()
    failures = [r for r in caplog.records if "sweep failed" in r.getMessage()]
    assert len(failures) >= 2  # it kept trying
    reaper.stop()
    reaper._thread.join(5)
    assert not reaper._thread.is_alive()
    app.close()
