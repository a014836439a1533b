"""The worker's event publisher in this process, against a real Redis that stops answering."""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from common.events import STREAM_MAXLEN, events_key
from common.jobs import JobRecord, JobStore, new_job_id
from models.training import Progress
from tests.support.processes import RedisServer, wait_until
from worker.events import JobEvents
from worker.progress import ProgressReporter


class HeldLease:
    lost = False


@pytest.fixture
def frozen_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A Redis that accepts connections but never answers (SIGSTOP), as a hung server does."""
    server = RedisServer(tmp_path / "redis").start()
    assert server.process is not None
    os.kill(server.process.pid, signal.SIGSTOP)
    try:
        yield server
    finally:
        os.kill(server.process.pid, signal.SIGCONT)
        server.stop()


def test_a_hung_redis_never_holds_up_training_and_is_logged_once(
    frozen_redis: RedisServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = JobStore(tmp_path / "jobs")
    record = JobRecord(id=new_job_id(), model="m", config={}, status="running")
    store.create(record)
    events = JobEvents(frozen_redis.client(), record.id, tmp_path / "run")
    done = threading.Event()

    def train() -> None:
        # What an attempt does: a state, every step reported (checkpoints wait for the record
        # file), the final state. Each send would wait out a socket timeout if it were in line.
        events.state(record)
        with ProgressReporter(store, record, 0.0, HeldLease(), events) as reporter:  # type: ignore[arg-type]
            for step in range(1, 41):
                reporter(
                    Progress(step, 40, 100.0, 1.0, {"g": 1.0}, "checkpoint" if step % 10 == 0 else "step")
                )
        record.status = "succeeded"
        store.save(record)
        events.state(record)
        done.set()

    with caplog.at_level(logging.WARNING, logger="worker.events"):
        trainer = threading.Thread(target=train, daemon=True)
        trainer.start()
        # A synchronous publish would take 40 sends x 2 s (the socket timeout) here.
        assert done.wait(10), "training waited for Redis"
        events.close(timeout=0.1)
        wait_until(lambda: "cannot publish live events" in caplog.text, 10, "the outage logged")
        # One send waits out the socket timeout; what is queued behind it is dropped.
        events._thread.join(10)
        assert not events._thread.is_alive()
    stored = store.get(record.id)
    assert stored is not None and stored.status == "succeeded" and stored.progress.step == 40
    assert caplog.text.count("cannot publish live events") == 1


def test_the_stream_is_capped_and_expires_after_the_final_state(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    client = redis_server.client()
    record = JobRecord(id=new_job_id(), model="m", config={}, status="running")
    events = JobEvents(redis_server.client(), record.id, tmp_path / "run")
    key = events_key(record.id)
    # State events are never merged; sent in batches the queue holds.
    for batch in range(12):
        for step in range(200):
            record.progress = record.progress.model_copy(update={"step": batch * 200 + step})
            events.state(record)
        wait_until(
            lambda: client.xlen(key) > 0 and _last_step(client, key) == record.progress.step, 10, "sent"
        )
    assert client.ttl(key) > 24 * 3600  # unfinished: the long idle expiry
    assert STREAM_MAXLEN <= client.xlen(key) < 1.2 * STREAM_MAXLEN
    record.status = "succeeded"
    events.state(record)
    events.close()
    assert 0 < client.ttl(key) <= 3600


def _last_step(client: object, key: str) -> int:
    (_, fields), *_ = client.xrevrange(key, count=1)  # type: ignore[attr-defined]
    return JobRecord.model_validate_json(fields[b"data"]).progress.step


def test_a_refused_publish_is_logged_once_per_outage(
    redis_server: RedisServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    client = redis_server.client()
    record = JobRecord(id=new_job_id(), model="m", config={}, status="running")
    key = events_key(record.id)
    client.set(key, "not a stream")  # every XADD fails at once (WRONGTYPE)
    events = JobEvents(redis_server.client(), record.id, tmp_path / "run", retry_seconds=0.0)
    with caplog.at_level(logging.INFO, logger="worker.events"):
        for _ in range(30):
            events.state(record)
        wait_until(lambda: "cannot publish live events" in caplog.text, 10, "the failure logged")
        wait_until(lambda: not events._queue, 10, "every event tried")
        assert caplog.text.count("cannot publish live events") == 1
        client.delete(key)  # the outage is over
        events.state(record)
        events.close()
    assert caplog.text.count("cannot publish live events") == 1
    assert caplog.text.count("publishing live events again") == 1
    assert client.xlen(key) == 1
