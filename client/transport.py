"""The HTTP side of the clients: base URL, API key, timeouts, sending calls, error answers.

A route is a function that returns a :class:`~client.calls.Call`; :func:`sync_route` and
:func:`async_route` make it a method of :class:`Transport` (``GanServeClient``) or
:class:`AsyncTransport` (``AsyncGanServeClient``), which send the call, follow a listing's
pages and read the answer. Neither transport knows any route.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from contextlib import asynccontextmanager, contextmanager
from types import TracebackType
from typing import Any, Concatenate, Generic, ParamSpec, Self, TypeVar

import httpx

from client.calls import Call, request_args
from client.errors import error_from

P = ParamSpec("P")
T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])
H = TypeVar("H", httpx.Client, httpx.AsyncClient)


class Connection(Generic[H]):
    """Where the server is, how to speak to it, and the HTTP client ``H`` that does; the
    arguments are documented on :class:`client.GanServeClient`."""

    def __init__(
        self, base_url: str, api_key: str | None = None, timeout: float = 30.0, http_client: H | None = None
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._timeout = timeout
        self._owns_http = http_client is None
        self._http: H = http_client or self._new_http(timeout)

    def _new_http(self, timeout: float) -> H:
        raise NotImplementedError

    def _args(self, call: Call[Any], timeout: float | httpx.Timeout | None = None) -> Any:
        """``request_args`` of ``call`` for this server (a context manager)."""
        return request_args(call, self.base_url, self._headers, self._timeout if timeout is None else timeout)

    def _stream_timeout(self, read: float | None) -> httpx.Timeout:
        return httpx.Timeout(self._timeout, read=read)


class Transport(Connection[httpx.Client]):
    """One ``httpx.Client`` to one ganserve server."""

    def _new_http(self, timeout: float) -> httpx.Client:
        return httpx.Client(timeout=timeout)

    def close(self) -> None:
        """Close the HTTP connection pool if this client made it (a passed-in ``http_client`` stays open)."""
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _send(self, call: Call[Any]) -> httpx.Response:
        with self._args(call) as args:
            response = self._http.request(**args)
        if response.is_error:
            raise error_from(response)
        return response

    def _run(self, call: Call[T]) -> T:
        """Send ``call`` (and a listing's further pages); its result."""
        response = self._send(call)
        result = call.read(response)
        while (page := call.next_page(response)) is not None:
            response = self._send(page)
            result = call.merged(result, page.read(response))
        return result

    @contextmanager
    def _stream(self, call: Call[Any], timeout: httpx.Timeout) -> Iterator[httpx.Response]:
        """``call``'s response, open for reading line by line."""
        with self._args(call, timeout) as args, self._http.stream(**args) as response:
            if response.is_error:
                response.read()
                raise error_from(response)
            yield response


class AsyncTransport(Connection[httpx.AsyncClient]):
    """One ``httpx.AsyncClient`` to one ganserve server."""

    def _new_http(self, timeout: float) -> httpx.AsyncClient:
        return httpx.AsyncClient(timeout=timeout)

    async def aclose(self) -> None:
        """Close the HTTP connection pool if this client made it (a passed-in ``http_client`` stays open)."""
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def _send(self, call: Call[Any]) -> httpx.Response:
        with self._args(call) as args:
            response = await self._http.request(**args)
        if response.is_error:
            raise error_from(response)
        return response

    async def _run(self, call: Call[T]) -> T:
        """Send ``call`` (and a listing's further pages); its result."""
        response = await self._send(call)
        result = call.read(response)
        while (page := call.next_page(response)) is not None:
            response = await self._send(page)
            result = call.merged(result, page.read(response))
        return result

    @asynccontextmanager
    async def _stream(self, call: Call[Any], timeout: httpx.Timeout) -> AsyncIterator[httpx.Response]:
        """``call``'s response, open for reading line by line."""
        with self._args(call, timeout) as args:
            async with self._http.stream(**args) as response:
                if response.is_error:
                    await response.aread()
                    raise error_from(response)
                yield response


def sync_route(route: Callable[P, Call[T]]) -> Callable[Concatenate[Transport, P], T]:
    """``route`` as a method of a :class:`Transport`: it builds the call, the client sends it."""

    def method(client: Transport, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return client._run(route(*args, **kwargs))

    return _like(method, route)


def async_route(
    route: Callable[P, Call[T]],
) -> Callable[Concatenate[AsyncTransport, P], Coroutine[Any, Any, T]]:
    """``route`` as a coroutine method of an :class:`AsyncTransport`."""

    async def method(client: AsyncTransport, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return await client._run(route(*args, **kwargs))

    return _like(method, route)


def _like(method: F, route: Callable[..., Any]) -> F:
    """``method`` named and documented as ``route``, with its parameters after ``self`` (so
    that ``help()`` and ``inspect.signature`` show what to pass)."""
    method.__name__ = route.__name__
    method.__qualname__ = route.__name__
    method.__doc__ = route.__doc__
    signature = inspect.signature(route)
    this = inspect.Parameter("self", inspect.Parameter.POSITIONAL_ONLY)
    method.__signature__ = signature.replace(parameters=[this, *signature.parameters.values()])  # type: ignore[attr-defined]
    return method
