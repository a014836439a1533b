"""The asynchronous client: :class:`client.GanServeClient`'s methods as coroutines.

    async with AsyncGanServeClient("http://127.0.0.1:8000") as client:
        job = await client.train({"dataset": "digits", "steps": 200})
        await client.wait(job["id"], on_progress=lambda job: print(job["progress"]))
        png = await client.sample(seed=7, model=job["model"], count=16)

It sends the same calls (``client.sampling``, ``client.jobs``, ``client.datasets``) over an
``httpx.AsyncClient``, and waits with the same :class:`client.waiting.Waiter`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from client import datasets as dataset_routes
from client import jobs as job_routes
from client import sampling
from client.sse import SseParser
from client.transport import AsyncTransport, async_route
from client.waiting import OnProgress, Waiter


class AsyncGanServeClient(AsyncTransport):
    """Async client for one ganserve server; use it with ``async with`` (or ``await aclose()``).

    Its arguments are :class:`client.GanServeClient`'s, with an ``httpx.AsyncClient`` as
    ``http_client``; its methods are the same, each a coroutine, and ``events`` an async
    iterator.
    """

    health = async_route(sampling.health)
    ready = async_route(sampling.ready)
    models = async_route(sampling.models)
    model = async_route(sampling.model)
    sample = async_route(sampling.sample)
    sample_latents = async_route(sampling.sample_latents)
    interpolate = async_route(sampling.interpolate)
    train = async_route(job_routes.train)
    plan = async_route(job_routes.plan)
    job = async_route(job_routes.job)
    jobs = async_route(job_routes.jobs)
    cancel = async_route(job_routes.cancel)
    upload_dataset = async_route(dataset_routes.upload_dataset)
    datasets = async_route(dataset_routes.datasets)

    async def events(self, job_id: str, last_event_id: str | None = None) -> AsyncIterator[dict[str, Any]]:
        """Server-sent events of a job, as :meth:`client.GanServeClient.events` gives them."""
        parser = SseParser()
        async with self._stream(
            job_routes.events(job_id, last_event_id), self._stream_timeout(None)
        ) as response:
            async for line in response.aiter_lines():
                if (event := parser.feed(line)) is not None:
                    yield event
        if (event := parser.flush()) is not None:
            yield event

    async def wait(
        self, job_id: str, timeout: float = 600, poll: float = 0.5, on_progress: OnProgress | None = None
    ) -> dict[str, Any]:
        """Follow a job until it is final, as :meth:`client.GanServeClient.wait` does."""
        waiter = Waiter(job_id, timeout, poll, on_progress)
        while waiter.streaming:
            with waiter.reading():
                async with self._stream(*waiter.next_stream(self._timeout)) as response:
                    async for line in response.aiter_lines():
                        if waiter.line(line):
                            break
        while (pause := waiter.polled(await self.job(job_id))) is not None:
            await asyncio.sleep(pause)
        return waiter.record


AsyncClient = AsyncGanServeClient
