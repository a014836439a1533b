"""What every error answer must be: an RFC 9457 problem (app/api/errors.py), checked on every
response the app's tests receive."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi.testclient import TestClient

PROBLEM_MEMBERS = {"type": str, "title": str, "status": int, "detail": str}


def assert_problem(response: httpx.Response) -> dict[str, Any]:
    """The problem body of an error ``response``, after checking its media type and members."""
    media_type = response.headers.get("content-type")
    if isinstance(media_type, list):  # schemathesis' responses keep every value of a header
        media_type = media_type[0] if len(media_type) == 1 else media_type
    assert media_type == "application/problem+json", response.headers
    body = response.json()
    for member, kind in PROBLEM_MEMBERS.items():
        assert isinstance(body.get(member), kind), (member, body)
    assert body["status"] == response.status_code and body["detail"].strip(), body
    assert body["type"].startswith("/problems/"), body
    if response.status_code == 422:
        assert body["errors"], body
        for error in body["errors"]:
            assert set(error) == {"location", "field", "message"}, error
            assert all(isinstance(value, str) for value in error.values()), error
    return body  # type: ignore[no-any-return]


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """The problem body of ``response``, which must have ``status``."""
    assert response.status_code == status, response.text
    return assert_problem(response)


def fields_of(response: httpx.Response) -> set[str]:
    """The fields a validation problem names."""
    return {error["field"] for error in problem(response, 422)["errors"]}


def checking_problems(client: TestClient) -> TestClient:
    """``client``, checking that every 4xx/5xx it receives is a problem (streams included)."""

    def check(response: httpx.Response) -> None:
        if response.status_code >= 400:
            response.read()
            assert_problem(response)

    client.event_hooks["response"] = [*client.event_hooks["response"], check]
    return client
