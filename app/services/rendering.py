"""What the sampling routes render through: one forward pass per request, or micro-batched.

Both renderers give the same bytes for the same request (``app.services.batcher`` explains
why); ``GAN_BATCHING`` picks one. Both count what they do, for ``/metrics``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from app.services.pool import SamplingPool
from app.services.registry import LoadedModel
from app.services.sampler import RenderedImage, SamplingPlan, render


@dataclass
class RenderStats:
    """Counters for ``/metrics``: mean rows per pass is ``rows / forward_passes``."""

    requests: int = 0
    forward_passes: int = 0
    rows: int = 0
    failed_passes: int = 0
    largest_pass: int = 0

    def record(self, requests: int, rows: int) -> None:
        self.requests += requests
        self.forward_passes += 1
        self.rows += rows
        self.largest_pass = max(self.largest_pass, rows)


class Renderer(Protocol):
    """What the sampling routes call."""

    stats: RenderStats

    async def render(self, model: LoadedModel, plan: SamplingPlan) -> RenderedImage: ...

    def start(self) -> None: ...

    def shutdown(self) -> None: ...


class UnbatchedRenderer:
    """One forward pass per request, in the sampling pool (``GAN_BATCHING=false``)."""

    def __init__(self, pool: SamplingPool) -> None:
        self.pool = pool
        self.stats = RenderStats()

    def start(self) -> None:
        pass

    def shutdown(self) -> None:
        pass

    async def render(self, model: LoadedModel, plan: SamplingPlan) -> RenderedImage:
        rendered = await self.pool.run(render, model, plan)
        self.stats.record(1, plan.rows)
        return rendered
