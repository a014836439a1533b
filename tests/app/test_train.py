"""POST /train: validation, the Redis-down path, a real queue, names, cancel, API keys."""

from __future__ import annotations

import base64
import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis
from fastapi.testclient import TestClient

from common.jobs import JobRecord, JobStore
from tests.app.conftest import MakeClient
from tests.app.tiny_models import write_tiny_model
from tests.support.problems import fields_of, problem

MINIMAL = {"dataset": "digits", "architecture": "dcgan", "steps": 200}


@pytest.fixture
def unlabelled_dataset(data_dir: Path) -> str:
    folder = data_dir / "datasets" / "flat"
    folder.mkdir(parents=True)
    (folder / "a.png").write_bytes(b"")
    (folder / ".ganserve-dataset.json").write_text(json.dumps({"images": 1, "class_names": []}))
    return "flat"


@pytest.mark.parametrize(
    "changes,fragment",
    [
        ({"dataset": "nope"}, "unknown dataset 'nope'; expected one of digits"),
        ({"dataset": "folder"}, "upload an archive with POST /datasets"),
        ({"architecture": "vae"}, "unknown architecture 'vae'"),
        ({"loss": "magic"}, "unknown loss 'magic'"),
        ({"steps": 200_001}, "steps must be at most 200000 on this server, got 200001"),
        # Past the engine's own maximum too: still the one limit this server states.
        ({"steps": 10_000_001}, "steps must be at most 200000 on this server, got 10000001"),
        ({"batch_size": 100_000}, "batch_size must be at most 512 on this server, got 100000"),
        ({"batch_size": 513}, "batch_size must be at most 512 on this server, got 513"),
        ({"image_size": 256}, "image_size must be at most 128 on this server, got 256"),
        ({"image_size": 12}, "image_size 12 cannot be built by dcgan"),
        (
            {"architecture": "cdcgan", "dataset": "flat"},
            "'cdcgan' is class-conditional but dataset 'flat' has no labels",
        ),
        ({"name": "../evil"}, "name must be 1-64 characters"),
        ({"steps": 0}, "steps: Input should be greater than or equal to 1"),
    ],
)
def test_invalid_configs_are_422_with_readable_detail(
    make_client: MakeClient, unlabelled_dataset: str, changes: dict, fragment: str
) -> None:
    response = make_client().post("/train", json={**MINIMAL, **changes})
    assert response.status_code == 422, response.text
    assert fragment in response.json()["detail"]
    assert next(iter(changes)) in fields_of(response)  # each problem names its field


@pytest.mark.parametrize(
    "body,field",
    [
        ({**MINIMAL, "surprise": 1}, "surprise"),
        ({**MINIMAL, "dataset_path": "/etc"}, "dataset_path"),
        ({**MINIMAL, "steps": "many"}, "steps"),
        ({**MINIMAL, "steps": True}, "steps"),
    ],
)
def test_unknown_fields_and_wrong_types_name_the_field(
    make_client: MakeClient, body: dict, field: str
) -> None:
    response = make_client().post("/train", json=body)
    assert response.status_code == 422
    errors = problem(response, 422)["errors"]
    assert [(error["location"], error["field"]) for error in errors] == [("body", field)]


def test_a_replaced_field_says_what_replaced_it(make_client: MakeClient) -> None:
    for route in ("/train", "/train/plan"):
        response = make_client().post(route, json={**MINIMAL, "amp": True})
        errors = problem(response, 422)["errors"]
        assert [(error["field"], error["message"]) for error in errors] == [
            ("amp", "replaced by precision ('fp16' for what \"amp\": true did)")
        ]


def test_redis_down_is_a_quick_503_and_leaves_nothing(make_client: MakeClient, data_dir: Path) -> None:
    client = make_client()
    started = time.monotonic()
    response = client.post("/train", json=MINIMAL)
    assert time.monotonic() - started < 3
    assert response.status_code == 503
    assert response.json()["detail"].startswith("job queue unavailable: ")
    assert list((data_dir / "jobs").iterdir()) == []
    assert list((data_dir / "models").iterdir()) == []


def test_accepted_job_is_recorded_and_queued(make_client: MakeClient, redis_url: str, data_dir: Path) -> None:
    client = make_client(redis_url=redis_url)
    response = client.post("/train", json=MINIMAL)
    assert response.status_code == 202, response.text
    job = response.json()
    assert response.headers["Location"] == f"/jobs/{job['id']}"
    assert job["status"] == "queued"
    assert job["model"].startswith("digits-dcgan-") and len(job["model"]) == len("digits-dcgan-") + 6
    assert job["links"] == {
        "self": f"/jobs/{job['id']}",
        "events": f"/jobs/{job['id']}/events",
        "cancel": f"/jobs/{job['id']}/cancel",
        "samples": f"/jobs/{job['id']}/samples",
        "model": f"/models/{job['model']}",
    }
    # The stored config is the request with every default filled in.
    assert job["config"]["steps"] == 200 and job["config"]["batch_size"] == 64
    assert job["config"]["loss"] == "nonsaturating"
    # The spec is what the client chose; the name is the job's `model`, the device the worker's.
    assert not {"name", "device", "dataset_path", "extra"} & set(job["config"])
    record = JobStore(data_dir / "jobs").get(job["id"])
    assert record is not None and record.config.model_dump() == job["config"]

    queue = redis.Redis.from_url(redis_url)
    assert queue.llen("ganserve") == 1
    message = json.loads(queue.lindex("ganserve", 0))
    assert message["headers"]["task"] == "ganserve.train"
    # The message carries the job id alone: the worker reads the rest from the record.
    args, kwargs, _embed = json.loads(base64.b64decode(message["body"]))
    assert (args, kwargs) == ([job["id"]], {})
    assert client.get(f"/jobs/{job['id']}").json()["id"] == job["id"]
    assert client.get("/readyz").json()["checks"]["queue"] == "ok"


def test_taken_names_are_409(make_client: MakeClient, redis_url: str, data_dir: Path) -> None:
    write_tiny_model(data_dir / "models", "taken")
    client = make_client(redis_url=redis_url)
    response = client.post("/train", json={**MINIMAL, "name": "taken"})
    assert response.status_code == 409
    assert response.json()["detail"] == "model 'taken' already exists"
    assert client.post("/train", json={**MINIMAL, "name": "fresh"}).status_code == 202
    again = client.post("/train", json={**MINIMAL, "name": "fresh"})
    assert again.status_code == 409
    assert "is being trained by job" in again.json()["detail"]


def test_two_api_processes_cannot_both_take_a_name(
    make_client: MakeClient, redis_url: str, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two apps on one data folder and one Redis (replicas behind a load balancer)."""
    replicas = [make_client(redis_url=redis_url) for _ in range(2)]
    list_jobs = JobStore.list

    def slow_list(self: JobStore) -> list[JobRecord]:
        time.sleep(0.3)  # widen the gap between "is the name free?" and the record's creation
        return list_jobs(self)

    monkeypatch.setattr(JobStore, "list", slow_list)
    with ThreadPoolExecutor(2) as pool:
        responses = list(
            pool.map(lambda client: client.post("/train", json={**MINIMAL, "name": "contested"}), replicas)
        )
    assert sorted(r.status_code for r in responses) == [202, 409], [r.text for r in responses]
    records = [r for r in JobStore(data_dir / "jobs").list() if r.model == "contested"]
    assert len(records) == 1
    # the claim is released: the name of a finished job can be taken again
    records[0].status = "failed"
    JobStore(data_dir / "jobs").save(records[0])
    assert replicas[1].post("/train", json={**MINIMAL, "name": "contested"}).status_code == 202


def test_cancel_queued_running_and_finished_jobs(make_client: MakeClient, data_dir: Path) -> None:
    client = make_client()
    store = JobStore(data_dir / "jobs")
    queued = JobRecord(id="a" * 32, model="m1", config={})
    running = JobRecord(id="b" * 32, model="m2", config={}, status="running")
    store.create(queued)
    store.create(running)

    response = client.post(f"/jobs/{queued.id}/cancel")
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert store.get(queued.id).status == "cancelled"
    assert store.cancel_requested(queued.id)

    response = client.post(f"/jobs/{running.id}/cancel")
    assert response.status_code == 202
    assert response.json()["status"] == "running"
    assert store.cancel_requested(running.id)

    again = client.post(f"/jobs/{queued.id}/cancel")
    assert again.status_code == 409
    assert again.json()["detail"] == f"job {queued.id} already cancelled"
    assert client.post(f"/jobs/{'c' * 32}/cancel").status_code == 404
    assert client.post("/jobs/not-an-id/cancel").status_code == 404


def test_api_key_guards_state_changing_routes(
    make_client: MakeClient,
    tiny_model: Path,
    data_dir: Path,
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import app.core.security as security

    compared: list[tuple[bytes, bytes]] = []
    real_compare = security.hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real_compare(a, b)

    monkeypatch.setattr(security.hmac, "compare_digest", spy)
    client = make_client(api_key="s3cret", redis_url=redis_url)
    JobStore(data_dir / "jobs").create(JobRecord(id="d" * 32, model="m", config={}))

    protected = [
        ("POST", "/train", {"json": MINIMAL}),
        ("POST", f"/jobs/{'d' * 32}/cancel", {}),
        ("POST", "/datasets?name=x", {"files": {"file": ("a.zip", b"PK")}}),
        ("DELETE", "/datasets/whatever", {}),
    ]
    for method, url, kwargs in protected:
        missing = client.request(method, url, **kwargs)
        assert missing.status_code == 401, url
        assert missing.json()["detail"].startswith("API key required")
        wrong = client.request(method, url, headers={"X-API-Key": "nope"}, **kwargs)
        assert wrong.status_code == 401
        assert wrong.json()["detail"] == "invalid API key"
    assert (b"nope", b"s3cret") in compared

    assert client.post("/train", json=MINIMAL, headers={"Authorization": "Bearer s3cret"}).status_code == 202
    assert client.post(f"/jobs/{'d' * 32}/cancel", headers={"X-API-Key": "s3cret"}).status_code == 200
    assert client.delete("/datasets/whatever", headers={"X-API-Key": "s3cret"}).status_code == 404
    # Reading, including POST /sample, needs no key.
    assert client.get("/sample", params={"seed": 1}).status_code == 200
    assert client.post("/sample", json={"latents": [[0.0] * 8]}).status_code == 200
    assert client.get("/jobs").status_code == 200


def test_train_request_is_documented(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    body = schema["paths"]["/train"]["post"]["requestBody"]["content"]["application/json"]
    name = body["schema"]["$ref"].rsplit("/", 1)[-1]
    fields = schema["components"]["schemas"][name]["properties"]
    assert {"dataset", "architecture", "steps", "batch_size", "loss", "name"} <= set(fields)
    assert "dataset_path" not in fields


def test_the_record_is_whole_on_disk_before_the_job_is_published(
    make_client: MakeClient, redis_url: str, data_dir: Path
) -> None:
    # Found by the reliability pass: the message went out first, so an API killed before it
    # wrote the record left a job nobody could see that trained anyway, and a retried request
    # could claim the same model name for a second job.
    client = make_client(redis_url=redis_url)
    queue = client.app.state.runtime.queue  # type: ignore[attr-defined]
    store = JobStore(data_dir / "jobs")
    seen: list[JobRecord | None] = []
    publish = queue.submit

    def spy(job_id: str) -> None:
        seen.append(store.get(job_id))
        publish(job_id)

    queue.submit = spy
    response = client.post("/train", json={**MINIMAL, "name": "ordered"})
    assert response.status_code == 202
    assert seen and seen[0] is not None
    assert (seen[0].id, seen[0].status, seen[0].model) == (response.json()["id"], "queued", "ordered")


def test_a_failed_publish_leaves_no_record(make_client: MakeClient, redis_url: str, data_dir: Path) -> None:
    from app.services.jobs.queue import QueueUnavailable

    client = make_client(redis_url=redis_url)
    queue = client.app.state.runtime.queue  # type: ignore[attr-defined]

    def broken(job_id: str) -> None:
        raise QueueUnavailable("connection reset")

    queue.submit = broken
    response = client.post("/train", json=MINIMAL)
    assert response.status_code == 503
    assert response.json()["detail"] == "job queue unavailable: connection reset"
    assert list((data_dir / "jobs").iterdir()) == []
