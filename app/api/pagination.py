"""Offset pagination for listings that grow with use (jobs, models).

A page is still a bare JSON list, so clients that read one page keep working; the total goes in
``X-Total-Count`` and the following page in an RFC 8288 ``Link: <...>; rel="next"`` header, the
way GitHub's API pages. Bounding the page bounds what one request serialises and sends, however
many jobs and models a long-lived server has accumulated.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, TypeVar

from fastapi import Depends, Query, Request, Response
from pydantic import BaseModel

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000

T = TypeVar("T")


class PageRequest(BaseModel):
    limit: int
    offset: int


def page_request(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="items per page")] = DEFAULT_LIMIT,
    offset: Annotated[int, Query(ge=0, le=10**9, description="items to skip")] = 0,
) -> PageRequest:
    """The ``limit`` and ``offset`` query parameters as a PageRequest (the ``PageDep`` dependency)."""
    return PageRequest(limit=limit, offset=offset)


PageDep = Annotated[PageRequest, Depends(page_request)]

PAGE_HEADERS = {
    "X-Total-Count": {"description": "Items in the whole listing.", "schema": {"type": "integer"}},
    "Link": {
        "description": 'The next page as `<url>; rel="next"`, while there is one.',
        "schema": {"type": "string"},
    },
}


def paginate(items: Sequence[T], page: PageRequest, request: Request, response: Response) -> list[T]:
    """The requested slice of ``items``; sets the total and, if more follow, the next link."""
    response.headers["X-Total-Count"] = str(len(items))
    end = page.offset + page.limit
    if end < len(items):
        # Keep the caller's other parameters (e.g. ?status=) so the link is the same query.
        following = request.url.include_query_params(limit=page.limit, offset=end)
        response.headers["Link"] = f'<{following.path}?{following.query}>; rel="next"'
    return list(items[page.offset : end])
