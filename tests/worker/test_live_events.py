"""Live job events end to end: a real worker publishes on a real Redis, the real API (uvicorn)
relays them over HTTP; the bundled client's SSE parser reads them."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from client import parse_sse
from common.events import STREAM_FINAL_TTL_SECONDS, events_key
from common.jobs import JobRecord, new_job_id
from models.training import run_files
from tests.support.processes import kill_group, start_api
from tests.support.uvicorn_server import UvicornServer
from tests.worker.conftest import TINY, Cluster

Event = dict[str, Any]
# Three checkpoints and three timeline grids in about a second of training.
CONFIG = {**TINY, "steps": 30, "checkpoint_every": 10, "sample_every": 10}


class Stack:
    """A cluster (Redis, one worker) and the API process on the same data folder."""

    def __init__(self, root: Path, *, worker: bool = True) -> None:
        self.cluster = Cluster(root)
        if worker:
            self.cluster.start_worker("w1")
        self.api: UvicornServer = start_api(
            {**self.cluster.env, "GAN_SSE_POLL_INTERVAL": "0.05"}, root / "api.log"
        )
        self.http = httpx.Client(base_url=self.api.url, timeout=httpx.Timeout(30, read=60))

    def close(self) -> None:
        self.http.close()
        kill_group(self.api.process, signal.SIGTERM)
        self.cluster.close()

    def create(self, model: str) -> str:
        """A queued job's record, without its message yet."""
        job_id, config = new_job_id(), dict(CONFIG)
        self.cluster.store.create(JobRecord(id=job_id, model=model, config=config))
        return job_id

    def stream(self, job_id: str, last_event_id: str | None = None) -> Iterator[Event]:
        headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
        with self.http.stream("GET", f"/jobs/{job_id}/events", headers=headers) as response:
            assert response.status_code == 200
            yield from parse_sse(response.iter_lines())


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    instance = Stack(tmp_path_factory.mktemp("live-events"))
    try:
        yield instance
    finally:
        instance.close()


def entry_order(event_id: str) -> tuple[int, int]:
    milliseconds, sequence = event_id.split("-")
    return int(milliseconds), int(sequence)


def test_events_arrive_in_order_with_stream_ids_and_resume_exactly_after_one(stack: Stack) -> None:
    job_id = stack.create("live-events")
    stream = stack.stream(job_id)
    # Connected before the job starts: the job as it is now, from Redis, no entry yet.
    assert next(stream) == {"event": "source", "data": {"source": "redis"}}
    snapshot = next(stream)
    assert snapshot["event"] == "progress" and "id" not in snapshot
    assert snapshot["data"]["status"] == "queued" and snapshot["data"]["id"] == job_id
    stack.cluster.send(job_id)
    rest = list(stream)
    events = [{"event": "source", "data": {"source": "redis"}}, snapshot, *rest]

    end = rest[-1]
    assert end["event"] == "end" and end["data"]["status"] == "succeeded"
    live = rest[:-1]
    assert live and all("id" in event for event in live)
    ids = [event["id"] for event in live]
    assert [entry_order(i) for i in ids] == sorted({entry_order(i) for i in ids})  # strictly rising
    assert ids[-1] == stack.cluster.redis.client().xrevrange(events_key(job_id), count=1)[0][0].decode()

    kinds = [event["event"] for event in live]
    assert kinds[0] == "state" and live[0]["data"]["status"] == "running"
    assert kinds[-1] == "state" and live[-1]["data"]["status"] == "succeeded"
    assert end["data"] == live[-1]["data"]
    progress = [event["data"] for event in live if event["event"] == "progress"]
    steps = [job["progress"]["step"] for job in progress]
    assert steps and steps == sorted(steps) and steps[-1] == 30
    assert all(job["progress"]["total_steps"] == 30 and job["losses"] for job in progress)
    samples = [event["data"] for event in live if event["event"] == "sample"]
    grid_steps = run_files.sample_steps(stack.cluster.run_dir("live-events"))
    assert [sample["step"] for sample in samples] == grid_steps and 30 in grid_steps
    for sample in samples:
        assert sample["url"] == f"/jobs/{job_id}/samples/{sample['step']}"
        assert stack.http.get(sample["url"]).headers["content-type"] == "image/png"

    # Reconnecting with Last-Event-ID gives exactly the events after that one, then end.
    for position in (0, len(live) // 2, len(live) - 1):
        resumed = list(stack.stream(job_id, last_event_id=ids[position]))
        assert resumed == [events[0], *live[position + 1 :], end]

    # The stream of a finished job expires; it is capped all along.
    client = stack.cluster.redis.client()
    assert 0 < client.ttl(events_key(job_id)) <= STREAM_FINAL_TTL_SECONDS


def test_a_failing_publish_neither_fails_nor_stops_the_job(stack: Stack) -> None:
    job_id = stack.create("live-events-refused")
    # Every XADD on this key fails (WRONGTYPE) while the lease and everything else work.
    stack.cluster.redis.client().set(events_key(job_id), "not a stream")
    stack.cluster.send(job_id)
    record = stack.cluster.wait_final(job_id)
    assert record.status == "succeeded" and record.progress.step == 30
    log = stack.cluster.log("w1")
    assert log.count(f"job {job_id}: cannot publish live events") == 1, log

    # The API cannot read that stream either: it serves the record file instead.
    events = list(stack.stream(job_id))
    assert events[0]["event"] == "source" and events[0]["data"]["source"] == "record"
    assert "WRONGTYPE" in events[0]["data"]["reason"]
    assert [event["event"] for event in events[1:]] == ["progress", "end"]
    assert events[-1]["data"]["status"] == "succeeded"


def test_with_redis_down_the_stream_falls_back_to_the_record_file(tmp_path: Path) -> None:
    stack = Stack(tmp_path, worker=False)
    try:
        job_id = stack.create("live-events-fallback")
        store = stack.cluster.store
        stream = stack.stream(job_id)
        assert next(stream)["data"] == {"source": "redis"}
        assert next(stream)["data"]["status"] == "queued"

        stack.cluster.redis.kill()  # mid-stream
        switched = next(stream)
        assert switched["event"] == "source" and switched["data"]["source"] == "record"
        assert "Redis unavailable" in switched["data"]["reason"]
        assert next(stream)["data"]["status"] == "queued"
        # Plays the worker, which writes the record file whatever Redis does.
        record = store.get(job_id)
        assert record is not None
        record.status = "running"
        store.save(record)
        assert next(stream)["data"]["status"] == "running"
        record.status = "succeeded"
        store.save(record)
        rest = list(stream)
        assert [event["event"] for event in rest][-1] == "end"
        assert rest[-1]["data"]["status"] == "succeeded"

        # A new viewer, resuming or not, gets the record file while Redis is down.
        for last_event_id in (None, "1700000000000-0"):
            events = list(stack.stream(job_id, last_event_id))
            assert [event["event"] for event in events] == ["source", "progress", "end"]
            assert events[0]["data"]["source"] == "record"
            assert events[-1]["data"]["status"] == "succeeded"
    finally:
        stack.close()
