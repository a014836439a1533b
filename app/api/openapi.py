"""The OpenAPI document, completed with what FastAPI cannot infer: the shape of every error.

FastAPI documents a 422 as its validation list and leaves other error statuses without a body.
Our handlers also answer 422 with a plain string (``{"detail": "count must be ..."}``), 401 on
every route that takes the API key, 507 (disk full) on those same routes (the ones that
write), and 400 (unparsable) and 413 (too large) on every route with a body; a client (or a
schema fuzzer) reading the document would otherwise be told the wrong shape or no shape at all.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

ERROR_SCHEMA_NAME = "ErrorBody"
ERROR_REF = {"$ref": f"#/components/schemas/{ERROR_SCHEMA_NAME}"}
ERROR_SCHEMA: dict[str, Any] = {
    "title": ERROR_SCHEMA_NAME,
    "type": "object",
    "required": ["detail"],
    "description": "Every 4xx and 5xx body: `detail` is a short sentence, or FastAPI's list of "
    "validation errors (each with `loc`, `msg`, `type`) for a malformed request.",
    "properties": {
        "detail": {
            "anyOf": [
                {"type": "string", "minLength": 1},
                {"type": "array", "items": {"$ref": "#/components/schemas/ValidationError"}},
            ],
        },
    },
}
UNAUTHORIZED = "The API key is missing or wrong (GAN_API_KEY is set on this server)."
UNPARSABLE = "The body cannot be parsed (e.g. it is not UTF-8 text where JSON is expected)."
TOO_LARGE = "The request body is larger than the server accepts."
DISK_FULL = "The data folder's disk is full; nothing was left half-made. Free space and retry."


def document_errors(schema: dict[str, Any]) -> dict[str, Any]:
    """Give every error response of ``schema`` the ``ErrorBody`` shape; add 401, 413 and 507
    where they can happen. Mutates and returns ``schema``."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components[ERROR_SCHEMA_NAME] = ERROR_SCHEMA
    components.pop("HTTPValidationError", None)
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            if operation.get("security"):
                responses.setdefault("401", {"description": UNAUTHORIZED})
                responses.setdefault("507", {"description": DISK_FULL})
            if operation.get("requestBody"):
                responses.setdefault("400", {"description": UNPARSABLE})
                responses.setdefault("413", {"description": TOO_LARGE})
            for code, response in responses.items():
                if code[:1] in ("4", "5"):
                    response["content"] = {"application/json": {"schema": ERROR_REF}}
    return schema


def install(app: FastAPI) -> None:
    """Make ``app.openapi()`` return the completed document (built once, then cached)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_errors(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
