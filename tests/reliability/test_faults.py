"""Fault injection against the real processes: uvicorn API, Celery worker, private Redis.

Already covered elsewhere, and not repeated here:

* worker SIGKILLed mid-job, resumed on another worker from its last checkpoint, final weights
  bitwise equal to an uninterrupted run: ``tests/worker/test_recovery.py``;
* the worker side of a Redis restart (a running and a queued job both finish once):
  ``tests/worker/test_recovery.py::test_worker_keeps_consuming_across_a_redis_restart``;
* a duplicate message sent by hand while the job runs: ``tests/worker/test_sharing.py``;
* a checkpoint folder replaced by a file: ``tests/worker/test_lifecycle.py``.
"""

from __future__ import annotations

import base64
import json
import pickle
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from common.jobs import FINAL_STATUSES
from models.checkpoint import load_checkpoint
from models.training import run_files
from tests.app.tiny_models import write_tampered_model, write_tiny_model, write_truncated_model
from tests.reliability import archives
from tests.reliability.conftest import AUTH, Payload, Stack
from tests.support.disks import fill, tmpfs
from tests.worker.conftest import TINY, training_attempts


def submit(http: httpx.Client, name: str, **overrides: Any) -> dict[str, Any]:
    response = http.post("/train", json={**TINY, "name": name, **overrides}, headers=AUTH)
    assert response.status_code == 202, response.text
    return response.json()  # type: ignore[no-any-return]


def wait_job(stack: Stack, http: httpx.Client, job_id: str, timeout: float = 90) -> dict[str, Any]:
    def final() -> dict[str, Any] | None:
        job = http.get(f"/jobs/{job_id}").json()
        return job if job["status"] in FINAL_STATUSES else None

    return stack.wait_until(final, timeout, f"job {job_id} to finish")  # type: ignore[no-any-return]


def queued_job_ids(stack: Stack) -> list[str]:
    """Job ids of the messages waiting in Redis (and delivered but unacknowledged)."""
    client = stack.redis.client()
    raw = client.lrange(stack.settings.queue_name, 0, -1)
    raw += [json.dumps(json.loads(value)[0]) for value in client.hvals("unacked")]
    return [json.loads(base64.b64decode(json.loads(m)["body"]))[0][0] for m in raw]


# -- Redis ----------------------------------------------------------------------------------------
def test_redis_outage_is_503_on_the_api_and_nothing_is_lost(stack: Stack) -> None:
    stack.start_worker("w1")
    stack.start_api()
    with stack.http() as http:
        running = submit(http, "during-outage", steps=500, checkpoint_every=50)
        queued = submit(http, "queued-in-outage", steps=40)
        stack.wait_until(
            lambda: http.get(f"/jobs/{running['id']}").json()["progress"]["step"] >= 20,
            60,
            "training to start",
        )
        stack.stop_redis()

        started = time.monotonic()
        refused = http.post("/train", json={**TINY, "name": "refused"}, headers=AUTH)
        assert time.monotonic() - started < 5
        assert refused.status_code == 503
        assert refused.json()["detail"].startswith("job queue unavailable: ")
        ready = http.get("/readyz")
        assert ready.status_code == 503 and "job queue unavailable" in ready.json()["detail"]
        assert "ganserve_queue_depth -1.0" in http.get("/metrics").text
        # What does not need Redis keeps working: sampling, listings, job records.
        assert http.get("/sample", params={"seed": 3}).status_code == 200
        assert http.get("/models").status_code == 200
        assert {job["id"] for job in http.get("/jobs").json()} == {running["id"], queued["id"]}

        stack.start_redis()  # same port and folder: the append-only file reloads the queue
        stack.wait_until(lambda: http.get("/readyz").status_code == 200, 20, "ready again")
        after = submit(http, "after-outage", steps=20)  # the same API process, not restarted

        jobs = [wait_job(stack, http, job["id"]) for job in (running, queued, after)]
    assert [job["status"] for job in jobs] == ["succeeded"] * 3, stack.logs()
    assert [job["attempts"] for job in jobs] == [1, 1, 1]
    log = stack.log("w1")
    assert [training_attempts(log, job["id"]) for job in jobs] == [1, 1, 1]


# -- the API killed mid-request -------------------------------------------------------------------
BOUNDARY = "reliability-boundary"


def slow_upload(url: str, name: str, total_bytes: int, outcome: list[object]) -> None:
    """POST a multipart upload of ``total_bytes`` in small, slow chunks."""
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="name"\r\n\r\n{name}\r\n'
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="big.zip"\r\nContent-Type: application/zip\r\n\r\n'
    ).encode()

    def body() -> Iterator[bytes]:
        yield head + b"PK\x03\x04"
        for _ in range(total_bytes // 65536):
            time.sleep(0.01)
            yield bytes(65536)
        yield f"\r\n--{BOUNDARY}--\r\n".encode()

    try:
        response = httpx.post(
            url + "/datasets",
            content=body(),
            timeout=60,
            headers={**AUTH, "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
        )
        outcome.append(response.status_code)
    except httpx.HTTPError as error:
        outcome.append(error)


def test_api_killed_during_an_upload_leaves_no_half_written_dataset(stack: Stack) -> None:
    api = stack.start_api()
    datasets_dir = stack.settings.datasets_dir
    with stack.http() as http:
        kept = http.post(
            "/datasets",
            headers=AUTH,
            data={"name": "kept"},
            files={"file": ("kept.zip", archives.zip_of(archives.labelled_images()), "application/zip")},
        )
        assert kept.status_code == 201, kept.text

    outcome: list[object] = []
    sender = threading.Thread(target=slow_upload, args=(api.url, "half", 64 << 20, outcome))
    sender.start()

    def upload_in_progress() -> bool:
        parts = list(datasets_dir.glob(".upload-*/upload"))
        return bool(parts) and parts[0].stat().st_size > 1 << 20

    stack.wait_until(upload_in_progress, 30, "a megabyte of the upload on disk")
    stack.kill_api()
    sender.join(30)
    assert outcome and not isinstance(outcome[0], int), outcome  # it never completed
    assert [p.name for p in datasets_dir.iterdir() if p.name.startswith(".upload-")]

    stack.start_api()  # a new process: the dead one's temporary folder goes at startup
    with stack.http() as http:
        uploaded = [d["name"] for d in http.get("/datasets").json() if d["kind"] == "uploaded"]
    assert uploaded == ["kept"]
    assert sorted(p.name for p in datasets_dir.iterdir()) == ["kept"]


def test_api_killed_during_submissions_leaves_only_complete_consistent_jobs(
    stack: Stack,
) -> None:
    api = stack.start_api()
    accepted: list[str] = []

    def client(index: int) -> None:
        with httpx.Client(base_url=api.url, timeout=30) as http:
            for round_ in range(50):
                try:
                    job = http.post(
                        "/train",
                        headers=AUTH,
                        json={**TINY, "name": f"burst-{index}-{round_}", "steps": 4, "checkpoint_every": 4},
                    )
                except httpx.HTTPError:
                    return
                if job.status_code == 202:
                    accepted.append(job.json()["id"])

    threads = [threading.Thread(target=client, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    stack.wait_until(lambda: len(accepted) >= 8, 30, "some submissions to be accepted")
    stack.kill_api()
    for thread in threads:
        thread.join(30)

    # Every record on disk is whole and queued; every accepted job has one; and no message
    # waits for a job without a record (it would train a job nobody can see or cancel).
    records = {}
    for path in stack.settings.jobs_dir.glob("*.json"):
        record = stack.store.get(path.stem)
        assert record is not None, f"unreadable record {path.name}"
        assert record.status == "queued" and record.model.startswith("burst-")
        assert (record.config.steps, record.config.checkpoint_every) == (4, 4)
        records[record.id] = record
    assert set(accepted) <= set(records)
    messages = queued_job_ids(stack)
    assert set(messages) <= set(records), "a queued message has no job record"

    # A worker then trains each visible job exactly once (the reaper sends the message of a
    # record whose request died before publishing), and nothing else.
    stack.start_worker("w1")
    stack.start_api()
    with stack.http() as http:
        jobs = [wait_job(stack, http, job_id, timeout=120) for job_id in records]
    assert {job["status"] for job in jobs} == {"succeeded"}, stack.logs()
    log = stack.log("w1")
    assert all(training_attempts(log, job_id) == 1 for job_id in records)
    assert len(re.findall(r"training attempt \d+", log)) == len(records)
    assert "had no record" not in log


# -- checkpoint writes that fail --------------------------------------------------------------------
@pytest.mark.parametrize("fault", ["disk-full", "read-only"])
def test_a_failing_checkpoint_write_fails_the_job_and_keeps_the_last_checkpoint(
    stack: Stack, fault: str
) -> None:
    models_dir = stack.settings.models_dir
    with tmpfs(models_dir, "4m"):
        write_tiny_model(models_dir, "tiny", step=10)  # the default model, now on the tmpfs
        stack.start_worker("w1")
        stack.start_api()
        with stack.http() as http:
            job = submit(http, "no-room", steps=100_000, checkpoint_every=20)
            stack.wait_until(
                lambda: (http.get(f"/jobs/{job['id']}").json()["checkpoint_step"] or 0) >= 20,
                60,
                "the first checkpoint",
            )
            if fault == "disk-full":
                fill(models_dir)
            else:
                subprocess.run(["mount", "-o", "remount,ro", str(models_dir)], check=True)
            failed = wait_job(stack, http, job["id"], timeout=60)

            assert failed["status"] == "failed"
            expected = (
                "disk is full (no space left on device)" if fault == "disk-full" else "Read-only file system"
            )
            assert failed["error"].startswith("could not write checkpoint: "), failed["error"]
            assert expected in failed["error"]
            assert "Traceback" not in failed["error"]
            # The checkpoints written before stay whole, nothing half-written is left beside
            # them, and the model serves from the newest one.
            checkpoints = run_files.checkpoint_dir(models_dir / "no-room")
            assert not [p.name for p in checkpoints.iterdir() if p.name.startswith(".")]
            steps = run_files.checkpoint_steps(models_dir / "no-room")
            assert steps and steps[-1] == failed["checkpoint_step"]
            info, _ = load_checkpoint(run_files.checkpoint_path(models_dir / "no-room", steps[-1]))
            assert info.step == steps[-1]
            model = http.get("/models/no-room").json()
            assert model["error"] is None and model["latest_step"] == steps[-1]
            sample = http.get("/sample", params={"model": "no-room", "seed": 1})
            assert sample.status_code == 200
            assert sample.headers["X-Model"] == f"no-room@{steps[-1]}"
        stack.close()  # before the unmount: nothing may hold the filesystem


# -- hostile files in the models folder -------------------------------------------------------------
def test_broken_and_hostile_checkpoints_are_reported_never_executed(stack: Stack) -> None:
    models_dir = stack.settings.models_dir
    marker = stack.root / "payload-ran"
    payload = pickle.dumps(Payload(marker))
    # A pickle under a checkpoint's name, newer than the model's good checkpoint.
    write_tiny_model(models_dir, "smuggled", step=10)
    run_files.checkpoint_path(models_dir / "smuggled", 20).write_bytes(payload)
    # Pickles under the names other tools load (torch.load, joblib): never even looked at.
    torch_style = models_dir / "torch-style" / "checkpoints"
    torch_style.mkdir(parents=True)
    for name in ("step-00000010.pt", "model.pkl", "step-00000010.safetensors.pt"):
        (torch_style / name).write_bytes(payload)
    # Weights altered after saving (the header still parses), and a file cut short.
    write_tampered_model(models_dir, flipped_bytes=8)
    write_truncated_model(models_dir, kept_bytes=300)

    stack.start_api()
    with stack.http() as http:
        listing = {m["name"]: m for m in http.get("/models").json()}
        assert "torch-style" not in listing
        assert listing["tiny"]["error"] is None
        assert "not a readable safetensors file" in listing["smuggled"]["error"]
        assert listing["smuggled"]["broken_checkpoints"] == [
            {"step": 20, "error": listing["smuggled"]["error"]}
        ]
        assert "content hash mismatch" in listing["tampered"]["error"]
        assert listing["truncated"]["error"]
        ready = http.get("/readyz")
        assert ready.status_code == 200
        for name in ("smuggled", "tampered", "truncated"):
            assert f"{name}: " in ready.json()["detail"]
        assert str(stack.root) not in json.dumps(listing) + ready.text

        # Every other model keeps serving; a broken newest checkpoint falls back to the last
        # good one, and the broken one pinned is refused with the reason.
        assert http.get("/sample", params={"seed": 1}).status_code == 200
        fallback = http.get("/sample", params={"seed": 1, "model": "smuggled"})
        assert fallback.headers["X-Model"] == "smuggled@10"
        pinned = http.get("/sample", params={"seed": 1, "model": "smuggled@20"})
        assert pinned.status_code == 503 and "step-00000020" in pinned.json()["detail"]
        assert http.get("/sample", params={"model": "tampered"}).status_code == 503
        assert http.get("/models/smuggled/checkpoints/20").json()["error"]

        # Planted while serving: the listing notices, and serving falls back.
        good = http.get("/sample", params={"seed": 2, "model": "tiny"})
        run_files.checkpoint_path(models_dir / "tiny", 30).write_bytes(payload)
        assert http.get("/models/tiny").json()["error"]
        again = http.get("/sample", params={"seed": 2, "model": "tiny"})
        assert again.headers["X-Model"] == "tiny@10" and again.content == good.content
    assert not marker.exists(), "a pickle was unpickled"
    assert "Traceback" not in stack.log("api")


# -- redelivery while the first attempt runs --------------------------------------------------------
def test_a_job_redelivered_while_it_runs_trains_exactly_once(tmp_path: Path) -> None:
    # Redis hands an unacknowledged message out again after the visibility timeout; at 2 s it
    # happens several times during this job.
    stack = Stack(tmp_path, GAN_VISIBILITY_TIMEOUT="2")
    try:
        stack.start_worker("w1")
        stack.start_worker("w2")
        stack.start_api()
        with stack.http() as http:
            job = submit(http, "redelivered", steps=800, checkpoint_every=100)
            record = wait_job(stack, http, job["id"], timeout=120)
        logs = stack.log("w1") + stack.log("w2")
        assert record["status"] == "succeeded", stack.logs()
        assert record["attempts"] == 1 and record["progress"]["step"] == 800
        assert training_attempts(logs, job["id"]) == 1
        # The redelivery did happen, and was turned away by the lease.
        assert f"job {job['id']} is held by another attempt; message dropped" in logs
        steps = run_files.checkpoint_steps(stack.settings.models_dir / "redelivered")
        assert steps == list(range(100, 801, 100))
    finally:
        stack.close()
        shutil.rmtree(tmp_path / "data", ignore_errors=True)
