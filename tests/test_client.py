"""The Python client against the real stack: Redis, a Celery worker and the API over HTTP."""

from __future__ import annotations

import io
import threading
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from client import (
    ApiError,
    Conflict,
    GanServeClient,
    ModelNotFound,
    NotFound,
    Unauthorized,
    ValidationFailed,
    parse_sse,
    waiting,
)
from tests.support.configs import TINY_TRAINING
from tests.support.processes import running_service

API_KEY = "client-test-key"
MODEL = "client-test"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# Trains in a few seconds on one CPU thread.
TINY: dict[str, Any] = {**TINY_TRAINING, "steps": 40}


@contextmanager
def client_service(factory: pytest.TempPathFactory, name: str, api_key: str, model: str) -> Iterator[str]:
    """The URL of a private service (Redis, a worker, the API) whose write key is ``api_key``
    and whose default model is ``model``."""
    extra = {"GAN_API_KEY": api_key, "GAN_DEFAULT_MODEL": model, "GAN_DEVICE": "cpu"}
    with running_service(factory.mktemp(name), name, extra) as api:
        yield api.url


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with client_service(tmp_path_factory, "client", API_KEY, MODEL) as url:
        yield url


@pytest.fixture
def client(server: str) -> Iterator[GanServeClient]:
    with GanServeClient(server, api_key=API_KEY, timeout=30) as client:
        yield client


def image_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        return image.size


def test_train_wait_and_serve(client: GanServeClient) -> None:
    assert client.health() == {"status": "ok"}
    with pytest.raises(ApiError) as not_ready:
        client.ready()  # the default model is not trained yet
    assert not_ready.value.status_code == 503 and not_ready.value.detail

    job = client.train(TINY, name=MODEL)
    assert job["status"] == "queued" and job["model"] == MODEL
    events: list[dict[str, Any]] = []
    listener = threading.Thread(target=lambda: events.extend(client.events(job["id"])))
    listener.start()

    reports: list[dict[str, Any]] = []
    final = client.wait(job["id"], timeout=180, poll=0.2, on_progress=reports.append)
    assert final["status"] == "succeeded", final
    assert final == client.job(job["id"]) and "evaluation" in final  # the stored record
    steps = [report["progress"]["step"] for report in reports]
    assert len(set(steps)) >= 2 and steps == sorted(steps), steps
    assert reports[-1]["status"] == "succeeded" and steps[-1] == TINY["steps"]
    listener.join(30)
    assert not listener.is_alive()
    assert events[0] == {"event": "source", "data": {"source": "redis"}}
    assert events[-1]["event"] == "end" and events[-1]["data"]["status"] == "succeeded"
    jobs = [e for e in events[1:-1] if e["event"] in ("progress", "state")]
    assert jobs and all(e["data"]["id"] == job["id"] for e in jobs)
    # Resuming after the first event with an id gives exactly the events after it.
    ids = [e["id"] for e in events if "id" in e]
    assert len(ids) >= 2
    resumed = list(client.events(job["id"], last_event_id=ids[0]))
    later = events[[e.get("id") for e in events].index(ids[0]) + 1 :]
    assert resumed[0] == {"event": "source", "data": {"source": "redis"}}
    assert [e.get("id") for e in resumed[1:-1]] == [e.get("id") for e in later[:-1]]
    assert resumed[-1]["event"] == "end" and resumed[-1]["data"]["status"] == "succeeded"

    assert isinstance(client.ready(), dict)
    assert MODEL in [m["name"] for m in client.models()]
    assert client.model(MODEL)["name"] == MODEL
    assert job["id"] in [j["id"] for j in client.jobs()]

    grid = client.sample(seed=3, model=MODEL, count=4, columns=2)
    assert grid.startswith(PNG_MAGIC)
    assert grid == client.sample(seed=3, model=MODEL, count=4, columns=2)  # seeded
    single = client.sample(seed=3, model=MODEL)
    strip = client.interpolate(3, 9, steps=5, model=MODEL)
    assert strip.frame_count == 5
    assert image_size(strip.png) == (5 * strip.frame_width, strip.frame_height)
    assert image_size(single) == (strip.frame_width, strip.frame_height)
    latents = client.sample_latents([[0.0] * 16, [0.5] * 16], model=MODEL, columns=2)
    assert image_size(latents) == (2 * strip.frame_width, strip.frame_height)
    with pytest.raises(ApiError) as no_codes:  # the codes reach the server, which refuses them
        client.sample_latents([[0.0] * 16], model=MODEL, codes=[0])
    assert no_codes.value.status_code == 422 and "draws no codes" in no_codes.value.detail

    with pytest.raises(Conflict) as finished:
        client.cancel(job["id"])
    assert finished.value.status_code == 409 and finished.value.type == "/problems/conflict"


def test_wait_times_out_and_cancel_stops_a_job(
    client: GanServeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = client.train({**TINY, "steps": 100_000}, name="client-long")
    with pytest.raises(TimeoutError):
        client.wait(job["id"], timeout=0.3, poll=0.1)

    # Queued behind it (the worker runs one job at a time), a job's stream is silent but for a
    # keep-alive every 15 s: the stream is read with a short read timeout, and reopened from the
    # last event seen until the deadline.
    queued = client.train(TINY, name="client-queued")
    streams: list[str | None] = []
    next_stream = recording_next_stream(streams)
    monkeypatch.setattr(waiting.Waiter, "next_stream", next_stream)
    monkeypatch.setattr(waiting, "STREAM_READ_TIMEOUT", 0.3)
    reports: list[dict[str, Any]] = []
    started = time.monotonic()
    with pytest.raises(TimeoutError, match="still queued"):
        client.wait(queued["id"], timeout=1.5, on_progress=reports.append)
    assert 1.5 <= time.monotonic() - started < 3
    assert len(streams) >= 3 and len(set(streams[1:])) == 1  # each reopened after the snapshot
    assert [report["status"] for report in reports] == ["queued"]  # reported once, not per stream
    monkeypatch.undo()

    assert client.cancel(queued["id"])["status"] == "cancelled"
    client.cancel(job["id"])
    assert client.wait(job["id"], timeout=120, poll=0.2)["status"] == "cancelled"


def recording_next_stream(opened: list[str | None]) -> Any:
    """``Waiter.next_stream`` that also records the ``Last-Event-ID`` of each stream it opens."""
    original = waiting.Waiter.next_stream

    def next_stream(waiter: waiting.Waiter, connect_timeout: float) -> Any:
        call, timeout = original(waiter, connect_timeout)
        opened.append((call.headers or {}).get("Last-Event-ID"))
        return call, timeout

    return next_stream


def test_errors_are_typed_from_the_problem(client: GanServeClient, server: str) -> None:
    names = [m["name"] for m in client.models()]
    for refused in (lambda: client.model("no-such-model"), lambda: client.sample(model="no-such-model")):
        with pytest.raises(ModelNotFound) as unknown:
            refused()
        assert unknown.value.status_code == 404 and "no-such-model" in str(unknown.value.detail)
        assert unknown.value.available_count == len(names) > 0
        assert set(unknown.value.available) <= set(names) and unknown.value.available
    with pytest.raises(NotFound) as missing_job:
        client.job("f" * 32)
    assert missing_job.value.status_code == 404 and not isinstance(missing_job.value, ModelNotFound)
    with pytest.raises(NotFound):  # no stream, and no record to poll
        client.wait("f" * 32, timeout=10)

    with pytest.raises(ValidationFailed) as invalid:
        client.sample(seed=1, count=0, truncation=-1.0)
    assert invalid.value.status_code == 422 and invalid.value.fields == ["count", "truncation"]
    assert {error["location"] for error in invalid.value.errors} == {"query"}
    with pytest.raises(ValidationFailed) as bad_config:
        client.train(TINY, steps=0)
    assert "steps" in bad_config.value.fields

    with GanServeClient(server) as anonymous, pytest.raises(Unauthorized) as denied:
        anonymous.train(TINY)
    assert denied.value.status_code == 401
    with GanServeClient(server, api_key="wrong") as impostor, pytest.raises(Unauthorized):
        impostor.cancel("f" * 32)
    assert issubclass(Unauthorized, ApiError)  # code that catches ApiError still does


def test_upload_dataset(client: GanServeClient, tmp_path: Path) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buffer, format="PNG")
    archive = tmp_path / "shapes.zip"
    with zipfile.ZipFile(archive, "w") as out:
        out.writestr("red/a.png", buffer.getvalue())
        out.writestr("blue/b.png", buffer.getvalue())
    info = client.upload_dataset("client-upload", archive)
    assert (info["name"], info["images"], info["class_names"]) == (
        "client-upload",
        2,
        ["blue", "red"],
    )
    assert "client-upload" in [d["name"] for d in client.datasets()]

    not_archive = tmp_path / "notes.zip"
    not_archive.write_text("hello")
    with pytest.raises(ApiError) as refused:
        client.upload_dataset("client-bad", not_archive)
    assert refused.value.status_code == 422 and "not an archive" in refused.value.detail


def test_parse_sse() -> None:
    lines = [
        ": heartbeat",
        "event: progress",
        'data: {"step": 1}',
        "id: 1700000000000-0",
        "",
        "data: first line",
        "data: second line",
        "",
        "event: end",
        'data: {"status": "succeeded"}',
    ]
    assert list(parse_sse(iter(lines))) == [
        {"event": "progress", "data": {"step": 1}, "id": "1700000000000-0"},
        {"event": "message", "data": "first line\nsecond line"},
        {"event": "end", "data": {"status": "succeeded"}},
    ]
