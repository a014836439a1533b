"""Service-wide behaviour: probes, metrics, CORS, OpenAPI, body limits, and a real uvicorn."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
from fastapi.testclient import TestClient

from common.jobs import JobRecord, JobStore
from tests.app.conftest import MakeClient
from tests.support.processes import kill_group, service_env, start_api


def test_healthz(make_client: MakeClient) -> None:
    response = make_client().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_is_200_with_a_model_and_redis(
    make_client: MakeClient, tiny_model: Path, redis_url: str
) -> None:
    response = make_client(redis_url=redis_url).get("/readyz")
    assert response.status_code == 200, response.text
    assert response.json() == {
        "status": "ready",
        "checks": {"default_model": "tiny@10", "queue": "ok", "disk": "ok"},
        "broken_models": [],
    }


def test_readyz_is_503_when_redis_is_down(client: TestClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["detail"].startswith("job queue unavailable: ")


def metric(text: str, name: str, **labels: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            found = dict(re.findall(r'(\w+)="([^"]*)"', line.split(" ")[0]))
            if all(found.get(k) == v for k, v in labels.items()):
                return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} {labels} not in metrics")


def test_metrics(make_client: MakeClient, tiny_model: Path, data_dir: Path, redis_url: str) -> None:
    client = make_client(redis_url=redis_url)
    store = JobStore(data_dir / "jobs")
    store.create(JobRecord(id="1" * 32, model="a", config={}, status="running"))
    store.create(JobRecord(id="2" * 32, model="b", config={}, status="failed"))
    store.create(JobRecord(id="3" * 32, model="c", config={}, status="failed"))
    client.get("/sample", params={"seed": 1})
    client.get("/sample", params={"seed": 2})
    client.get("/models/nope")
    assert client.post("/train", json={"dataset": "digits", "steps": 10}).status_code == 202

    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    hist = "ganserve_http_request_duration_seconds_count"
    assert metric(text, hist, route="/sample", method="GET", status="200") == 2
    assert metric(text, hist, route="/models/{name}", method="GET", status="404") == 1
    assert "ganserve_http_request_duration_seconds_bucket" in text
    assert metric(text, "ganserve_jobs", status="failed") == 2
    assert metric(text, "ganserve_jobs", status="running") == 1
    assert metric(text, "ganserve_jobs", status="queued") == 1
    assert metric(text, "ganserve_queue_depth") == 1
    assert metric(text, "ganserve_loaded_models") == 1
    assert metric(text, "ganserve_loaded_model_parameter_bytes", model="tiny@10") > 0


def test_queue_depth_is_minus_one_when_redis_is_down(make_client: MakeClient) -> None:
    assert metric(make_client().get("/metrics").text, "ganserve_queue_depth") == -1


def test_cors_for_configured_origins(make_client: MakeClient, tiny_model: Path) -> None:
    client = make_client(cors_origins="https://app.example,https://other.example")
    response = client.get(
        "/interpolate", params={"start": 1, "end": 2}, headers={"Origin": "https://app.example"}
    )
    assert response.headers["access-control-allow-origin"] == "https://app.example"
    exposed = response.headers["access-control-expose-headers"].lower()
    assert {"x-frame-count", "x-frame-width", "x-frame-height", "etag"} <= set(
        h.strip() for h in exposed.split(",")
    )
    preflight = client.options(
        "/train",
        headers={
            "Origin": "https://other.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )
    assert preflight.status_code == 200
    stranger = client.get("/healthz", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in stranger.headers


def test_openapi_lists_every_route_and_image_responses(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    expected = {
        "/sample": {"get", "post"},
        "/interpolate": {"get"},
        "/models": {"get"},
        "/models/{name}": {"get"},
        "/models/{name}/checkpoints/{step}": {"get"},
        "/models/{name}/samples/{step}": {"get"},
        "/train": {"post"},
        "/train/plan": {"post"},
        "/jobs": {"get"},
        "/jobs/{job_id}": {"get"},
        "/jobs/{job_id}/events": {"get"},
        "/jobs/{job_id}/cancel": {"post"},
        "/jobs/{job_id}/samples": {"get"},
        "/jobs/{job_id}/samples/{step}": {"get"},
        "/datasets": {"get", "post"},
        "/datasets/{name}": {"delete"},
        "/healthz": {"get"},
        "/readyz": {"get"},
        "/metrics": {"get"},
    }
    assert {path: set(ops) for path, ops in schema["paths"].items()} == expected
    for path, method in [
        ("/sample", "get"),
        ("/sample", "post"),
        ("/interpolate", "get"),
        ("/models/{name}/samples/{step}", "get"),
        ("/jobs/{job_id}/samples/{step}", "get"),
    ]:
        assert "image/png" in schema["paths"][path][method]["responses"]["200"]["content"]
    upload = schema["paths"]["/datasets"]["post"]["requestBody"]["content"]
    assert "multipart/form-data" in upload
    assert (
        "text/event-stream" in schema["paths"]["/jobs/{job_id}/events"]["get"]["responses"]["200"]["content"]
    )


def test_request_bodies_over_the_limit_are_413(client: TestClient) -> None:
    big = json.dumps({"latents": [[0.0] * 8] * 40_000})
    assert len(big) > 1024 * 1024
    response = client.post("/sample", content=big, headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert response.json()["detail"] == "request body too large (limit 1048576 bytes)"

    def chunks():  # type: ignore[no-untyped-def]
        for start in range(0, len(big), 65536):
            yield big[start : start + 65536].encode()

    streamed = client.post("/train", content=chunks(), headers={"content-type": "application/json"})
    assert streamed.status_code == 413


def test_real_uvicorn_process(
    make_client: MakeClient, tiny_model: Path, data_dir: Path, redis_url: str, tmp_path: Path
) -> None:
    env = service_env(
        data_dir,
        redis_url,
        {
            "GAN_DEFAULT_MODEL": "tiny",
            "GAN_PRETRAINED_DIR": str(tmp_path / "none"),
            "GAN_SSE_POLL_INTERVAL": "0.05",
        },
    )
    api = start_api(env, tmp_path / "api.log")
    try:
        in_process = make_client(redis_url=redis_url).get("/sample?seed=9&count=2").content
        with httpx.Client(base_url=api.url, timeout=10) as http:
            assert http.get("/readyz").status_code == 200
            sample = http.get("/sample", params={"seed": 9, "count": 2})
            assert sample.status_code == 200
            assert sample.content == in_process  # same bytes in another process
            strip = http.get("/interpolate", params={"start": 1, "end": 2, "steps": 3})
            assert strip.headers["X-Frame-Count"] == "3"

            job = http.post("/train", json={"dataset": "digits", "steps": 5}).json()
            store = JobStore(data_dir / "jobs")
            # Events arrive as they happen, not when the stream ends.
            with http.stream("GET", f"/jobs/{job['id']}/events") as events:
                lines = events.iter_lines()
                assert next(lines) == "event: source"
                assert json.loads(next(lines).removeprefix("data: ")) == {"source": "redis"}
                assert next(lines) == ""
                assert next(lines) == "event: progress"
                assert json.loads(next(lines).removeprefix("data: "))["status"] == "queued"
                record = store.get(job["id"])
                assert record is not None
                record.status = "cancelled"
                store.save(record)
                rest = [line for line in lines if line]
            assert rest[-2] == "event: end"
            assert json.loads(rest[-1].removeprefix("data: "))["status"] == "cancelled"
    finally:
        kill_group(api.process)


def test_405_names_every_method_of_the_path(make_client: MakeClient) -> None:
    # Found by schema fuzzing: routes of included routers made Allow empty.
    client = make_client()
    for method, url, allowed in [
        ("OPTIONS", "/datasets", "GET, POST"),
        ("PUT", "/train", "POST"),
        ("PATCH", "/datasets/x", "DELETE"),
    ]:
        response = client.request(method, url)
        assert response.status_code == 405
        assert response.headers["Allow"] == allowed
        assert response.json()["detail"] == f"{method} is not allowed here; allowed: {allowed}"
