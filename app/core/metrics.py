"""Prometheus metrics: request latency by route template, plus gauges computed at scrape time.

Each app owns its registry (not prometheus_client's global one), so several apps, e.g. in
tests, never clash over metric names.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Histogram, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from common.jobs import JOB_STATUSES

if TYPE_CHECKING:
    from app.wiring import Runtime

UNMATCHED_ROUTE = "<unmatched>"


class Metrics:
    """The registry and the request histogram of one app."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.request_seconds = Histogram(
            "ganserve_http_request_duration_seconds",
            "HTTP request latency by route template, method and status",
            ["route", "method", "status"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
        # process_resident_memory_bytes and friends: what the model cache costs in total.
        ProcessCollector(registry=self.registry)

    def watch(self, runtime: Runtime) -> None:
        """Report ``runtime``'s job, queue and model gauges on every scrape."""
        self.registry.register(RuntimeCollector(runtime))


class RuntimeCollector(Collector):
    """Gauges read from the job records, Redis and the model cache when scraped."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        """The gauges as they are now: jobs by status, queue depth, loaded models, rendering."""
        counts = Counter[str](record.status for record in self.runtime.store.list())
        jobs = GaugeMetricFamily("ganserve_jobs", "Training jobs by status", labels=["status"])
        for status in JOB_STATUSES:
            jobs.add_metric([status], counts[status])
        yield jobs

        depth = self.runtime.queue.depth()
        yield GaugeMetricFamily(
            "ganserve_queue_depth",
            "Training tasks waiting in Redis (-1: Redis unreachable)",
            value=-1 if depth is None else depth,
        )

        loaded = self.runtime.registry.loaded_models()
        yield GaugeMetricFamily(
            "ganserve_loaded_models", "Generators held in the model cache", value=len(loaded)
        )
        sizes = GaugeMetricFamily(
            "ganserve_loaded_model_parameter_bytes",
            "Bytes of parameters and buffers of each cached generator",
            labels=["model"],
        )
        for model in loaded:
            sizes.add_metric([model.ref], model.parameter_bytes)
        yield sizes
        yield GaugeMetricFamily(
            "ganserve_loaded_models_parameter_bytes",
            "Bytes of parameters and buffers of all cached generators together",
            value=sum(model.parameter_bytes for model in loaded),
        )
        yield from self._rendering()

    def _rendering(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        stats = self.runtime.renderer.stats
        counters = {
            "requests": ("Sampling requests rendered", stats.requests),
            "forward_passes": ("Generator forward passes (one per batch)", stats.forward_passes),
            "forward_rows": ("Images computed by forward passes", stats.rows),
            "failed_forward_passes": ("Forward passes that raised", stats.failed_passes),
        }
        for name, (documentation, value) in counters.items():
            yield CounterMetricFamily(f"ganserve_render_{name}", documentation, value=value)
        yield GaugeMetricFamily(
            "ganserve_render_largest_pass_rows",
            "Most rows seen in one forward pass",
            value=stats.largest_pass,
        )


class MetricsMiddleware:
    """Times every HTTP request; the route label is the path template, never the raw path."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Count the request by route template and status, and time it."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status_code = 500

        async def recording_send(message: Message) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or UNMATCHED_ROUTE
            self.metrics.request_seconds.labels(template, scope["method"], str(status_code)).observe(
                time.perf_counter() - started
            )
