"""What the sampling routes render through: each plan on its own, or micro-batched.

Both renderers give the same bytes for the same request (``app.rendering.execute`` explains
why); ``GAN_BATCHING`` picks one. Both count what they do, for ``/metrics``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from app.rendering.execute import RenderedImage, render
from app.rendering.plans import RenderPlan
from app.rendering.pool import SamplingPool
from app.services.models.entries import LoadedModel


@dataclass
class RenderStats:
    """Counters for ``/metrics``: mean rows per pass is ``rows / forward_passes``.

    A "forward pass" here is one lane job (one plan unbatched, one batch batched), whose
    passes of at most ``models.inference.MAX_PASS_ROWS`` rows run back to back.
    """

    requests: int = 0
    forward_passes: int = 0
    rows: int = 0
    failed_passes: int = 0
    largest_pass: int = 0

    def record(self, requests: int, rows: int) -> None:
        """Count one lane job of ``requests`` requests and ``rows`` rows."""
        self.requests += requests
        self.forward_passes += 1
        self.rows += rows
        self.largest_pass = max(self.largest_pass, rows)


class Renderer(Protocol):
    """What the sampling routes call."""

    stats: RenderStats

    async def render(self, model: LoadedModel, plan: RenderPlan) -> RenderedImage:
        """The plan's encoded image."""
        ...

    def start(self) -> None:
        """Start serving (the app's lifespan)."""
        ...

    def shutdown(self) -> None:
        """Stop, once the app shuts down."""
        ...


class UnbatchedRenderer:
    """Each request's plan on its own, in the sampling pool (``GAN_BATCHING=false``)."""

    def __init__(self, pool: SamplingPool) -> None:
        self.pool = pool
        self.stats = RenderStats()

    def start(self) -> None:
        """Nothing to start: the pool is the runtime's."""

    def shutdown(self) -> None:
        """Nothing to stop."""

    async def render(self, model: LoadedModel, plan: RenderPlan) -> RenderedImage:
        """Render ``plan`` alone, in the sampling pool."""
        rendered = await self.pool.run(render, model, plan)
        self.stats.record(1, plan.rows)
        return rendered
