"""PlainParamsRoute answers exactly as FastAPI's own route does, valid request or not.

The same endpoint is mounted twice, once through PlainParamsRoute and once through StrictRoute
(FastAPI's own handler behind the same query check), and every request below must get the same
status, headers and body from both.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import fastapi.routing
import pytest
from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from app.api.errors import validation_error_handler
from app.api.plain_params import PlainParamsRoute
from app.api.routes import samples
from app.api.strict import StrictRoute


async def echo(
    request: Request,
    seed: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0,
    start: Annotated[int | None, Query(ge=0)] = None,
    model: Annotated[str | None, Query()] = None,
    truncation: Annotated[float | None, Query(ge=0.05, allow_inf_nan=False)] = None,
    flag: Annotated[bool, Query()] = False,
    image_format: Annotated[Literal["png", "webp"], Query(alias="format")] = "png",
    if_none_match: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Response:
    values = [seed, start, model, truncation, flag, image_format, if_none_match]
    if seed == 13:
        raise HTTPException(404, detail="unlucky")
    return Response(repr(values), headers={"X-Path": request.url.path})


async def needs_end(request: Request, end: Annotated[int, Query(ge=0)]) -> Response:
    return Response(str(end))


def build(route_class: type[APIRoute], dependencies: list[Depends] | None = None) -> TestClient:
    router = APIRouter(route_class=route_class)
    router.get("/echo", response_class=Response)(echo)
    router.get("/needs-end", response_class=Response)(needs_end)
    app = FastAPI()
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.include_router(router, dependencies=dependencies or [])
    return TestClient(app)


REQUESTS: list[tuple[str, dict[str, str]]] = [
    ("/echo", {}),
    ("/echo?seed=5&model=m&truncation=0.7&flag=true&format=webp", {}),
    ("/echo?seed=007&start=0&model=", {}),
    ("/echo?seed=1&seed=2", {}),  # refused by the strict check, in both
    ("/echo?seed=1&unknown=3", {}),
    ("/echo?seed=-1", {}),
    ("/echo?seed=9223372036854775808", {}),
    ("/echo?seed=abc&start=-2", {}),
    ("/echo?seed=", {}),
    ("/echo?seed=1.0", {}),
    ("/echo?truncation=nan", {}),
    ("/echo?truncation=1e400", {}),
    ("/echo?truncation=0.01", {}),
    ("/echo?format=gif", {}),
    ("/echo?image_format=webp", {}),  # not the alias: unknown
    ("/echo?flag=yes", {}),
    ("/echo?flag=maybe", {}),
    ("/echo?seed=13", {}),  # the endpoint's own HTTPException
    ("/echo", {"If-None-Match": '"abc"'}),
    ("/echo", {"if-none-match": 'W/"x", *'}),
    ("/needs-end", {}),
    ("/needs-end?end=4", {}),
    ("/needs-end?end=x", {}),
]


@pytest.mark.parametrize(("path", "headers"), REQUESTS)
def test_answers_equal_fastapis(path: str, headers: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    solved: list[str] = []  # requests FastAPI's own handler took
    solve = fastapi.routing.solve_dependencies

    async def counting_solve(*args: Any, **kwargs: Any) -> Any:
        solved.append(kwargs["request"].url.path)
        return await solve(*args, **kwargs)

    monkeypatch.setattr(fastapi.routing, "solve_dependencies", counting_solve)
    ours, theirs = build(PlainParamsRoute), build(StrictRoute)
    expected = theirs.get(path, headers=headers)
    strict_refused = not solved  # the query check answered before FastAPI's handler
    assert len(solved) == (0 if strict_refused else 1)
    got = ours.get(path, headers=headers)
    assert got.status_code == expected.status_code
    assert got.content == expected.content
    assert got.headers == expected.headers
    # Valid requests (and the endpoint's own errors) skip FastAPI's handler; the rest take it.
    assert len(solved) == (2 if expected.status_code == 422 and not strict_refused else 1 - strict_refused)


def test_the_fast_path_serves_the_sample_routes() -> None:
    handlers = {
        (route.path, tuple(sorted(route.methods))): route.get_route_handler().__name__
        for route in samples.router.routes
        if isinstance(route, APIRoute)
    }
    assert handlers[("/sample", ("GET",))] == "plain_params_handler"
    assert handlers[("/interpolate", ("GET",))] == "plain_params_handler"
    assert handlers[("/sample", ("POST",))] != "plain_params_handler"  # a body: FastAPI's


def test_a_dependency_of_the_including_router_is_never_skipped() -> None:
    async def refuse() -> None:
        raise HTTPException(401, detail="no key")

    client = build(PlainParamsRoute, dependencies=[Depends(refuse)])
    response = client.get("/echo?seed=1")
    assert response.status_code == 401 and response.json()["detail"] == "no key"
