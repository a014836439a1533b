"""Everything a request handler needs, built once per app from one Settings object."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

import torch
from fastapi import FastAPI

from app.rendering.affinity import lane_cpu_sets
from app.rendering.batcher import Batcher
from app.rendering.pool import SamplingPool
from app.rendering.renderers import Renderer, UnbatchedRenderer
from app.services.datasets.catalog import DatasetCatalog
from app.services.jobs.queue import JobQueue
from app.services.jobs.service import JobService
from app.services.models.registry import ModelRegistry
from common.cpus import usable_cores, usable_cpus
from common.jobs import JobStore
from common.settings import Settings

logger = logging.getLogger(__name__)

# Requests allowed to wait for a sampling thread before new ones get 503.
MAX_PENDING_SAMPLES = 64


@dataclass
class Runtime:
    """Per-app services. Cheap to build: nothing here connects or loads until first use."""

    settings: Settings
    registry: ModelRegistry
    store: JobStore
    queue: JobQueue
    jobs: JobService
    datasets: DatasetCatalog
    pool: SamplingPool
    renderer: Renderer
    device: str = "cpu"


def resolve_serving_device(name: str) -> str:
    """The device generators are served on. Called from the lifespan, never at import.

    ``auto`` means the CPU here (unlike in the worker): small generators render fast on the
    CPU, a GPU is better left to training, and CPU pixels are the reference the ETags and the
    cached images were made with. ``cuda`` must be asked for explicitly.
    """
    if name == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError("GAN_DEVICE=cuda but CUDA is not available on this host")
        return "cuda"
    if name not in ("auto", "cpu"):
        # The setting is shared with the worker, which may know devices (mps) we do not serve on.
        logger.warning("GAN_DEVICE=%s is not a serving device; serving on the CPU", name)
    return "cpu"


# Threads per forward pass when GAN_TORCH_THREADS is unset: one, with a lane per core. Measured
# on 2 cores (docs/benchmarks.md): one lane of two threads served the 64x64 DCGAN at about the
# same rate (OpenMP's barriers cost about what its bigger passes gain), made small generators'
# lone images 2-3x slower, and, with OpenMP's default spinning waits, 20x slower whenever a
# training run shared the cores. One-thread lanes lose nothing then; they share the cores.
DEFAULT_TORCH_THREADS = 1


def torch_threads(settings: Settings) -> int:
    """Threads per forward pass (GAN_TORCH_THREADS, else :data:`DEFAULT_TORCH_THREADS`). The
    worker's default differs: one training run uses every core."""
    return settings.torch_threads or DEFAULT_TORCH_THREADS


def forward_lanes(cores: int, threads: int) -> int:
    """Concurrent forward passes of ``threads`` torch threads each: as many as the cores hold."""
    return max(1, cores // threads)


def build_runtime(settings: Settings) -> Runtime:
    """Wire the services for ``settings`` (the device is settled later, in the lifespan)."""
    registry = ModelRegistry(
        settings.models_dir,
        settings.pretrained_dir,
        cache_size=settings.model_cache_size,
        device="cpu",
    )
    store = JobStore(settings.jobs_dir)
    queue = JobQueue(settings)
    cpus = usable_cpus()
    cores = usable_cores(cpus)
    # Each forward pass already uses `torch_threads` cores; more sampling threads than
    # cores / torch_threads would only contend. Two at least, so one big grid does not stall
    # every other request.
    workers = min(8, max(2, cores // torch_threads(settings)))
    pool = SamplingPool(workers, MAX_PENDING_SAMPLES)
    return Runtime(
        settings=settings,
        registry=registry,
        store=store,
        queue=queue,
        jobs=JobService(store, queue, registry),
        datasets=DatasetCatalog(settings.datasets_dir),
        pool=pool,
        renderer=build_renderer(settings, pool, cpus, cores),
    )


def build_renderer(settings: Settings, pool: SamplingPool, cpus: Sequence[int], cores: int) -> Renderer:
    """The micro-batcher, or one forward pass per request when batching is off.

    Args:
        cpus: the CPUs the process may run on.
        cores: cores' worth of CPU time it may use (fewer than ``cpus`` under a cgroup quota).
    """
    if not settings.batching:
        return UnbatchedRenderer(pool)
    threads = torch_threads(settings)
    lanes = forward_lanes(cores, threads)
    # Under a quota the process may run on any of its CPUs for part of the time; pinning lanes
    # to a few of them (shared with other containers) would only narrow the scheduler's choice.
    pin = settings.pin_lanes and cores == len(cpus)
    return Batcher(
        lanes=lanes,
        max_rows=settings.batch_max_size,
        max_wait=settings.batch_max_wait_ms / 1000,
        # Queued rows are cheap once batched: let a few full passes wait before refusing.
        # Room for 64 concurrent requests of the largest allowed size before shedding load.
        max_queued_rows=max(MAX_PENDING_SAMPLES, 4 * settings.batch_max_size, 64 * settings.max_count),
        lane_cpus=lane_cpu_sets(cpus, lanes, threads) if pin else None,
    )


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Set torch threads, create the data folders, run the sampling pool while serving."""
    runtime: Runtime = app.state.runtime
    settings = runtime.settings
    # Deliberate, not torch's default: the worker may share these cores.
    torch.set_num_threads(torch_threads(settings))
    # oneDNN on, and never toggled while serving: the flag is process-wide, and each generator's
    # batch-invariant pass sizes are probed under the setting in force (models.inference.passes).
    torch.backends.mkldnn.enabled = True  # type: ignore[assignment]  # a module property torch's stubs miss
    runtime.device = resolve_serving_device(settings.device)
    runtime.registry.device = runtime.device
    settings.ensure_dirs()
    runtime.datasets.remove_stale_temporaries()
    runtime.pool.start()
    runtime.renderer.start()
    logger.info("serving on %s with %d torch threads", runtime.device, torch.get_num_threads())
    if isinstance(runtime.renderer, Batcher):
        cpus = runtime.renderer.lane_cpus
        logger.info(
            "%d forward lanes, %s",
            runtime.renderer.lanes,
            "pinned to CPUs " + " | ".join(",".join(map(str, sorted(c))) for c in cpus)
            if cpus
            else "not pinned",
        )
    try:
        yield
    finally:
        runtime.renderer.shutdown()
        runtime.pool.shutdown()
        runtime.queue.close()
