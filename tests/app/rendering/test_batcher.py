"""Micro-batching: batched bytes equal unbatched bytes, waits are bounded, failures stay alone.

The scheduler tests drive a real Batcher on a real registry and tiny checkpoints. A request is
held in its forward pass by a plan whose row source waits on an event: that is how the
tests know, without timing anything, that other requests arrived "during a forward pass".
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
import torch
from fastapi.testclient import TestClient
from httpx import Response

from app.rendering.affinity import CpuSet
from app.rendering.batcher import Batcher
from app.rendering.execute import render
from app.rendering.pass_costs import PASS_BUDGET_SECONDS
from app.rendering.plans import GivenRows, RenderPlan, plan_interpolation, plan_latents, plan_seeds
from app.rendering.pool import PoolBusy
from app.services.models.entries import LoadedModel
from app.services.models.registry import ModelRegistry
from common.cpus import usable_cpus
from models.inference import SamplingError, latents_for_seeds
from tests.app.conftest import MakeClient
from tests.app.tiny_models import write_tiny_model

T = TypeVar("T")
ARCHITECTURES = ["cdcgan", "cgan"]  # convolutions, and Linear layers (padded GEMMs)


@pytest.fixture(params=ARCHITECTURES)
def conditional_model(request: pytest.FixtureRequest, data_dir: Path) -> LoadedModel:
    write_tiny_model(data_dir / "models", "cond", architecture=request.param, num_classes=3)
    registry = ModelRegistry(data_dir / "models", None, cache_size=2, device="cpu")
    return registry.acquire("cond")


def run_with_batcher(
    body: Callable[[Batcher], Awaitable[T]],
    *,
    lanes: int = 1,
    max_rows: int = 64,
    max_wait: float = 0.05,
    max_queued_rows: int = 256,
    pass_budget: float = 3600.0,
    lane_cpus: list[CpuSet] | None = None,
) -> T:
    """Run ``body`` with a started Batcher.

    The pass budget is off unless a test is about it: on a busy machine a tiny pass can stall
    long enough to shrink the next batch, and these tests count passes.
    """

    async def main() -> T:
        batcher = Batcher(
            lanes=lanes,
            max_rows=max_rows,
            max_wait=max_wait,
            max_queued_rows=max_queued_rows,
            pass_budget=pass_budget,
            lane_cpus=lane_cpus,
        )
        batcher.start()
        try:
            return await body(batcher)
        finally:
            batcher.shutdown()

    return asyncio.run(main())


def mixed_plans(model: LoadedModel) -> list[RenderPlan]:
    """Different seeds, counts, truncations, labels, formats and operations on one model."""
    latent_dim = model.info.model_config.latent_dim
    return [
        plan_seeds(model, [1], truncation=None, label=None, columns=None, image_format="png"),
        plan_seeds(model, [2, 3, 4], truncation=None, label=None, columns=3, image_format="png"),
        plan_seeds(model, [5], truncation=0.7, label=None, columns=None, image_format="png"),
        plan_seeds(model, [6], truncation=None, label=2, columns=None, image_format="png"),
        plan_seeds(model, [7, 8, 9, 10], truncation=0.5, label=1, columns=2, image_format="png"),
        plan_seeds(model, [11], truncation=None, label=None, columns=None, image_format="webp"),
        plan_interpolation(
            model, 1, 9, steps=5, mode="slerp", truncation=None, label=None, image_format="png"
        ),
        plan_interpolation(model, 2, 3, steps=4, mode="lerp", truncation=0.9, label=0, image_format="png"),
        plan_latents(
            model,
            latents_for_seeds([12, 13], latent_dim).tolist(),
            labels=[0, 2],
            columns=None,
            image_format="png",
        ),
    ]


@dataclass(frozen=True)
class GatedRows:
    """Seed 99's row, drawn only once ``gate`` is set: it holds its pass until then."""

    gate: threading.Event
    rows: int = 1

    def draw(self, latent_dim: int) -> torch.Tensor:
        assert self.gate.wait(30), "test gate never opened"
        return latents_for_seeds([99], latent_dim)


@dataclass(frozen=True)
class BrokenRows:
    """A row source that cannot draw its rows."""

    rows: int = 1

    def draw(self, latent_dim: int) -> torch.Tensor:
        raise SamplingError("these rows cannot be drawn")


def blocked_plan(model: LoadedModel, gate: threading.Event) -> RenderPlan:
    """A one-row request that holds its forward pass until ``gate`` is set."""
    labels = (0,) if model.info.model_config.num_classes else None
    return RenderPlan(GatedRows(gate), labels, None, "png")


async def started(coroutine: Awaitable[T]) -> asyncio.Task[T]:
    """Start ``coroutine`` and let the scheduler dispatch it before returning."""
    task = asyncio.ensure_future(coroutine)
    await asyncio.sleep(0.05)
    return task


def test_one_pass_for_mixed_concurrent_requests_gives_the_unbatched_bytes(
    conditional_model: LoadedModel,
) -> None:
    plans = mixed_plans(conditional_model)
    expected = [render(conditional_model, plan).content for plan in plans]

    async def body(batcher: Batcher) -> list[bytes]:
        rendered = await asyncio.gather(*(batcher.render(conditional_model, p) for p in plans))
        # All arrived in one loop iteration: one forward pass carried every row.
        assert batcher.stats.forward_passes == 1
        assert batcher.stats.rows == sum(plan.rows for plan in plans)
        return [image.content for image in rendered]

    assert run_with_batcher(body) == expected


def test_requests_arriving_during_a_pass_form_the_next_batch(
    conditional_model: LoadedModel,
) -> None:
    plans = mixed_plans(conditional_model)
    expected = [render(conditional_model, plan).content for plan in plans]
    gate = threading.Event()

    async def body(batcher: Batcher) -> list[bytes]:
        first = await started(batcher.render(conditional_model, blocked_plan(conditional_model, gate)))
        waiting = [await started(batcher.render(conditional_model, p)) for p in plans]
        assert batcher.stats.forward_passes == 1 and not any(t.done() for t in waiting)
        gate.set()
        await first
        rendered = await asyncio.gather(*waiting)
        assert batcher.stats.forward_passes == 2  # the held pass, then everyone else together
        return [image.content for image in rendered]

    # Ten times the wait elapses while the lane is held: the wait bounds company, not the lane.
    assert run_with_batcher(body, max_wait=0.005) == expected


def test_a_lone_request_does_not_wait_for_company(conditional_model: LoadedModel) -> None:
    plan = mixed_plans(conditional_model)[0]

    async def body(batcher: Batcher) -> None:
        # With an hour's wait allowed, only the idle rule can get this served in time.
        await asyncio.wait_for(batcher.render(conditional_model, plan), timeout=20)

    run_with_batcher(body, max_wait=3600)


def test_no_request_waits_longer_than_max_wait_for_company(
    conditional_model: LoadedModel,
) -> None:
    gate = threading.Event()
    plan = mixed_plans(conditional_model)[1]

    async def body(batcher: Batcher) -> None:
        held = await started(batcher.render(conditional_model, blocked_plan(conditional_model, gate)))
        # A pass is running, so this request waits for company on the free lane, but only
        # for max_wait: it is served while the held pass still is not.
        await asyncio.wait_for(batcher.render(conditional_model, plan), timeout=20)
        assert not held.done()
        gate.set()
        await held

    run_with_batcher(body, lanes=2, max_wait=0.2)


def test_a_full_pass_leaves_at_once_on_a_free_lane(conditional_model: LoadedModel) -> None:
    gate = threading.Event()
    plan = mixed_plans(conditional_model)[1]  # three rows

    async def body(batcher: Batcher) -> None:
        held = await started(batcher.render(conditional_model, blocked_plan(conditional_model, gate)))
        # The generator's passes are known to be costly: a pass of the budget holds two rows.
        batcher.costs.row_seconds[conditional_model.generator] = batcher.costs.pass_budget / 2
        assert batcher.costs.rows_per_pass(conditional_model.generator) == 2
        # Three rows fill a pass, so the free lane takes them without waiting an hour for more.
        await asyncio.wait_for(batcher.render(conditional_model, plan), timeout=20)
        assert not held.done()
        gate.set()
        await held

    run_with_batcher(body, lanes=2, max_wait=3600, pass_budget=1.0)


def test_a_request_whose_rows_fail_fails_alone(conditional_model: LoadedModel) -> None:
    plans = mixed_plans(conditional_model)

    wrong_width = RenderPlan(GivenRows(torch.zeros(1, 3)), (0,), None, "png")
    bad = [RenderPlan(BrokenRows(), (0,), None, "png"), wrong_width]

    async def body(batcher: Batcher) -> list[Any]:
        results = await asyncio.gather(
            *(batcher.render(conditional_model, p) for p in [bad[0], *plans, bad[1]]),
            return_exceptions=True,
        )
        assert batcher.stats.forward_passes == 1 and batcher.stats.failed_passes == 0
        return results

    results = run_with_batcher(body)
    assert isinstance(results[0], SamplingError) and "cannot be drawn" in str(results[0])
    assert isinstance(results[-1], SamplingError) and "shape" in str(results[-1])
    assert [r.content for r in results[1:-1]] == [render(conditional_model, p).content for p in plans]


def test_rows_per_pass_are_capped_and_a_large_request_runs_alone(
    conditional_model: LoadedModel,
) -> None:
    gate = threading.Event()
    sizes = [3, 3, 1, 6]
    plans = [
        plan_seeds(
            conditional_model,
            list(range(10 * i, 10 * i + n)),
            truncation=None,
            label=None,
            columns=None,
            image_format="png",
        )
        for i, n in enumerate(sizes)
    ]

    async def body(batcher: Batcher) -> None:
        held = await started(batcher.render(conditional_model, blocked_plan(conditional_model, gate)))
        tasks = [await started(batcher.render(conditional_model, p)) for p in plans]
        gate.set()
        await held
        rendered = await asyncio.gather(*tasks)
        assert [r.content for r in rendered] == [render(conditional_model, p).content for p in plans]
        # [held], [3], [3, 1], [6]: never more than 4 rows unless one request has more alone.
        assert batcher.stats.forward_passes == 4
        assert batcher.stats.largest_pass == 6

    run_with_batcher(body, max_rows=4)


def test_a_pass_holds_about_the_budget_of_work(data_dir: Path) -> None:
    # 128x128 with 64 base channels: several milliseconds per image on any CPU, so 16 images
    # are well over the budget of one pass.
    write_tiny_model(data_dir / "models", "slow", image_size=128, width=64)
    model = ModelRegistry(data_dir / "models", None, cache_size=1, device="cpu").acquire("slow")
    plans = [
        plan_seeds(model, [seed], truncation=None, label=None, columns=None, image_format="png")
        for seed in range(16)
    ]
    gate = threading.Event()

    async def body(batcher: Batcher) -> None:
        held = await started(batcher.render(model, blocked_plan(model, gate)))
        tasks = [asyncio.ensure_future(batcher.render(model, plan)) for plan in plans]
        await asyncio.sleep(0.05)
        gate.set()
        await held
        rendered = await asyncio.gather(*tasks)
        assert [r.content for r in rendered] == [render(model, p).content for p in plans]
        assert batcher.stats.forward_passes > 3 and batcher.stats.largest_pass < 16
        assert batcher.costs.rows_per_pass(model.generator) < 16

    run_with_batcher(body, max_rows=64, pass_budget=PASS_BUDGET_SECONDS)


def test_a_cheap_generator_runs_one_pass_at_a_time(conditional_model: LoadedModel) -> None:
    gate = threading.Event()
    plans = mixed_plans(conditional_model)

    async def body(batcher: Batcher) -> None:
        for _ in range(10):  # the batcher learns that this generator's rows cost next to nothing
            await batcher.render(conditional_model, plans[1])
        held = await started(batcher.render(conditional_model, blocked_plan(conditional_model, gate)))
        waiting = await started(batcher.render(conditional_model, plans[0]))
        await asyncio.sleep(0.3)  # far past max_wait, with the second lane free all along
        assert not waiting.done()
        gate.set()
        await asyncio.gather(held, waiting)

    run_with_batcher(body, lanes=2, max_rows=16, max_wait=0.05, pass_budget=PASS_BUDGET_SECONDS)


def one_row_plans(model: LoadedModel, count: int) -> list[RenderPlan]:
    return [
        plan_seeds(model, [seed], truncation=None, label=None, columns=None, image_format="png")
        for seed in range(count)
    ]


def test_a_costly_generators_rows_are_shared_evenly_among_the_lanes(
    conditional_model: LoadedModel,
) -> None:
    plans = one_row_plans(conditional_model, 8)
    expected = [render(conditional_model, plan).content for plan in plans]
    generator = conditional_model.generator

    async def body(batcher: Batcher) -> None:
        # Costly rows: a pass of the budget would hold 64 of them, and a full pass more than
        # half the budget, so the generator uses every lane.
        batcher.costs.row_seconds[generator] = batcher.costs.pass_budget / 64
        rendered = await asyncio.gather(*(batcher.render(conditional_model, p) for p in plans))
        assert [r.content for r in rendered] == expected
        # Eight rows arrived together with two lanes free: two passes of four, not one of eight
        # (which would leave the second lane to whoever came next, a row or two).
        assert (batcher.stats.forward_passes, batcher.stats.largest_pass) == (2, 4)

        # A cheap generator runs one pass at a time: all eight go together.
        batcher.costs.row_seconds[generator] = batcher.costs.pass_budget / 1000
        rendered = await asyncio.gather(*(batcher.render(conditional_model, p) for p in plans))
        assert [r.content for r in rendered] == expected
        assert (batcher.stats.forward_passes, batcher.stats.largest_pass) == (3, 8)

    run_with_batcher(body, lanes=2, pass_budget=1.0)


@pytest.mark.skipif(len(usable_cpus()) < 2, reason="pinning needs two CPUs to show")
def test_each_lane_runs_on_the_cpus_it_was_given(conditional_model: LoadedModel) -> None:
    cpus = usable_cpus()
    lane_cpus = [frozenset({cpus[0]}), frozenset({cpus[-1]})]
    gate = threading.Event()

    async def body(batcher: Batcher) -> list[CpuSet]:
        held = await started(batcher.render(conditional_model, blocked_plan(conditional_model, gate)))
        # The first lane is held, so this pass starts the second.
        await asyncio.wait_for(batcher.render(conditional_model, one_row_plans(conditional_model, 1)[0]), 20)
        gate.set()
        await held
        assert batcher._lane is not None
        return [frozenset(os.sched_getaffinity(t.native_id)) for t in batcher._lane._threads]  # type: ignore[arg-type]

    assert sorted(run_with_batcher(body, lanes=2, lane_cpus=lane_cpus), key=min) == lane_cpus


def test_a_full_queue_refuses_new_requests(conditional_model: LoadedModel) -> None:
    gate = threading.Event()
    plan = mixed_plans(conditional_model)[1]  # 3 rows

    async def body(batcher: Batcher) -> None:
        held = await started(batcher.render(conditional_model, blocked_plan(conditional_model, gate)))
        queued = await started(batcher.render(conditional_model, plan))
        with pytest.raises(PoolBusy):
            await batcher.render(conditional_model, plan)
        gate.set()
        await asyncio.gather(held, queued)

    run_with_batcher(body, max_queued_rows=4)


# -- over HTTP -----------------------------------------------------------------------------------
HTTP_REQUESTS: list[tuple[str, str, dict[str, Any]]] = [
    ("GET", "/sample", {"seed": 1}),
    ("GET", "/sample", {"seed": 2, "count": 3, "columns": 3}),
    ("GET", "/sample", {"seed": 3, "truncation": 0.7}),
    ("GET", "/sample", {"seed": 4, "label": 2}),
    ("GET", "/sample", {"seed": 5, "count": 4, "truncation": 0.5, "label": 1}),
    ("GET", "/sample", {"seed": 6, "format": "webp"}),
    ("GET", "/sample", {"seed": 7, "label": 3}),  # bad: the model has classes 0..2
    ("GET", "/interpolate", {"start": 1, "end": 9, "steps": 5}),
    ("GET", "/interpolate", {"start": 2, "end": 3, "steps": 4, "mode": "lerp", "label": 0}),
    ("POST", "/sample", {"latents": [[0.1] * 8, [-0.3] * 8], "labels": [0, 2]}),
] * 3


def send(client: TestClient, method: str, path: str, arguments: dict[str, Any]) -> tuple[int, bytes]:
    if method == "POST":
        return outcome(client.post(path, json=arguments))
    return outcome(client.get(path, params=arguments))


def outcome(response: Response) -> tuple[int, bytes]:
    return response.status_code, response.content


@pytest.fixture
def conditional_clients(make_client: MakeClient, data_dir: Path) -> Iterator[dict[str, TestClient]]:
    write_tiny_model(data_dir / "models", "cond", architecture="cgan", num_classes=3)
    yield {
        "batched": make_client(default_model="cond", batching=True, batch_max_wait_ms=20),
        "unbatched": make_client(default_model="cond", batching=False),
    }


def test_concurrent_http_requests_match_unbatched_and_a_bad_one_fails_alone(
    conditional_clients: dict[str, TestClient],
) -> None:
    batched, unbatched = conditional_clients["batched"], conditional_clients["unbatched"]
    expected = [send(unbatched, *request) for request in HTTP_REQUESTS]
    assert send(batched, "GET", "/sample", {"seed": 0})[0] == 200  # loads the model
    with ThreadPoolExecutor(len(HTTP_REQUESTS)) as threads:
        got = list(threads.map(lambda request: send(batched, *request), HTTP_REQUESTS))
    for request, (status, content), (expected_status, expected_content) in zip(
        HTTP_REQUESTS, got, expected, strict=True
    ):
        assert status == expected_status, request
        assert content == expected_content, request
    statuses = [status for status, _ in got]
    assert statuses.count(422) == 3 and statuses.count(200) == len(HTTP_REQUESTS) - 3
    assert b"label must be in 0..2" in got[6][1]
    stats = batched.app.state.runtime.renderer.stats  # type: ignore[attr-defined]
    assert stats.requests == len(HTTP_REQUESTS) - 3 + 1 and stats.failed_passes == 0


def test_metrics_report_passes_rows_and_memory(conditional_clients: dict[str, TestClient]) -> None:
    client = conditional_clients["batched"]
    client.get("/sample", params={"seed": 1, "count": 4})
    text = client.get("/metrics").text
    assert "ganserve_render_forward_passes_total 1.0" in text
    assert "ganserve_render_forward_rows_total 4.0" in text
    assert "ganserve_loaded_models_parameter_bytes " in text
    assert "process_resident_memory_bytes " in text
