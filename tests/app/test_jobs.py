"""GET /jobs..., Server-Sent Events and the training timeline grids."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import numpy as np
from fastapi.testclient import TestClient

from common.jobs import JobRecord, JobStore
from models.inference import decode_png, encode_image
from models.training import run_files
from tests.app.conftest import MakeClient


def parse_events(text: str) -> list[tuple[str, dict]]:
    """(event, data) pairs of an SSE body; comment lines (heartbeats) are skipped."""
    events = []
    for frame in text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in frame.splitlines() if not line.startswith(":"))
        if fields:
            events.append((fields["event"], json.loads(fields["data"])))
    return events


def test_list_filter_and_get(make_client: MakeClient, data_dir: Path) -> None:
    client = make_client()
    store = JobStore(data_dir / "jobs")
    older = JobRecord(id="1" * 32, model="a", config={}, created_at=1.0, status="succeeded")
    newer = JobRecord(id="2" * 32, model="b", config={}, created_at=2.0)
    store.create(older)
    store.create(newer)
    assert [job["id"] for job in client.get("/jobs").json()] == [newer.id, older.id]
    assert [job["id"] for job in client.get("/jobs?status=succeeded").json()] == [older.id]
    assert client.get("/jobs?status=exploded").status_code == 422
    job = client.get(f"/jobs/{newer.id}").json()
    assert job["status"] == "queued" and job["links"]["events"] == f"/jobs/{newer.id}/events"
    assert client.get(f"/jobs/{'3' * 32}").status_code == 404
    malformed = client.get("/jobs/..%2F..%2Fsecrets")
    assert malformed.status_code == 404
    assert client.get("/jobs/NOT-A-JOB").json()["detail"] == "unknown job 'NOT-A-JOB'"


def test_jobs_come_a_page_at_a_time(make_client: MakeClient, data_dir: Path) -> None:
    client = make_client()
    store = JobStore(data_dir / "jobs")
    ids = [f"{i:032x}" for i in range(7)]
    for i, job_id in enumerate(ids):
        status = "failed" if i % 2 else "queued"
        store.create(JobRecord(id=job_id, model=f"m{i}", config={}, created_at=float(i), status=status))
    newest_first = ids[::-1]
    seen, url = [], "/jobs?limit=3"
    while url:
        page = client.get(url)
        assert page.status_code == 200 and page.headers["X-Total-Count"] == "7"
        assert len(page.json()) <= 3
        seen += [job["id"] for job in page.json()]
        url = page.links.get("next", {}).get("url")
    assert seen == newest_first
    # the next link keeps the filter; the total counts the filtered listing
    failed = client.get("/jobs?status=failed&limit=2")
    assert failed.headers["X-Total-Count"] == "3"
    assert "status=failed" in failed.links["next"]["url"]
    assert [j["id"] for j in client.get(failed.links["next"]["url"]).json()] == [ids[1]]
    assert client.get("/jobs?offset=7").json() == []
    assert "Link" not in client.get("/jobs?offset=4&limit=3").headers
    for bad in ("limit=0", "limit=1001", "offset=-1", "limit=x"):
        response = client.get(f"/jobs?{bad}")
        assert response.status_code == 422 and response.json()["detail"]


def test_events_stream_until_a_final_status(make_client: MakeClient, data_dir: Path) -> None:
    client = make_client(sse_poll_interval=0.02)
    store = JobStore(data_dir / "jobs")
    record = JobRecord(id="e" * 32, model="m", config={})
    store.create(record)

    def worker() -> None:
        # Plays the worker: running, two progress updates, done.
        time.sleep(0.2)
        for step in (1, 2):
            record.status = "running"
            record.progress.step, record.progress.total_steps = step, 2
            store.save(record)
            time.sleep(0.2)
        record.status = "succeeded"
        record.checkpoint_step = 2
        store.save(record)

    thread = threading.Thread(target=worker)
    thread.start()
    # TestClient returns once the stream has ended: it only ends at the final status.
    response = client.get(f"/jobs/{record.id}/events")
    thread.join()
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = parse_events(response.text)
    # Nothing listens where GAN_REDIS_URL points (tests/app/conftest.py): the record file is read.
    source, *events = events
    assert source[0] == "source" and source[1]["source"] == "record"
    assert "Redis unavailable" in source[1]["reason"]
    kinds = [kind for kind, _ in events]
    assert kinds[0] == "progress" and kinds[-1] == "end"
    steps = [data["progress"]["step"] for kind, data in events if kind == "progress"]
    assert steps[0] == 0 and steps[-1] == 2 and steps == sorted(steps) and len(steps) >= 3
    assert events[-1][1]["status"] == "succeeded"
    assert events[-1][1]["checkpoint_step"] == 2


def test_events_of_a_finished_job_end_at_once(make_client: MakeClient, data_dir: Path) -> None:
    store = JobStore(data_dir / "jobs")
    store.create(JobRecord(id="f" * 32, model="m", config={}, status="failed", error="boom"))
    events = parse_events(make_client().get(f"/jobs/{'f' * 32}/events").text)
    assert [kind for kind, _ in events] == ["source", "progress", "end"]
    assert events[-1][1]["error"] == "boom"
    assert make_client().get(f"/jobs/{'0' * 32}/events").status_code == 404


def test_job_samples_timeline(client: TestClient, data_dir: Path) -> None:
    store = JobStore(data_dir / "jobs")
    record = JobRecord(id="5" * 32, model="timeline", config={}, status="running")
    store.create(record)
    assert client.get(f"/jobs/{record.id}/samples").json() == []
    run_dir = data_dir / "models" / "timeline"
    run_files.samples_dir(run_dir).mkdir(parents=True)
    grids = {step: np.full((8, 8, 1), step, dtype=np.uint8) for step in (0, 50)}
    for step, grid in grids.items():
        run_files.sample_path(run_dir, step).write_bytes(encode_image(grid))
    listing = client.get(f"/jobs/{record.id}/samples").json()
    assert listing == [
        {"step": 0, "url": f"/jobs/{record.id}/samples/0"},
        {"step": 50, "url": f"/jobs/{record.id}/samples/50"},
    ]
    response = client.get(listing[1]["url"])
    assert response.headers["content-type"] == "image/png"
    assert np.array_equal(decode_png(response.content), grids[50])
    assert client.get(f"/jobs/{record.id}/samples/7").status_code == 404


def test_event_stream_stops_when_the_client_goes(data_dir: Path) -> None:
    import anyio

    from app.services.jobs.events import job_events

    store = JobStore(data_dir / "jobs")
    store.create(JobRecord(id="9" * 32, model="m", config={}))
    polls = 0

    async def is_disconnected() -> bool:
        nonlocal polls
        polls += 1
        return polls >= 3  # the client goes away while the job is still queued

    async def collect() -> list[tuple[str | None, str | None]]:
        stream = job_events(
            store,
            "9" * 32,
            redis_url=None,
            last_event_id=None,
            poll_interval=0.01,
            is_disconnected=is_disconnected,
        )
        return [(event.event, event.raw_data) async for event in stream]

    frames = anyio.run(collect)
    assert [kind for kind, _ in frames] == ["source", "progress"]
    assert json.loads(frames[0][1] or "") == {"source": "record", "reason": "GAN_REDIS_URL is not set"}
    assert polls == 3
