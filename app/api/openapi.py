"""The OpenAPI document, completed with what FastAPI cannot infer: the shape of every error,
and the bounds this server's settings set.

Every 4xx and 5xx is a problem (app/api/errors.py); FastAPI would document a 422 as its own
validation list and leave other error statuses without a body. 422 can happen on every route
(an unknown query parameter), 401 and 507 (disk full) on every route that takes the API key,
400 (unparsable) and 413 (too large) on every route with a body. The settings-derived maxima
(app/core/bounds.py) are written in with this app's values, so a client (or a schema fuzzer)
reads exactly the bounds the server enforces.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from pydantic import BaseModel

from app.api.errors import PROBLEM_MEDIA_TYPE
from app.core.bounds import SERVER_LIMITS
from app.core.limits import body_limit_bytes
from common.settings import Settings

BOUND_KEYS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")
PROBLEM_SCHEMA_NAME = "Problem"
PROBLEM_REF = {"$ref": f"#/components/schemas/{PROBLEM_SCHEMA_NAME}"}
PROBLEM_SCHEMA: dict[str, Any] = {
    "title": PROBLEM_SCHEMA_NAME,
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "description": "Every 4xx and 5xx body (RFC 9457, `application/problem+json`). `type` is one "
    "of the README's problem types; `errors` comes with validation problems (422); an unknown "
    "model's 404 adds `available` (up to 20 names) and `available_count`.",
    "properties": {
        "type": {"type": "string", "description": "e.g. /problems/validation"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string", "minLength": 1, "description": "what went wrong, in words"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["location", "field", "message"],
                "properties": {
                    "location": {"type": "string", "description": "query, body, path, header or form"},
                    "field": {"type": "string", "description": "dotted path; empty for the whole"},
                    "message": {"type": "string"},
                },
            },
        },
    },
    "additionalProperties": True,
}
INVALID = (
    "Invalid request: an unknown or repeated parameter, or a value out of bounds; `errors` locates each."
)
UNAUTHORIZED = "The API key is missing or wrong (GAN_API_KEY is set on this server)."
UNPARSABLE = "The body cannot be parsed (e.g. it is not UTF-8 text where JSON is expected)."
TOO_LARGE = "The request body is larger than the server accepts."
# Where each operation with a body declares this server's cap on its size, in bytes.
MAX_BODY_KEY = "x-max-body-bytes"
DISK_FULL = "The data folder's disk is full; nothing was left half-made. Free space and retry."


def document_errors(schema: dict[str, Any]) -> dict[str, Any]:
    """Give every error response of ``schema`` the ``Problem`` shape; add 422 everywhere, and
    401, 413 and 507 where they can happen. Mutates and returns ``schema``."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components[PROBLEM_SCHEMA_NAME] = PROBLEM_SCHEMA
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            responses.setdefault("422", {"description": INVALID})
            if operation.get("security"):
                responses.setdefault("401", {"description": UNAUTHORIZED})
                responses.setdefault("507", {"description": DISK_FULL})
            if operation.get("requestBody"):
                responses.setdefault("400", {"description": UNPARSABLE})
                responses.setdefault("413", {"description": TOO_LARGE})
            for code, response in responses.items():
                if code[:1] in ("4", "5"):
                    response["content"] = {PROBLEM_MEDIA_TYPE: {"schema": PROBLEM_REF}}
    return schema


def document_limits(schema: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """Write this server's maxima (app/core/bounds.py) where the schema declares the field."""
    components = schema.get("components", {}).get("schemas", {})
    for limit in SERVER_LIMITS:
        value = limit.value(settings)
        for owner in limit.owners:
            if limit.location == "body":
                targets = [components[owner]["properties"][limit.field]]
            else:
                method, path = owner.split(" ", 1)
                parameters = schema["paths"][path][method.lower()]["parameters"]
                targets = [p["schema"] for p in parameters if p["in"] == "query" and p["name"] == limit.field]
            for target in targets:
                _set_bound(target, limit.keyword, value, limit.env_name())
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            if operation.get("requestBody"):
                most = body_limit_bytes(settings, method, path)
                operation[MAX_BODY_KEY] = most
                operation["responses"]["413"]["description"] = f"{TOO_LARGE} (at most {most} bytes here)"
    return schema


def _set_bound(target: dict[str, Any], keyword: str, value: int, env_name: str) -> None:
    # A nullable field is anyOf [the type, null]: the bound belongs to the non-null branch.
    for branch in _branches(target):
        branch[keyword] = value
    target["description"] = (target.get("description", "") + f" (at most {value} here: {env_name})").strip()


def exact_bounds(schema: dict[str, Any], routes: Iterable[APIRoute]) -> dict[str, Any]:
    """Put the request bodies' bounds back as pydantic states them.

    FastAPI's OpenAPI model holds ``minimum``/``maximum`` as floats, so 2**63 - 1 (the seed's
    bound) came out as 9.223372036854776e18, one above the bound the code enforces.
    """
    components = schema.get("components", {}).get("schemas", {})
    for route in routes:
        model = route.body_field.field_info.annotation if route.body_field is not None else None
        if not (isinstance(model, type) and issubclass(model, BaseModel)) or model.__name__ not in components:
            continue
        exact = model.model_json_schema()["properties"]
        for name, target in components[model.__name__].get("properties", {}).items():
            for ours, theirs in zip(_branches(target), _branches(exact.get(name, {})), strict=False):
                ours.update({key: theirs[key] for key in BOUND_KEYS if key in theirs})
    return schema


def _branches(schema: dict[str, Any]) -> list[dict[str, Any]]:
    return [b for b in schema.get("anyOf", [schema]) if b.get("type") != "null"]


def install(app: FastAPI, settings: Settings, routes: Iterable[APIRoute]) -> None:
    """Make ``app.openapi()`` return the completed document (built once, then cached)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = exact_bounds(document_errors(generate()), routes)
            app.openapi_schema = document_limits(document, settings)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
