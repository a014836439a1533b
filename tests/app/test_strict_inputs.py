"""Strict inputs and declared bounds, route by route, from the app's own /openapi.json.

Every operation of the schema refuses a query parameter it does not take (a 422 naming it and
listing the accepted ones); and for every bound the schema declares (settings-derived ones
with the values these settings give), the value just inside is accepted and the value just
outside is a 422 that names the field. An operation that needs inputs the walk cannot invent
(a path, a body) must have them in ``BASES``, so a new route cannot slip past.
"""

from __future__ import annotations

import io
import math
import zipfile
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.app.conftest import MakeClient
from tests.app.tiny_models import write_tiny_model
from tests.support.problems import fields_of, problem

SETTINGS = {
    "max_count": 5,
    "max_frames": 10,
    "max_train_steps": 300,
    "max_batch_size": 32,
    "max_image_size": 64,
}
TRAIN = {"dataset": "digits"}
LATENT = [0.0] * 8  # tiny's latent size
# What each operation needs besides the value under test: path, query and JSON body.
BASES: dict[str, dict[str, Any]] = {
    "GET /interpolate": {"query": {"start": 1, "end": 2}},
    "POST /sample": {"json": {"latents": [LATENT]}},
    "POST /train": {"json": TRAIN},
    "POST /train/plan": {"json": TRAIN},
    "GET /models/{name}": {"path": "/models/tiny"},
    "GET /models/{name}/checkpoints/{step}": {"path": "/models/tiny/checkpoints/10"},
    "GET /models/{name}/samples/{step}": {"path": "/models/tiny/samples/10"},
    "GET /jobs/{job_id}": {"path": "/jobs/x"},
    "GET /jobs/{job_id}/events": {"path": "/jobs/x/events"},
    "POST /jobs/{job_id}/cancel": {"path": "/jobs/x/cancel"},
    "GET /jobs/{job_id}/samples": {"path": "/jobs/x/samples"},
    "GET /jobs/{job_id}/samples/{step}": {"path": "/jobs/x/samples/1"},
    "DELETE /datasets/{name}": {"path": "/datasets/x"},
    "POST /datasets": {"upload": True},
}
# Fields whose bound is only reachable together with other values (the rule is the engine's).
CONTEXT: dict[str, dict[str, Any]] = {
    "info_codes": {"latent_dim": 4096, "architecture": "dcgan"},
    "clusters": {"latent_dim": 4096, "architecture": "dcgan"},
    "image_size": {"architecture": "gan"},
    "divergence_weight": {"loss": "fgan", "divergence": "js-weighted"},
}
# In-bound values that other rules still refuse, and why; they must not be refused as the
# out-of-bound value is (a different message).
REFUSED_INSIDE = {
    ("GET /sample", "label"): "tiny is unconditional: it takes no label at all",
    ("GET /interpolate", "label"): "tiny is unconditional: it takes no label at all",
    ("POST /train", "budget_minutes"): "no step cost has been measured on this server",
    ("POST /train/plan", "budget_minutes"): "no step cost has been measured on this server",
}
BOUND_KEYWORDS = (
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
)


@pytest.fixture
def client(make_client: MakeClient, data_dir: Any, redis_url: str) -> TestClient:
    write_tiny_model(data_dir / "models", "tiny", step=10)
    return make_client(redis_url=redis_url, **SETTINGS)


def operations(schema: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            yield f"{method.upper()} {path}", operation


def send(client: TestClient, key: str, query: dict[str, Any] | None = None, body: Any = None) -> Any:
    method, path = key.split(" ", 1)
    base = BASES.get(key, {})
    params = {**base.get("query", {}), **(query or {})}
    if base.get("upload"):
        archive = io.BytesIO()
        with zipfile.ZipFile(archive, "w") as zipped:
            zipped.writestr("a.txt", "not an image")
        files = {"file": ("a.zip", archive.getvalue(), "application/zip")}
        return client.post(base.get("path", path), params=params, files=files, data={"name": "up"})
    json = body if body is not None else base.get("json")
    return client.request(method, base.get("path", path), params=params, json=json)


def test_every_operation_refuses_an_unknown_query_parameter(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    for key, operation in operations(schema):
        needs = [p for p in operation.get("parameters", []) if p.get("required")]
        assert key in BASES or not (needs or operation.get("requestBody")), f"{key}: add it to BASES"
        response = send(client, key, {"zzz": "1"})
        body = problem(response, 422)
        assert body["errors"] == [
            {"location": "query", "field": "zzz", "message": body["errors"][0]["message"]}
        ], key
        accepted = sorted(p["name"] for p in operation.get("parameters", []) if p["in"] == "query")
        assert body["errors"][0]["message"].endswith(", ".join(accepted) or "none"), key


def test_unknown_query_parameters_and_repeats_are_422(client: TestClient) -> None:
    response = client.get("/sample", params={"seeed": 42})
    assert fields_of(response) == {"seeed"}
    assert "accepted: columns, count, format, label, model, seed, truncation" in response.json()["detail"]
    assert fields_of(client.get("/sample?seed=1&seed=2")) == {"seed"}
    assert fields_of(client.get("/models?limit=1&limit=2")) == {"limit"}
    assert client.get("/sample", params={"seed": 42}).status_code == 200


def test_the_upload_form_is_strict_too(client: TestClient) -> None:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("a.txt", "x")
    files = [("file", ("a.zip", archive.getvalue(), "application/zip"))]
    extra = client.post("/datasets", files=files, data={"name": "up", "label": "x"})
    assert fields_of(extra) == {"label"} and "accepted: file, name" in extra.json()["detail"]
    twice = client.post("/datasets", files=[*files, ("name", (None, "a")), ("name", (None, "b"))])
    assert fields_of(twice) == {"name"}


def test_a_credential_header_given_twice_is_400(client: TestClient) -> None:
    headers = [("X-API-Key", "a"), ("X-API-Key", "b")]
    body = problem(client.post("/train", json=TRAIN, headers=headers), 400)
    assert body["detail"] == "the x-api-key header is given twice"


def test_settings_bounds_are_declared_with_the_servers_values(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    count = next(p for p in schema["paths"]["/sample"]["get"]["parameters"] if p["name"] == "count")
    assert count["schema"]["maximum"] == SETTINGS["max_count"]
    train = schema["components"]["schemas"]["TrainRequest"]["properties"]
    assert train["steps"]["maximum"] == SETTINGS["max_train_steps"]
    assert train["batch_size"]["maximum"] == SETTINGS["max_batch_size"]
    latents = schema["components"]["schemas"]["LatentsRequest"]["properties"]["latents"]
    assert latents["maxItems"] == SETTINGS["max_count"]


def bounded_values(schema: dict[str, Any]) -> Iterator[tuple[str, Any, Any]]:
    """(keyword, just inside, just outside) for every bound of one (non-null) schema."""
    kind = schema.get("type")
    for keyword in BOUND_KEYWORDS:
        if keyword not in schema:
            continue
        bound = schema[keyword]
        up = keyword.startswith(("max", "exclusiveMax"))
        if keyword in ("minLength", "maxLength"):
            yield keyword, "a" * bound, "a" * (bound + (1 if up else -1))
        elif keyword in ("minItems", "maxItems"):
            yield keyword, bound, bound + (1 if up else -1)  # a count of items
        elif kind == "integer":
            bound = int(bound)
            step = 1 if up else -1
            if keyword.startswith("exclusive"):
                yield keyword, bound - step, bound
            else:
                yield keyword, bound, bound + step
        else:
            toward = math.inf if up else -math.inf
            if keyword.startswith("exclusive"):
                yield keyword, math.nextafter(bound, -toward), bound
            else:
                yield keyword, bound, math.nextafter(bound, toward)


def branches(schema: dict[str, Any], components: dict[str, Any]) -> list[dict[str, Any]]:
    if "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[1]]
    return [b for b in schema.get("anyOf", [schema]) if b.get("type") != "null"]


def cases(schema: dict[str, Any]) -> Iterator[tuple[str, str, str, str, Any, Any]]:
    """(operation, location, field, keyword, inside, outside) for every declared bound."""
    components = schema["components"]["schemas"]
    for key, operation in operations(schema):
        for parameter in operation.get("parameters", []):
            if parameter["in"] == "query":
                for branch in branches(parameter["schema"], components):
                    for keyword, inside, outside in bounded_values(branch):
                        yield key, "query", parameter["name"], keyword, inside, outside
        body = operation.get("requestBody", {}).get("content", {}).get("application/json")
        if body:
            for model in branches(body["schema"], components):
                for field, field_schema in model["properties"].items():
                    for branch in branches(field_schema, components):
                        for keyword, inside, outside in bounded_values(branch):
                            yield key, "body", field, keyword, inside, outside


def request_with(client: TestClient, key: str, location: str, field: str, keyword: str, value: Any) -> Any:
    if location == "query":
        return send(client, key, {field: value})
    body = {**BASES[key]["json"], **CONTEXT.get(field, {})}
    if keyword.endswith("Items"):  # a list of `value` copies of the base's first item
        value = [body[field][0]] * value
    return send(client, key, body={**body, field: value})


def test_every_declared_bound_holds_just_inside_and_just_outside(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    walked = list(cases(schema))
    assert {key for key, *_ in walked} >= {"GET /sample", "POST /sample", "GET /interpolate", "POST /train"}
    assert len(walked) > 50
    for key, location, field, keyword, inside, outside in walked:
        what = f"{key} {location}.{field} {keyword}"
        refused = request_with(client, key, location, field, keyword, outside)
        assert field in fields_of(refused), f"{what}: {outside!r} is not refused naming {field}"
        accepted = request_with(client, key, location, field, keyword, inside)
        if (key, field) in REFUSED_INSIDE:
            assert accepted.json()["detail"] != refused.json()["detail"], what
        else:
            assert accepted.status_code < 400, f"{what}: {inside!r} refused: {accepted.text}"


def test_every_body_declares_its_size_cap_and_the_cap_is_exact(make_client: MakeClient) -> None:
    client = make_client(max_request_bytes=4096, max_upload_bytes=2048)
    with_bodies = [
        (key, op) for key, op in operations(client.get("/openapi.json").json()) if op.get("requestBody")
    ]
    assert {key for key, _ in with_bodies} >= {"POST /sample", "POST /train", "POST /datasets"}
    for key, operation in with_bodies:
        method, path = key.split(" ", 1)
        most = operation["x-max-body-bytes"]
        assert most == (2048 + 64 * 1024 if path == "/datasets" else 4096), key
        kind = "multipart/form-data; boundary=x" if path == "/datasets" else "application/json"
        over = client.request(method, path, content=b" " * (most + 1), headers={"content-type": kind})
        assert problem(over, 413)["detail"] == f"request body too large (limit {most} bytes)", key
        # The cap itself is accepted by the size check (the junk body is then refused as such).
        at_cap = client.request(method, path, content=b" " * most, headers={"content-type": kind})
        assert at_cap.status_code in (400, 422), (key, at_cap.text)
