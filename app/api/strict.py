"""Strict query strings: a parameter a route does not take, or a single-valued one given twice,
is a 422, never silently ignored (``GET /sample?seeed=42`` used to answer seed 0 with a 200).

:class:`StrictRoute` learns a route's query parameters once, when its handler is built (its
own and its dependencies', under their aliases), and checks each request's keys against them
before FastAPI's handler runs. The check is a set comparison, and nothing at all for a request
without a query string (docs/benchmarks.md, "Strict query check"). Forms are checked where they
are parsed (``POST /datasets``, the one route with a form).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass
from typing import Any

from fastapi import Request, Response, routing
from fastapi._compat import field_annotation_is_sequence
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.datastructures import QueryParams

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


@dataclass(frozen=True)
class QueryRule:
    """The query keys a route accepts, and which of them may repeat (list parameters)."""

    accepted: frozenset[str]
    repeatable: frozenset[str]

    def check(self, query: QueryParams) -> None:
        """Raise a 422 (``RequestValidationError``) for unknown or repeated keys."""
        if len(query.multi_items()) == len(query) and self.accepted.issuperset(query.keys()):
            return  # the common case: one comparison
        raise RequestValidationError(self.problems(query.multi_items()))

    def problems(self, items: Iterable[tuple[str, str]]) -> list[dict[str, Any]]:
        """FastAPI-style error items for every unknown key and every repeated single-valued one."""
        accepted = ", ".join(sorted(self.accepted)) or "none"
        counts: dict[str, int] = {}
        for key, _ in items:
            counts[key] = counts.get(key, 0) + 1
        out: list[dict[str, Any]] = []
        for key, count in counts.items():
            if key not in self.accepted:
                message = f"unknown query parameter; accepted: {accepted}"
                out.append({"type": "extra_forbidden", "loc": ("query", key[:64]), "msg": message})
            elif count > 1 and key not in self.repeatable:
                message = f"given {count} times; give it once"
                out.append({"type": "repeated", "loc": ("query", key), "msg": message})
        return out


def query_rule(dependant: Dependant) -> QueryRule:
    """The query keys of ``dependant`` and its dependencies (by the alias a request uses)."""
    accepted: set[str] = set()
    repeatable: set[str] = set()
    pending = [dependant]
    while pending:
        current = pending.pop()
        pending.extend(current.dependencies)
        for field in current.query_params:
            key = getattr(field, "validation_alias", None) or field.alias
            accepted.add(key)
            if field_annotation_is_sequence(field.field_info.annotation):
                repeatable.add(key)
    return QueryRule(frozenset(accepted), frozenset(repeatable))


def effective_dependant(route: APIRoute) -> Dependant | None:
    """The dependant FastAPI's own handler for this route uses, or None if it cannot be told.

    A route included in a router is served through an "effective" copy that may carry the
    including router's dependencies; FastAPI builds that copy's handler with the copy in a
    context variable, and its ``get_route_handler`` reads it from there. So do we. Should a
    FastAPI release move it, callers fall back to the route's own dependant or switch off.
    """
    context_var = getattr(routing, "_effective_route_context_var", None)
    if context_var is None:
        return None
    context = context_var.get()
    if context is not None and getattr(context, "original_route", None) is route:
        dependant = getattr(context, "dependant", None)
        return dependant if isinstance(dependant, Dependant) else None
    return route.dependant


class StrictRoute(APIRoute):
    """An ``APIRoute`` that refuses unknown and repeated query parameters (module doc)."""

    def query_rule(self) -> QueryRule:
        """This route's rule, as served (an included route's dependencies included)."""
        return query_rule(effective_dependant(self) or self.dependant)

    def get_route_handler(self) -> Handler:
        """FastAPI's handler, behind the query check."""
        handler = super().get_route_handler()
        rule = self.query_rule()

        async def strict_handler(request: Request) -> Response:
            if request.scope["query_string"]:
                rule.check(request.query_params)
            return await handler(request)

        return strict_handler
