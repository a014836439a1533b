"""The reaper in this process, against a real Redis and a real Celery producer."""

from __future__ import annotations

import base64
import json
import logging
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from common.holders import holder_token
from common.jobs import JobRecord, JobStatus, JobStore, new_job_id
from common.queue import TRAIN_TASK, lease_key, make_celery, publish_job
from common.settings import Settings
from tests.support.processes import RedisServer, free_port
from tests.worker.conftest import TINY
from worker.reaper import Reaper, reaper_lock_key

# Short graces so the tests need not wait the production seconds.
GRACE = 0.3


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A Redis of its own per test: these tests count everything in the broker's hashes."""
    server = RedisServer(tmp_path / "redis").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def reaper(settings: Settings, redis_server: RedisServer) -> Iterator[Reaper]:
    app = make_celery(settings)
    client = redis_server.client()
    yield Reaper(settings, app, client, hostname="reaper@test", delivery_grace=GRACE, missing_grace=GRACE)
    app.close()


def put(settings: Settings, status: JobStatus, *, age: float = 0.0) -> JobRecord:
    """Write a record as if its last update was ``age`` seconds ago."""
    record = JobRecord(
        id=new_job_id(),
        model="m",
        config=TINY,
        status=status,
        updated_at=time.time() - age,
    )
    JobStore(settings.jobs_dir).path(record.id).write_text(record.model_dump_json())
    return record


def status_of(settings: Settings, record: JobRecord) -> str:
    return JobRecord.model_validate_json(JobStore(settings.jobs_dir).path(record.id).read_text()).status


def queued_messages(settings: Settings, client: redis.Redis) -> list[tuple[str, Any]]:
    """(task name, args) of every message waiting in the queue."""
    out = []
    for raw in client.lrange(settings.queue_name, 0, -1):
        message = json.loads(raw)
        args, _kwargs, _embed = json.loads(base64.b64decode(message["body"]))
        out.append((message["headers"]["task"], args))
    return out


def send(reaper: Reaper, record: JobRecord) -> None:
    publish_job(reaper.app, record.id)


def take_and_die(reaper: Reaper) -> None:
    """Receive one message as a worker does, then vanish without acknowledging it (SIGKILL)."""
    with reaper.app.connection_for_read() as connection:
        channel = connection.default_channel
        assert channel.basic_get(reaper.queue, no_ack=False) is not None
        channel.qos.restore_at_shutdown = False  # a killed process restores nothing


def test_a_job_without_any_message_is_sent_again_on_its_second_sighting(
    settings: Settings, redis_server: RedisServer, reaper: Reaper
) -> None:
    client = redis_server.client()
    lost = put(settings, "queued")  # Redis lost the message (or the API died before publishing)
    waiting = put(settings, "queued")
    send(reaper, waiting)

    assert reaper.sweep() == []  # first sighting: the publisher may be a moment behind
    assert queued_messages(settings, client) == [(TRAIN_TASK, [waiting.id])]
    time.sleep(GRACE)
    assert reaper.sweep() == [lost.id]
    assert sorted(queued_messages(settings, client)) == sorted(
        [(TRAIN_TASK, [lost.id]), (TRAIN_TASK, [waiting.id])]
    )
    time.sleep(GRACE)
    assert reaper.sweep() == []  # both wait in the queue now


def test_a_message_that_reappears_before_the_second_sighting_is_not_duplicated(
    settings: Settings, redis_server: RedisServer, reaper: Reaper
) -> None:
    late = put(settings, "queued")
    assert reaper.sweep() == []
    send(reaper, late)  # the publisher was only slow
    time.sleep(GRACE)
    assert reaper.sweep() == []
    assert len(queued_messages(settings, redis_server.client())) == 1


def test_a_stranded_delivery_goes_back_to_the_queue_whatever_markers_say(
    settings: Settings, redis_server: RedisServer, reaper: Reaper
) -> None:
    # The lost job of the Redis-crash report: a worker received the message, Redis died, the
    # worker's requeue never arrived, and the message came back in the unacked hash only.
    client = redis_server.client()
    stranded = put(settings, "queued")
    send(reaper, stranded)
    take_and_die(reaper)
    client.set("ganserve:enqueued:" + stranded.id, "1")  # what older versions left behind
    assert client.hlen("unacked") == 1 and client.llen(settings.queue_name) == 0

    assert reaper.sweep() == []  # just delivered: its consumer may be taking the lease
    time.sleep(GRACE)
    assert reaper.sweep() == [stranded.id]
    assert client.hlen("unacked") == 0 and client.zcard("unacked_index") == 0
    assert queued_messages(settings, client) == [(TRAIN_TASK, [stranded.id])]
    assert reaper.sweep() == []


def test_a_delivery_whose_job_is_leased_is_left_with_its_worker(
    settings: Settings, redis_server: RedisServer, reaper: Reaper
) -> None:
    client = redis_server.client()
    training = put(settings, "running", age=60)
    send(reaper, training)
    take_and_die(reaper)
    client.set(lease_key(training.id), "w@host", px=10_000)
    time.sleep(GRACE)
    assert reaper.sweep() == []
    assert client.hlen("unacked") == 1 and client.llen(settings.queue_name) == 0


def test_of_several_stranded_copies_one_goes_back(
    settings: Settings, redis_server: RedisServer, reaper: Reaper
) -> None:
    client = redis_server.client()
    record = put(settings, "queued")
    for _ in range(3):
        send(reaper, record)
        take_and_die(reaper)
    assert client.hlen("unacked") == 3
    time.sleep(GRACE)
    assert reaper.sweep() == [record.id]
    assert client.hlen("unacked") == 0
    assert queued_messages(settings, client) == [(TRAIN_TASK, [record.id])]


def test_a_running_job_without_lease_is_requeued_once_its_record_is_stale(
    settings: Settings, redis_server: RedisServer, reaper: Reaper
) -> None:
    client = redis_server.client()
    alive = put(settings, "running", age=60)
    client.set(lease_key(alive.id), "w@host", px=10_000)
    lapsed = put(settings, "running", age=0.5)  # lease gone in a Redis blip, still training
    dead = put(settings, "running", age=60)
    for record in (alive, lapsed, dead):
        send(reaper, record)
        take_and_die(reaper)
    time.sleep(GRACE)

    assert reaper.sweep() == [dead.id]
    assert queued_messages(settings, client) == [(TRAIN_TASK, [dead.id])]
    assert [status_of(settings, r) for r in (alive, lapsed, dead)] == ["running", "running", "queued"]
    assert client.hlen("unacked") == 2  # the live attempts keep theirs
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


def test_a_job_whose_lease_holder_died_on_this_machine_is_restored_without_waiting_for_the_lease(
    settings: Settings, redis_server: RedisServer, reaper: Reaper
) -> None:
    # A whole worker SIGKILLed a moment ago: its record is fresh and its lease has most of its
    # time to live left, but the process the lease names is gone.
    client = redis_server.client()
    gone = subprocess.Popen(["true"])
    gone.wait()
    dead_token = holder_token().split(":")
    dead_token[1] = str(gone.pid)
    orphan = put(settings, "running", age=0.5)
    alive = put(settings, "running", age=0.5)
    for record, token in ((orphan, ":".join(dead_token)), (alive, holder_token())):
        publish_job(reaper.app, record.id)
        take_and_die(reaper)
        client.set(lease_key(record.id), token, px=30_000)
    time.sleep(GRACE)
    assert reaper.sweep() == [orphan.id]
    assert queued_messages(settings, client) == [(TRAIN_TASK, [orphan.id])]
    assert [status_of(settings, r) for r in (orphan, alive)] == ["queued", "running"]
