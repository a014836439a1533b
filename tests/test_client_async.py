"""The async client against the real stack: the same calls as the sync one, awaited."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Iterator
from typing import Any

import pytest

from client import AsyncGanServeClient, Conflict, ModelNotFound, ValidationFailed
from tests.support.configs import TINY_TRAINING
from tests.test_client import client_service

API_KEY = "async-client-key"
MODEL = "async-client"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TINY: dict[str, Any] = {**TINY_TRAINING, "steps": 20, "checkpoint_every": 10}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with client_service(tmp_path_factory, "async-client", API_KEY, MODEL) as url:
        yield url


async def train_wait_and_serve(server: str) -> None:
    async with AsyncGanServeClient(server, api_key=API_KEY, timeout=30) as client:
        assert await client.health() == {"status": "ok"}
        job = await client.train(TINY, name=MODEL)
        reports: list[dict[str, Any]] = []
        final = await client.wait(job["id"], timeout=180, on_progress=reports.append)
        assert final["status"] == "succeeded" and final == await client.job(job["id"])
        steps = [report["progress"]["step"] for report in reports]
        assert len(set(steps)) >= 2 and steps == sorted(steps) and steps[-1] == TINY["steps"]

        events = [event async for event in client.events(job["id"])]
        assert events[0]["event"] == "source" and events[-1]["event"] == "end"
        assert events[-1]["data"]["status"] == "succeeded"

        assert MODEL in [m["name"] for m in await client.models()]
        assert job["id"] in [j["id"] for j in await client.jobs()]
        assert "digits" in [d["name"] for d in await client.datasets()]
        single, grid = await asyncio.gather(
            client.sample(seed=3, model=MODEL), client.sample(seed=3, model=MODEL, count=4)
        )
        assert single.startswith(PNG_MAGIC) and grid.startswith(PNG_MAGIC) and single != grid
        strip = await client.interpolate(3, 9, steps=4, model=MODEL)
        assert strip.frame_count == 4 and strip.png.startswith(PNG_MAGIC)

        with pytest.raises(ModelNotFound) as unknown:
            await client.model("no-such-model")
        assert MODEL in unknown.value.available
        with pytest.raises(ValidationFailed) as invalid:
            await client.sample(count=0, model=MODEL)
        assert invalid.value.fields == ["count"]
        with pytest.raises(Conflict):
            await client.cancel(job["id"])
        long = await client.train({**TINY, "steps": 100_000}, name="async-long")
        with pytest.raises(TimeoutError):
            await client.wait(long["id"], timeout=0.5)
        assert (await client.cancel(long["id"]))["status"] in ("cancelled", "running", "queued")


def test_async_client_trains_waits_and_serves(server: str) -> None:
    # On a thread of its own: in a full run the browser tests' session-scoped Playwright (its
    # sync API) keeps an event loop running on the main thread, where asyncio.run refuses to.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as thread:
        thread.submit(asyncio.run, train_wait_and_serve(server)).result()
