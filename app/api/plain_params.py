"""A route class for hot GET routes: plain query and header parameters, validated without
FastAPI's per-request introspection.

FastAPI inspects every parameter's type again on every request (a sequence? a model? JSON?
which alias?) before validating it: about 6 µs a parameter, 60 µs for the eight of
``GET /sample``, a fifth of the event loop's time per image in a profile under load; its
handler also keeps per-request books for features these routes do not use (dependency caches,
telemetry spans). :class:`PlainParamsRoute` does the inspection once, when the route is built,
validates each parameter a request carries with the validator FastAPI itself would use (the
route's own ``ModelField``, so the endpoint gets the same values) and calls the endpoint. That
cut the event loop's CPU per ``GET /sample`` by a third (docs/benchmarks.md, "Per-request
overhead").

Unknown and repeated query keys are refused first, as on every route (app/api/strict.py).
Everything else goes to FastAPI's own handler, unchanged: a request with a value that fails
validation or without a required parameter (so every 422 body is FastAPI's), and every route
whose parameters are not all plain (dependencies, including a router's, a body, models, lists,
cookies, path parameters, ...). FastAPI's telemetry spans for the endpoint are not opened on
the fast path.
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Literal

from fastapi import Request, Response, params
from fastapi.dependencies.models import Dependant
from pydantic import Json

from app.api.strict import StrictRoute, effective_dependant

Handler = Callable[[Request], Coroutine[Any, Any, Response]]
_SCALARS = (int, float, str, bool)
_IMMUTABLE_DEFAULTS = (type(None), int, float, str, bool)


@dataclass(frozen=True)
class _Param:
    name: str  # the endpoint's argument
    key: str  # where the request carries it (query key, or header name)
    in_header: bool
    loc: tuple[str, str]  # FastAPI's error location, for its validate()
    required: bool
    default: Any
    field: Any  # FastAPI's ModelField: validate(value, values, loc=...) -> (value, errors)


class PlainParamsRoute(StrictRoute):
    """A ``StrictRoute`` that validates plain query and header parameters itself (module doc)."""

    def get_route_handler(self) -> Handler:
        """FastAPI's handler, or one that validates the plain query and header parameters itself."""
        handler = super().get_route_handler()  # the strict check, then FastAPI's
        dependant = effective_dependant(self)
        plan = None if dependant is None else _plan(dependant)
        if plan is None or dependant is None or dependant.call is None:
            return handler
        endpoint = dependant.call
        request_name, fields = plan
        rule = self.query_rule()

        async def plain_params_handler(request: Request) -> Response:
            values: dict[str, Any] = {request_name: request}
            query, headers = request.query_params, request.headers
            if request.scope["query_string"]:
                rule.check(query)
            for param in fields:
                raw = headers.get(param.key) if param.in_header else query.get(param.key)
                if raw is None:
                    if param.required:
                        return await handler(request)  # FastAPI reports it missing
                    values[param.name] = param.default
                    continue
                value, errors = param.field.validate(raw, values, loc=param.loc)
                if errors:
                    return await handler(request)  # FastAPI reports it, as ever
                values[param.name] = value
            response = await endpoint(**values)
            if not isinstance(response, Response):  # the plan checked the annotation; be sure
                raise TypeError(f"{self.path} must return a Response, got {type(response)}")
            return response

        return plain_params_handler


def _plan(dependant: Dependant) -> tuple[str, list[_Param]] | None:
    """The request argument's name and the plain parameters, or None if the route has more."""
    if (
        dependant.dependencies
        or dependant.body_params
        or dependant.path_params
        or dependant.cookie_params
        or dependant.request_param_name is None
        or dependant.websocket_param_name
        or dependant.http_connection_param_name
        or dependant.response_param_name
        or dependant.background_tasks_param_name
        or dependant.security_scopes_param_name
        or dependant.call is None
        or not inspect.iscoroutinefunction(dependant.call)
        or _return_annotation(dependant.call) is not Response
    ):
        return None
    fields: list[_Param] = []
    for field, location in [(f, "query") for f in dependant.query_params] + [
        (f, "header") for f in dependant.header_params
    ]:
        info = field.field_info
        # The request key FastAPI reads (header names come converted, "if-none-match").
        key = getattr(field, "validation_alias", None) or field.alias
        if (
            not _is_plain(info.annotation)
            or not isinstance(key, str)
            or field.config
            or info.validation_alias not in (None, key)
            or info.validate_default
            or not (info.is_required() or isinstance(field.default, _IMMUTABLE_DEFAULTS))
            or any(type(item) is Json for item in info.metadata)
            or not isinstance(info, params.Header if location == "header" else params.Query)
        ):
            return None
        fields.append(
            _Param(
                field.name,
                key,
                location == "header",
                (location, key),
                info.is_required(),
                field.default,
                field,
            )
        )
    return dependant.request_param_name, fields


def _is_plain(annotation: Any) -> bool:
    """int, float, str, bool, a Literal of such values, or one of these or None."""
    origin = typing.get_origin(annotation)
    if origin is Literal:
        return all(isinstance(value, _SCALARS) for value in typing.get_args(annotation))
    if origin in (typing.Union, types.UnionType):
        args = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        return len(args) == 1 and _is_plain(args[0])
    return annotation in _SCALARS


def _return_annotation(function: Callable[..., Any]) -> Any:
    try:
        return typing.get_type_hints(function).get("return")
    except (NameError, TypeError):
        return None
